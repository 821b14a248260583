"""One question per root cause: findings grouped into the questions a trial is asked.

Pure: this module sees :class:`Finding` objects (what a check found, with the raw cells behind
the failing values) and returns :class:`Group` s; the store work is in
:mod:`harmonise.queries.lifecycle` and the wording in :mod:`harmonise.pipeline.wording`.

Findings join one group when they share a cause:

* **a raw cell** (``Finding.cells``: dataset, row and column of the trial's delivery, which
  the pipeline works out from the mapping's lineage: a derived variable knows every raw column
  it is computed from). A death date typed wrong makes the death-before-randomisation rule,
  the negative survival times and the rules on them fail: they all share that cell, so they
  are one question, and the failures other than the first are its *consequences*;
* **a link** (``Finding.links``): any other key the pipeline gives two findings that share a
  cause - the same duplicated participant ID, the same unmatched code of a column, a
  dictionary rule that holds between two failing values (they agree with each other, so one
  is out of range *because* the other is), the columns of a pattern over many participants.

A group's first finding (its *primary*) is the one the question is written from: a mapping
problem before anything it causes, a pattern before the participant-level failures it covers,
then the finding that holds most of the cells the group's findings share (the root cause),
with the fewest other cells, earliest in the dictionary.

A finding may point at a row of another dataset of the trial (``Cell.dataset``, and
``Finding.sequence`` for the n-th record of a participant in a long table); grouping treats
cells of every dataset alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Cell",
    "Finding",
    "Group",
    "Wording",
    "query_key",
    "group_findings",
    "cell_labels",
    "default_wording",
    "SCOPES",
    "AUDIENCES",
]

#: participant: about one participant's record(s); trial: about the trial as a whole (a
#: pattern over many participants, the randomised numbers)
SCOPES = ("participant", "trial")
#: who a question goes to first
AUDIENCES = ("trial", "curator")
_SEVERITY = {"error": 2, "warning": 1, "info": 0}


def query_key(trial: str, participant: str | None, variable: str | None, check: str) -> str:
    return f"{trial}|{participant or '*'}|{variable or '*'}|{check}"


@dataclass(frozen=True, order=True)
class Cell:
    """One raw cell of a trial's delivery: its 1-based ``row`` and ``column`` in ``dataset``."""

    row: int
    column: str
    dataset: str = "main"

    @property
    def key(self) -> str:
        return f"{self.dataset}:{self.row}:{self.column}"

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "row": self.row, "column": self.column}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cell:
        return cls(row=int(data["row"]), column=str(data["column"]),
                   dataset=str(data.get("dataset", "main")))


@dataclass(frozen=True)
class Finding:
    """A failed check, in the terms a question needs.

    ``cells``: the raw cells behind the failing value(s); ``links``: other keys it shares a
    cause by (see the module docstring); ``scope``: participant or trial; ``affected``: the
    participants a trial-level finding lists, as (pseudonym, row); ``audience``: who is asked
    first (mapping problems go to the curator); ``order``: rank among the dictionary's
    checks (the earlier, the likelier the primary); ``facts``: what the wording needs.
    """

    trial: str
    check_id: str
    source: str  # validation | integrity | mapping
    message: str
    participant: str | None = None
    variable: str | None = None
    severity: str = "error"
    value: str | None = None
    rows: tuple[int, ...] = ()
    source_columns: tuple[str, ...] = ()
    raw_values: Mapping[str, Any] = field(default_factory=dict)
    #: which of the participant's rows, when a delivery repeats their ID (1-based)
    occurrence: int | None = None
    cells: tuple[Cell, ...] = ()
    links: tuple[str, ...] = ()
    scope: str = "participant"
    affected: tuple[tuple[str | None, int], ...] = ()
    audience: str = "trial"
    order: int = 0
    dataset: str = "main"
    sequence: int | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    #: a row of a long table: the row's key as the trial wrote it (``AESEQ=3``), part of the
    #: finding's identity so that it follows the row when a re-delivery re-orders the rows
    record: str | None = None

    @property
    def key(self) -> str:
        check = self.check_id if self.occurrence is None else f"{self.check_id}#{self.occurrence}"
        if self.record is not None:
            check = f"{check}@{self.dataset}:{self.record}"
        return query_key(self.trial, self.participant, self.variable, check)

    @property
    def row(self) -> int | None:
        return self.rows[0] if len(self.rows) == 1 else None

    @property
    def all_cells(self) -> tuple[Cell, ...]:
        """``cells``, or - for a participant's finding given without them - its source columns
        on its one row."""
        if self.cells or self.scope != "participant" or self.row is None:
            return self.cells
        return tuple(Cell(row=self.row, column=c, dataset=self.dataset)
                     for c in self.source_columns)


@dataclass(frozen=True)
class Group:
    """Findings with one cause; ``findings[0]`` is the primary (the cause), the others its
    consequences."""

    findings: tuple[Finding, ...]

    @property
    def primary(self) -> Finding:
        return self.findings[0]

    @property
    def consequences(self) -> tuple[Finding, ...]:
        return self.findings[1:]

    @property
    def trial(self) -> str:
        return self.primary.trial

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.findings)

    @property
    def severity(self) -> str:
        return max((f.severity for f in self.findings), key=lambda s: _SEVERITY.get(s, 0))

    @property
    def audience(self) -> str:
        return "curator" if any(f.audience == "curator" for f in self.findings) else "trial"

    @property
    def scope(self) -> str:
        return "trial" if any(f.scope == "trial" for f in self.findings) else "participant"

    @property
    def participants(self) -> tuple[tuple[str | None, int | None], ...]:
        """Every participant concerned, as (pseudonym, first row), in row order."""
        seen: dict[str | None, int | None] = {}
        for f in self.findings:
            if f.scope == "trial":
                for p, r in f.affected:
                    seen.setdefault(p if p is not None else f"row:{r}", r)
            elif f.participant is not None or f.rows:
                who = f.participant if f.participant is not None else f"row:{f.rows[0]}"
                row = min((c.row for c in f.all_cells),
                          default=f.rows[0] if f.rows else None)
                before = seen.get(who)
                if who not in seen or (row is not None and (before is None or row < before)):
                    seen[who] = row
        items = sorted(seen.items(), key=lambda kv: (kv[1] is None, kv[1] or 0, str(kv[0])))
        return tuple((None if str(p).startswith("row:") else p, r) for p, r in items)

    @property
    def participant(self) -> str | None:
        """The one participant the question is about (None: several, or the whole trial)."""
        if self.scope == "trial":
            return None
        who = {f.participant for f in self.findings}
        return next(iter(who)) if len(who) == 1 else None

    @property
    def cells(self) -> tuple[Cell, ...]:
        """The question's cells (participant-level questions): the root cells first, then the
        primary's, then the others', each once."""
        if self.scope == "trial":
            return ()
        counts: dict[Cell, int] = {}
        for f in self.findings:
            for c in dict.fromkeys(f.all_cells):
                counts[c] = counts.get(c, 0) + 1
        top = max(counts.values(), default=0)
        root = [c for c in counts if counts[c] == top and c in self.primary.all_cells]
        ordered = root + list(self.primary.all_cells)
        for f in self.consequences:
            ordered += list(f.all_cells)
        return tuple(dict.fromkeys(ordered))

    @property
    def columns(self) -> tuple[str, ...]:
        cols = [c.column for c in self.cells]
        for f in self.findings:
            cols += [c for c in f.source_columns]
        return tuple(dict.fromkeys(cols))


class _Union:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _link_keys(f: Finding) -> list[str]:
    keys = list(f.links)
    if f.scope == "participant":
        keys += [f"cell:{c.key}" for c in f.all_cells]
    return keys


def _primary_rank(group: Sequence[Finding]) -> Callable[[Finding], tuple[Any, ...]]:
    counts: dict[Cell, int] = {}
    for f in group:
        for c in dict.fromkeys(f.all_cells):
            counts[c] = counts.get(c, 0) + 1
    top = max(counts.values(), default=0)
    root = {c for c, n in counts.items() if n == top}

    def rank(f: Finding) -> tuple[Any, ...]:
        return (f.source != "mapping", f.scope != "trial",
                -len(root.intersection(f.all_cells)), len(set(f.all_cells)), f.order, f.key)

    return rank


def group_findings(findings: Iterable[Finding]) -> list[Group]:
    """The findings as groups with one cause each (see the module docstring), in the order
    of their first finding; each finding once (by key)."""
    unique = list({f.key: f for f in findings}.values())
    union = _Union(len(unique))
    first: dict[str, int] = {}
    for i, f in enumerate(unique):
        for key in _link_keys(f):
            if key in first:
                union.join(first[key], i)
            else:
                first[key] = i
    members: dict[int, list[Finding]] = {}
    for i, f in enumerate(unique):
        members.setdefault(union.find(i), []).append(f)
    groups = []
    for root in sorted(members):
        found = members[root]
        groups.append(Group(tuple(sorted(found, key=_primary_rank(found)))))
    return groups


#: the word for a data row, per language
ROW_WORD = {"en": "row", "fr": "ligne"}


def cell_labels(cells: Sequence[Cell], language: str = "en") -> list[str]:
    """How a question names its cells to the trial: the column (one row), ``row N`` (one
    column on several rows, e.g. a repeated ID), ``COLUMN (row N)`` otherwise."""
    word = ROW_WORD.get(language, "row")
    rows = {(c.dataset, c.row) for c in cells}
    columns = {c.column for c in cells}
    if len(rows) <= 1:
        return [c.column for c in cells]
    if len(columns) == 1:
        return [f"{word} {c.row}" for c in cells]
    return [f"{c.column} ({word} {c.row})" for c in cells]


@dataclass(frozen=True)
class Wording:
    """A question as the trial reads it: the question, what else fails because of it, and
    how to write the corrected value (None: the workbook says it from the columns)."""

    text: str
    consequences: tuple[str, ...] = ()
    hint: str | None = None
    language: str = "en"


def default_wording(group: Group) -> Wording:
    """The checks' own messages (when no wording is given, e.g. in library use without a
    dictionary)."""
    return Wording(text=group.primary.message,
                   consequences=tuple(f.message for f in group.consequences))
