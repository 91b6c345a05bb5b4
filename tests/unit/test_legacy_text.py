"""Text typed in the old Vietnamese fonts (TCVN3 `.VnTime`, VNI `VNI-Times`) is read as
Unicode: the tables, hand-checked words, and the readers of DOCX, ODT and RTF run by run."""

from __future__ import annotations

import io
import itertools
import subprocess
import unicodedata
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

from docflow.documents.extract import extract, extract_text
from docflow.documents.legacy import convert, font_encoding, join_pieces
from docflow.documents.legacy_tables import TCVN3, VNI_MARKS, VNI_PAIRS, VNI_SINGLE
from docflow.intake.filetypes import KIND_MIME
from tests.filebuilders import encode_tcvn3, encode_vni, make_docx_in_fonts

SAMPLE = (Path(__file__).parent.parent / "data" / "vi-admin-reform-report-2018.txt").read_text(
    "utf-8"
)
DOCX, ODT, RTF = KIND_MIME["docx"], KIND_MIME["odt"], "text/rtf"
MOTTO = "Cộng hòa xã hội chủ nghĩa Việt Nam"
TONES = ("", "\u0301", "\u0300", "\u0309", "\u0303", "\u0323")  # none, sắc, huyền, hỏi, ngã, nặng
VOWELS = ("a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y")


def vietnamese_letters() -> set[str]:
    """Every small Vietnamese letter that is not ASCII: the 66 toned or marked vowels, đ."""
    made = {unicodedata.normalize("NFC", v + t) for v, t in itertools.product(VOWELS, TONES)}
    return {c for c in made if not c.isascii()} | {"đ"}


# --- the tables ---------------------------------------------------------------------------


def test_tcvn3_has_each_small_letter_once_and_the_seven_toneless_capitals() -> None:
    letters = list(TCVN3.values())
    assert len(letters) == len(set(letters))
    assert set(letters) == vietnamese_letters() | set("ĂÂÊÔƠƯĐ")


def test_tcvn3_bytes_read_the_same_through_glibc_iconv() -> None:
    """glibc's TCVN5712-1 converter, an independent source (TCVN3 is its VN3 subset)."""
    codes = bytes(sorted(TCVN3))
    done = subprocess.run(
        ["iconv", "-f", "TCVN5712-1", "-t", "UTF-8"], input=codes, capture_output=True, check=True
    )
    assert unicodedata.normalize("NFC", done.stdout.decode()) == "".join(TCVN3[b] for b in codes)


def test_vni_makes_every_letter_small_and_capital_once() -> None:
    made = list(VNI_SINGLE.values()) + [c for marks in VNI_PAIRS.values() for c in marks.values()]
    assert len(made) == len(set(made))
    assert set(made) == vietnamese_letters() | {c.upper() for c in vietnamese_letters()}


def test_each_vni_pair_is_its_base_letter_with_the_marks_its_second_byte_stands_for() -> None:
    for base, marks in VNI_PAIRS.items():
        letter = {0xF4: "ơ", 0xD4: "Ơ", 0xF6: "ư", 0xD6: "Ư"}.get(base, chr(base))
        for mark, made in marks.items():
            small_mark = mark if letter.islower() else mark + 0x20
            expected = unicodedata.normalize("NFC", letter + VNI_MARKS[small_mark])
            assert made == expected, (hex(base), hex(mark))


# --- words --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "encoding", "meant"),
    [
        ("Ban D©n téc", "tcvn3", "Ban Dân tộc"),
        ("Céng hßa x· héi chñ nghÜa ViÖt Nam", "tcvn3", MOTTO),
        ("§éc lËp - Tù do - H¹nh phóc", "tcvn3", "Độc lập - Tự do - Hạnh phúc"),
        (
            "Ng\xadêi lao ®éng ph¶i ®\xadîc tr¶ l\xad¬ng",
            "tcvn3",
            "Người lao động phải được trả lương",
        ),
        ("CéNG HOµ X· HéI CHñ NGHÜA VIÖT NAM", "tcvn3h", "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
        ("- KÕt qu¶ thu ®\xadîc -", "tcvn3h", "- KẾT QUẢ THU ĐƯỢC -"),  # small ASCII too
        ("Coäng hoøa xaõ hoäi chuû nghóa Vieät Nam", "vni", MOTTO),
        ("COÄNG HOØA XAÕ HOÄI CHUÛ NGHÓA VIEÄT NAM", "vni", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
        ("Ñoäc laäp - Töï do - Haïnh phuùc", "vni", "Độc lập - Tự do - Hạnh phúc"),
        ("Tröôøng, ngöôøi, Ñaêk Laêk, Thuûy, quyeát ñònh", "vni", ""),
    ],
)
def test_hand_checked_words_convert(typed: str, encoding: str, meant: str) -> None:
    meant = meant or "Trường, người, Đăk Lăk, Thủy, quyết định"
    assert convert(typed, encoding) == meant


def test_a_whole_report_round_trips_through_each_encoding() -> None:
    small = unicodedata.normalize("NFC", SAMPLE).lower()
    assert convert(encode_tcvn3(small), "tcvn3") == small
    capitals = unicodedata.normalize("NFC", SAMPLE).upper()
    assert convert(encode_tcvn3(capitals, capitals=True), "tcvn3h") == capitals
    assert convert(encode_vni(SAMPLE), "vni") == unicodedata.normalize("NFC", SAMPLE)


@pytest.mark.parametrize(
    ("font", "encoding"),
    [
        (".VnTime", "tcvn3"),
        (".VnArial", "tcvn3"),
        (".VnTimeH", "tcvn3h"),
        (".VnArialH", "tcvn3h"),
        (".VnArial NarrowH", "tcvn3h"),
        ("'.VnTime'", "tcvn3"),
        ("VNI-Times", "vni"),
        ("VNI-Helve-Condense", "vni"),
        ("Times New Roman", None),
        ("Arial", None),
        ("VnTimes", None),
        ("", None),
    ],
)
def test_font_names_say_the_encoding(font: str, encoding: str | None) -> None:
    assert font_encoding(font) == encoding


def test_a_vni_letter_split_over_two_runs_of_the_font_is_one_letter() -> None:
    assert join_pieces([("Vie", "vni"), ("ät", "vni"), (" Nam", None)]) == (
        "Việt Nam",
        frozenset({"vni"}),
    )


def test_unicode_text_in_a_legacy_font_is_left_as_it_is() -> None:
    """Someone typed Unicode with .VnTime still chosen: ộ cannot come from a TCVN3 byte."""
    assert join_pieces([("Ban Dân tộc", "tcvn3"), ("Việt Nam", "vni")]) == (
        "Ban Dân tộcViệt Nam",
        frozenset(),
    )


# --- DOCX ---------------------------------------------------------------------------------


def test_docx_runs_are_read_by_their_own_fonts() -> None:
    data = make_docx_in_fonts(
        [
            [(encode_tcvn3("CỘNG HÒA XÃ HỘI", capitals=True), ".VnTimeH")],
            [("Kính gửi: ", "Times New Roman"), (encode_tcvn3("Ban Dân tộc"), ".VnTime")],
            [(encode_vni("Việt"), "VNI-Times"), (" © 2003", "Arial")],
            [("Giữ nguyên ©", None)],
        ]
    )
    found = extract(data, DOCX)
    assert found.text == "CỘNG HÒA XÃ HỘI\nKính gửi: Ban Dân tộc\nViệt © 2003\nGiữ nguyên ©"
    assert found.legacy_encoding == "tcvn3,vni"


def test_docx_font_from_the_paragraph_style_the_character_style_or_the_defaults() -> None:
    document = docx.Document()
    legacy = document.styles.add_style("Cu", WD_STYLE_TYPE.PARAGRAPH)
    legacy.font.name = ".VnTime"
    vni = document.styles.add_style("Vni", WD_STYLE_TYPE.CHARACTER)
    vni.font.name = "VNI-Times"
    document.add_paragraph(encode_tcvn3("Tờ trình số 12"), style="Cu")
    p = document.add_paragraph()
    p.add_run(encode_vni("Quyết định")).style = "Vni"
    document.add_paragraph("Văn bản Unicode ©")
    assert extract_text(_saved(document), DOCX) == "Tờ trình số 12\nQuyết định\nVăn bản Unicode ©"

    defaults = docx.Document()
    fonts = defaults.styles.element.find(".//" + _w("rPrDefault") + "/" + _w("rPr"))
    fonts.insert(0, parse_xml(f'<w:rFonts {nsdecls("w")} w:ascii=".VnTime" w:hAnsi=".VnTime"/>'))
    for font in fonts.findall(_w("rFonts"))[1:]:
        fonts.remove(font)
    defaults.add_paragraph(encode_tcvn3("Ban Dân tộc"))
    assert extract(_saved(defaults), DOCX).legacy_encoding == "tcvn3"


def test_docx_in_unicode_fonts_is_left_as_it_is_and_reports_no_conversion() -> None:
    data = make_docx_in_fonts([[("Ban D©n téc", None)], [("Vieät", "Times New Roman")]])
    found = extract(data, DOCX)
    assert (found.text, found.legacy_encoding) == ("Ban D©n téc\nVieät", None)


def test_docx_theme_font_wins_over_a_legacy_name_as_in_word() -> None:
    """ECMA-376: where w:hAnsiTheme is given, w:hAnsi is ignored."""
    document = docx.Document()
    run = document.add_paragraph().add_run("D©n")
    run.font.name = ".VnTime"
    run._r.rPr.rFonts.set(_w("hAnsiTheme"), "minorHAnsi")
    assert extract(_saved(document), DOCX).text == "D©n"


def test_docx_tcvn3_u_horn_kept_as_an_optional_hyphen_is_read_as_u_horn() -> None:
    """TCVN3's ư is byte AD, the soft hyphen's; Word keeps it as w:softHyphen."""
    document = docx.Document()
    run = document.add_paragraph().add_run("Ng")
    run.font.name = ".VnTime"
    run._r.append(parse_xml(f"<w:softHyphen {nsdecls('w')}/>"))
    run._r.append(parse_xml(f"<w:t {nsdecls('w')}>êi</w:t>"))
    plain = document.add_paragraph().add_run("co-")
    plain._r.append(parse_xml(f"<w:softHyphen {nsdecls('w')}/>"))
    assert extract_text(_saved(document), DOCX) == "Người\nco-"


def _w(tag: str) -> str:
    return "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}" + tag


def _saved(document: docx.document.Document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- ODT ----------------------------------------------------------------------------------


def make_odt_in_fonts(paragraphs: list[tuple[str | None, list[tuple[str, str | None]]]]) -> bytes:
    """An ODT as LibreOffice writes one: font faces declared, automatic styles naming them;
    each paragraph (its font or None, [(text, span font or None)])."""
    fonts = sorted(
        {f for pf, spans in paragraphs for f in [pf, *(sf for _, sf in spans)] if f is not None}
    )
    faces = "".join(
        f'<style:font-face style:name="{f}" svg:font-family="&apos;{f}&apos;"/>' for f in fonts
    )
    styles = "".join(
        f'<style:style style:name="P{i}" style:family="paragraph" '
        f'style:parent-style-name="Standard"><style:text-properties style:font-name="{f}"/>'
        f'</style:style><style:style style:name="T{i}" style:family="text">'
        f'<style:text-properties style:font-name="{f}"/></style:style>'
        for i, f in enumerate(fonts)
    )
    body = ""
    for font, spans in paragraphs:
        attr = f' text:style-name="P{fonts.index(font)}"' if font else ""
        inner = "".join(
            f'<text:span text:style-name="T{fonts.index(f)}">{escape(t)}</text:span>'
            if f
            else escape(t)
            for t, f in spans
        )
        body += f"<text:p{attr}>{inner}</text:p>"
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
        'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"'
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
        f'office:version="1.3"><office:font-face-decls>{faces}</office:font-face-decls>'
        f"<office:automatic-styles>{styles}</office:automatic-styles>"
        f"<office:body><office:text>{body}</office:text></office:body>"
        "</office:document-content>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", content)
    return out.getvalue()


def test_odt_spans_and_paragraphs_are_read_by_their_fonts() -> None:
    data = make_odt_in_fonts(
        [
            (
                ".VnTime",
                [(encode_tcvn3("Ban Dân tộc "), None), (encode_vni("Việt Nam"), "VNI-Times")],
            ),
            (None, [("Kính gửi ", None), (encode_tcvn3("Lãnh đạo"), ".VnTime"), (" ©", None)]),
            (".VnTimeH", [(encode_tcvn3("QUYẾT ĐỊNH", capitals=True), None)]),
        ]
    )
    found = extract(data, ODT)
    assert found.text == "Ban Dân tộc Việt Nam\nKính gửi Lãnh đạo ©\nQUYẾT ĐỊNH"
    assert found.legacy_encoding == "tcvn3,vni"


# --- RTF ----------------------------------------------------------------------------------


def rtf_in_fonts(runs: list[tuple[str, int]]) -> bytes:
    """An RTF as Word writes one: a font table, `\\fN` per run, 8-bit text as \\'xx."""
    table = (
        "{\\fonttbl{\\f0\\froman\\fcharset0\\fprq2{\\*\\panose 02020603050405020304}"
        "Times New Roman;}{\\f1\\froman\\fcharset0 .VnTime;}{\\f2\\fnil VNI-Times;}"
        "{\\f3 .VnTimeH;}}"
    )
    body = ""
    for text, font in runs:
        escaped = "".join(f"\\'{b:02x}" if b > 127 else chr(b) for b in text.encode("cp1252"))
        body += f"{{\\f{font} {escaped}}}"
    return f"{{\\rtf1\\ansi\\ansicpg1252\\deff0{table}\\pard {body}\\par}}".encode("latin-1")


def test_rtf_runs_are_read_by_their_fonts_from_the_font_table() -> None:
    data = rtf_in_fonts(
        [
            (encode_tcvn3("Ban Dân tộc"), 1),
            (" – ", 0),
            (encode_vni("Việt Nam"), 2),
            (" ", 0),
            (encode_tcvn3("CỘNG HÒA", capitals=True), 3),
            (" ©", 0),
        ]
    )
    found = extract(data, RTF)
    assert found.text == "Ban Dân tộc – Việt Nam CỘNG HÒA ©"
    assert found.legacy_encoding == "tcvn3,vni"


def test_rtf_default_font_applies_until_a_run_names_another() -> None:
    data = (
        b"{\\rtf1\\ansi\\deff1{\\fonttbl\\f0 Arial;\\f1 .VnTime;}"
        b"Ban D\\'a9n t\\'e9c {\\f0 D\\'a9n} \\plain t\\'e9c}"
    )
    assert extract_text(data, RTF) == "Ban Dân tộc D©n tộc"
