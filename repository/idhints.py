"""What a column's name says (used by :mod:`repository.identifiers` and :mod:`repository.iddates`).

Column names are split into lower-case words (camelCase and separators split, accents folded), with
their concatenation, adjacent pairs and CDISC/SAS-style stems (``RANDDT`` -> ``rand``, ``TELNO``
-> ``tel``). :func:`column_hints` maps them to the kinds of identifier they announce, in English,
French, German, Japanese and Chinese. A hint is never enough on its own: the gate also needs the
values to fit (a ``chi`` column of yes/no holds no CHI numbers).
"""

from __future__ import annotations

import functools
import re

__all__ = ["column_tokens", "column_hints"]


@functools.lru_cache(maxsize=4096)
def column_tokens(column: str) -> frozenset[str]:
    """Lower-case words of a column name (camelCase and separators split, accents folded),
    their concatenation and adjacent pairs: ``DateOfBirth`` -> date, of, birth, dateofbirth ...
    (remembered: every rule of the gate asks for them)"""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", column)
    folded = spaced.lower().translate(str.maketrans("éèêëàâäîïôöûüç", "eeeeaaaiioouuc"))
    parts = [p for p in re.split(r"[\W_]+", folded) if p]
    out = set(parts) | {"".join(parts)}
    for i in range(len(parts) - 1):
        out.add(parts[i] + parts[i + 1])
    for token in list(out):  # CDISC/SAS style: RANDDT, BRTHDTC, TELNO, NHSNUM, DTDEATH
        for suffix in _SUFFIXES:
            if token.endswith(suffix) and len(token) - len(suffix) >= 2:
                out.add(token[:-len(suffix)])
        for prefix in ("dt", "date", "dat"):
            if token.startswith(prefix) and len(token) - len(prefix) >= 3:
                out.add(token[len(prefix):])
    return frozenset(out)


_SUFFIXES = ("dtc", "dt", "date", "dat", "no", "nr", "num", "number", "nummer", "cd")


def _words(*items: str) -> frozenset[str]:
    return frozenset(w for item in items for w in item.split())


_HINTS: dict[str, frozenset[str]] = {
    "name": _words("surname surnames forename forenames firstname lastname givenname familyname "
                   "maidenname fullname patientname ptname patname subjectname initials inits "
                   "ptinit ptinits patinit patinits nom prenom prenoms nomdenaissance nomusage "
                   "nomjeunefille vorname vornamen nachname familienname geburtsname"),
    "person": _words("gp gpname generalpractitioner familydoctor referringdoctor doctor "
                     "physician consultant surgeon treatingphysician arzt medecin "
                     "referringphysician referrer nok nextofkin kin spouse carer caregiver "
                     "contactperson medecintraitant medecin hausarzt angehoerige angehorige "
                     "ehepartner mother father"),
    "email": _words("email emails mail emailaddress courriel"),
    "phone": _words("phone phones telephone tel mobile cellphone fax phoneno phonenumber "
                    "telefon telefono telephonenumber portable handy mobil mobilnummer"),
    "national_id": _words(
        "nhs nhsno nhsnumber chi chino chinumber ssn socialsecurity nin nino nir insee secu "
        "numsecu mrn hospno hospnum hospitalno hospitalnumber hospitalid unitno unitnumber "
        "medicalrecord medicalrecordnumber casenote casenotes casenoteno passport passportno "
        "medicare medicaid nationalid nationalnumber insurancenumber kvnr versichertennummer "
        "krankenversichertennummer steuerid bsn personnummer ahv pesel mynumber ipp nip "
        "fallnummer urn"),
    "postcode": _words("postcode postcodes zip zipcode postal postalcode plz codepostal "
                       "postleitzahl"),
    "address": _words("address addresses addr street streetaddress adresse anschrift strasse "
                      "domicile homeaddress"),
    "ip_address": _words("ip ipaddress ipaddr ipv4 ipv6"),
    "free_text": _words("notes note comment comments remarks remark freetext narrative "
                        "description details memo text observations commentaire commentaires "
                        "remarque remarques bemerkung bemerkungen kommentar kommentare "
                        "anmerkung anmerkungen notiz notizen"),
}
#: column-name words in scripts without word separators: substring match
_CJK_HINTS: dict[str, tuple[str, ...]] = {
    "name": ("氏名", "名前", "姓名", "患者名", "フリガナ", "ふりがな", "カナ氏名"),
    "person": ("主治医", "家族", "紧急联系人", "联系人"),
    "email": ("メール", "邮箱", "电子邮件"),
    "phone": ("電話", "携帯", "电话", "手机", "联系方式"),
    "national_id": ("個人番号", "マイナンバー", "保険証", "カルテ番号", "診察券", "身份证", "病历号",
                    "住院号", "门诊号", "医保"),
    "postcode": ("郵便番号", "邮编", "邮政编码"),
    "address": ("住所", "地址", "住址"),
    "free_text": ("備考", "コメント", "メモ", "备注", "说明", "评论"),
}


def column_hints(column: str) -> set[str]:
    """The kinds of identifier a column's name points to (``'person'``: a person whose name the
    values may hold)."""
    tokens = column_tokens(column)
    kinds = {kind for kind, words in _HINTS.items() if tokens & words}
    kinds |= {kind for kind, words in _CJK_HINTS.items() if any(w in column for w in words)}
    if tokens & {"name", "nom", "naam", "nome", "nombre", "names", "noms"}:
        if tokens & {"patient", "pt", "subject", "participant", "full", "first", "last", "given",
                     "family", "middle", "maiden", "sur", "fore", "christian"}:
            kinds.add("name")
        elif len(tokens) == 1 or tokens & {"mother", "father", "gp", "doctor", "person",
                                           "contact", "nok", "kin", "spouse"}:
            kinds.add("person")  # "Name" alone is also a codebook's variable-name column
    return kinds
