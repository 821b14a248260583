"""The datasets a mapping reads and how they join, and the mappings of long tables (spec).

A trial may deliver several datasets (files, sheets, zip members: ``dm``, ``ae``, ``visits`` ...).
The mapping's ``source.dataset`` is the *base* dataset: one row per participant, the rows of the
participant table. Every other dataset a rule reads is declared under ``datasets:``::

    datasets:
      adsl: {join: one-to-one}                      # columns joined by participant ID
      ae: {join: one-to-many, key: [AESEQ]}         # read by aggregate rules and long tables
      ttde: {dataset: adtte, join: one-to-one, where: "$PARAMCD == 'TTDE'"}

``dataset`` is the stored dataset the name stands for (default: the name itself), ``id_column``
its participant-ID column (default: the base dataset's), ``key`` the columns that identify a row
within a participant (shown in problems and queries), ``where`` keeps only the rows for which it
is true. A *one-to-one* dataset has at most one row per participant: a rule reads its columns
with ``dataset: NAME`` (its columns are named ``NAME.COLUMN`` in reports), and a participant with
several rows gets a ``duplicate_key`` problem instead of a guess. A *one-to-many* dataset is read
by ``aggregate`` rules and long tables. Join problems (participants in one dataset and not the
other, duplicate keys) are reported by the dry run (``ipdrepo mapping check``) with rows.

Long tables of the dictionary are mapped under ``tables:``::

    tables:
      adverse_events:
        dataset: ae                     # one row of the table per row of the dataset
        where: "$AETERM is not null"    # optional: the rows that become table rows
        variables:
          ae_seq: {rule: direct, column: AESEQ}
          ae_start: {rule: date, column: AESTDTC, format: iso8601, impute: day}
      visits: {status: impossible, comment: the trial sent no visit data}

The table's rules are ordinary rules over the dataset's rows; they may read the participant's
harmonised variables by name (``visit_day: {rule: operation, expression: "visit_date -
rand_date"}``). ``participant_id`` comes from the dataset's ID column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harmonise.expressions.language import Expression

if TYPE_CHECKING:
    from harmonise.mapping.rules import Rule

__all__ = ["JOINS", "DatasetSpec", "TableMapping"]

#: how a dataset joins the base dataset
JOINS = ("one-to-one", "one-to-many")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset the mapping reads besides the base dataset (see the module docstring)."""

    name: str
    dataset: str
    join: str = "one-to-many"
    id_column: str | None = None
    key: tuple[str, ...] = ()
    where: Expression | None = None

    @property
    def one_to_one(self) -> bool:
        return self.join == "one-to-one"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.dataset != self.name:
            out["dataset"] = self.dataset
        out["join"] = self.join
        if self.id_column is not None:
            out["id_column"] = self.id_column
        if self.key:
            out["key"] = list(self.key)
        if self.where is not None:
            out["where"] = self.where.text
        return out


@dataclass(frozen=True)
class TableMapping:
    """How one long table of the dictionary is made from one dataset (or that the trial did not
    deliver it: ``status`` impossible)."""

    table: str
    dataset: str | None = None
    where: Expression | None = None
    rules: tuple[Rule, ...] = ()
    status: str = "complete"
    comment: str | None = None

    def rule(self, variable: str) -> Rule | None:
        for r in self.rules:
            if r.variable == variable:
                return r
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.dataset is not None:
            out["dataset"] = self.dataset
        if self.where is not None:
            out["where"] = self.where.text
        if self.status != "complete":
            out["status"] = self.status
        if self.comment is not None:
            out["comment"] = self.comment
        if self.rules:
            out["variables"] = {r.variable: r.to_dict() for r in self.rules}
        return out


def dataset_names(specs: Sequence[DatasetSpec]) -> tuple[str, ...]:
    return tuple(s.name for s in specs)
