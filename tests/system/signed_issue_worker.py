"""The signing issuing job, as a program of its own: `python -m tests.system.signed_issue_worker`.

`seed COUNT BAD_EVERY` makes COUNT approved quyet-dinh documents (a one-page PDF each),
every BAD_EVERY-th signed off by a signer whose key cannot sign (its passphrase file is
wrong); `sweep` runs the issuing job until nothing is due, as serve's scheduler does.
Runs with the DOCFLOW_* settings of its environment.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from docflow.archive.models import IssueJob
from docflow.config import load_settings
from docflow.documents.models import Document, Version, VersionFile
from docflow.services import Services, open_services
from docflow.users.models import User
from docflow.workflow.models import Task, TaskState
from tests.filebuilders import make_pdf

AUTHOR = ("thu.lt@bandantoc.gov.vn", "Lê Thị Thu")
SIGNER = ("minh.td@bandantoc.gov.vn", "Trần Đức Minh")
BROKEN = ("khoa.pv@bandantoc.gov.vn", "Phạm Văn Khoa")


async def seed(services: Services, count: int, bad_every: int) -> None:
    now = services.clock.now()
    await services.users.add(*AUTHOR, ["staff"], "vi")
    for who in (SIGNER, BROKEN):
        await services.users.add(*who, ["truong-ban"], "vi")
    author = await User.get(email=AUTHOR[0])
    signers = [await User.get(email=who[0]) for who in (SIGNER, BROKEN)]
    pdf = make_pdf("Quyết định về việc tổ chức hội nghị tổng kết công tác dân tộc.")
    sha = await services.blobs.put(pdf)
    for n in range(1, count + 1):
        doc = await Document.create(
            code=f"DF-2026-{n:06d}",
            title=f"Quyết định số {n}",
            author=author,
            workflow="quyet-dinh",
            status="approved",
            created_at=now,
            updated_at=now,
        )
        version = await Version.create(document=doc, number=1, created_at=now, source_key=f"s{n}")
        await VersionFile.create(
            version=version,
            position=0,
            name=f"Quyết định {n}.pdf",
            role="main",
            mime="application/pdf",
            size=len(pdf),
            sha256=sha,
        )
        signer: User = signers[1] if n % bad_every == 0 else signers[0]
        await Task.create(
            document=doc,
            version_number=1,
            stage_index=1,
            stage_key="signoff",
            assignee=signer,
            state=TaskState.APPROVED,
            created_at=now,
            decided_at=now,
        )
        await IssueJob.create(document_id=doc.id, created_at=now, next_attempt_at=now)


async def sweep(services: Services) -> None:
    """Until no job is due now (failed ones wait for their back-off)."""
    while await services.signed_issuing.sweep():
        pass
    await asyncio.sleep(0.2)  # the other process may still hand one back
    await services.signed_issuing.sweep()


async def main(args: list[str]) -> None:
    async with open_services(load_settings()) as services:
        if args[0] == "seed":
            await seed(services, int(args[1]), int(args[2]))
        elif args[0] == "retry":  # what `docflow archive issue` does for each waiting one
            await IssueJob.all().update(next_attempt_at=services.clock.now() - timedelta(1))
            await sweep(services)
        else:
            await sweep(services)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
