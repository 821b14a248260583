"""Recognisers for single values that are direct identifiers (used by :mod:`repository.identifiers`).

Each function looks at one text value and says whether it has the *shape* of an identifier,
using the real rules of the thing where they exist rather than digit counts:

* telephone numbers by national numbering plan (UK, North America, France, Germany, Japan,
  China, and any ``+<country code>`` number in E.164 form): trunk prefixes, valid leading
  digits, lengths and the groupings people write;
* national and health-service numbers by their check digits: NHS number and Scottish CHI
  number (modulus 11; CHI also starts with a date of birth), French NIR (key 97), German
  health-insurance number (KVNR, Luhn-style), Japanese My Number (modulus 11), Chinese resident
  ID (ISO 7064 MOD 11-2, with a date of birth), US social security numbers by their allocation
  rules;
* hospital record numbers by their prefixes (``MRN-00123456``, ``URN 123456`` ...);
* UK postcodes by their real postcode areas and the letters the inward code may use (so a TNM
  stage such as ``T1N0MX`` is not a postcode), ZIP+4 and Japanese postcodes;
* full dates (day precision) in the formats deliveries use, including Japanese era dates;
* street addresses (English, French, German, Japanese, Chinese), IPv4/IPv6 addresses, e-mail.

Column-level decisions (how many values, which column names, which other columns) are made in
:mod:`repository.identifiers`; names are recognised in :mod:`repository.idnames`.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date

__all__ = [
    "is_email",
    "find_email",
    "phone_shape",
    "find_phone",
    "nhs_valid",
    "chi_valid",
    "ssn_shape",
    "nir_valid",
    "kvnr_valid",
    "my_number_valid",
    "cn_resident_id_valid",
    "national_id_kind",
    "hospital_number",
    "uk_postcode",
    "zip4",
    "jp_postcode",
    "parse_full_date",
    "is_address",
    "is_ip_address",
    "digits_of",
]


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def is_email(value: str) -> bool:
    return "@" in value and _EMAIL.search(value) is not None


def find_email(value: str) -> str | None:
    if "@" not in value:
        return None
    m = _EMAIL.search(value)
    return m.group(0) if m else None


def digits_of(value: str) -> str:
    return re.sub(r"\D", "", value)


# --- telephone numbers ---------------------------------------------------------------------------

_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-/]+$")
_EXTENSION = re.compile(r"\s*(?:ext\.?|x|#)\s*\d{1,5}\s*$", re.IGNORECASE)
_GROUPS = re.compile(r"\d+")


def _groups(value: str) -> list[str]:
    return _GROUPS.findall(value)


def _uk(d: str) -> bool:
    # 11 digits with the trunk 0: 01/02 geographic, 03 non-geographic, 07 mobile/personal,
    # 08 freephone/special (10-digit 01 numbers are too rare to tell from codes)
    return len(d) == 11 and d[0] == "0" and d[1] in "12378"


def _uk_mobile(d: str) -> bool:
    return len(d) == 11 and d.startswith("07") and d[2] in "1345789"


def _nanp(d: str) -> bool:
    if len(d) == 11 and d[0] == "1":
        d = d[1:]
    return (len(d) == 10 and d[0] in "23456789" and d[3] in "23456789"
            and d[1:3] != "11" and d[4:6] != "11")


def _fr(d: str) -> bool:
    return len(d) == 10 and d[0] == "0" and d[1] in "123456789"


def _fr_mobile(d: str) -> bool:
    return len(d) == 10 and d[:2] in ("06", "07")


def _de(d: str) -> bool:
    return 10 <= len(d) <= 12 and d[0] == "0" and d[1] != "0"


def _de_mobile(d: str) -> bool:
    return len(d) in (11, 12) and d[:3] in ("015", "016", "017")


def _jp(d: str) -> bool:
    if len(d) == 11:
        return d[:3] in ("050", "070", "080", "090", "020")
    return len(d) == 10 and d[0] == "0" and d[1] != "0"


def _jp_mobile(d: str) -> bool:
    return len(d) == 11 and d[:3] in ("070", "080", "090")


def _cn_mobile(d: str) -> bool:
    return len(d) == 11 and d[0] == "1" and d[1] in "3456789"


def _cn_landline(d: str) -> bool:
    return 10 <= len(d) <= 12 and d[0] == "0" and d[1] != "0"


#: country code -> national significant number check (without the trunk 0)
_INTERNATIONAL = {
    "44": lambda n: _uk("0" + n),
    "1": lambda n: _nanp(n),
    "33": lambda n: _fr("0" + n),
    "49": lambda n: _de("0" + n),
    "81": lambda n: _jp("0" + n),
    "86": lambda n: _cn_mobile(n) or _cn_landline("0" + n),
}


def _grouping(value: str) -> str:
    """The lengths of the digit groups, e.g. ``'3-4-4'``."""
    return "-".join(str(len(g)) for g in _groups(value))


def phone_shape(value: str) -> str | None:
    """``'international'``, ``'mobile'`` or ``'national'`` when ``value`` is written like a
    telephone number of one of the supported numbering plans, else None.

    ``mobile`` numbers have a mobile prefix of their plan (07 in the UK, 06/07 in France,
    015-017 in Germany, 070/080/090 in Japan, 13-19 in China); ``national`` ones are landlines
    written with the separators people use for them ((212) 555-0123, 01 23 45 67 89,
    030 1234567, 03-1234-5678, 010-12345678). Bare digit strings only count as mobiles.
    """
    if not 8 <= len(value) <= 40 or sum(map(str.isdigit, value)) < 8:
        return None
    v = _phone_text(value)
    if v is None:
        return None
    d = digits_of(v)
    if not 8 <= len(d) <= 15:
        return None
    if v.startswith("+"):
        return _plus_number(d)
    if d.startswith("00"):
        return "international" if any(d[2:].startswith(cc) and check(d[2 + len(cc):])
                                      for cc, check in _INTERNATIONAL.items()) else None
    if re.fullmatch(r"\d+", v):
        # bare digits: only mobile numbers are written like that often enough to tell
        return "mobile" if _mobile(d) else None
    if _mobile(d):
        return "mobile"
    if d[0] == "0":
        return _national_written(v, d)
    nanp_written = (re.fullmatch(r"(?:1[\s.-]?)?\(\d{3}\)\s?\d{3}[\s.-]\d{4}", v) or
                    re.fullmatch(r"(?:1[\s.-])?\d{3}([\s.-])\d{3}\1\d{4}", v))
    return "national" if _nanp(d) and nanp_written else None


def _phone_text(value: str) -> str | None:
    """The number as written, without an extension or a ``tel:`` mark; None when it holds
    characters a telephone number is not written with."""
    v = _EXTENSION.sub("", value.strip())
    if v.lower().startswith(("tel:", "tel.", "tél", "tel ")):
        v = v.split(":", 1)[-1] if ":" in v else v[4:]
        v = v.strip()
    if not v or not _PHONE_CHARS.match(v) or v.count("+") > 1 or "+" in v[1:]:
        return None
    return v


def _plus_number(d: str) -> str | None:
    """A number written with ``+``: valid for its country's plan, or E.164 for another."""
    for cc, check in _INTERNATIONAL.items():
        if d.startswith(cc):
            rest = d[len(cc):]
            return "international" if check(rest[1:] if rest[:1] == "0" else rest) else None
    return "international"  # another country: E.164, 8-15 digits


def _mobile(d: str) -> bool:
    return _uk_mobile(d) or _fr_mobile(d) or _de_mobile(d) or _jp_mobile(d) or _cn_mobile(d)


def _national_written(v: str, d: str) -> str | None:
    """A number with the trunk 0, written with the grouping of its country's landlines."""
    groups = _groups(v)
    shape = _grouping(v)
    first = groups[0]
    if _uk(d) and shape in ("5-6", "4-3-4", "3-4-4", "5-3-3", "4-7", "3-8", "2-4-4"):
        return "national"
    if _fr(d) and shape in ("2-2-2-2-2", "1-2-2-2-2-2"):
        return "national"
    if _jp(d) and len(groups) == 3 and len(groups[2]) == 4 and 2 <= len(first) <= 5:
        return "national"
    if (_de(d) or _cn_landline(d)) and len(groups) == 2 and 3 <= len(first) <= 5 \
            and 5 <= len(groups[1]) <= 8:
        return "national"
    return None


_PHONE_IN_TEXT = re.compile(r"(?<![\w+])(\+\d[\d\s().-]{7,18}\d|0\d[\d\s.-]{8,14}\d|"
                            r"\(\d{3}\)\s?\d{3}-\d{4})(?!\w)")


def find_phone(text: str) -> str | None:
    """A telephone number written inside free text (international or mobile numbers, or a
    national number with its usual separators), or None."""
    for m in _PHONE_IN_TEXT.finditer(text):
        if phone_shape(m.group(1)) is not None:
            return m.group(1)
    return None


# --- national and health-service numbers ---------------------------------------------------------

def _mod11(digits: str) -> bool:
    total = sum(int(c) * w for c, w in zip(digits[:9], range(10, 1, -1)))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def nhs_valid(digits: str) -> bool:
    """An NHS number: 10 digits with a valid modulus-11 check digit."""
    return len(digits) == 10 and digits.isdigit() and _mod11(digits)


def _valid_date(y: int, m: int, d: int) -> bool:
    try:
        date(y, m, d)
    except ValueError:
        return False
    return True


def chi_valid(digits: str) -> bool:
    """A Scottish CHI number: DDMMYY of birth + 4 digits, modulus-11 check digit."""
    if len(digits) != 10 or not digits.isdigit() or not _mod11(digits):
        return False
    day, month, yy = int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    return _valid_date(2000 + yy, month, day) or _valid_date(1900 + yy, month, day)


_SSN = re.compile(r"^(\d{3})[- ](\d{2})[- ](\d{4})$")


def ssn_shape(value: str) -> bool:
    """A US social security number written ``123-45-6789`` (allocation rules: area not 000, 666
    or 900-999, group not 00, serial not 0000)."""
    m = _SSN.match(value.strip())
    if not m:
        return False
    area, group, serial = m.groups()
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def nir_valid(value: str) -> bool:
    """A French NIR (numéro de sécurité sociale): 13 characters + a 2-digit key 97 - n mod 97."""
    v = re.sub(r"[\s.-]", "", value.strip().upper())
    if len(v) != 15 or v[0] not in "123478":
        return False
    body, key = v[:13], v[13:]
    body = body.replace("2A", "19").replace("2B", "18") if body[5:7] in ("2A", "2B") else body
    if not body.isdigit() or not key.isdigit():
        return False
    month = int(body[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or month in (50, 99)):
        return False
    return 97 - int(body) % 97 == int(key)


def kvnr_valid(value: str) -> bool:
    """A German health-insurance number (Krankenversichertennummer): a letter, 8 digits and a
    check digit (the letter as 01-26, weights 1, 2, 1, 2 ..., digit sums, modulo 10)."""
    v = value.strip().upper()
    if not re.fullmatch(r"[A-Z]\d{9}", v):
        return False
    digits = f"{ord(v[0]) - 64:02d}" + v[1:9]
    total = 0
    for i, c in enumerate(digits):
        p = int(c) * (1 if i % 2 == 0 else 2)
        total += p // 10 + p % 10
    return total % 10 == int(v[9])


def my_number_valid(digits: str) -> bool:
    """A Japanese My Number (個人番号): 12 digits, modulus-11 check digit."""
    if len(digits) != 12 or not digits.isdigit():
        return False
    body = digits[:11]
    total = 0
    for n in range(1, 12):
        p = int(body[11 - n])
        q = n + 1 if n <= 6 else n - 5
        total += p * q
    r = total % 11
    check = 0 if r <= 1 else 11 - r
    return check == int(digits[11])


_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def cn_resident_id_valid(value: str) -> bool:
    """A Chinese resident identity card number: 17 digits (with the date of birth at 7-14) and
    an ISO 7064 MOD 11-2 check character (0-9 or X)."""
    v = value.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", v):
        return False
    if not _valid_date(int(v[6:10]), int(v[10:12]), int(v[12:14])) or not \
            1880 <= int(v[6:10]) <= 2100:
        return False
    r = sum(int(c) * w for c, w in zip(v[:17], _CN_WEIGHTS)) % 11
    return "10X98765432"[r] == v[17]


def national_id_kind(value: str) -> str | None:
    """The kind of national/health-service number ``value`` is (by its check digits), or None."""
    v = value.strip()
    if not 9 <= len(v) <= 24:
        return None
    d = re.sub(r"[\s-]", "", v)
    if len(d) == 10 and d.isdigit():
        if chi_valid(d):
            return "NHS or CHI number"
        if nhs_valid(d):
            return "NHS number"
    if ssn_shape(v):
        return "US social security number"
    if nir_valid(v):
        return "French NIR (social security number)"
    if kvnr_valid(d):
        return "German health-insurance number (KVNR)"
    if len(d) == 12 and d.isdigit() and my_number_valid(d):
        return "Japanese My Number"
    if len(d) == 18 and cn_resident_id_valid(d):
        return "Chinese resident ID number"
    return None


_HOSPITAL = re.compile(
    r"^(?:MRN|MR|HOSP|HN|URN|UR|EPR|IPP|NIP|CRN|RXH|NHI)[\s:#_./-]*\d{5,}[A-Z]?$", re.IGNORECASE)


def hospital_number(value: str) -> bool:
    """A hospital record number written with its prefix (``MRN-00123456``, ``URN 1234567``)."""
    return _HOSPITAL.match(value.strip()) is not None


# --- postcodes -----------------------------------------------------------------------------------

#: the UK postcode areas (Royal Mail); a full postcode is AREA + district + sector + unit
UK_POSTCODE_AREAS = _wordset("""
AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY E EC
EH EN EX FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY L LA LD LE LL LN LS
LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN SO SP SR
SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV YO ZE""")
_UK_FULL = re.compile(r"^([A-Z]{1,2})(\d[A-Z\d]?)\s*(\d)([ABD-HJLNP-UW-Z]{2})$")


def uk_postcode(value: str) -> bool:
    """A full UK postcode (outward + inward code), e.g. ``SW1A 1AA``; outward codes alone
    (``SW1A``) are not full postcodes. The inward code never uses C, I, K, M, O or V."""
    m = _UK_FULL.match(value.strip().upper())
    return m is not None and m.group(1) in UK_POSTCODE_AREAS


def zip4(value: str) -> bool:
    return re.fullmatch(r"\d{5}-\d{4}", value.strip()) is not None


def jp_postcode(value: str, *, named: bool = False) -> bool:
    """A Japanese postcode (〒100-0001); without the 〒 mark only when the column is named so."""
    v = value.strip()
    if v.startswith("〒"):
        return re.fullmatch(r"〒\s?\d{3}-?\d{4}", v) is not None
    return named and re.fullmatch(r"\d{3}-\d{4}", v) is not None


# --- dates ---------------------------------------------------------------------------------------

_MONTHS = {m: i for i, names in enumerate((
    ("jan", "january", "janvier", "januar", "janv"), ("feb", "february", "fevrier", "février",
                                                       "februar", "fev", "fév", "févr"),
    ("mar", "march", "mars", "märz", "maerz", "mrz"), ("apr", "april", "avril", "avr"),
    ("may", "mai"), ("jun", "june", "juin", "juni"), ("jul", "july", "juillet", "juli", "juil"),
    ("aug", "august", "aout", "août"), ("sep", "sept", "september", "septembre"),
    ("oct", "october", "octobre", "oktober", "okt"), ("nov", "november", "novembre"),
    ("dec", "december", "decembre", "décembre", "dezember", "dez", "déc")), start=1)
    for m in names}
_ERAS = {"明治": 1867, "大正": 1911, "昭和": 1925, "平成": 1988, "令和": 2018,
         "M": 1867, "T": 1911, "S": 1925, "H": 1988, "R": 2018}
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_YMD = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME + "$")
_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})" + _TIME + "$")
_TEXT_MONTH = re.compile(r"^(\d{1,2})[-\s.]?([^\W\d_]{3,9})\.?[-\s.,]?\s*(\d{4}|\d{2})" + _TIME + "$")
_MONTH_FIRST = re.compile(r"^([^\W\d_]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})$")
_CJK_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
_ERA_DATE = re.compile(r"^(明治|大正|昭和|平成|令和|[MTSHR])\s?(\d{1,2}|元)[年.](\d{1,2})[月.](\d{1,2})日?$")
_COMPACT = re.compile(r"^(1[89]\d{2}|20\d{2})(\d{2})(\d{2})$")


def _year(text: str) -> int:
    y = int(text)
    if len(text) == 2:
        y += 1900 if y > 30 else 2000
    return y


def parse_full_date(value: str, *, compact: bool = False) -> date | None:
    """The date ``value`` gives to the day, or None (month-precision values, other text).

    Reads ISO (1950-03-17, with an optional time), day-first and month-first slashed, dotted or
    dashed dates (both readings are full dates), 17 Mar 1950, 17MAR1950, March 17, 1950,
    1950年3月17日 and Japanese era dates (昭和25年3月17日). With ``compact``, 8-digit
    ``yyyymmdd`` numbers are read too.
    """
    v = value.strip()
    if not 6 <= len(v) <= 40 or not v[0].isalnum() or sum(map(str.isdigit, v)) < 4:
        return None
    m = _YMD.match(v)
    if m:
        return full_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _DMY.match(v)
    if m:
        a, b, y = int(m.group(1)), int(m.group(2)), _year(m.group(3))
        return full_date(y, b, a) or full_date(y, a, b)
    m = _TEXT_MONTH.match(v)
    if m and m.group(2).lower() in _MONTHS:
        return full_date(_year(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
    m = _MONTH_FIRST.match(v)
    if m and m.group(1).lower() in _MONTHS:
        return full_date(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))
    m = _CJK_DATE.match(v)
    if m:
        return full_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _ERA_DATE.match(v)
    if m:
        year = 1 if m.group(2) == "元" else int(m.group(2))
        return full_date(_ERAS[m.group(1)] + year, int(m.group(3)), int(m.group(4)))
    if compact:
        m = _COMPACT.match(v)
        if m:
            return full_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return None


def full_date(y: int, m: int, d: int) -> date | None:
    """The date, if it is one and its year is in 1850-2100 (the years dates are read in)."""
    if not 1850 <= y <= 2100:
        return None
    try:
        return date(y, m, d)
    except ValueError:
        return None


# --- addresses and network identifiers -----------------------------------------------------------

_EN_STREET = ("Road|Rd|Street|St|Avenue|Ave|Lane|Ln|Drive|Dr|Close|Way|Crescent|Cres|Court|Ct|"
              "Place|Pl|Terrace|Gardens|Grove|Boulevard|Blvd|Square|Sq|Mews|Parade|Row|Hill|"
              "Highway|Hwy|Parkway|Pkwy")
_EN_STREET_ALL = _EN_STREET + "|" + _EN_STREET.upper()
_ADDRESS = (
    # 12 Acacia Avenue, 221B Baker Street, 10 DOWNING ST: capitalised words, then a street type
    re.compile(r"\b\d{1,5}[A-Za-z]?,?\s+(?:[A-Z][\w'’-]*\.?\s+){1,4}(?:" + _EN_STREET_ALL +
               r")\b\.?"),
    re.compile(r"(?<![\w-])\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?i:rue|avenue|av\.|boulevard|bd|allée|"
               r"allee|chemin|place|impasse|quai|cours)\s+(?:de |du |des |d'|d’|la |le |l'|l’|"
               r"[A-ZÉÈ])"),
    re.compile(r"\b[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|platz|allee|gasse)\s+\d{1,4}"
               r"\s?[a-z]?\b"),
    re.compile(r"\b[A-ZÄÖÜ][\wäöüß-]*\s(?:Straße|Strasse|Str\.|Weg|Platz|Allee|Gasse)\s+\d{1,4}"),
    re.compile(r"(?:都|道|府|県).{0,12}(?:市|区|町|村).{0,20}(?:\d+丁目|\d+番地?|\d+-\d+(?:-\d+)?)"),
    re.compile(r"(?:\d+丁目\d+(?:番|-)\d+|[一二三四五六七八九十]+丁目)"),
    re.compile(r"(?:省|市|区|县).{0,20}(?:路|街|道|巷|弄|村)\s?\d+\s?号"),
)


def is_address(value: str) -> bool:
    """A street address (house number and street, in English, French, German, Japanese or
    Chinese style)."""
    if len(value) < 6:
        return False
    return any(rx.search(value) for rx in _ADDRESS)


def is_ip_address(value: str) -> bool:
    """An IPv4 (four numbers 0-255, no leading zeros) or IPv6 address."""
    v = value.strip()
    if not 7 <= len(v) <= 45 or not (v.count(".") == 3 or v.count(":") >= 2):
        return False
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return False
    return True
