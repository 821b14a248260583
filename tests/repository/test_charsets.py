"""Deliveries written in the encodings trials really use are read right; a file whose encoding
cannot be told, or that no encoding decodes, is refused naming the file and what to do.

The deliveries are generated here: participant rows with names, sites and free-text notes in
Japanese (Shift-JIS as Windows writes it, cp932), Chinese (GB18030), Russian (cp1251), Czech
(cp1250), French/German (cp1252) and in UTF-16 (Excel's "Unicode text": tab-delimited, with a
byte-order mark; and without one).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from repository.charsets import detect_encoding
from repository.deliveries import load_delivery
from repository.errors import UnreadableDelivery
from repository.formats import detect_format, read_delivery
from repository.models import Delivery
from repository.settings import load_settings
from repository.store import Store

WORDS = {
    "ja": (["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村"],
           ["東京大学病院", "大阪市立総合医療センター", "名古屋がんセンター", "九州大学病院"],
           ["副作用なし", "再発の疑い", "追跡不能", "手術後に転院"]),
    "zh": (["王伟", "李娜", "张敏", "刘洋", "陈静", "杨磊", "赵强", "黄丽"],
           ["北京协和医院", "上海肿瘤医院", "广州中山大学附属医院", "四川大学华西医院"],
           ["无不良反应", "疑似复发", "失访", "术后转院"]),
    "ru": (["Иванов", "Смирнова", "Кузнецов", "Попова", "Соколов", "Лебедева", "Фёдоров"],
           ["Москва, онкологический центр", "Санкт-Петербург, больница №2", "Казань, клиника"],
           ["без побочных явлений", "подозрение на рецидив", "выбыл из наблюдения"]),
    "cs": (["Dvořák", "Nováková", "Černý", "Procházka", "Kučerová", "Šťastný", "Růžička"],
           ["Plzeň, Fakultní nemocnice", "Brno, Masarykův onkologický ústav", "Ústí nad Labem"],
           ["bez nežádoucích účinků", "podezření na recidivu", "ztracen ze sledování"]),
    "fr": (["Müller", "Lefèvre", "Françoise Noël", "Sørensen", "Gómez", "Dubois", "Thérèse"],
           ["Hôpital Sainte-Thérèse, Orléans", "Universitätsspital Zürich", "CHU Besançon"],
           ["pas d'effet indésirable", "récidive suspectée", "perdu de vue", "Überweisung"]),
}


def trial_rows(lang: str, n: int = 60, seed: int = 7) -> pd.DataFrame:
    names, sites, notes = WORDS[lang]
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "patid": [f"P{i:04d}" for i in range(1, n + 1)],
        "name_initials": [names[k] for k in rng.integers(0, len(names), n)],
        "site": [sites[k] for k in rng.integers(0, len(sites), n)],
        "age": [str(v) for v in rng.integers(30, 80, n)],
        "note": [notes[k] for k in rng.integers(0, len(notes), n)],
    })


def write(tmp_path: Path, frame: pd.DataFrame, encoding: str, *, sep: str = ",",
          name: str = "delivery.csv") -> Path:
    path = tmp_path / name
    text = frame.to_csv(index=False, sep=sep, lineterminator="\r\n")
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(("lang", "written_in", "detected"), [
    ("ja", "shift_jis", "cp932"),
    ("ja", "cp932", "cp932"),
    ("zh", "gb18030", "gb18030"),
    ("zh", "gbk", "gb18030"),
    ("ru", "cp1251", "cp1251"),
    ("cs", "cp1250", "cp1250"),
    ("fr", "cp1252", "cp1252"),
])
def test_legacy_encodings_are_detected_and_read_right(tmp_path: Path, lang: str,
                                                      written_in: str, detected: str) -> None:
    frame = trial_rows(lang)
    path = write(tmp_path, frame, written_in, sep=";" if lang in ("cs", "fr") else ",")
    table = read_delivery(path)
    assert table.read_options["encoding"] == detected
    pd.testing.assert_frame_equal(table.frame, frame)
    # read again with what was detected (what load_delivery does): the same values
    again = read_delivery(path, options=table.read_options)
    pd.testing.assert_frame_equal(again.frame, frame)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_unicode_text_is_read(tmp_path: Path, encoding: str) -> None:
    # Excel's "Unicode text" is UTF-16 with a BOM, tab-delimited; some tools omit the BOM
    frame = pd.concat([trial_rows("ja", 20), trial_rows("ru", 20, seed=2),
                       trial_rows("fr", 20, seed=3)], ignore_index=True)
    path = write(tmp_path, frame, encoding, sep="\t", name="export.txt")
    assert detect_format(path) == "csv"
    table = read_delivery(path)
    assert table.read_options["delimiter"] == "\t"
    pd.testing.assert_frame_equal(table.frame, frame)


def test_utf8_is_never_second_guessed(tmp_path: Path) -> None:
    frame = pd.concat([trial_rows(lang, 10) for lang in WORDS], ignore_index=True)
    path = write(tmp_path, frame, "utf-8")
    table = read_delivery(path)
    assert table.read_options["encoding"] == "utf-8"
    pd.testing.assert_frame_equal(table.frame, frame)


def test_non_ascii_far_into_a_large_file_is_found(tmp_path: Path) -> None:
    # a file that is ASCII for megabytes before its first cp1251 value
    head = "patid,site\r\n" + "".join(f"P{i:06d},Site {i % 7}\r\n" for i in range(300_000))
    tail = "".join(f"X{i},{s}\r\n" for i, s in enumerate(WORDS["ru"][0] * 3))
    path = tmp_path / "big.csv"
    path.write_bytes((head + tail).encode("cp1251"))
    assert path.stat().st_size > 4 * 1024 * 1024
    assert detect_encoding(path).encoding == "cp1251"
    table = read_delivery(path)
    assert table.frame["site"].iloc[-1] == WORDS["ru"][0][-1]


def test_ambiguous_file_is_refused_with_both_readings(tmp_path: Path) -> None:
    # one 8-bit letter: é in cp1252, й in cp1251, ι in cp1253 ... nothing says which
    path = tmp_path / "site07.csv"
    path.write_bytes(b"patid,city\r\n1,Montr\xe9al\r\n2,Paris\r\n")
    with pytest.raises(UnreadableDelivery) as err:
        read_delivery(path)
    message = err.value.message
    assert message.startswith("site07.csv: cannot tell its text encoding")
    assert "Montréal" in message and "Montrйal" in message
    assert "--encoding" in message
    assert err.value.reason == "encoding-ambiguous"
    assert {"cp1252", "cp1251"} <= set(err.value.candidates)
    # the way out the message names works
    table = read_delivery(path, options={"encoding": "cp1252"})
    assert table.frame["city"].tolist() == ["Montréal", "Paris"]


def test_bytes_that_are_no_text_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "noise.csv"
    rng = np.random.default_rng(1)
    path.write_bytes(b"a,b\n" + bytes(rng.integers(0x80, 0x100, 3000, dtype=np.uint8)))
    with pytest.raises(UnreadableDelivery, match="noise.csv is not text") as err:
        read_delivery(path)
    assert err.value.reason == "encoding"
    assert "--encoding" in err.value.message


def test_utf8_mixed_with_cp1252_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pasted.csv"
    path.write_bytes("id,name\n1,Müller\n".encode() + "2,Lefèvre\n".encode("cp1252"))
    with pytest.raises(UnreadableDelivery, match="pasted.csv mixes UTF-8 with another") as err:
        read_delivery(path)
    assert err.value.reason == "encoding-mixed"


def test_a_gb18030_line_that_happens_to_be_valid_utf8_is_not_mixing(tmp_path: Path) -> None:
    # a name whose GB18030 bytes are the UTF-8 bytes of "中文": one such line among many
    accidental = "中文".encode().decode("gb18030")
    frame = trial_rows("zh", 120)
    frame.loc[17, ["name_initials", "site", "note"]] = [accidental, "Site 4", "none"]
    path = write(tmp_path, frame, "gb18030")
    table = read_delivery(path)
    assert table.read_options["encoding"] == "gb18030"
    pd.testing.assert_frame_equal(table.frame, frame)


def test_declared_encoding_is_checked(tmp_path: Path) -> None:
    frame = trial_rows("ja")
    path = write(tmp_path, frame, "cp932")
    with pytest.raises(UnreadableDelivery, match="unknown text encoding 'shiftjs'"):
        read_delivery(path, options={"encoding": "shiftjs"})
    with pytest.raises(UnreadableDelivery, match=r"delivery.csv is not utf-8 text: line 2 ") \
            as err:
        read_delivery(path, options={"encoding": "utf-8"})
    assert err.value.lines == [2]
    assert read_delivery(path, options={"encoding": "shift_jis"}).frame.equals(frame)


def test_ingest_records_the_encoding_and_the_cli_way_out_works(tmp_path: Path) -> None:
    from .test_cli import ipdrepo

    assert ipdrepo("init", "ws", "--topic", "t1", cwd=tmp_path).exit_code == 0
    ws = tmp_path / "ws"
    for trial in ("JP-01", "FR-02"):
        r = ipdrepo("trial", "add", trial, "--arm", "1=A:1:30", "--arm", "2=B:1:30",
                    "--id-column", "patid", cwd=ws)
        assert r.exit_code == 0, r.stderr
    sjis = write(tmp_path, trial_rows("ja").drop(columns=["name_initials"]), "shift_jis",
                 name="jp01.csv")
    r = ipdrepo("ingest", "JP-01", str(sjis), "--json", cwd=ws)
    assert r.exit_code == 0, r.stderr
    [jp] = json.loads(ipdrepo("deliveries", "--json", cwd=ws).stdout)
    with Store.open(load_settings(ws, actor="tester", env={})) as store, \
            store.reading() as session:
        delivery = session.get(Delivery, jp["id"])
        assert delivery.read_options["encoding"] == "cp932"
        stored = load_delivery(store, delivery)
    assert stored.frame["site"].tolist() == trial_rows("ja")["site"].tolist()

    ambiguous = tmp_path / "fr02.csv"
    ambiguous.write_bytes(b"patid,city\r\n" + b"".join(
        b"P%03d,%s\r\n" % (i, b"Montr\xe9al" if i == 1 else b"Paris") for i in range(1, 61)))
    r = ipdrepo("ingest", "FR-02", str(ambiguous), cwd=ws)
    assert r.exit_code == 4
    assert "error: fr02.csv: cannot tell its text encoding" in r.stderr
    assert "--encoding" in r.stderr
    r = ipdrepo("ingest", "FR-02", str(ambiguous), "--encoding", "cp1252", "--json", cwd=ws)
    assert r.exit_code == 0, r.stderr
