"""`docflow task`: the open work, and decisions an administrator enters by hand."""

from __future__ import annotations

import getpass

import click

from docflow.cli.common import echo_json, run_with_services, settings_or_exit
from docflow.workflow.links import DECISIONS


@click.group()
def task() -> None:
    """List tasks; enter a decision given on paper or by telephone."""


@task.command("list")
@click.option("--assignee", default=None, help="Only this assignee's tasks (e-mail).")
@click.option("--state", default=None, help="open, approved, changes_requested, rejected, …")
@click.option("--overdue", is_flag=True, help="Only open tasks past their due time.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def task_list(
    assignee: str | None, state: str | None, overdue: bool, limit: int, as_json: bool
) -> None:
    """Tasks, newest first."""
    items = run_with_services(
        settings_or_exit(), lambda s: s.views.tasks(assignee, state, overdue, limit)
    )
    if as_json:
        echo_json(items)
        return
    for t in items:
        behalf = f" ({t['capacity']}. {t['on_behalf_of']})" if t["on_behalf_of"] else ""
        due = str(t["due_at"] or "")[:16]
        click.echo(
            f"{t['id']:>6}  {t['code']}  v{t['version']:<2} {t['stage']:12} "
            f"{t['state']:18} due {due:16}  {t['assignee']}{behalf}"
        )


@task.command("decide")
@click.argument("task_id", type=int)
@click.argument("action", type=click.Choice(DECISIONS))
@click.option("--comment", default="", help="The decider's comment, as they gave it.")
@click.option(
    "--entered-by",
    default=None,
    help="Who enters it (recorded in the audit trail); default: the system user name.",
)
def task_decide(task_id: int, action: str, comment: str, entered_by: str | None) -> None:
    """Record ACTION (approve, changes, reject) on an open task, as its assignee's decision.

    For decisions given outside docflow; the audit event's source is `cli` and it names
    who entered it. The task's links stop working, as after a decision by link.
    """
    who = entered_by or getpass.getuser()
    result = run_with_services(
        settings_or_exit(), lambda s: s.decisions.by_admin(task_id, action, comment, who)
    )
    click.echo(f"{result.code}: task {task_id} {result.decision}; document {result.status}")
