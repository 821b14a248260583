"""Every error analyses raises on purpose carries a reason from one registry and typed facts."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from analyses.errors import AnalysisProblem, NotConverged, Reason
from analyses.pooling import pool
from analyses.trial_models import TrialNotEstimable
from repository.errors import AnalysisError, ConvergenceError, exit_code_for

PACKAGE = Path(__file__).resolve().parents[2] / "analyses"
TYPED = {"AnalysisProblem", "NotConverged", "TrialNotEstimable"}


def _calls() -> list[tuple[str, int, ast.Call]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                out.append((str(path.relative_to(PACKAGE)), node.lineno, node))
    return out


def test_no_untyped_analysis_error_is_raised():
    untyped = [f"{f}:{line}" for f, line, call in _calls()
               if call.func.id in ("AnalysisError", "ConvergenceError")]  # type: ignore[attr-defined]
    assert untyped == [], "raise AnalysisProblem/NotConverged with a Reason instead"


def test_every_reason_given_is_a_registry_member():
    seen = set()
    for f, line, call in _calls():
        if call.func.id not in TYPED:  # type: ignore[attr-defined]
            continue
        reason = next((k.value for k in call.keywords if k.arg == "reason"), None)
        if reason is None:
            assert call.func.id == "NotConverged", f"{f}:{line} gives no reason"  # type: ignore[attr-defined]
            continue
        if isinstance(reason, ast.Attribute) and isinstance(reason.value, ast.Name) \
                and reason.value.id == "Reason":
            assert reason.attr in Reason.__members__, f"{f}:{line}: Reason.{reason.attr}"
            seen.add(reason.attr)
        else:  # computed (e.g. carried over from a caught error): typed by mypy
            assert not isinstance(reason, ast.Constant), f"{f}:{line}: a free string"
    assert len(seen) >= 20


def test_registry_values_are_unique_snake_case():
    values = [r.value for r in Reason]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z0-9_]+", v) for v in values)


def test_typed_facts_exit_codes_and_json():
    with pytest.raises(AnalysisProblem) as err:
        pool([0.1, float("nan"), 0.3], [0.1, 0.1, -1.0], labels=["A", "B", "C"])
    e = err.value
    assert isinstance(e, AnalysisError) and exit_code_for(e) == 4
    assert e.reason is Reason.INVALID_DATA and e.trials == ("B", "C")
    d = json.loads(json.dumps(e.to_dict()))
    assert d["reason"] == "invalid_data" and d["trials"] == ["B", "C"]
    nc = NotConverged("did not converge", rows=[3])
    assert isinstance(nc, ConvergenceError) and exit_code_for(nc) == 6
    assert nc.reason is Reason.NO_CONVERGENCE and nc.rows == (3,)
    assert issubclass(TrialNotEstimable, AnalysisProblem)


def test_cells_give_rows_per_variable():
    e = AnalysisProblem("x", reason=Reason.INVALID_DATA, cells={"time": [3, 1], "age": [2]})
    assert e.cells == {"time": (3, 1), "age": (2,)}
    assert e.variables == ("time", "age") and e.rows == (1, 2, 3)


def test_free_strings_and_untyped_context_are_refused():
    with pytest.raises(TypeError, match="Reason"):
        AnalysisProblem("x", reason="invalid_data")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="typed attributes"):
        AnalysisProblem("x", reason=Reason.INVALID_DATA, trial="T1")
