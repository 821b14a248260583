"""Dictionary exports: Frictionless Table Schema, the trialists' spreadsheet, the HTML page."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import openpyxl

from harmonise import load_dictionary, to_frictionless, to_html, write_xlsx
from harmonise.dictionary.spec import Dictionary
from tests.harmonise.mapping_factory import EXAMPLE_DICTIONARY, GOLDEN


def golden() -> Dictionary:
    return load_dictionary(GOLDEN / "dictionary.yaml")


def test_frictionless_table_schema() -> None:
    d = golden()
    schema = to_frictionless(d)
    json.dumps(schema)  # JSON-ready
    assert schema["$schema"].startswith("https://datapackage.org/profiles/2.")
    assert schema["primaryKey"] == ["trial", "participant_id"]
    fields = {f["name"]: f for f in schema["fields"]}
    assert [f["name"] for f in schema["fields"]] == list(d.names)
    assert fields["participant_id"]["type"] == "string"
    assert fields["participant_id"]["constraints"] == {"required": True}
    arm = fields["arm"]
    assert arm["type"] == "integer" and arm["title"] == "Randomised arm"
    assert arm["categories"] == [{"value": 0, "label": "Control"},
                                 {"value": 1, "label": "Experimental"}]
    assert arm["constraints"] == {"required": True, "enum": [0, 1]}
    sex = fields["sex"]
    assert sex["constraints"]["enum"] == [1, 2]
    assert sex["missingValues"] == [{"value": "", "label": "blank"},
                                    {"value": "9", "label": "Unknown"}]
    margin = fields["margin"]
    assert margin["type"] == "string" and margin["categoriesOrdered"] is True
    assert fields["age"]["constraints"] == {"minimum": 18, "maximum": 90}
    assert fields["age"]["unit"] == "years"
    assert fields["weight_kg"]["type"] == "number"
    assert fields["rand_date"] == {"name": "rand_date", "type": "date", "format": "default",
                                   "constraints": {"minimum": "1990-01-01",
                                                   "maximum": "2030-12-31"}}
    assert fields["visit_time"]["type"] == "datetime"
    assert fields["diabetes"]["type"] == "boolean" and "1" in fields["diabetes"]["trueValues"]


def test_spreadsheet_for_trialists(tmp_path: Path) -> None:
    d = load_dictionary(EXAMPLE_DICTIONARY)
    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    write_xlsx(d, a)
    write_xlsx(d, b)
    assert a.read_bytes() == b.read_bytes(), "the same dictionary gives the same bytes"
    book = openpyxl.load_workbook(a)
    assert book.sheetnames == ["Variables", "Categories", "Outcomes", "Rules", "Changelog"]
    ws = book["Variables"]
    assert [c.value for c in ws[1]][:4] == ["name", "label", "type", "role"]
    assert ws.max_row == len(d.variables) + 1
    assert ws.freeze_panes == "A2" and ws[1][0].font.bold
    assert ws.column_dimensions["B"].width >= 30 and ws.auto_filter.ref
    names = [ws.cell(row=i, column=1).value for i in range(2, ws.max_row + 1)]
    assert names == list(d.names)
    cats = book["Categories"]
    assert cats.max_row - 1 == sum(len(v.categories) for v in d.variables)
    rules = book["Rules"]
    assert [rules.cell(row=i, column=1).value for i in range(2, rules.max_row + 1)] == \
        [r.id for r in d.rules]
    assert book["Changelog"]["A2"].value == d.version


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_self_contained_html_page() -> None:
    d = load_dictionary(EXAMPLE_DICTIONARY)
    page = to_html(d)
    parser = _Collect()
    parser.feed(page)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert not [v for k, v in parser.attrs if k in ("src", "href")], "no external resources"
    text = "".join(parser.text)
    for v in d.variables:
        assert v.name in text
    for r in d.rules:
        assert r.id in text
    assert "nodes_positive &lt;= nodes_examined" in page  # expressions are escaped
    assert page.count("<h2") == 4
