"""Tables of a topic dictionary: the participant table and long tables.

A dictionary always has the *participant table* (``participants``: one row per participant,
keyed by ``trial`` and ``participant_id``); its variables are :attr:`Dictionary.variables`. It may
declare *long tables* under ``tables:`` (docs/dictionary-format.md):

``repeated``
    visits or repeated measures, keyed by participant and a visit or time variable
    (``key: [visit]``);
``events``
    events such as adverse events or recurrences, keyed by participant and a sequence number
    (``key: [ae_seq]``).

A variable belongs to a long table when it says ``table: NAME``. Every long table implicitly
has ``trial`` and ``participant_id`` first. A table may name its ``date`` variable, its
``origin`` (a participant-table date, by default the randomisation date), whether its dates
must not precede the origin (``after_origin: true``: events after randomisation) and a visit
``window`` (a planned-day variable and how many days before and after it the visit may fall).

:func:`table_view` gives a long table as a :class:`~harmonise.dictionary.spec.Dictionary` of its
own (``trial``, ``participant_id``, the key and the table's variables; the table's rules; the
participant variables as read-only *context*), so the mapping engine, validation and the
exports work on every table with the code written for the participant table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from harmonise.yamlio import given_fields

if TYPE_CHECKING:
    from harmonise.dictionary.spec import CrossRule, Dictionary, Variable

__all__ = ["PARTICIPANTS", "TABLE_KINDS", "Window", "Table", "table_view"]

#: the name of the participant table (one row per participant)
PARTICIPANTS = "participants"
#: kinds of long tables
TABLE_KINDS = ("repeated", "events")


@dataclass(frozen=True)
class Window:
    """Where a visit may fall: ``planned_day`` (a number variable of the table) minus
    ``before`` to plus ``after`` days, the visit's day counted from the table's origin
    (``origin_day`` is the day number of the origin itself: 0, or 1 as CDISC study days count,
    where the day before day 1 is day -1)."""

    planned_day: str
    before: int
    after: int
    origin_day: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"planned_day": self.planned_day, "before": self.before,
                               "after": self.after}
        if self.origin_day:
            out["origin_day"] = self.origin_day
        return out


@dataclass(frozen=True)
class Table:
    """A long table of the dictionary (see the module docstring)."""

    name: str
    kind: str
    key: tuple[str, ...]
    variables: tuple[Variable, ...] = ()
    label: str | None = None
    description: str | None = None
    date: str | None = None
    origin: str | None = None
    window: Window | None = None
    rules: tuple[CrossRule, ...] = ()
    #: the table's dates may not precede the origin (events after randomisation)
    after_origin: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    def variable(self, name: str) -> Variable | None:
        for v in self.variables:
            if v.name == name:
                return v
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name,
                               **given_fields(self, ("label", "description")),
                               "kind": self.kind, "key": list(self.key),
                               **given_fields(self, ("date", "origin"))}
        if self.after_origin:
            out["after_origin"] = True
        if self.window is not None:
            out["window"] = self.window.to_dict()
        return out


def table_view(dictionary: Dictionary, name: str) -> Dictionary:
    """Long table ``name`` as a dictionary of its own (see the module docstring); the
    participant table for ``participants``."""
    if name == PARTICIPANTS:
        return dictionary
    table = dictionary.table(name)
    keys = (dictionary.trial_variable, dictionary.id_variable)
    return replace(dictionary, variables=keys + table.variables, outcomes=(),
                   rules=table.rules, tables=(), context=dictionary.variables, table_name=name)


def rule_table(variables: tuple[str, ...], where: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """The table a cross-variable rule over ``variables`` belongs to (``where`` maps a variable
    to its table), and the long tables it would mix (more than one is a problem)."""
    tables = sorted({where[v] for v in variables if v in where and where[v] != PARTICIPANTS})
    if len(tables) > 1:
        return None, tables
    return (tables[0] if tables else PARTICIPANTS), tables
