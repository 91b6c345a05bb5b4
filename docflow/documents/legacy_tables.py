"""The mapping tables of the two old Vietnamese font encodings, TCVN3 (ABC) and VNI.

Source: the charset tables of UniKey's converter library VnConv (Phạm Kim Long,
unikey.sourceforge.net; `unikey/data.cpp`, tables `SingleByteTables` "TCVN3" and
`DoubleByteTables` "VNI-WIN", as in the fcitx5-unikey copy). tests/unit/test_legacy_text.py
checks that each table covers every Vietnamese letter exactly once, that the TCVN3 bytes
read the same through glibc's TCVN5712-1 converter (`iconv`; TCVN3 is that code's VN3
subset), and that each VNI pair is its base letter with the marks its second byte
stands for.

Bytes are written as they are in the font (hex); an office file stores them as the
Windows-1252 characters they decode to (byte B8 is `¸`), which is why TCVN3 text reads
`Ban D©n téc` in any other font.

TCVN3 (TCVN 5712:1993, VN3) is one byte a letter. It has room for the small letters
and for Ă Â Ê Ô Ơ Ư Đ only: a capital with a tone shares the byte of its small letter,
and is drawn by the capital fonts (`.VnTimeH`, `.VnArialH`: names ending in `H`), which
draw every letter, ASCII ones included, as a capital.

VNI (VNI Windows) writes a letter as its base letter and a second byte for its marks
(`Vieät` = `Việt`); đ, ơ, ư, the toned i and ỵ are single bytes. Each mark byte of a
capital is that of the small letter less 0x20 (`á` a+F9, `Á` A+D9).
"""

from __future__ import annotations


def _pairs(table: str) -> dict[int, str]:
    """`B8 á  B5 à …` → {0xB8: "á", 0xB5: "à", …}."""
    words = table.split()
    return {int(code, 16): letter for code, letter in zip(words[::2], words[1::2], strict=True)}


# byte → letter; the capital fonts draw each small letter's byte as its capital
TCVN3: dict[int, str] = _pairs(
    """
    A1 Ă  A2 Â  A3 Ê  A4 Ô  A5 Ơ  A6 Ư  A7 Đ
    A8 ă  A9 â  AA ê  AB ô  AC ơ  AD ư  AE đ
    B5 à  B6 ả  B7 ã  B8 á  B9 ạ
    BB ằ  BC ẳ  BD ẵ  BE ắ  C6 ặ
    C7 ầ  C8 ẩ  C9 ẫ  CA ấ  CB ậ
    CC è  CE ẻ  CF ẽ  D0 é  D1 ẹ
    D2 ề  D3 ể  D4 ễ  D5 ế  D6 ệ
    D7 ì  D8 ỉ  DC ĩ  DD í  DE ị
    DF ò  E1 ỏ  E2 õ  E3 ó  E4 ọ
    E5 ồ  E6 ổ  E7 ỗ  E8 ố  E9 ộ
    EA ờ  EB ở  EC ỡ  ED ớ  EE ợ
    EF ù  F1 ủ  F2 ũ  F3 ú  F4 ụ
    F5 ừ  F6 ử  F7 ữ  F8 ứ  F9 ự
    FA ỳ  FB ỷ  FC ỹ  FD ý  FE ỵ
    """
)

# VNI letters of one byte (Í í Ì ì are the Windows-1252 letters themselves)
VNI_SINGLE: dict[int, str] = _pairs(
    """
    D1 Đ  F1 đ  D4 Ơ  F4 ơ  D6 Ư  F6 ư
    CD Í  ED í  CC Ì  EC ì  C6 Ỉ  E6 ỉ  D3 Ĩ  F3 ĩ  D2 Ị  F2 ị
    CE Ỵ  EE ỵ
    """
)

# VNI letters of two bytes: base byte → {mark byte → letter}
VNI_PAIRS: dict[int, dict[int, str]] = {
    0x61: _pairs(  # a
        "F9 á  F8 à  FB ả  F5 ã  EF ạ  E2 â  E1 ấ  E0 ầ  E5 ẩ  E3 ẫ  E4 ậ"
        "  EA ă  E9 ắ  E8 ằ  FA ẳ  FC ẵ  EB ặ"
    ),
    0x41: _pairs(  # A
        "D9 Á  D8 À  DB Ả  D5 Ã  CF Ạ  C2 Â  C1 Ấ  C0 Ầ  C5 Ẩ  C3 Ẫ  C4 Ậ"
        "  CA Ă  C9 Ắ  C8 Ằ  DA Ẳ  DC Ẵ  CB Ặ"
    ),
    0x65: _pairs("F9 é  F8 è  FB ẻ  F5 ẽ  EF ẹ  E2 ê  E1 ế  E0 ề  E5 ể  E3 ễ  E4 ệ"),  # e
    0x45: _pairs("D9 É  D8 È  DB Ẻ  D5 Ẽ  CF Ẹ  C2 Ê  C1 Ế  C0 Ề  C5 Ể  C3 Ễ  C4 Ệ"),  # E
    0x6F: _pairs("F9 ó  F8 ò  FB ỏ  F5 õ  EF ọ  E2 ô  E1 ố  E0 ồ  E5 ổ  E3 ỗ  E4 ộ"),  # o
    0x4F: _pairs("D9 Ó  D8 Ò  DB Ỏ  D5 Õ  CF Ọ  C2 Ô  C1 Ố  C0 Ồ  C5 Ổ  C3 Ỗ  C4 Ộ"),  # O
    0xF4: _pairs("F9 ớ  F8 ờ  FB ở  F5 ỡ  EF ợ"),  # ơ
    0xD4: _pairs("D9 Ớ  D8 Ờ  DB Ở  D5 Ỡ  CF Ợ"),  # Ơ
    0x75: _pairs("F9 ú  F8 ù  FB ủ  F5 ũ  EF ụ"),  # u
    0x55: _pairs("D9 Ú  D8 Ù  DB Ủ  D5 Ũ  CF Ụ"),  # U
    0xF6: _pairs("F9 ứ  F8 ừ  FB ử  F5 ữ  EF ự"),  # ư
    0xD6: _pairs("D9 Ứ  D8 Ừ  DB Ử  D5 Ữ  CF Ự"),  # Ư
    0x79: _pairs("F9 ý  F8 ỳ  FB ỷ  F5 ỹ"),  # y (ỵ is one byte)
    0x59: _pairs("D9 Ý  D8 Ỳ  DB Ỷ  D5 Ỹ"),  # Y
}

# what each VNI mark byte of a small letter stands for (the capital's is 0x20 lower):
# the combining marks it adds to its base letter
VNI_MARKS: dict[int, str] = {
    0xF9: "\u0301",  # acute (sắc)
    0xF8: "\u0300",  # grave (huyền)
    0xFB: "\u0309",  # hook above (hỏi)
    0xF5: "\u0303",  # tilde (ngã)
    0xEF: "\u0323",  # dot below (nặng)
    0xE2: "\u0302",  # circumflex
    0xE1: "\u0302\u0301",
    0xE0: "\u0302\u0300",
    0xE5: "\u0302\u0309",
    0xE3: "\u0302\u0303",
    0xE4: "\u0302\u0323",
    0xEA: "\u0306",  # breve
    0xE9: "\u0306\u0301",
    0xE8: "\u0306\u0300",
    0xFA: "\u0306\u0309",
    0xFC: "\u0306\u0303",
    0xEB: "\u0306\u0323",
}
