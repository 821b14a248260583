"""Spec files and expressions that would exhaust memory or crash are refused with located errors
(harmonise.yamlio: MAX_SPEC_BYTES, MAX_ALIAS_NODES, MAX_SPEC_DEPTH; harmonise.expressions.language:
MAX_EXPRESSION_*, MAX_EXPONENT, MAX_ROUND_DIGITS). Memory is measured with tracemalloc."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from harmonise.dictionary.spec import load_dictionary
from harmonise.expressions.language import MAX_EXPRESSION_DEPTH, parse_expression
from harmonise.mapping.engine import apply_mapping
from harmonise.mapping.spec import load_mapping
from harmonise.yamlio import MAX_ALIAS_NODES, MAX_SPEC_BYTES, dump_yaml, parse_yaml
from repository.errors import HarmonisationError, MappingError, SpecError

from .mapping_factory import dictionary_data, make_dictionary, mapping_data, raw_frame

MB = 2**20


def alias_bomb(depth: int, width: int = 9) -> str:
    """A mapping file whose ``variables.x.notes`` is a "billion laughs": width ** depth leaves
    (depth 7: 4.8 million, about 1.7 GB once expanded) in a few hundred bytes."""
    lines = ["format: ipdrepo-mapping/1", "trial: T1", "dictionary: test-topic",
             "dictionary_version: 1.0.0", "source: {dataset: main}", "laughs:",
             "  l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, depth + 1):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    lines += ["variables:", "  participant_id: {rule: id_creation, column: ID}",
              f"  x: {{rule: operation, expression: '1', notes: *l{depth}}}"]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    path = tmp_path / "T1.yaml"
    path.write_text(alias_bomb(7))
    assert path.stat().st_size < 1000
    tracemalloc.start()
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * MB, f"peak {peak / MB:.1f} MiB"
    assert str(path) in err.value.message and "alias" in err.value.message
    assert err.value.reason == "alias-expansion" and err.value.nodes > 4_000_000


def test_aliases_within_the_budget_still_work() -> None:
    text = ("yesno: &yn {Y: 1, N: 0}\n" + "\n".join(f"v{i}: {{map: *yn}}" for i in range(200)))
    doc = parse_yaml(text, file="ok.yaml")
    assert doc.data["v199"]["map"] == {"Y": 1, "N": 0}
    parse_yaml(alias_bomb(2), file="small.yaml")  # a few hundred nodes from aliases: fine
    with pytest.raises(SpecError, match="alias") as err:
        parse_yaml(alias_bomb(4), file="bomb.yaml")  # tens of thousands: over the budget
    assert err.value.nodes > MAX_ALIAS_NODES


def test_recursive_aliases_and_deep_nesting_are_refused() -> None:
    with pytest.raises(SpecError) as err:
        parse_yaml("a: &a [1, *a]\n", file="self.yaml")
    assert err.value.reason == "recursive-alias" and "self.yaml" in err.value.message
    with pytest.raises(SpecError) as err:
        parse_yaml("a: " + "[" * 100 + "]" * 100 + "\n", file="deep.yaml")
    assert err.value.reason == "too-deep"
    with pytest.raises(SpecError) as err:
        parse_yaml("a: " + "[" * 5000 + "]" * 5000 + "\n", file="deeper.yaml")
    assert err.value.reason == "too-deep"


def test_a_spec_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("w") as fh:
        fh.write("notes: |\n")
        line = "  " + "x" * 98 + "\n"
        for _ in range(MAX_SPEC_BYTES // len(line) + 2):
            fh.write(line)
    tracemalloc.start()
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert err.value.reason == "too-large" and str(path) in err.value.message
    assert peak < MB


# --- expressions ---------------------------------------------------------------------------

def mapping_file(tmp_path: Path, expression: str, variable: str = "x") -> Path:
    path = tmp_path / "T1.yaml"
    path.write_text(dump_yaml(mapping_data({variable: {"rule": "operation",
                                                       "expression": expression}})))
    return path


@pytest.mark.parametrize(("expression", "message"), [
    ("10 ** 10 ** 10", "the exponent in `10 ** 10 ** 10` is 1e+10; at most 100"),
    ("2 ** 2 ** 2 ** 2 ** 2", "is 65536; at most 100"),
    ("$A ** 400", "the exponent in `$A ** 400` is 400"),
    ("round($A, 400)", "digits is 400; use -15 to 15"),
    ("1e308 * 10 + $A", "`1e+308 * 10` is too large to compute"),
    ("$A * " + "9" * 400, "too large"),
    ("(-8) ** 0.5", "not a real number"),
])
def test_constant_overflow_is_a_mapping_error_naming_file_variable_and_expression(
        tmp_path: Path, expression: str, message: str) -> None:
    d = make_dictionary({"name": "x", "type": "decimal"})
    path = mapping_file(tmp_path, expression)
    with pytest.raises(MappingError) as err:
        load_mapping(path, d)
    (problem,) = err.value.problems
    assert problem.file == str(path) and problem.key == "variables.x.expression"
    assert problem.line is not None and message in problem.message
    assert str(path) in err.value.message


@pytest.mark.parametrize(("expression", "message"), [
    ("coalesce(" + ", ".join(["1"] * 600) + ")", "more than 500 parts"),
    ("-" * (MAX_EXPRESSION_DEPTH + 5) + "$A", "levels deep"),
    ("$A + " + "1" * 5000, "characters long"),
    ("$A" + " + (1" * 300 + ")" * 300, "nested parentheses"),
])
def test_expressions_too_big_to_check_are_refused(expression: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_expression(expression)
    assert message in err.value.problems[0].message


def test_overflow_in_the_data_is_reported_per_row_not_a_crash() -> None:
    d = make_dictionary({"name": "x", "type": "decimal"}, {"name": "n", "type": "integer"},
                        {"name": "dt", "type": "date"})
    from harmonise.mapping.spec import Mapping

    m = Mapping.from_dict(mapping_data({
        "x": {"rule": "operation", "expression": "$A ** $B"},
        "n": {"rule": "operation", "expression": "floor($A * 10)"},
        "dt": {"rule": "operation", "expression": "date($D) + $A"},
    }), dictionary=d)
    frame = raw_frame(A=["2", "1e300", "3"], B=["3", "2", "1e5"], D=["2001-01-01"] * 3)
    h = apply_mapping(frame, m, d)
    assert h.data["x"].tolist()[0] == 8 and h.data["x"].isna().tolist() == [False, True, True]
    assert h.data["n"].tolist()[0] == 20 and h.data["n"].isna().tolist() == [False, True, False]
    assert h.data["dt"].isna().tolist() == [False, True, False]
    reported = {(p.variable, p.row, p.reason) for p in h.problems.itertuples()}
    assert reported == {("x", 2, "invalid_operation"), ("x", 3, "invalid_operation"),
                        ("n", 2, "invalid_operation"), ("dt", 2, "invalid_operation")}


def test_a_constant_date_overflow_names_the_mapping_and_variable(tmp_path: Path) -> None:
    d = load_dictionary_from({"name": "dt", "type": "date"}, tmp_path)
    path = mapping_file(tmp_path, "date('2001-01-01') + 1e20", "dt")
    m = load_mapping(path, d)
    with pytest.raises(HarmonisationError) as err:
        apply_mapping(raw_frame(n_ids=2), m, d)
    assert str(path) in err.value.message and "dt" in err.value.message
    assert "1e+20 days" in err.value.message


def load_dictionary_from(variable: dict, tmp_path: Path):  # noqa: ANN201
    path = tmp_path / "dictionary.yaml"
    path.write_text(dump_yaml(dictionary_data(variable)))
    return load_dictionary(path)


def test_the_limits_are_documented() -> None:
    from harmonise import yamlio
    from harmonise.expressions import evaluation, functions
    from harmonise.expressions import language as expressions

    page = (Path(__file__).resolve().parents[2] / "docs" / "mapping-format.md").read_text()
    for name in ("MAX_EXPRESSION_LENGTH", "MAX_EXPRESSION_NODES", "MAX_EXPRESSION_DEPTH",
                 "MAX_EXPONENT"):
        assert f"| `{name}` | {getattr(expressions, name):,}" in page or \
            f"| `{name}` | a constant exponent of at most {getattr(expressions, name)}" in page, name
    assert f"from -{functions.MAX_ROUND_DIGITS} to {functions.MAX_ROUND_DIGITS}" in page
    assert f"`MAX_SPEC_BYTES` = {yamlio.MAX_SPEC_BYTES // MB} MiB" in page
    assert f"`MAX_SPEC_DEPTH` = {yamlio.MAX_SPEC_DEPTH}" in page
    assert f"`MAX_ALIAS_NODES` = {yamlio.MAX_ALIAS_NODES:,}" in page
    assert f"{evaluation.MAX_DAYS_ADDED:,} days" in page
