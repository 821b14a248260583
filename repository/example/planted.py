"""Matching what the checks found against the problems planted in the example.

Used by the demo (to show every planted problem was found) and the tests (to show nothing else
was flagged). A finding is anything with ``trial``, ``participant`` (the repository pseudonym,
or None for the whole trial), ``check_id`` and optionally ``affected`` (the (participant, row)
pairs a pattern finding lists) - e.g. :class:`harmonise.queries.questions.Finding`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DERIVED", "FOUND_BY", "TRIAL_LEVEL", "PlantedMatch", "finds", "load_planted",
           "match_planted", "variables_of"]

#: planted kinds found by a trial-level check, and that check's id
TRIAL_LEVEL = {"arm_imbalance": "integrity:randomised-n"}

#: planted kind -> the check that must report it on the planted variable: a check id, or
#: ``rule:`` for any dictionary rule that names the planted variable together with the
#: variables listed
FOUND_BY: dict[str, tuple[str, tuple[str, ...]]] = {
    "out_of_range": ("range:{variable}", ()),
    "confirmed_correct": ("range:{variable}", ()),
    "event_before_randomisation": ("rule:", ("rand_date",)),
    "duplicate_id": ("integrity:ids", ()),
    "arm_imbalance": ("integrity:randomised-n", ()),
    "missing_follow_up": ("integrity:missingness-by-arm", ()),
    "nodes_inconsistent": ("rule:nodes-positive-le-examined", ()),
}

#: variables the topic derives from a delivered one: a wrong value there shows in these too
#: (survival times from the dates, BMI from weight and height)
DERIVED: dict[str, frozenset[str]] = {
    "death_date": frozenset({"os_time_days", "dfs_time_days"}),
    "last_fu_date": frozenset({"os_time_days", "dfs_time_days"}),
    "recurrence_date": frozenset({"dfs_time_days"}),
    "weight_kg": frozenset({"bmi"}),
    "height_cm": frozenset({"bmi"}),
}


@dataclass(frozen=True)
class PlantedMatch:
    problem: dict[str, Any]
    findings: tuple[int, ...]  # indices of the findings by the problem's check on its variable

    @property
    def found(self) -> bool:
        return bool(self.findings)


def _participants(finding: Any) -> set[str]:
    """The participants a finding is about: its own, or those a pattern finding lists."""
    out = {p for p, _row in getattr(finding, "affected", ()) if p is not None}
    if finding.participant is not None:
        out.add(finding.participant)
    return out


def load_planted(example_dir: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load((Path(example_dir) / "truth" / "planted.yaml").read_text())
    return list(data["problems"])


def variables_of(finding: Any) -> frozenset[str]:
    """The variables a finding names (a rule's finding names several: ``"a, b"``)."""
    text = getattr(finding, "variable", None) or ""
    return frozenset(v.strip() for v in str(text).split(",") if v.strip())


def finds(problem: Mapping[str, Any], finding: Any) -> bool:
    """True when ``finding`` is the planted problem's own check on its own variable."""
    check, together = FOUND_BY[problem["kind"]]
    names = variables_of(finding)
    if problem["variable"] not in names or not set(together) <= names:
        return False
    if check.endswith(":"):
        return str(finding.check_id).startswith(check)
    return bool(finding.check_id == check.format(variable=problem["variable"]))


def match_planted(problems: Sequence[dict[str, Any]], findings: Sequence[Any],
                  pseudonym: Callable[[str, str], str]) -> tuple[list[PlantedMatch], list[int]]:
    """(each planted problem with the findings that report it, findings explained by none).

    A planted problem is found by a finding of its trial (and participant, unless the problem
    is trial-level) from the problem's check (:data:`FOUND_BY`) on the problem's variable. A
    finding is explained when it finds a planted problem, or when it is about the same
    participant and names the planted variable or one derived from it (:data:`DERIVED`): a date
    typed wrong also makes the survival time derived from it wrong. Anything else is
    unexplained. ``pseudonym(trial, raw_id)`` gives the repository pseudonym of a trial's ID.
    """
    explained: set[int] = set()
    matches = []
    for problem in problems:
        trial = problem["trial"]
        mine = [i for i, f in enumerate(findings) if f.trial == trial]
        if problem["kind"] not in TRIAL_LEVEL:
            key = "delivered_value" if problem["kind"] == "duplicate_id" else "participant_id"
            wanted = {pseudonym(trial, str(p[key])) for p in problem["participants"]}
            mine = [i for i in mine if _participants(findings[i]) & wanted]
        hits = [i for i in mine if finds(problem, findings[i])]
        matches.append(PlantedMatch(problem=problem, findings=tuple(hits)))
        explained.update(hits)
        if hits and problem["kind"] not in TRIAL_LEVEL:
            related = {problem["variable"]} | DERIVED.get(problem["variable"], frozenset())
            explained.update(i for i in mine if variables_of(findings[i]) & related)
    return matches, [i for i in range(len(findings)) if i not in explained]
