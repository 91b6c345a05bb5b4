"""Drive one warm LibreOffice over UNO: JSON requests on stdin, one JSON answer line each.

Runs under the system Python that has `uno` (/usr/bin/python3), never the service's venv.
Usage: uno_worker.py PIPE_NAME CONNECT_SECONDS
Request:  {"input": "/abs/in.docx", "output": "/abs/out.pdf"} and optionally
          "docx": "/abs/out.docx" (the document stored as DOCX as well: a Word 97 file's
          text and run fonts are read from it, docflow having no reader of its own)
Answer:   {"ok": true, "filter": "MS Word 2007 XML"} or {"ok": false, "error": "...", "fatal": bool}
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import uno  # type: ignore[import-not-found,unused-ignore]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found,unused-ignore]

NEVER_EXECUTE = 0  # com.sun.star.document.MacroExecMode.NEVER_EXECUTE: e-mailed macros never run
NO_UPDATE = 0  # com.sun.star.document.UpdateDocMode.NO_UPDATE: no fetching of linked content
# import filters accepted whatever the suffix (mislabelled files are common); "Text" is not
WORD_FILTERS = frozenset({
    "MS Word 2007 XML", "MS Word 2007 XML VBA", "Office Open XML Text", "MS Word 2003 XML",
    "MS Word 97", "MS Word 95", "MS WinWord 6.0", "MS WinWord 5", "Rich Text Format",
    "writer8", "StarOffice XML (Writer)",
})  # fmt: skip


def prop(name: str, value: object) -> Any:
    """A PropertyValue, the argument type of every UNO load/store call."""
    return PropertyValue(Name=name, Value=value)


def connect(pipe: str, seconds: float) -> Any:
    """The remote Desktop, retried while soffice is still starting up."""
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local
    )
    deadline = time.monotonic() + seconds
    while True:
        try:
            remote = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            return remote.ServiceManager.createInstanceWithContext(
                "com.sun.star.frame.Desktop", remote
            )
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def alive(desktop: Any) -> bool:
    """Whether the bridge still answers, to tell a bad document from a dead office."""
    try:
        desktop.getComponents()
    except Exception:
        return False
    return True


def describe(error: BaseException) -> str:
    """One short line for the answer: UNO messages carry source paths and stack noise."""
    text = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {text}"[:300]


def convert(desktop: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Load hidden and read-only, refuse non-word-processing imports, store as PDF (and as
    DOCX when asked), close."""
    load = (
        prop("Hidden", True),
        prop("ReadOnly", True),
        prop("MacroExecutionMode", NEVER_EXECUTE),
        prop("UpdateDocMode", NO_UPDATE),
    )
    document = desktop.loadComponentFromURL(
        uno.systemPathToFileUrl(request["input"]), "_blank", 0, load
    )
    if document is None:
        return {"ok": False, "error": "LibreOffice could not open the file", "fatal": False}
    try:
        used = {p.Name: p.Value for p in document.getArgs()}.get("FilterName", "")
        if used not in WORD_FILTERS:
            why = f"LibreOffice read the file as {used or 'an unknown type'!r}, not a document"
            return {"ok": False, "error": why, "fatal": False}
        store = (prop("FilterName", "writer_pdf_Export"), prop("Overwrite", True))
        document.storeToURL(uno.systemPathToFileUrl(request["output"]), store)
        if request.get("docx"):
            store = (prop("FilterName", "MS Word 2007 XML"), prop("Overwrite", True))
            document.storeToURL(uno.systemPathToFileUrl(request["docx"]), store)
        return {"ok": True, "filter": used}
    finally:
        try:
            document.close(True)
        except Exception:
            document.dispose()


def main() -> int:
    """Connect once, serve requests until stdin closes, then terminate LibreOffice."""
    pipe, seconds = sys.argv[1], float(sys.argv[2])
    try:
        desktop = connect(pipe, seconds)
    except Exception as error:
        print(json.dumps({"ready": False, "error": describe(error)}), flush=True)
        return 1
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin.buffer:
        try:
            answer = convert(desktop, json.loads(line.decode("utf-8")))
        except Exception as error:
            answer = {"ok": False, "error": describe(error), "fatal": not alive(desktop)}
        print(json.dumps(answer), flush=True)
        if answer.get("fatal"):
            return 1
    try:  # stdin closed: a clean shutdown saves the profile and removes LibreOffice's pipes
        desktop.terminate()
    except Exception:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
