"""A free TCP port on the loopback, for tests and scripts/ (standard library only)."""

from __future__ import annotations

import random
import socket

# Below Linux's ephemeral range (32768–60999): a port the OS handed to the client end of
# some connection a moment later cannot be the one a test's server then binds.
LOW, HIGH = 20000, 32767
_given: set[int] = set()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing uses now and that this process has not handed out."""
    for _ in range(1000):
        port = random.randint(LOW, HIGH)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port on 127.0.0.1 between {LOW} and {HIGH}")
