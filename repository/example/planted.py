"""Matching what the checks found against the problems planted in the example.

Used by the demo (to show every planted problem was found) and the tests (to show nothing else
was flagged). A finding is anything with ``trial``, ``participant`` (the repository pseudonym,
or None for the whole trial), ``check_id`` and optionally ``affected`` (the (participant, row)
pairs a pattern finding lists) - e.g. :class:`harmonise.queries.questions.Finding`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["TRIAL_LEVEL", "PlantedMatch", "load_planted", "match_planted"]

#: planted kinds found by a trial-level check, and that check's id
TRIAL_LEVEL = {"arm_imbalance": "integrity:randomised-n"}


@dataclass(frozen=True)
class PlantedMatch:
    problem: dict[str, Any]
    findings: tuple[int, ...]  # indices into the findings

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


def match_planted(problems: Sequence[dict[str, Any]], findings: Sequence[Any],
                  pseudonym: Callable[[str, str], str]) -> tuple[list[PlantedMatch], list[int]]:
    """(each planted problem with the findings that report it, findings explained by none).

    ``pseudonym(trial, raw_id)`` gives the repository pseudonym of a trial's own ID.
    """
    explained: set[int] = set()
    matches = []
    for problem in problems:
        trial = problem["trial"]
        mine = [i for i, f in enumerate(findings) if f.trial == trial]
        if problem["kind"] in TRIAL_LEVEL:
            hits = [i for i in mine if findings[i].check_id == TRIAL_LEVEL[problem["kind"]]]
        else:
            key = "delivered_value" if problem["kind"] == "duplicate_id" else "participant_id"
            wanted = {pseudonym(trial, str(p[key])) for p in problem["participants"]}
            hits = [i for i in mine if _participants(findings[i]) & wanted]
        matches.append(PlantedMatch(problem=problem, findings=tuple(hits)))
        explained.update(hits)
    return matches, [i for i in range(len(findings)) if i not in explained]
