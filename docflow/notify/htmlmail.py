"""The HTML part of docflow's mail: the plain text, laid out for a mail client.

One rendering of the plain text rather than an HTML template per mail: the text
templates (notify/templates/*.txt) stay the one place the words are written, so the two
parts of a mail cannot drift apart (22 templates more to keep in step, in two
languages, is how they would), and a new mail gets its HTML with no work. The
templates are regular enough for that, and this module knows exactly their shapes:

- paragraphs between blank lines; their lines flow together (the text wraps at ~80);
- indented `Label:   value` rows (the code, title, version… table) → a two-column
  table; a `Label:` row with indented `- item` lines under it holds them as a list;
- `- item` lines → a list; `Label: URL` → the label as the link;
- an indented line alone: a URL (below) or a code, shown large;
- the signature after the `--` line, small and grey.

Only URLs the composer put in the mail become links (`Body.links`): a title, a comment
or a refused subject that holds a URL stays text, so nobody can mail a document whose
title turns into a button. Of those, a decision link (`/t/<token>`) or a sign-in link
(`/login/link/<token>`) is a big button, labelled by its row (`Approve:`), or by the
short sentence ending in `:` right above it, or else by `BUTTON_WORDS`.

No remote image, no <style> element (clients drop it): inline styles only, `lang` set,
at most 600 px wide and fluid below, so that a 390 px phone shows it without sideways
scrolling. Everything from the text is HTML-escaped. Cheap by design: one pass over
the lines with precompiled patterns (a receipt is composed per draft received).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape

# a link that decides (or signs in) in one press, as docflow makes them
_BUTTON_URL = re.compile(r"https?://[^\s/]+(?:/[^\s]*)?/(?:t|login/link)/[A-Za-z0-9_-]+")
_URL = re.compile(r"https?://[^\s<>\"']+")
_ROW = re.compile(r"([^:]{1,40}):(?:\s+(.*))?")  # `Label:   value` (an indented line)
_LABELLED_URL = re.compile(r"(.*\S):\s+(https?://\S+)")  # `Status: URL`

# a button with nothing on its line to say what it does: (vi, en) by its kind
BUTTON_WORDS = {"decide": ("Mở văn bản", "Open the document"), "signin": ("Đăng nhập", "Sign in")}
# the colour of a button, by the tone the composer gives it (white text on each: ≥ 5:1)
_TONES = {"approve": "#1d6b24", "changes": "#8a5a00", "reject": "#a32929", "": "#1a5fb4"}

_FONT = "font-family:system-ui,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
_P = "margin:0 0 14px"
_TABLE = "border-collapse:collapse;width:100%;margin:0 0 14px;font-size:15px"
_LABEL = "padding:3px 12px 3px 0;vertical-align:top;color:#555555;white-space:nowrap"
_VALUE = "padding:3px 0;vertical-align:top;overflow-wrap:anywhere;word-break:break-word"
_LIST = "margin:0 0 14px;padding-left:22px"
_INNER_LIST = "margin:0;padding-left:18px"
_CODE = (
    "margin:0 0 14px;padding:10px 14px;background:#f1f3f7;border-radius:6px;"
    "font-family:ui-monospace,Menlo,Consolas,monospace;font-size:24px;letter-spacing:3px"
)
_LINK = "color:#0645ad"
_BUTTON_TABLE = (
    "border-collapse:separate;border-spacing:0;margin:0 0 12px;width:100%;max-width:360px"
)
_BUTTON_CELL = "border-radius:6px;text-align:center;background:"
_BUTTON = (
    "display:block;padding:13px 18px;color:#ffffff;font-size:16px;font-weight:bold;"
    "line-height:1.3;text-decoration:none;border-radius:6px"
)
_FOOTER = "margin:0;padding:14px 4px 0;color:#666666;font-size:13px"


def to_html(text: str, language: str, links: Mapping[str, str], title: str) -> str:
    """The HTML document showing `text`, in `language`; `links`: the URLs it may link,
    each with its button's tone (see `notify.body.Body`); `title` (the subject) names it."""
    footer: list[str] = []
    cut = text.rfind("\n--\n")
    if cut >= 0:
        footer = [line for line in text[cut + 4 :].split("\n") if line.strip()]
        text = text[:cut]
    lang = "en" if language == "en" else "vi"
    out = [
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title></head>"
        f'<body style="margin:0;padding:0;background:#f3f4f6;{_FONT}">'
        '<div style="max-width:600px;margin:0 auto;padding:12px;box-sizing:border-box">'
        '<div style="background:#ffffff;border:1px solid #dddddd;border-top:4px solid #1a5fb4;'
        "border-radius:6px;padding:18px 16px 4px;color:#1f1f1f;font-size:16px;"
        'line-height:1.5;overflow-wrap:anywhere;word-wrap:break-word">'
    ]
    _Blocks(links, lang, out).render(text)
    out.append("</div>")
    if footer:
        out.append(f'<p style="{_FOOTER}">{"<br>".join(escape(f) for f in footer)}</p>')
    out.append("</div></body></html>")
    return "".join(out)


class _Blocks:
    """Writes the paragraphs of one mail into `out`."""

    def __init__(self, links: Mapping[str, str], lang: str, out: list[str]) -> None:
        self.links = links
        self.en = lang == "en"
        self.out = out

    def render(self, text: str) -> None:
        for block in text.strip("\n").split("\n\n"):
            lines = [line for line in block.split("\n") if line.strip()]
            if lines:
                self.block(lines)

    def block(self, lines: list[str]) -> None:
        """Runs of text lines, rows, list items and lone lines, in order."""
        out = self.out
        i, n = 0, len(lines)
        while i < n:
            line = lines[i]
            if not line.startswith(" "):  # a paragraph: its lines up to the next indented one
                j = i
                while j < n and not lines[j].startswith(" "):
                    j += 1
                if j == i + 1 and j < n and line.endswith(":") and len(line) <= 60:
                    lone = lines[j].strip()
                    if self.is_button(lone):  # `Open the document and decide:` + its URL
                        self.button(lone, line[:-1])
                        i = j + 1
                        continue
                out.append(f'<p style="{_P}">{" ".join(self.inline(s) for s in lines[i:j])}</p>')
                i = j
                continue
            stripped = line.strip()
            if stripped.startswith("- "):
                i = self.items(lines, i, _LIST)
                continue
            row = _ROW.fullmatch(stripped)
            if row is None:
                self.lone(stripped)
                i += 1
                continue
            i = self.table(lines, i)

    def table(self, lines: list[str], i: int) -> int:
        """`Label: value` rows from line `i`; a button row ends the table and stands alone."""
        out = self.out
        out.append(f'<table role="presentation" style="{_TABLE}">')
        rows = 0
        n = len(lines)
        while i < n and lines[i].startswith(" "):
            stripped = lines[i].strip()
            row = _ROW.fullmatch(stripped)
            if row is None or stripped.startswith("- "):
                break
            label, value = row.group(1), row.group(2) or ""
            if self.is_button(value):
                break
            rows += 1
            out.append(f'<tr><td style="{_LABEL}">{escape(label)}:</td><td style="{_VALUE}">')
            i += 1
            if value:
                out.append(self.inline(value))
            elif i < n and lines[i].lstrip().startswith("- "):  # `Files:` and its list
                i = self.items(lines, i, _INNER_LIST)
            out.append("</td></tr>")
        if rows:
            out.append("</table>")
        else:
            out.pop()
        while i < n and lines[i].startswith(" "):  # `Approve:   URL` rows: buttons
            row = _ROW.fullmatch(lines[i].strip())
            if row is None or not self.is_button(row.group(2) or ""):
                break
            self.button(str(row.group(2)), row.group(1))
            i += 1
        return i

    def items(self, lines: list[str], i: int, style: str) -> int:
        """`- item` lines from line `i`, as a list."""
        out = self.out
        out.append(f'<ul style="{style}">')
        n = len(lines)
        while i < n and lines[i].lstrip().startswith("- ") and lines[i].startswith(" "):
            out.append(f"<li>{self.inline(lines[i].strip()[2:])}</li>")
            i += 1
        out.append("</ul>")
        return i

    def lone(self, stripped: str) -> None:
        """An indented line on its own: a button, a link, or a code to read out."""
        if self.is_button(stripped):
            kind = "signin" if "/login/link/" in stripped else "decide"
            self.button(stripped, BUTTON_WORDS[kind][self.en])
        elif stripped in self.links:
            self.out.append(f'<p style="{_P}">{self.inline(stripped)}</p>')
        else:
            self.out.append(f'<p style="{_CODE}">{escape(stripped)}</p>')

    def is_button(self, value: str) -> bool:
        return value in self.links and _BUTTON_URL.fullmatch(value) is not None

    def button(self, url: str, label: str) -> None:
        colour = _TONES.get(self.links.get(url, ""), _TONES[""])
        self.out.append(
            f'<table role="presentation" style="{_BUTTON_TABLE}"><tr>'
            f'<td bgcolor="{colour}" style="{_BUTTON_CELL}{colour}">'
            f'<a href="{escape(url)}" style="{_BUTTON}">{escape(label.strip())}</a>'
            "</td></tr></table>"
        )

    def inline(self, text: str) -> str:
        """A line of text: escaped; the composer's URLs linked (`Label: URL` → the label)."""
        if "://" not in text:
            return escape(text)
        labelled = _LABELLED_URL.fullmatch(text)
        if labelled and labelled.group(2) in self.links:
            url = escape(labelled.group(2))
            return f'<a href="{url}" style="{_LINK}">{escape(labelled.group(1))}</a>'
        parts: list[str] = []
        last = 0
        for found in _URL.finditer(text):
            url = found.group(0)
            if url not in self.links:
                continue
            parts.append(escape(text[last : found.start()]))
            parts.append(f'<a href="{escape(url)}" style="{_LINK}">{escape(url)}</a>')
            last = found.end()
        parts.append(escape(text[last:]))
        return "".join(parts)
