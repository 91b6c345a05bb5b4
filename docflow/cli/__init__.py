"""The `docflow` command."""

from __future__ import annotations

from docflow.cli.core import main
from docflow.cli.demo import demo
from docflow.cli.intake import ingest, quarantine

main.add_command(quarantine)
main.add_command(ingest)
main.add_command(demo)

__all__ = ["main"]
