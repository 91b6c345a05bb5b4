"""The text of an ODT, paragraph by paragraph, each stretch read by the font it is drawn in.

A span's font is its text style's (or that style's parents'), else the font of what
holds it; a paragraph's is its paragraph style's (or parents'), else the default
paragraph style's. Style names are looked up in content.xml's automatic styles and in
styles.xml; a font name (`style:font-name`) means the family its `style:font-face`
declares. Stretches in a TCVN3 or VNI font are converted to Unicode (legacy.py).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from xml.etree import ElementTree

from docflow.documents.legacy import Piece, font_encoding, join_pieces
from docflow.errors import ExtractionError

_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_STYLE = "urn:oasis:names:tc:opendocument:xmlns:style:1.0"
_FO = "urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
_SVG = "urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
_P, _H = f"{{{_TEXT}}}p", f"{{{_TEXT}}}h"
_S, _TAB, _BR = f"{{{_TEXT}}}s", f"{{{_TEXT}}}tab", f"{{{_TEXT}}}line-break"
_C, _STYLE_NAME = f"{{{_TEXT}}}c", f"{{{_TEXT}}}style-name"
_SKIP = frozenset({f"{{{_TEXT}}}note", f"{{{_OFFICE}}}annotation"})
_INHERIT = "inherit"  # no font said here: the enclosing element's applies


def odt_text(data: bytes) -> tuple[str, frozenset[str]]:
    """The text, and the legacy encodings converted (legacy.reported names)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            with archive.open("content.xml") as xml:
                root = ElementTree.parse(xml).getroot()
            styles = _styles_root(archive)
    except Exception as exc:  # not a zip, no content.xml, broken XML
        raise ExtractionError(f"unreadable ODT: {exc}") from exc
    fonts = _Fonts([r for r in (root, styles) if r is not None])
    body = root.find(f"{{{_OFFICE}}}body")
    found: set[str] = set()
    paragraphs = []
    for pieces in _paragraphs(body if body is not None else root, fonts):
        text, converted = join_pieces(pieces)
        paragraphs.append(text)
        found |= converted
    return "\n".join(paragraphs), frozenset(found)


def _styles_root(archive: zipfile.ZipFile) -> ElementTree.Element | None:
    """styles.xml, if there is a readable one (the text does not depend on it)."""
    try:
        with archive.open("styles.xml") as xml:
            return ElementTree.parse(xml).getroot()
    except (KeyError, ElementTree.ParseError):
        return None


def _paragraphs(element: ElementTree.Element, fonts: _Fonts) -> Iterator[list[Piece]]:
    """Paragraphs and headings in document order; frames inside a paragraph come after it."""
    stack = [element]
    while stack:
        node = stack.pop()
        if node.tag in (_P, _H):
            nested: list[ElementTree.Element] = []
            yield list(_inline(node, nested, fonts, fonts.paragraph(node.get(_STYLE_NAME))))
            stack.extend(reversed(nested))
        elif node.tag not in _SKIP:
            stack.extend(reversed(node))


def _inline(
    node: ElementTree.Element,
    nested: list[ElementTree.Element],
    fonts: _Fonts,
    encoding: str | None,
) -> Iterator[Piece]:
    yield node.text or "", encoding
    for child in node:
        if child.tag == _S:
            yield " " * _int(child.get(_C), 1), None
        elif child.tag == _TAB:
            yield "\t", None
        elif child.tag == _BR:
            yield "\n", None
        elif child.tag in (_P, _H):
            nested.append(child)
        elif child.tag not in _SKIP:
            own = fonts.text(child.get(_STYLE_NAME))
            yield from _inline(child, nested, fonts, encoding if own == _INHERIT else own)
        yield child.tail or "", encoding


def _int(value: str | None, default: int) -> int:
    try:
        return max(0, min(int(value or default), 1000))
    except ValueError:
        return default


class _Fonts:
    """The styles' fonts, by family and name, with their parents and the font faces."""

    def __init__(self, roots: list[ElementTree.Element]) -> None:
        self._faces: dict[str, str] = {}
        self._styles: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        self._default: str | None = None
        for root in roots:
            for face in root.iter(f"{{{_STYLE}}}font-face"):
                family = face.get(f"{{{_SVG}}}font-family")
                name = face.get(f"{{{_STYLE}}}name")
                if name and family:  # content.xml's first: its names win
                    self._faces.setdefault(name, family.strip().strip("'\""))
        for root in roots:
            for style in root.iter(f"{{{_STYLE}}}style"):
                family, name = style.get(f"{{{_STYLE}}}family"), style.get(f"{{{_STYLE}}}name")
                if family and name:
                    parent = style.get(f"{{{_STYLE}}}parent-style-name")
                    self._styles.setdefault((family, name), (parent, self._font(style)))
            for style in root.iter(f"{{{_STYLE}}}default-style"):
                if style.get(f"{{{_STYLE}}}family") == "paragraph":
                    self._default = self._font(style) or self._default

    def paragraph(self, name: str | None) -> str | None:
        found = self._lookup("paragraph", name)
        return font_encoding(self._default) if found == _INHERIT else found

    def text(self, name: str | None) -> str | None:
        """A span's (or link's) encoding; `_INHERIT` when its styles name no font."""
        return self._lookup("text", name)

    def _lookup(self, family: str, name: str | None) -> str | None:
        seen: set[str] = set()
        while name is not None and name not in seen and (family, name) in self._styles:
            seen.add(name)
            name, font = self._styles[(family, name)]
            if font is not None:
                return font_encoding(font)
        return _INHERIT

    def _font(self, style: ElementTree.Element) -> str | None:
        props = style.find(f"{{{_STYLE}}}text-properties")
        if props is None:
            return None
        name = props.get(f"{{{_STYLE}}}font-name")
        if name:
            return self._faces.get(name, name)
        family = props.get(f"{{{_FO}}}font-family")
        return family.strip().strip("'\"") if family else None
