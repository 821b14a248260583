"""One validated-IPD builder: the same bad data give the same message through the two-stage
and the one-stage analyses (and the builder itself), whatever the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analyses.errors import AnalysisProblem, Reason
from analyses.ipd_frame import prepare_ipd
from analyses.one_stage import one_stage
from analyses.two_stage import two_stage
from tests.analyses.conftest import FIXTURES

SIM = pd.read_csv(FIXTURES / "two_stage" / "sim_ipd.csv").head(240)

#: model -> the outcome columns of SIM it reads (one-stage and two-stage share the names)
OUTCOMES: dict[str, dict[str, str]] = {
    "linear": {"outcome": "y1"},
    "logistic": {"outcome": "yb"},
    "cox": {"time": "time", "event": "event"},
}


def _edit(**cells: tuple[list[int], Any]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(d: pd.DataFrame) -> pd.DataFrame:
        d = d.copy()
        for col, (rows, value) in cells.items():
            d[col] = d[col].astype(object)
            d.loc[rows, col] = value
        return d
    return edit


#: (name, edit of the data, extra keyword arguments, models it applies to, reason, words)
BAD: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], dict[str, Any], tuple[str, ...],
                Reason, str]] = [
    ("missing treatment", _edit(trt=([2, 5], np.nan)), {}, ("linear", "logistic", "cox"),
     Reason.MISSING_VALUES, "trt: missing values in rows 3, 6"),
    ("missing covariate", _edit(age=([9], None)), {"adjust": ["age"]},
     ("linear", "logistic", "cox"), Reason.MISSING_VALUES, "age: missing values in row 10"),
    ("text outcome", _edit(y1=([3], "n/a")), {}, ("linear",), Reason.INVALID_DATA,
     "y1: not a finite number in row 4 ('n/a')"),
    ("text time", _edit(time=([0], "soon")), {}, ("cox",), Reason.INVALID_DATA,
     "time: not a finite number in row 1 ('soon')"),
    ("infinite outcome", _edit(y1=([7], np.inf)), {}, ("linear",), Reason.INVALID_DATA,
     "y1: not a finite number in row 8 (inf)"),
    ("negative time", _edit(time=([4], -2.0)), {}, ("cox",), Reason.INVALID_DATA,
     "time: negative times in row 5"),
    ("event not 0/1", _edit(event=([1], 2)), {}, ("cox",), Reason.INVALID_DATA,
     "event: values other than 0/1 in row 2 (2)"),
    ("binary outcome not 0/1", _edit(yb=([6], "yes")), {}, ("logistic",), Reason.INVALID_DATA,
     "yb: values other than 0/1 in row 7 ('yes')"),
    ("text covariate", _edit(age=([0, 1], "old")), {"adjust": ["age"]},
     ("linear", "logistic", "cox"), Reason.INVALID_DATA,
     "age: not a finite number in rows 1, 2 ('old'); code categories as 0/1 columns"),
    ("treated value absent", lambda d: d, {"treated_value": "yes"},
     ("linear", "logistic", "cox"), Reason.TREATMENT_CODING,
     "trt: no participant has the treated value 'yes' (values: 0, 1)"),
    ("three arms", _edit(trt=([0], 2)), {}, ("linear", "logistic", "cox"),
     Reason.TREATMENT_CODING, "trt: 3 distinct values (0, 1, 2); give control_value"),
    ("other arm with a control value", _edit(trt=([0], 2)), {"control_value": 0},
     ("linear", "logistic", "cox"), Reason.TREATMENT_CODING,
     "trt: values other than 1 and 0 in row 1"),
    ("absent column", lambda d: d.drop(columns=["age"]), {"adjust": ["age"]},
     ("linear", "logistic", "cox"), Reason.MISSING_COLUMN,
     "column(s) not in the data: age; available:"),
    ("covariate is the outcome", lambda d: d, {"adjust": ["trt"]}, ("linear",),
     Reason.BAD_OPTION, "column 'trt' cannot be both a covariate"),
]

CASES = [pytest.param(edit, kw, model, reason, words, id=f"{name}-{model}")
         for name, edit, kw, models, reason, words in BAD for model in models]


def _message(fn: Callable[..., Any], data: pd.DataFrame, **kw: Any) -> AnalysisProblem:
    with pytest.raises(AnalysisProblem) as err:
        fn(data, trial="trial", treatment="trt", **kw)
    return err.value


@pytest.mark.parametrize(("edit", "kw", "model", "reason", "words"), CASES)
def test_same_bad_input_same_message_in_every_path(edit, kw, model, reason, words):
    data = edit(SIM)
    cols = OUTCOMES[model]
    two = _message(two_stage, data, model=model, **cols, **kw)
    one = _message(one_stage, data, model=model, **cols, **kw)
    builder = _message(prepare_ipd, data, model=model, **cols, **kw)
    assert two.message == one.message == builder.message
    assert words in two.message
    assert two.reason is one.reason is reason
    assert two.variables == one.variables and two.rows == one.rows


def test_every_problem_is_listed_at_once():
    data = _edit(trt=([2], np.nan), y1=([3], "n/a"), age=([4], "old"))(SIM)
    err = _message(two_stage, data, model="linear", outcome="y1", adjust=["age"])
    assert err.variables == ("trt", "y1", "age") and err.rows == (3, 4, 5)
    assert "missing='drop'" in err.message and "Correct these values" in err.message
    assert err.reason is Reason.INVALID_DATA


def test_drop_missing_works_in_both_paths_and_reports_rows_left_out():
    data = _edit(y1=([2, 5], np.nan))(SIM)
    two = two_stage(data, trial="trial", treatment="trt", outcome="y1", model="linear",
                    missing="drop")
    one = one_stage(data, trial="trial", treatment="trt", outcome="y1", model="linear",
                    missing="drop")
    note = "trial S01: 2 row(s) with missing values left out (complete-case analysis)"
    assert note in two.notes and note in one.notes
    assert one.n == len(SIM) - 2


def test_treatment_given_as_text_matches_numbers_in_both_paths():
    a = two_stage(SIM, trial="trial", treatment="trt", outcome="y1", model="linear",
                  treated_value="1")
    b = one_stage(SIM, trial="trial", treatment="trt", outcome="y1", model="linear",
                  treated_value="1")
    assert a.pooled.k == b.k == SIM["trial"].nunique()
