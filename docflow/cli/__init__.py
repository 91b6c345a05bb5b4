"""The `docflow` command."""

from __future__ import annotations

from docflow.cli.archive import archive, registers
from docflow.cli.core import main
from docflow.cli.demo import demo
from docflow.cli.intake import ingest, quarantine
from docflow.cli.pki import pki
from docflow.cli.search import reindex, search
from docflow.cli.tasks import task
from docflow.cli.tokens import token
from docflow.cli.workflows import workflows

main.add_command(quarantine)
main.add_command(ingest)
main.add_command(demo)
main.add_command(workflows)
main.add_command(task)
main.add_command(registers)
main.add_command(archive)
main.add_command(token)
main.add_command(search)
main.add_command(reindex)
main.add_command(pki)

__all__ = ["main"]
