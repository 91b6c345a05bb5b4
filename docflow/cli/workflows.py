"""`docflow workflows list|check`: the workflow files as docflow reads them."""

from __future__ import annotations

import click

from docflow.cli.common import echo_json, settings_or_exit
from docflow.errors import SettingsError
from docflow.workflow.definitions import Stage, WorkflowCatalog, format_duration
from docflow.workflow.loader import check_workflows, load_workflows


@click.group()
def workflows() -> None:
    """Workflow definitions (one TOML file each under DOCFLOW_WORKFLOWS_DIR)."""


@workflows.command("list")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
def workflows_list(as_json: bool) -> None:
    """List the workflows with their stages, assignees, quorum and due times."""
    settings = settings_or_exit()
    try:
        catalog: WorkflowCatalog = load_workflows(
            settings.workflows_dir, settings.org.default_workflow, settings.registers.keys()
        )
    except SettingsError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        echo_json([{**w.as_dict(), "default": w is catalog.default} for w in catalog])
        return
    for w in catalog:
        default = "  (default)" if w is catalog.default else ""
        click.echo(f"{w.key}  [{w.type_code}]  {w.name_vi} / {w.name_en}{default}")
        click.echo(
            f"  register {w.register}, retention {w.retention}, "
            f"distribute to {', '.join(w.distribute_to) or '-'}  ({w.source.name})"
        )
        for i, s in enumerate(w.stages, start=1):
            click.echo(f"  {i}. {s.key}: {s.name_vi} / {s.name_en}")
            click.echo(f"     {_stage_line(s)}")


def _stage_line(s: Stage) -> str:
    parts = [
        f"assignees {', '.join(map(str, s.assignees))}",
        f"quorum {s.quorum}",
        f"due {format_duration(s.due)}",
    ]
    if s.remind_every is not None:
        parts.append(f"remind every {format_duration(s.remind_every)}")
    if s.escalate_to:
        parts.append(f"escalate to {', '.join(map(str, s.escalate_to))}")
    if s.require_code:
        parts.append("one-time code required")
    return "; ".join(parts)


@workflows.command("check")
def workflows_check() -> None:
    """Validate every workflow file; exit 1 naming file, stage and field of each problem."""
    settings = settings_or_exit()
    found, problems = check_workflows(
        settings.workflows_dir, settings.org.default_workflow, settings.registers.keys()
    )
    if problems:
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        raise click.ClickException(
            f"{len(problems)} problem(s) in the workflows of {settings.workflows_dir}"
        )
    click.echo(f"{len(found)} workflows OK ({settings.workflows_dir})")
