"""One OCR process (`ocr_worker`) run to its end under docflow's rules.

- It has a process group of its own (ocrmypdf, Ghostscript and Tesseract are in it), so
  that stopping it stops everything it started.
- It **yields to mail**: while mail is arriving (`arriving()`, intake's: a message stored
  in the last second) the whole group is paused with SIGSTOP, and resumed with SIGCONT once
  mail has stopped arriving. Tesseract slows the acknowledgement of mail even at the
  lowest CPU priority (it competes for the memory and caches of the cores, not only for
  their time: scripts/bench_ocr.py), so OCR does not run beside arriving mail at all.
- The time limit counts the time it ran, not the time it was paused: a scan is never
  failed for mail having arrived. The lease on its row is renewed meanwhile (`renew`),
  so that another serve process does not take the file over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

CHECK_SECONDS = 0.2  # how often arriving mail and the time limit are looked at
RENEW_SECONDS = 60.0  # how often the lease is renewed


class OcrProcess:
    """Start with `run`; `stop` from elsewhere (serve stopping) ends it at once."""

    def __init__(
        self,
        job: dict[str, Any],
        limit: float,
        arriving: Callable[[], bool],
        renew: Callable[[], Awaitable[None]],
    ) -> None:
        self.job = job
        self.limit = limit
        self.arriving = arriving
        self.renew = renew
        self.proc: asyncio.subprocess.Process | None = None
        self.ran = 0.0  # seconds it ran, pauses left out
        self.paused = False

    async def run(self) -> dict[str, Any]:
        """The worker's outcome; running past the limit, or a crash, as an outcome too."""
        self.proc = proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "docflow.documents.ocr_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        talk = asyncio.ensure_future(proc.communicate(json.dumps(self.job).encode()))
        try:
            if not await self._watch(talk):
                self.stop()
                await talk
                return {
                    "error": f"stopped after {self.limit:g} s (ocr.timeout_seconds)",
                    "final": True,
                    "seconds": round(self.ran, 3),
                }
            stdout, stderr = talk.result()
        except BaseException:  # cancelled (serve stopping): leave nothing running
            self.stop()
            talk.cancel()
            raise
        try:
            out: dict[str, Any] = json.loads(stdout)
        except ValueError:
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            out = {"error": f"the OCR process ended ({proc.returncode}): {tail[0]}", "final": False}
        out["seconds"] = round(self.ran, 3)
        return out

    async def _watch(self, talk: asyncio.Future[tuple[bytes, bytes]]) -> bool:
        """Pause and resume until the worker ends (True) or has run past the limit (False)."""
        last = renewed = time.monotonic()
        while True:
            await asyncio.wait({talk}, timeout=CHECK_SECONDS)
            now = time.monotonic()
            if not self.paused:
                self.ran += now - last
            last = now
            if talk.done():
                return True
            if self.ran >= self.limit:
                return False
            if self.arriving() != self.paused:
                self.paused = not self.paused
                self._signal(signal.SIGSTOP if self.paused else signal.SIGCONT)
            if now - renewed >= RENEW_SECONDS:
                renewed = now
                await self.renew()

    def stop(self) -> None:
        self._signal(signal.SIGKILL)  # a paused process is killed as well

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
