"""Planted problems are matched on their check and their variable, not on their participant
alone: a finding about something else of the same participant neither finds the problem nor is
explained by it."""

from __future__ import annotations

from types import SimpleNamespace

from repository.example.planted import match_planted


def finding(check_id: str, variable: str | None, participant: str | None = "P-1",
            trial: str = "T1") -> SimpleNamespace:
    return SimpleNamespace(trial=trial, check_id=check_id, variable=variable,
                           participant=participant)


def problem(kind: str, variable: str, who: str = "1") -> dict:
    return {"kind": kind, "trial": "T1", "variable": variable,
            "participants": [{"participant_id": who, "delivered_value": who}]}


def pseudonym(trial: str, raw: str) -> str:
    return f"P-{raw}"


def test_the_planted_check_on_the_planted_variable_finds_it() -> None:
    planted = [problem("out_of_range", "age"),
               problem("event_before_randomisation", "death_date", who="2")]
    found = [finding("range:age", "age"),
             finding("rule:death-after-randomisation", "death_date, rand_date", "P-2"),
             # consequences: the survival time derived from the wrong date
             finding("range:os_time_days", "os_time_days", "P-2"),
             finding("rule:follow-up-ends-at-death", "last_fu_date, death_date", "P-2")]
    matches, unexplained = match_planted(planted, found, pseudonym)
    assert [m.findings for m in matches] == [(0,), (1,)]
    assert unexplained == []


def test_another_check_on_the_same_participant_does_not_count() -> None:
    planted = [problem("out_of_range", "age")]
    # right participant, wrong variable: the age was never flagged
    found = [finding("range:weight_kg", "weight_kg")]
    matches, unexplained = match_planted(planted, found, pseudonym)
    assert not matches[0].found
    assert unexplained == [0]
    # right variable, wrong check (a rule naming age is not the range check)
    found = [finding("rule:age-at-surgery", "age, surgery_date")]
    matches, unexplained = match_planted(planted, found, pseudonym)
    assert not matches[0].found and unexplained == [0]


def test_a_rule_must_name_the_planted_variable_and_its_partner() -> None:
    planted = [problem("event_before_randomisation", "death_date")]
    found = [finding("rule:death-after-recurrence", "death_date, recurrence_date")]
    matches, unexplained = match_planted(planted, found, pseudonym)
    assert not matches[0].found  # not "before randomisation"
    assert unexplained == [0]    # nothing found it, so nothing explains it


def test_trial_level_problems_need_their_check_on_their_variable() -> None:
    planted = [problem("arm_imbalance", "arm")]
    matches, unexplained = match_planted(
        planted, [finding("integrity:randomised-n", "arm", None),
                  finding("integrity:missingness-by-arm", "last_fu_date", "P-9")], pseudonym)
    assert matches[0].findings == (0,)
    assert unexplained == [1]
