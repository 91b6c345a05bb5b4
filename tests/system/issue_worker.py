"""A second program issuing at once: `python -m tests.system.issue_worker ID…`.

Runs with the DOCFLOW_* settings of its environment and issues each given (approved)
document in its own transaction, several at a time, the way the decision that
completes sign-off does: document row locked, then `Issuer.issue`.
"""

from __future__ import annotations

import asyncio
import sys

from tortoise.transactions import in_transaction

from docflow.config import load_settings
from docflow.documents.models import Document
from docflow.services import open_services

AT_ONCE = 8


async def main(ids: list[int]) -> None:
    async with open_services(load_settings()) as services:
        queue = list(ids)

        async def worker() -> None:
            while queue:
                doc_id = queue.pop()
                async with in_transaction() as conn:
                    doc = await Document.filter(id=doc_id).select_for_update().using_db(conn).get()
                    await doc.fetch_related("author", using_db=conn)
                    await services.issuer.issue(conn, doc)

        await asyncio.gather(*(worker() for _ in range(AT_ONCE)))


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]]))
