"""What the OCR process makes of a file before ocrmypdf sees it: which PDF pages need
reading, the resolution a photo is given, and photos turned upright and made opaque."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from docflow.documents.ocr_worker import _dpi, _needs_preparing, _prepared, run
from tests.filebuilders import make_pdf
from tests.scans import page_image, sample_lines


def test_a_pdf_with_text_on_every_page_needs_no_ocr(tmp_path: Path) -> None:
    pdf = tmp_path / "typed.pdf"
    pdf.write_bytes(make_pdf("Kế hoạch tổ chức Đại hội đại biểu các dân tộc thiểu số."))
    job = {"source": str(pdf), "mime": "application/pdf", "work": str(tmp_path), "max_pages": 2}
    assert run(job) == {"needed": False, "pages": 1}


def test_a_phone_photo_is_taken_for_an_a4_page_and_a_scan_keeps_its_resolution() -> None:
    photo = Image.new("RGB", (3024, 4032), "white")
    photo.info["dpi"] = (72, 72)  # what phones write, when they write anything
    assert _dpi(photo) == 366  # 3024 px over 8.27 in
    scan = Image.new("L", (2480, 3508), 255)
    scan.info["dpi"] = (300, 300)
    assert _dpi(scan) == 300


def test_a_sideways_photo_with_transparency_is_made_upright_and_opaque(tmp_path: Path) -> None:
    upright = page_image(sample_lines(0, 2), dpi=60).convert("RGBA")
    sideways = upright.rotate(90, expand=True)  # as the phone stored it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    data = io.BytesIO()
    sideways.save(data, "PNG", exif=exif)
    with Image.open(io.BytesIO(data.getvalue())) as image:
        assert _needs_preparing(image)
        made = _prepared(image, tmp_path / "prepared.tif")
    with Image.open(made) as result:
        assert result.mode == "RGB" and result.size == upright.size


def test_every_frame_of_a_multipage_tiff_is_kept(tmp_path: Path) -> None:
    frames = [page_image([f"Trang {i}"], dpi=40).convert("P") for i in (1, 2, 3)]
    data = io.BytesIO()
    frames[0].save(data, "TIFF", save_all=True, append_images=frames[1:])
    with Image.open(io.BytesIO(data.getvalue())) as image:
        assert _needs_preparing(image)  # a palette: img2pdf would refuse it
        made = _prepared(image, tmp_path / "prepared.tif")
    with Image.open(made) as result:
        assert result.n_frames == 3 and result.mode == "RGB"
