"""Attempts limited per key in a sliding window (sign-in by password or by link, per
address and per client), so that nobody can guess passwords or flood a mailbox.

The counts live in the process: with several `serve` processes each allows its own
share, which still bounds an attacker to a small multiple. Accounts are locked in the
database as well after repeated wrong passwords (users/accounts.py).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class Throttle:
    """At most `limit` attempts per key within `window` seconds."""

    def __init__(
        self, limit: int, window: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.now = now
        self._seen: dict[str, deque[float]] = {}

    def allow(self, *keys: str) -> bool:
        """Counts one attempt under each key; False (and nothing counted) when any key
        has used up its window."""
        now = self.now()
        queues = []
        for key in keys:
            q = self._seen.setdefault(key, deque())
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return False
            queues.append(q)
        for q in queues:
            q.append(now)
        if len(self._seen) > 10_000:  # forget keys whose windows are empty
            self._seen = {k: q for k, q in self._seen.items() if q and q[-1] > now - self.window}
        return True


WINDOW = 15 * 60.0


class SignInLimits:
    """The sign-in throttles of one app: passwords per address and per client, link
    mails per address, link requests and uses per client."""

    def __init__(self) -> None:
        self.password_address = Throttle(10, WINDOW)
        self.password_client = Throttle(50, WINDOW)
        self.link_address = Throttle(3, WINDOW)
        self.link_client = Throttle(30, WINDOW)

    def password(self, address: str, client: str) -> bool:
        return self.password_address.allow(address) and self.password_client.allow(client)

    def link_mail(self, address: str, client: str) -> bool:
        return self.link_client.allow(client) and self.link_address.allow(address)

    def link_use(self, client: str) -> bool:
        return self.link_client.allow(client)
