"""The text of a DOCX, paragraph by paragraph, each run read by the font it is drawn in.

A run's font is the first `w:rFonts` that names one, looking at the run itself, its
character style (and the styles it is based on), its paragraph's style (or the default
paragraph style), then the document defaults; the high-ANSI font (`w:hAnsi`, the one
that draws the bytes 80–FF where TCVN3 and VNI keep their letters) decides, else the
ASCII one (`w:ascii`); a theme font is never a legacy one. Runs in a TCVN3 or VNI font
are converted to Unicode (legacy.py).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import docx
from docx.oxml.ns import qn

from docflow.documents.legacy import TCVN3_CAPITALS, TCVN3_FONT, Piece, font_encoding, join_pieces
from docflow.errors import ExtractionError

_W_P, _W_R, _W_T, _W_TAB = qn("w:p"), qn("w:r"), qn("w:t"), qn("w:tab")
_W_BREAKS = frozenset({qn("w:br"), qn("w:cr")})
_W_HYPHEN, _W_SOFT_HYPHEN = qn("w:noBreakHyphen"), qn("w:softHyphen")
_W_RPR, _W_PPR, _W_RFONTS = qn("w:rPr"), qn("w:pPr"), qn("w:rFonts")
_W_RSTYLE, _W_PSTYLE, _W_VAL = qn("w:rStyle"), qn("w:pStyle"), qn("w:val")
_FONT_ATTRIBUTES = ((qn("w:hAnsi"), qn("w:hAnsiTheme")), (qn("w:ascii"), qn("w:asciiTheme")))
# Text boxes appear twice (modern and VML fallback); read the modern copy only.
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_TCVN3 = (TCVN3_FONT, TCVN3_CAPITALS)


def docx_text(data: bytes) -> tuple[str, frozenset[str]]:
    """The text, and the legacy encodings converted (legacy.reported names)."""
    try:
        document = docx.Document(io.BytesIO(data))
        fonts = _Fonts(document.styles.element)
        found: set[str] = set()
        paragraphs = []
        for p in document.element.body.iter(_W_P):
            if not _in_fallback(p):
                text, converted = join_pieces(_pieces(p, fonts))
                paragraphs.append(text)
                found |= converted
        return "\n".join(paragraphs), frozenset(found)
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors, ...
        raise ExtractionError(f"unreadable DOCX: {exc}") from exc


def _in_fallback(element: Any) -> bool:
    return any(a.tag == _MC_FALLBACK for a in element.iterancestors())


def _pieces(paragraph: Any, fonts: _Fonts) -> Iterator[Piece]:
    """Text of one w:p, including runs inside smart tags, insertions, links and content
    controls, each piece with its run's encoding."""
    levels = fonts.paragraph(paragraph)
    stack: list[tuple[Any, str | None]] = [(child, None) for child in reversed(paragraph)]
    while stack:
        element, encoding = stack.pop()
        tag = element.tag
        if tag == _W_P or tag == _MC_FALLBACK:  # nested paragraphs are read on their own
            continue
        if tag == _W_T:
            yield element.text or "", encoding
        elif tag == _W_TAB:
            yield "\t", None
        elif tag in _W_BREAKS:
            yield "\n", None
        elif tag == _W_HYPHEN:
            yield "-", None
        elif tag == _W_SOFT_HYPHEN and encoding in _TCVN3:
            # TCVN3's ư is byte AD, the soft hyphen's: Word keeps it as an optional hyphen
            yield "\xad", encoding
        else:
            if tag == _W_R:
                encoding = font_encoding(fonts.run(element, levels))
            stack.extend((child, encoding) for child in reversed(element))


class _Fonts:
    """The styles part's fonts: which font a run is drawn in."""

    def __init__(self, styles: Any) -> None:
        self._styles = {s.get(qn("w:styleId")): s for s in styles.iterfind(qn("w:style"))}
        self._default_paragraph = next(
            (
                style_id
                for style_id, s in self._styles.items()
                if s.get(qn("w:type")) == "paragraph" and s.get(qn("w:default")) in ("1", "true")
            ),
            None,
        )
        path = f"{qn('w:docDefaults')}/{qn('w:rPrDefault')}/{_W_RPR}/{_W_RFONTS}"
        found = styles.find(path)
        self._defaults = [found] if found is not None else []
        self._chains: dict[str, list[Any]] = {}

    def paragraph(self, paragraph: Any) -> list[Any]:
        """The w:rFonts a paragraph's runs inherit, nearest first."""
        style = paragraph.find(f"{_W_PPR}/{_W_PSTYLE}")
        style_id = style.get(_W_VAL) if style is not None else self._default_paragraph
        return [*self._chain(style_id), *self._defaults]

    def run(self, run: Any, inherited: list[Any]) -> str | None:
        """The name of the font a run's letters are drawn in (None: a theme's, or none)."""
        props = run.find(_W_RPR)
        levels: list[Any] = []
        if props is not None:
            own = props.find(_W_RFONTS)
            if own is not None:
                levels.append(own)
            style = props.find(_W_RSTYLE)
            if style is not None:
                levels.extend(self._chain(style.get(_W_VAL)))
        levels.extend(inherited)
        for name, theme in _FONT_ATTRIBUTES:
            for fonts in levels:
                if fonts.get(theme) is not None:
                    return None
                if fonts.get(name):
                    return str(fonts.get(name))
        return None

    def _chain(self, style_id: str | None) -> list[Any]:
        """The w:rFonts of a style and of those it is based on, nearest first."""
        if style_id is None:
            return []
        if style_id not in self._chains:
            chain: list[Any] = []
            seen: set[str] = set()
            current: str | None = style_id
            while current is not None and current not in seen and current in self._styles:
                seen.add(current)
                style = self._styles[current]
                fonts = style.find(f"{_W_RPR}/{_W_RFONTS}")
                if fonts is not None:
                    chain.append(fonts)
                based = style.find(qn("w:basedOn"))
                current = based.get(_W_VAL) if based is not None else None
            self._chains[style_id] = chain
        return self._chains[style_id]
