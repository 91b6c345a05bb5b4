"""`signatures` of an archive record (JSON and page): each signature of its issued PDFs,
validated now against `signing.trust_roots`, as `docflow archive verify` does."""

from __future__ import annotations

from typing import Any

from docflow.services import Services


async def signature_status(services: Services, record_id: int) -> dict[str, Any]:
    """`{ok, files_ok, items: [{file, position, field, signer, signing_time, ok, problems}]}`;
    `ok` is null for a record with no signature (issued before signing, or unsigned)."""
    from docflow.archive.verification import verify_record  # pyHanko: only when asked

    settings = services.settings
    roots = settings.signing.trust_root_paths(settings.data_dir)
    report = await verify_record(services.archive, services.blobs, str(record_id), roots)
    items = [
        {
            "file": f["name"],
            "position": f["position"],
            "field": s["field"],
            "signer": s["signer"],
            "signing_time": s["signing_time"],
            "ok": s["ok"],
            "problems": s["problems"],
        }
        for f in report["files"]
        for s in f["signatures"]
    ]
    return {
        "ok": all(i["ok"] for i in items) if items else None,
        "files_ok": report["ok"],  # every file's hash as recorded, every signature valid
        "items": items,
    }
