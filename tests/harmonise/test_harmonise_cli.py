"""`ipdrepo dictionary check|show|export` and `ipdrepo mapping check|show`: output, --json and
exit codes, outside a workspace and against the store's current delivery."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl
import pytest

from tests.harmonise.mapping_factory import EXAMPLE_DICTIONARY, default_example
from tests.repository.test_cli import ipdrepo


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_example(tmp_path_factory.mktemp("example-cli"))


def test_dictionary_check_and_show(tmp_path: Path) -> None:
    r = ipdrepo("dictionary", "check", str(EXAMPLE_DICTIONARY), cwd=tmp_path)
    assert r.exit_code == 0, r.stderr
    assert "gastric-adjuvant 1.0.0 is valid (41 variables" in r.stdout
    assert "8 mapping(s) of version 1.0.0 are valid" in r.stdout
    r = ipdrepo("dictionary", "check", str(EXAMPLE_DICTIONARY / "dictionary.yaml"), "--json",
                cwd=tmp_path)
    data = json.loads(r.stdout)
    assert data["ok"] is True and len(data["mappings"]) == 8 and data["rules"] == 20
    r = ipdrepo("dictionary", "show", str(EXAMPLE_DICTIONARY), cwd=tmp_path)
    assert r.exit_code == 0 and "weight_kg" in r.stdout and "35-160" in r.stdout
    r = ipdrepo("dictionary", "show", str(EXAMPLE_DICTIONARY), "--json", cwd=tmp_path)
    assert json.loads(r.stdout)["format"] == "ipdrepo-dictionary/1"


def test_dictionary_check_reports_every_problem(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE_DICTIONARY, tmp_path / "dict")
    path = tmp_path / "dict" / "dictionary.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("unit: kg\n", "unit: kgz\n", 1).replace("type: boolean", "type: bool", 1)
    path.write_text(text, encoding="utf-8")
    r = ipdrepo("dictionary", "check", str(tmp_path / "dict"), cwd=tmp_path)
    assert r.exit_code == 4
    assert "2 problems in the dictionary" in r.stderr
    assert "unknown unit 'kgz'" in r.stderr and "did you mean 'boolean'" in r.stderr
    assert f"{path}:" in r.stderr and "Traceback" not in r.stderr
    r = ipdrepo("dictionary", "check", str(tmp_path / "dict"), "--json", cwd=tmp_path)
    data = json.loads(r.stdout)
    assert data["error"] == "DictionaryError" and len(data["problems"]) == 2
    assert all(p["line"] and p["key"] for p in data["problems"])


def test_broken_mappings_fail_dictionary_check(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE_DICTIONARY, tmp_path / "dict")
    m = tmp_path / "dict" / "mappings" / "1.0.0" / "MISTRAL.yaml"
    m.write_text(m.read_text(encoding="utf-8").replace("rule: recode", "rule: recodes", 1),
                 encoding="utf-8")
    r = ipdrepo("dictionary", "check", str(tmp_path / "dict"), cwd=tmp_path)
    assert r.exit_code == 4 and "MISTRAL.yaml" in r.stderr and "did you mean 'recode'" in r.stderr
    r = ipdrepo("dictionary", "check", str(tmp_path / "dict"), "--no-mappings", cwd=tmp_path)
    assert r.exit_code == 0


@pytest.mark.parametrize(("fmt", "name"), [("frictionless", "schema.json"),
                                           ("xlsx", "dictionary.xlsx"), ("html", "d.html")])
def test_dictionary_export(tmp_path: Path, fmt: str, name: str) -> None:
    out = tmp_path / "out" / name
    r = ipdrepo("dictionary", "export", str(EXAMPLE_DICTIONARY), "--format", fmt, "-o", str(out),
                cwd=tmp_path)
    assert r.exit_code == 0, r.stderr
    assert f"Wrote {out}" in r.stdout
    if fmt == "frictionless":
        assert len(json.loads(out.read_text())["fields"]) == 41
    elif fmt == "xlsx":
        assert openpyxl.load_workbook(out).sheetnames[0] == "Variables"
    else:
        assert out.read_text().startswith("<!DOCTYPE html>")


def test_outside_a_workspace_the_dictionary_must_be_given(tmp_path: Path) -> None:
    r = ipdrepo("dictionary", "check", cwd=tmp_path)
    assert r.exit_code == 4 and "--dictionary DIR" in r.stderr


def test_mapping_check_against_a_file(tmp_path: Path, example: Path) -> None:
    delivery = example / "deliveries" / "ZEPHYR.sav"
    r = ipdrepo("mapping", "check", "ZEPHYR", "--delivery", str(delivery), "--dictionary",
                str(EXAMPLE_DICTIONARY), cwd=tmp_path)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "ZEPHYR: the mapping fits the delivery: 0 error(s), 0 warning(s)" in r.stdout
    r = ipdrepo("mapping", "show", "ZEPHYR", "--dictionary", str(EXAMPLE_DICTIONARY),
                cwd=tmp_path)
    assert r.exit_code == 0 and "recode $KPS" in r.stdout


def test_mapping_check_reports_problems_with_lines(tmp_path: Path, example: Path) -> None:
    shutil.copytree(EXAMPLE_DICTIONARY, tmp_path / "dict")
    m = tmp_path / "dict" / "mappings" / "1.0.0" / "ZEPHYR.yaml"
    text = m.read_text(encoding="utf-8")
    text = text.replace("column: SEX", "column: SEXE", 1)
    m.write_text(text, encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), start=1) if "column: SEXE" in t)
    delivery = example / "deliveries" / "ZEPHYR.sav"
    r = ipdrepo("mapping", "check", "ZEPHYR", "--delivery", str(delivery), "--dictionary",
                str(tmp_path / "dict"), cwd=tmp_path)
    assert r.exit_code == 4
    assert "no column 'SEXE'; did you mean 'SEX'?" in r.stdout and f"{line}" in r.stdout
    assert "does NOT fit" in r.stdout
    r = ipdrepo("mapping", "check", "ZEPHYR", "--delivery", str(delivery), "--dictionary",
                str(tmp_path / "dict"), "--json", cwd=tmp_path)
    assert r.exit_code == 4
    data = json.loads(r.stdout)
    (p,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert p["line"] == line and p["key"] == "variables.sex.column"
    r = ipdrepo("mapping", "check", "NOPE", "--dictionary", str(tmp_path / "dict"),
                "--delivery", str(delivery), cwd=tmp_path)
    assert r.exit_code == 4 and "no mapping for NOPE" in r.stderr


def test_mapping_check_against_the_store(tmp_path: Path, example: Path) -> None:
    r = ipdrepo("init", "ws", "--topic", "gastric-adjuvant", "--dictionary",
                str(EXAMPLE_DICTIONARY), cwd=tmp_path)
    assert r.exit_code == 0, r.stderr
    ws = tmp_path / "ws"
    assert ipdrepo("trial", "import", str(example / "topic.yaml"), cwd=ws).exit_code == 0
    r = ipdrepo("mapping", "check", "MISTRAL", cwd=ws)
    assert r.exit_code == 3 and "has no current delivery" in r.stderr
    r = ipdrepo("ingest", "MISTRAL", str(example / "deliveries" / "MISTRAL.csv"), cwd=ws)
    assert r.exit_code == 0, r.stderr
    r = ipdrepo("mapping", "check", "MISTRAL", "--json", cwd=ws)
    assert r.exit_code == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["ok"] and data["rows"] == 105 and data["delivery"].startswith("delivery ")
