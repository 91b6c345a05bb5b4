"""What runs when a file's text is read after its version was stored.

OCR (documents/ocr.py) and a Word 97 file's text read through LibreOffice
(documents/renditions.py) arrive after the version, perhaps after it was issued: the
archive indexes such a record again (`archive.issuing.Issuer.text_changed`). A hook runs
in the transaction that saved the text, with the document's row locked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tortoise.backends.base.client import BaseDBAsyncClient

from docflow.documents.models import VersionFile

TextHook = Callable[[BaseDBAsyncClient, VersionFile], Awaitable[None]]
