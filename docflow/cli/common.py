"""Helpers every CLI command uses: settings, services, JSON output."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from docflow.config import Settings, load_settings
from docflow.errors import DocflowError, SettingsError
from docflow.services import Services, open_services

T = TypeVar("T")


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as e:
        raise click.ClickException(str(e)) from None


def run_with_services(settings: Settings, fn: Callable[[Services], Awaitable[T]]) -> T:
    """Run `fn` with the services open, turning domain errors into clean CLI errors."""

    async def go() -> T:
        async with open_services(settings) as services:
            return await fn(services)

    try:
        return asyncio.run(go())
    except DocflowError as e:
        raise click.ClickException(str(e)) from None


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
