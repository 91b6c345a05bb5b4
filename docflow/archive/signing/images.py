"""Sample appearance images for the test PKI: a blue hand signature and a red round seal.

Both are PNGs with an alpha channel, so that the seal shows the signature under it and
neither hides the page. They are drawn, not scanned, and say nothing about a real person
or a real office.
"""

from __future__ import annotations

import hashlib
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
BLUE = (18, 45, 160, 255)
RED = (205, 22, 22, 255)


def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    """DejaVu has every Vietnamese letter; Pillow's default bitmap font has none."""
    return ImageFont.truetype(str(path if path.exists() else FONT), size)


def _rng(seed: str) -> random.Random:
    """The same name always gives the same scribble, so images are reproducible."""
    return random.Random(hashlib.sha256(seed.encode("utf-8")).digest())


def draw_signature(full_name: str, path: Path, width: int = 600, height: int = 240) -> Path:
    """A blue scribble over the signer's name: looks signed, is obviously a sample."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    rng = _rng(full_name)
    points: list[tuple[float, float]] = []
    x = width * 0.08
    while x < width * 0.9:
        loop = rng.uniform(18, 40)
        for step in range(12):
            angle = step / 12 * 2 * math.pi
            points.append(
                (
                    x + loop * 0.8 * math.cos(angle) + step * 2.2,
                    height * 0.38 + loop * math.sin(angle) * rng.uniform(0.8, 1.3),
                )
            )
        x += loop * 1.4
    draw.line(points, fill=BLUE, width=5, joint="curve")
    flourish = [
        (width * 0.1 + t * width * 0.8, height * 0.62 - 25 * math.sin(t * math.pi))
        for t in (i / 40 for i in range(41))
    ]
    draw.line(flourish, fill=BLUE, width=4, joint="curve")
    font = _font(FONT, 34)
    left, top, right, bottom = draw.textbbox((0, 0), full_name, font=font)
    draw.text(
        ((width - (right - left)) / 2, height - (bottom - top) - 18),
        full_name,
        font=font,
        fill=BLUE,
    )
    image.save(path, "PNG")
    return path


def _arc_text(image: Image.Image, text: str, radius: float, size: int) -> None:
    """Letters around the top of the seal, each turned to face the centre."""
    font = _font(FONT_BOLD, size)
    centre = image.width / 2
    span = min(300.0, 12.0 * len(text) * size / 28)  # degrees the text covers
    start = -90 - span / 2
    for i, letter in enumerate(text):
        angle = start + span * (i + 0.5) / len(text)
        tile = Image.new("RGBA", (size * 2, size * 2), (0, 0, 0, 0))
        ImageDraw.Draw(tile).text((size, size), letter, font=font, fill=RED, anchor="mm")
        tile = tile.rotate(-angle - 90, resample=Image.Resampling.BICUBIC)
        rad = math.radians(angle)
        x = centre + radius * math.cos(rad) - size
        y = centre + radius * math.sin(rad) - size
        image.alpha_composite(tile, (round(x), round(y)))


def draw_seal(org_name: str, org_code: str, path: Path, size: int = 400) -> Path:
    """A red round seal: two rings, the organisation's name around, a star in the middle."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    c = size / 2
    draw.ellipse((6, 6, size - 6, size - 6), outline=RED, width=9)
    draw.ellipse((size * 0.2, size * 0.2, size * 0.8, size * 0.8), outline=RED, width=4)
    star = []
    for i in range(10):
        r = size * (0.13 if i % 2 == 0 else 0.055)
        angle = -math.pi / 2 + i * math.pi / 5
        star.append((c + r * math.cos(angle), c + 0.02 * size + r * math.sin(angle)))
    draw.polygon(star, fill=RED)
    text = org_name.upper()
    _arc_text(image, text, radius=size * 0.39, size=max(16, min(34, int(size * 1.9 / len(text)))))
    font = _font(FONT_BOLD, int(size * 0.06))
    draw.text((c, size * 0.74), org_code, font=font, fill=RED, anchor="mm")
    image.save(path, "PNG")
    return path
