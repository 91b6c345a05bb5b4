"""From a mail's attachments to a version's files: type by content, text, blobs."""

from __future__ import annotations

from docflow.documents.extract import Extraction, ExtractionError, extract
from docflow.documents.service import NewFile
from docflow.errors import Refused
from docflow.intake.filetypes import IMAGE_KINDS, detect, page_like
from docflow.intake.parse import Attachment
from docflow.storage.blobs import BlobStore


def prepare_files(
    attachments: tuple[Attachment, ...], allowed_types: tuple[str, ...], blobs: BlobStore
) -> list[NewFile]:
    """Check every attachment's type by its bytes, extract its text, store it.

    Images are passed over (mail signatures and logos travel as inline images) unless
    they are of an allowed type and the size of a page (a scan, a photo of a letter: their
    text is read by OCR later, documents/ocr.py); any other file whose type is not allowed
    refuses the whole message, so that no version is ever missing a file its author meant
    to send.
    Blocking: run it in a thread.
    """
    kept: list[tuple[Attachment, str]] = []
    refused: list[str] = []
    for att in attachments:
        if not att.data:
            continue
        found = detect(att.data)
        if found.kind in allowed_types and (found.kind not in IMAGE_KINDS or page_like(att.data)):
            kept.append((att, found.mime))
        elif not found.mime.startswith("image/"):
            refused.append(f"{att.filename or '(không tên)'} ({found.mime})")
    if refused:
        raise Refused("type_not_allowed", ", ".join(refused))
    if not kept:
        raise Refused("no_attachment", "no file of an allowed type")
    files: list[NewFile] = []
    for att, mime in kept:
        read: Extraction | None = None
        error: str | None = None
        try:
            read = None if mime.startswith("image/") else extract(att.data, mime)
        except ExtractionError as e:
            error = str(e)[:500]
        except Exception as e:  # a library bug must not block the version
            error = f"{type(e).__name__}: {e}"[:500]
        sha = blobs.put_sync(att.data)
        files.append(
            NewFile(
                name=att.filename or fallback_name(mime, len(files)),
                mime=mime,
                size=len(att.data),
                sha256=sha,
                text=read.text if read else None,
                extract_error=error,
                legacy_encoding=read.legacy_encoding if read else None,
            )
        )
    return files


def fallback_name(mime: str, position: int) -> str:
    ext = {
        "application/pdf": "pdf",
        "text/plain": "txt",
        "text/rtf": "rtf",
        "application/msword": "doc",
        "image/jpeg": "jpg",
        "image/png": "png",
        "image/tiff": "tif",
    }.get(mime, "bin")
    if "wordprocessingml" in mime:
        ext = "docx"
    elif "opendocument.text" in mime:
        ext = "odt"
    return f"tep-{position + 1}.{ext}"
