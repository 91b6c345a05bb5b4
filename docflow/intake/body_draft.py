"""A draft typed in the mail body (`intake.body_as_draft`): the body becomes the version's
main file, a PDF, so that a short letter written straight in the mail goes the way of any
draft (reviewed, stamped, signed, archived) instead of being refused for want of a file.

Rendered in the analysis worker with reportlab in DejaVu (every Vietnamese letter; Debian's
fonts-dejavu-core), A4 with Decree 30's margins; the file's text is the body itself, not
read back from the PDF. Named after the subject, made safe as a file name on any system.
"""

from __future__ import annotations

import io
import re
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

from docflow.documents.service import NewFile
from docflow.intake.parse import ParsedMail, clean_title
from docflow.storage.blobs import BlobStore

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"),  # Debian: fonts-dejavu-core
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSerif.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSerif.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)
FONT_NAME = "DocflowBody"
FALLBACK_NAME = "noi-dung-thu"  # a subject with nothing left to name the file after
MAX_NAME = 120  # characters before ".pdf": well under any file system's 255 bytes
# not in a file name on Windows, macOS or Linux; control characters neither
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{d}{n}" for d in ("COM", "LPT") for n in range(1, 10))}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BodyDraftError(Exception):
    """No font with Vietnamese glyphs: the body cannot be rendered (a setup problem)."""


def pdf_name(subject: str) -> str:
    """`Re: [DF-…] Giấy mời họp: tuần 3/2027` → `Giấy mời họp tuần 3 2027.pdf`."""
    name = " ".join(_UNSAFE.sub(" ", clean_title(subject)).split())
    name = name[:MAX_NAME].strip(" .")  # Windows drops trailing dots and spaces itself
    if name.upper() in _RESERVED:  # devices to Windows, even with an extension
        name = f"{name} (thư)"
    return f"{name or FALLBACK_NAME}.pdf"


def body_text(mail: ParsedMail) -> str:
    """The body as the letter's text: line ends kept, blank lines around it dropped."""
    lines = [line.rstrip() for line in _CONTROL.sub("", mail.body_text).splitlines()]
    return "\n".join(lines).strip("\n")


def body_file(mail: ParsedMail, blobs: BlobStore) -> NewFile:
    """The PDF of the mail's body, stored as a blob (blocking: run it in the worker)."""
    text = body_text(mail)
    data = render_pdf(text, clean_title(mail.subject), mail.from_name or mail.from_addr)
    return NewFile(
        name=pdf_name(mail.subject),
        mime="application/pdf",
        size=len(data),
        sha256=blobs.put_sync(data),
        text=text,
        extract_error=None,
    )


@cache
def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for path in FONT_CANDIDATES:
        if path.exists():
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path)))
            return FONT_NAME
    raise BodyDraftError("no font with Vietnamese glyphs (install fonts-dejavu-core)")


def _markup(line: str) -> str:
    """A line as a reportlab paragraph: escaped, its indentation kept."""
    stripped = line.lstrip(" \t")
    lead = line[: len(line) - len(stripped)].replace("\t", "    ")
    return "&nbsp;" * len(lead) + escape(stripped)


def render_pdf(text: str, title: str, author: str) -> bytes:
    """`text` on A4 pages, a paragraph a line; the same text gives the same bytes."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer

    style = ParagraphStyle("body", fontName=_font(), fontSize=13, leading=18, spaceAfter=2)
    story: list[Flowable] = []
    for line in text.split("\n"):
        if line.strip():
            story.append(Paragraph(_markup(line), style))
        else:
            story.append(Spacer(1, style.leading * 0.6))
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        # Decree 30/2020/NĐ-CP, Appendix I: top and bottom 20-25 mm, left 30-35, right 15-20
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        leftMargin=30 * mm,
        rightMargin=15 * mm,
        title=title,
        author=author,
        creator="docflow",
        invariant=True,
    )
    doc.build(story or [Spacer(1, 1)])
    return out.getvalue()
