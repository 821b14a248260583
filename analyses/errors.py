"""The errors analyses raise: one registry of reasons and typed facts.

Every error an analysis raises on purpose is one of the two classes below, and carries a
:class:`Reason` from the registry (never a free string), so that a program can branch on it
and a user reads the same word for the same problem everywhere::

    repository.errors.AnalysisError         exit 4
    └── AnalysisProblem                     input or options an analysis cannot use
        └── analyses.trial_models.TrialNotEstimable   one trial gives no estimate
    repository.errors.ConvergenceError      exit 6
    └── NotConverged                        an iterative fit did not converge

Both keep the root class's behaviour (``message``, ``context``, ``to_dict()``, the CLI's
``error: ...`` and exit code) and add typed attributes: ``reason``, ``file``, ``trials``,
``variables``, ``rows`` (1-based data rows, or pools for :func:`analyses.pool_many`),
``cells`` (the rows per variable, where an error lists several), ``k`` (trials in the
analysis) and ``option`` (the argument at fault). The same facts are in
``context`` (and so in the CLI's ``--json`` error output).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

from repository.errors import AnalysisError, ConvergenceError

__all__ = ["Reason", "AnalysisProblem", "NotConverged", "writing"]


class Reason(StrEnum):
    """Why an analysis stopped (or left a trial out). Values are stable, ``snake_case``."""

    #: an option's value is not one it accepts, or options that do not go together
    BAD_OPTION = "bad_option"
    #: an option the analysis needs was not given
    MISSING_OPTION = "missing_option"
    #: a named column is not in the data
    MISSING_COLUMN = "missing_column"
    #: cells are empty (with ``missing="error"``)
    MISSING_VALUES = "missing_values"
    #: values the analysis cannot use: text in a numeric column, NaN/infinite numbers,
    #: non-positive variances, negative times, a 0/1 column with other values, impossible
    #: counts; ``variables`` and ``rows`` say where
    INVALID_DATA = "invalid_data"
    #: the treatment column does not code two arms as asked (treated value absent, more
    #: than two values without a control value, other values)
    TREATMENT_CODING = "treatment_coding"
    #: arrays or columns of different lengths
    LENGTH_MISMATCH = "length_mismatch"
    #: the argument is the wrong kind of object (not a data frame, not a result)
    WRONG_TYPE = "wrong_type"
    #: a file cannot be read
    UNREADABLE = "unreadable"
    #: an output file cannot be written (no such folder, no permission, disk full)
    UNWRITABLE = "unwritable"
    #: aggregate-data rows that cannot be used, or that the model cannot use
    BAD_AGGREGATE = "bad_aggregate"
    #: a trial given both as IPD and as aggregate data
    DUPLICATE_TRIAL = "duplicate_trial"
    #: fewer trials than the model needs
    TOO_FEW_TRIALS = "too_few_trials"
    #: fewer participants than the model needs
    TOO_FEW_PARTICIPANTS = "too_few_participants"
    #: a trial (or the data) with one arm only
    SINGLE_ARM = "single_arm"
    #: no events (in a trial, an arm or all tables)
    NO_EVENTS = "no_events"
    #: no events in one arm of a trial: its hazard or odds ratio is infinite
    NO_EVENTS_ARM = "no_events_arm"
    #: every participant had the event
    ALL_EVENTS = "all_events"
    #: every participant of one arm had the event: the odds ratio is infinite
    ALL_EVENTS_ARM = "all_events_arm"
    #: the outcome is perfectly predicted: the maximum-likelihood estimate is infinite
    SEPARATION = "separation"
    #: covariates that do not vary or are linear combinations of others
    COLLINEAR = "collinear"
    #: an interaction covariate without the two levels the model needs
    INTERACTION_LEVELS = "interaction_levels"
    #: the estimator is not defined for these data (e.g. MH with no usable tables)
    ESTIMATE_UNDEFINED = "estimate_undefined"
    #: identical estimates: the Knapp-Hartung scale factor is 0
    DEGENERATE_KNHA = "degenerate_knha"
    #: a root or limit lies beyond the search range
    OUT_OF_RANGE = "out_of_range"
    #: an iterative fit did not converge
    NO_CONVERGENCE = "no_convergence"
    #: a trial gave no usable estimate (first stage of a two-stage analysis)
    NO_ESTIMATE = "no_estimate"
    #: a trial has no participants (e.g. within a subgroup)
    NO_PARTICIPANTS = "no_participants"


def _strings(values: Any) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(str(v) for v in values)


def _ints(values: Iterable[Any] | None) -> tuple[int, ...]:
    return () if values is None else tuple(int(v) for v in values)


class _Facts:
    """The typed attributes both analysis errors share (see the module docstring)."""

    _facts: dict[str, Any]

    # properties, not plain attributes: IPDError's typed facts (reason, file, rows) are
    # read-only descriptors; these give the analysis errors' own, stricter types.
    @property
    def reason(self) -> Reason:
        return self._facts["reason"]

    @property
    def file(self) -> str | None:
        return self._facts["file"]

    @property
    def trials(self) -> tuple[str, ...]:
        return self._facts["trials"]

    @property
    def variables(self) -> tuple[str, ...]:
        return self._facts["variables"]

    @property
    def rows(self) -> tuple[int, ...]:
        return self._facts["rows"]

    @property
    def cells(self) -> dict[str, tuple[int, ...]]:
        return self._facts["cells"]

    @property
    def k(self) -> int | None:
        return self._facts["k"]

    @property
    def option(self) -> str | None:
        return self._facts["option"]

    def __init__(self, message: str, *, reason: Reason, file: str | None = None,
                 trials: Iterable[Any] | str | None = None,
                 variables: Iterable[Any] | str | None = None,
                 rows: Iterable[Any] | None = None,
                 cells: Mapping[str, Iterable[Any]] | None = None, k: int | None = None,
                 option: str | None = None, **context: Any) -> None:
        if not isinstance(reason, Reason):
            raise TypeError(f"reason must be an analyses.errors.Reason, not {reason!r}")
        untyped = sorted(set(context) & {"trial", "variable", "studies", "reason"})
        if untyped:
            raise TypeError(f"use the typed attributes (trials, variables), not {untyped}")
        by_variable = {str(v): _ints(r) for v, r in (cells or {}).items()}
        facts: dict[str, Any] = {
            "reason": reason, "file": file, "trials": _strings(trials),
            "variables": _strings(variables) or tuple(by_variable),
            "rows": _ints(rows) or tuple(sorted({r for rs in by_variable.values() for r in rs})),
            "cells": by_variable, "k": k, "option": option}
        kept = {name: value for name, value in facts.items() if value not in (None, (), {})}
        super().__init__(message, **kept, **context)  # type: ignore[call-arg]
        self._facts = facts


class AnalysisProblem(_Facts, AnalysisError):
    """Input or options an analysis cannot use (exit code 4)."""


class NotConverged(_Facts, ConvergenceError):
    """An iterative fit did not converge; the message says what to try (exit code 6)."""

    def __init__(self, message: str, *, reason: Reason = Reason.NO_CONVERGENCE,
                 **facts: Any) -> None:
        super().__init__(message, reason=reason, **facts)


@contextmanager
def writing(path: str | Path, what: str) -> Iterator[Path]:
    """Write ``what`` (e.g. "the forest plot") to ``path`` inside this block: an operating
    system error (no such folder, no permission, disk full) becomes an :class:`AnalysisProblem`
    naming the file and what to do, not a traceback."""
    p = Path(path)
    try:
        yield p
    except OSError as exc:
        raise AnalysisProblem(
            f"cannot write {what} to {p}: {exc.strerror or exc}; give a path in an existing "
            "folder you may write to", reason=Reason.UNWRITABLE, file=str(p)) from exc
