"""Bar charts drawn on the server as inline SVG: no script, nothing loaded from elsewhere.

Readable without the picture: the SVG is an image with a title and a description, every
bar carries its value as text above it and its label below, and a <title> of its own
(a tooltip, and what a screen reader says of the bar). The page beside it has a table
of the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 400, 220
TOP, BOTTOM, SIDE = 24, 28, 6  # room for the values above, the labels below
BAR = "#1a5fb4"  # 7:1 against white (WCAG AAA for the bars' meaning, not only colour)
INK = "#222"


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar: "T1", "Jan"
    value: int
    shown: str  # the value as written above the bar: "1.234"
    title: str  # what a bar says in full: "Tháng 1: 1.234 tờ"


def bar_chart(bars: list[Bar], title: str, description: str, chart_id: str = "chart") -> Markup:
    """An SVG with one bar per item whose value is above zero; every item keeps its label."""
    slot = (WIDTH - 2 * SIDE) / max(len(bars), 1)
    width = slot * 0.62
    top = max((b.value for b in bars), default=0)
    plot = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        f'<line x1="{SIDE}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - SIDE}" '
        f'y2="{HEIGHT - BOTTOM}" stroke="{INK}" stroke-width="1"/>',
    ]
    for i, b in enumerate(bars):
        middle = SIDE + slot * i + slot / 2
        if b.value > 0 and top > 0:
            h = max(plot * b.value / top, 1.0)
            y = HEIGHT - BOTTOM - h
            parts.append(
                f'<g class="bar"><title>{escape(b.title)}</title>'
                f'<rect class="bar" x="{middle - width / 2:.1f}" y="{y:.1f}" '
                f'width="{width:.1f}" height="{h:.1f}" fill="{BAR}"/>'
                f'<text x="{middle:.1f}" y="{y - 5:.1f}" text-anchor="middle" '
                f'fill="{INK}">{escape(b.shown)}</text></g>'
            )
        parts.append(
            f'<text x="{middle:.1f}" y="{HEIGHT - BOTTOM + 17}" text-anchor="middle" '
            f'fill="{INK}">{escape(b.label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
