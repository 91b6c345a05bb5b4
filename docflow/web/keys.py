"""Typed application keys: the one place the aiohttp app holds state."""

from __future__ import annotations

from aiohttp import web

from docflow.services import Services
from docflow.users.accounts import Principal
from docflow.web.throttle import SignInLimits

SERVICES = web.AppKey("services", Services)
# who an API request comes from, set by the bearer_auth middleware
PRINCIPAL = web.RequestKey("principal", Principal)
# the sign-in throttles of this app (web/auth.py)
LIMITS = web.AppKey("limits", SignInLimits)
