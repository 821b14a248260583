"""docs/dictionaries/<topic>.md are what docs/gen_dictionaries.py makes now, and document every
variable, outcome and cross-variable rule of every topic dictionary."""

from __future__ import annotations

from pathlib import Path

import pytest

from harmonise.dictionary.spec import load_dictionary
from tests.docs.generators import load_generator

ROOT = Path(__file__).resolve().parents[2]
DICTIONARIES = sorted(ROOT.glob("dictionaries/*/dictionary.yaml"))


GEN = load_generator("gen_dictionaries")


def test_there_are_dictionaries() -> None:
    assert "gastric-adjuvant" in [p.parent.name for p in DICTIONARIES]


def test_pages_are_up_to_date() -> None:
    wanted = GEN.pages()
    stale = [str(p.relative_to(ROOT)) for p, text in wanted.items()
             if not p.is_file() or p.read_text() != text]
    assert not stale, f"{stale} are stale: run `python docs/gen_dictionaries.py` and commit"
    pages = sorted((ROOT / "docs" / "dictionaries").glob("*.md"))
    assert pages == sorted(wanted), "a page without a dictionary (or the reverse)"


@pytest.mark.parametrize("path", DICTIONARIES, ids=lambda p: p.parent.name)
def test_every_variable_outcome_and_rule_documented(path: Path) -> None:
    d = load_dictionary(path)
    page = (ROOT / "docs" / "dictionaries" / f"{d.topic}.md").read_text()
    rows = {line.split("|")[1].strip() for line in page.splitlines() if line.startswith("| `")}
    missing = [f"variable {v.name}" for v in d.variables if f"`{v.name}`" not in rows]
    missing += [f"outcome {o.name}" for o in d.outcomes if f"`{o.name}`" not in rows]
    missing += [f"rule {r.id}" for r in d.rules if f"`{r.id}`" not in rows]
    assert not missing, missing
    for v in d.variables:  # labels, units and category labels are on the variable's row
        row = next(line for line in page.splitlines() if line.startswith(f"| `{v.name}` |"))
        for text in [v.label, v.unit, *[c.label for c in v.categories]]:
            if text:
                assert GEN.cell(text) in row, (v.name, text)


def test_a_variable_left_out_is_caught(tmp_path: Path) -> None:
    """The check above is not vacuous: a page without a variable fails it."""
    d = load_dictionary(DICTIONARIES[0])
    page = GEN.render(DICTIONARIES[0].parent)
    victim = d.variables[-1].name
    broken = "\n".join(line for line in page.splitlines()
                       if not line.startswith(f"| `{victim}` |"))
    rows = {line.split("|")[1].strip() for line in broken.splitlines()
            if line.startswith("| `")}
    assert f"`{victim}`" not in rows
