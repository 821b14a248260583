"""Every command of the ``ipdrepo`` CLI, run as every role, against its declared policy.

The command tree is walked (lazy groups included), so a new command without a declaration
(``repository.cli.access.requires``) or without arguments here fails. Each command runs as a
curator, a trialist of SIROCCO (the trial the commands name), a trialist of MISTRAL (another
trial), an analyst and an unknown user, on a small workspace of the example topic: the verdict
of the policy table must hold (refused: exit 7 and a message; allowed: anything but exit 7),
no command may crash, and nothing of SIROCCO may reach the trialist of MISTRAL - no acronym,
participant ID, pseudonym, file name, hash, contact, registry ID or arm label - and a refusal
about SIROCCO must read exactly like one about a trial that does not exist.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result

from repository.cli import cli
from repository.cli.access import policy_of
from repository.roles import ACTIONS, ANYONE, Actor

A, B = "SIROCCO", "MISTRAL"  # the trial the commands name; the other trialist's trial
MISSING = "NOSUCH-9"


def _walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...],
                                                                          click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from _walk(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = {" ".join(path): command for path, command in _walk(cli)}

#: arguments per command (one or more variants); {A}, {P}, {Q} ... are filled in per workspace
ARGS: dict[str, list[list[str]]] = {
    "analyse one-stage": [["{tmp}/none.csv", "--trial", "trial", "--treatment", "arm",
                           "--model", "linear"]],
    "analyse pool": [["{effects}", "--yi", "yi", "--se", "se"]],
    "analyse surrogacy": [["{tmp}/none.csv", "--trial", "trial", "--treatment", "arm",
                           "--surrogate-time", "dfs", "--surrogate-event", "dfs_e",
                           "--time", "os", "--event", "os_e"]],
    "analyse km": [["{tmp}/none.csv", "--time", "os", "--event", "os_e",
                    "-o", "{tmp}/km.png"]],
    "analyse baseline": [["{tmp}/none.csv", "--treatment", "arm", "--variable", "age"]],
    "analyse two-stage": [["{tmp}/none.csv", "--trial", "trial", "--treatment", "arm",
                           "--model", "linear"]],
    "audit log": [[], ["--json", "--limit", "1000"]],
    "audit verify": [[]],
    "audit rekey": [[]],
    "verify": [[], ["--json"]],
    "consent list": [[]],
    "consent withdraw": [["{A}", "{P}", "--reason", "asked", "--raw-id"]],
    "corrections list": [["{A}"], ["--json"]],
    "db check": [[]],
    "db upgrade": [[]],
    "deliveries": [["{A}"], ["--all", "--json"]],
    "demo": [["{occupied}"]],
    "dictionary check": [[]],
    "dictionary export": [["--format", "frictionless", "-o", "{fresh}/schema.json"]],
    "dictionary show": [[]],
    "example create": [["{occupied}"]],
    "example stage analyse": [["--release", "{occupied}", "--out", "{fresh}", "--metrics",
                               "{fresh}/m.json"]],
    "example stage harmonise": [["--input", "{occupied}", "--out", "{fresh}"]],
    "example stage ingest": [["--example", "{occupied}", "--out", "{fresh}"]],
    "example stage release": [["--input", "{occupied}", "--version", "1", "--out", "{fresh}"]],
    "example stage validate": [["--input", "{occupied}", "--example", "{occupied}", "--out",
                                "{fresh}", "--metrics", "{fresh}/m.json"]],
    "explain": [["{A}", "{P}", "age"]],
    "harmonise": [["{A}"]],
    "governance pack": [["REQ-0001", "-o", "{fresh}/pack"]],
    "ingest": [["{A}", "{delivery}"]],
    "ingest-package": [["{A}", "{delivery}"]],
    "init": [["{fresh}/ws", "--topic", "elsewhere"]],
    "lab": [["--no-browser"]],
    "login": [["--server", "http://127.0.0.1:9", "--user", "x", "--password", "p"]],
    "logout": [["--server", "http://127.0.0.1:9"]],
    "mapping check": [["{A}"]],
    "mapping confirm": [["{A}", "--all"]],
    "mapping draft": [["{A}", "--out", "{fresh}/draft.yaml"]],
    "mapping show": [["{A}"]],
    "participants": [["{A}"], ["{A}", "--map-back"]],
    "prisma show": [[]],
    "prisma status": [["{A}", "obtained"]],
    "queries accept": [["{Q}"]],
    "queries answer": [["{Q}", "--response", "confirmed_correct", "--comment", "checked"]],
    "queries close": [["{Q2}", "--reason", "duplicate"]],
    "queries dashboard": [[], ["--json"]],
    "queries export": [["{A}", "-o", "{fresh}/q.xlsx"]],
    "queries forward": [["{Q2}", "--note", "what does code 9 mean?"]],
    "queries import": [["{workbook}", "--trial", "{A}"]],
    "queries list": [["--trial", "{A}"], ["--json"]],
    "queries raise": [["{A}", "--question", "Is the centre right?"]],
    "queries reask": [["{Q}", "--comment", "please check the CRF again"]],
    "queries reopen": [["{Q2}", "--reason", "not a duplicate"]],
    "queries show": [["{Q}"]],
    "release create": [["--version", "9.9.9", "--inputs", "{tmp}/none"]],
    "release diff": [["1.0.0", "1.0.1"]],
    "release export": [["1.0.0", "--format", "stata", "-o", "{fresh}/export"]],
    "release get": [["1.0.0"]],
    "release inputs": [["{fresh}/inputs"]],
    "release list": [[]],
    "release remote": [[]],
    "release show": [["1.0.0"]],
    "release verify": [["1.0.0"]],
    "report": [["{A}", "--output", "{fresh}/reports"]],
    "request add": [["--requestor", "R", "--institution", "I", "--purpose", "P", "--trials",
                     "{A}", "--variables", "age", "--dua", "DUA-1"]],
    "notify digest": [["--dry-run"]],
    "notify reminders": [["--dry-run"]],
    "request access-log": [[], ["REQ-0001", "--json"]],
    "request approve": [["REQ-0001", "--expires", "2099-12-31"]],
    "request grant": [["REQ-0001", "ann"]],
    "request ungrant": [["REQ-0001", "ann"]],
    "request extract": [["REQ-0001", "--release", "1.0.0", "-o", "{fresh}/extract"]],
    "request list": [[]],
    "request reject": [["REQ-0001", "--note", "no"]],
    "request revoke": [["REQ-0001", "--note", "no"]],
    "request show": [["REQ-0001"]],
    "serve": [["--port", "8999"]],
    "status": [[], ["--json"]],
    "token create": [["laptop", "--expires", "5"]],
    "token list": [[], ["--all"]],
    "token revoke": [["laptop"]],
    "trial add": [["NEW-1", "--arm", "1=a", "--arm", "2=b"]],
    "trial import": [["{registry}"]],
    "trial list": [[], ["--json"]],
    "trial show": [["{A}"]],
    "trial update": [["{A}", "--title", "A new title"]],
    "user add": [["newcomer", "--role", "analyst"]],
    "user invite": [["invitee", "--role", "trialist", "--trial", "{A}"]],
    "user list": [[]],
    "user reset-link": [["tom"]],
    "user unlock": [["tom"]],
    "validate": [["{A}"]],
    "withdraw": [["{A}", "{P2}", "--reason", "asked", "--raw-id"]],
}


@dataclass(frozen=True)
class Role:
    user: str
    role: str | None  # None: not a user of the store
    trial: str | None = None


ROLES = (Role("cora", "curator"), Role("tom", "trialist", A), Role("tess", "trialist", B),
         Role("ann", "analyst"), Role("mallory", None))


@dataclass
class Site:
    tmp: Path
    workspace: Path
    values: dict[str, str]
    secrets: list[str]  # what of SIROCCO the trialist of MISTRAL must never see
    counter: int = 0

    def fill(self, args: list[str]) -> list[str]:
        self.counter += 1
        fresh = self.tmp / "fresh" / str(self.counter)
        return [a.format(**self.values, fresh=fresh) for a in args]


def _ingest_example(store: Any, example: Path) -> None:
    from tests.example_topic import ingest_deliveries, register_trials

    register_trials(store, example, actor="cora")
    ingest_deliveries(store, example, allow_id_problems="queried")


def _correct_a_planted_date(store: Any, example: Path) -> tuple[str, str]:
    """The trial answers one of SIROCCO's queries (a swapped day and month) and the curator
    accepts it: SIROCCO has a correction. Returns (delivered value, corrected value)."""
    from sqlalchemy import select

    from harmonise.queries.answers import accept_answer
    from harmonise.queries.lifecycle import respond
    from repository.example.planted import load_planted
    from repository.models import Query

    (problem,) = [p for p in load_planted(example) if p["trial"] == A]
    planted = problem["participants"][0]
    who = store.pseudonymiser("gastric-adjuvant").pseudonym(A, str(planted["participant_id"]))
    with store.transaction() as session:
        query = session.scalars(select(Query).where(Query.participant == who)
                                .order_by(Query.id)).first()
        value = str(planted["response"]["value"])
        if len(query.source_columns) > 1:  # a question about several columns
            value = f"{problem['source_column']}={value}"
        respond(session, query, actor="cora", topic="gastric-adjuvant",
                response_code="typographical_error", corrected_value=value)
        query_id = query.id
    assert accept_answer(store, query_id).corrections
    return str(planted["delivered_value"]), str(planted["response"]["value"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    from harmonise.pipeline.checking import check_trials
    from harmonise.queries.workbook import export_workbook
    from repository.deliveries import load_delivery
    from repository.models import Delivery, Participant, Query, Trial
    from repository.roles import add_user
    from repository.settings import load_settings
    from repository.store import Store
    from repository.workspace import init_workspace
    from tests.example_topic import write_example

    tmp = tmp_path_factory.mktemp("access")
    # MISTRAL and SIROCCO, with planted problems
    example, dictionary = write_example(tmp, trials=2, participants=60)
    ws = tmp / "ws"
    init_workspace(ws, topic="gastric-adjuvant", dictionary=dictionary, actor="cora")
    with Store.open(load_settings(ws, actor="cora", env={})) as store:
        _ingest_example(store, example)
        with store.transaction() as session:
            trials = {t.acronym: t for t in session.query(Trial)}
            add_user(session, name="tom", role="trialist", trial=trials[A], by="cora")
            add_user(session, name="tess", role="trialist", trial=trials[B], by="cora",
                     email="tess@mistral.example.org")
            add_user(session, name="ann", role="analyst", by="cora")
        check_trials(store, [A, B])
        corrected = _correct_a_planted_date(store, example)
        # the planted problem is one question (now resolved): two more, raised by hand, stay
        # open for the commands that act on queries
        from harmonise.queries.lifecycle import raise_query

        with store.transaction() as session:
            trial = session.query(Trial).filter_by(acronym=A).one()
            for question in ("Is the centre of the first participant right?",
                             "Are the follow-up dates complete?"):
                raise_query(session, store.topic(session), trial, question=question,
                            actor="cora")
        export_workbook(store, A, tmp / f"{A}-queries.xlsx", actor="cora")
        with store.reading() as session:
            trial = session.query(Trial).filter_by(acronym=A).one()
            queries = sorted(q.id for q in session.query(Query).filter_by(trial_id=trial.id)
                             if q.status != "resolved")
            pseudonyms = [p.pseudonym for p in
                          session.query(Participant).filter_by(trial_id=trial.id)]
            delivery = session.query(Delivery).filter_by(trial_id=trial.id).one()
            raw_ids = [str(v) for v in load_delivery(store, delivery).frame[delivery.id_column]]
            sha256, file_name = delivery.sha256, delivery.file_name
    (tmp / "occupied").mkdir()
    (tmp / "occupied" / "keep.txt").write_text("not a demo\n")
    effects = tmp / "effects.csv"
    pd.DataFrame({"yi": [0.1, -0.2, 0.05], "se": [0.1, 0.15, 0.2]}).to_csv(effects, index=False)
    registry = yaml.safe_load((example / "topic.yaml").read_text())["trials"]
    a = next(t for t in registry if t["acronym"] == A)
    assert len(queries) >= 2
    values = {"A": A, "P": raw_ids[0], "P2": raw_ids[1], "Q": str(queries[0]),
              "Q2": str(queries[1]), "tmp": str(tmp), "occupied": str(tmp / "occupied"),
              "effects": str(effects), "delivery": str(example / a["delivery"]["file"]),
              "workbook": str(tmp / f"{A}-queries.xlsx"),
              "registry": str(example / "topic.yaml")}
    secrets = [A, A.lower(), file_name, sha256, a["contact"]["email"], a["contact"]["name"],
               a["registry_ids"][0]["id"], *(arm["label"] for arm in a["arms"]),
               *corrected, *raw_ids, *pseudonyms]
    return Site(tmp=tmp, workspace=ws, values=values, secrets=secrets)


def ipdrepo(site: Site, user: str, args: list[str]) -> Result:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("IPDREPO_")}
    env.update(IPDREPO_WORKSPACE=str(site.workspace), IPDREPO_USER=user)
    old = Path.cwd()
    os.chdir(site.tmp)
    try:
        return CliRunner().invoke(cli, args, env=env)
    finally:
        os.chdir(old)


def verdict(command: click.Command, args: list[str], role: Role, query_trial: str) -> bool:
    """Whether the policy table lets ``role`` run ``command`` with ``args``."""
    policy = policy_of(command)
    assert policy is not None
    # a context under the root's, as the CLI makes it: a context of its own would build (and
    # click caches on the command) a help option without the root's -h
    params = command.make_context(command.name or "", list(args),
                                  parent=click.Context(cli, **cli.context_settings)).params
    if not policy.needs_account(params):
        return True
    if role.role is None:
        return False
    who = Actor(name=role.user, role=role.role, trial=role.trial)
    trials: list[str | None] = [*policy.trials(params)]
    trials += [query_trial for _ in policy.queries(params)]
    return all(who.can(action, trial) for action in policy.actions(params)
               for trial in (trials or [None]))


def test_every_command_declares_an_action_and_has_arguments_here() -> None:
    undeclared = [name for name, c in COMMANDS.items() if policy_of(c) is None]
    assert not undeclared, f"declare these commands' action with @requires: {undeclared}"
    for name, command in COMMANDS.items():
        policy = policy_of(command)
        assert policy is not None
        for action in (policy.action, *policy.options.values()):
            assert action in ACTIONS, (name, action)
    assert sorted(ARGS) == sorted(COMMANDS), "give arguments for each command in ARGS"
    # the table itself: every action is open to someone, ANYONE only where no store is read
    assert all(roles for roles in ACTIONS.values())
    assert {a for a, r in ACTIONS.items() if ANYONE in r} == {"workspace.create",
                                                              "files.analyse",
                                                              "server.connect"}


def _about_a_refusal(text: str) -> str:
    return text.replace(f"no trial {A!r} visible to you", "no trial visible to you")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_as_every_role(site: Site, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # `lab` would become JupyterLab (exec): stop there; the role check runs before it
    monkeypatch.setattr("repository.cli.lab_cmds._exec",
                        lambda argv, env: click.echo("(JupyterLab would start here)"))
    # `serve` would become a server: the role check and the settings run before it
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: click.echo("(uvicorn would start)"))
    command = COMMANDS[name]
    for variant in ARGS[name]:
        for role in ROLES:
            args = site.fill(variant)
            allowed = verdict(command, args, role, query_trial=A)
            result = ipdrepo(site, role.user, [*name.split(), *args])
            shown = f"{name} {args} as {role.user}: exit {result.exit_code}\n" \
                    f"{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
            assert result.exception is None or isinstance(result.exception, SystemExit), \
                shown + f"\n{result.exception!r}"
            if allowed:
                assert result.exit_code != 7, shown
            else:
                assert result.exit_code == 7 and result.stderr.startswith("error: "), shown
            if role.user == "tess":
                output = _about_a_refusal(result.stdout + result.stderr)
                leaked = [s for s in site.secrets if s and s in output]
                assert not leaked, f"{shown}\nleaks {leaked}"
                _same_as_for_a_missing_trial(site, name, variant, result)


def _same_as_for_a_missing_trial(site: Site, name: str, variant: list[str],
                                 result: Result) -> None:
    """A refusal about SIROCCO (or its query) reads exactly like one about nothing."""
    if result.exit_code != 7:
        return
    swapped = [a.replace("{A}", MISSING).replace("{Q}", "999999").replace("{Q2}", "999998")
               for a in variant]
    if swapped == variant:
        return
    other = ipdrepo(site, "tess", [*name.split(), *site.fill(swapped)])
    assert other.exit_code == 7, other.stderr
    normalise = {A: "X", MISSING: "X", site.values["Q"]: "N", site.values["Q2"]: "N",
                 "999999": "N", "999998": "N"}
    texts = []
    for text in (result.stderr, other.stderr):
        for old, new in normalise.items():
            text = text.replace(old, new)
        texts.append(text)
    assert texts[0] == texts[1]


def test_a_trialist_sees_only_their_own_trial_in_listings(site: Site) -> None:
    status = json.loads(ipdrepo(site, "tess", ["status", "--json"]).stdout)
    assert [t["trial"] for t in status["trials"]] == [B]
    assert status["totals"]["trials"] == 1
    assert status["totals"]["participants"] == status["trials"][0]["participants"]
    listed = json.loads(ipdrepo(site, "tess", ["trial", "list", "--json"]).stdout)
    assert [t["acronym"] for t in listed] == [B]
    deliveries = json.loads(ipdrepo(site, "tess", ["deliveries", "--all", "--json"]).stdout)
    assert {d["trial"] for d in deliveries} == {B}
    events = json.loads(ipdrepo(site, "tess", ["audit", "log", "--json"]).stdout)
    assert events and all("seq" not in e and "hash" not in e for e in events)
    assert all(set(e["details"]) <= {"trial", "dataset", "format", "rows", "columns", "role",
                                     "source", "from", "to", "resolution", "response_code",
                                     "version"} for e in events)
    # the curator sees both trials, every event with details and hashes
    everything = json.loads(ipdrepo(site, "cora", ["status", "--json"]).stdout)
    assert {t["trial"] for t in everything["trials"]} >= {A, B}
    log = json.loads(ipdrepo(site, "cora", ["audit", "log", "--json", "--limit", "5"]).stdout)
    assert len(log) == 5 and all("hash" in e for e in log)
    # an analyst sees no trial-level store details at all
    refused = ipdrepo(site, "ann", ["status"])
    assert refused.exit_code == 7 and "analyst and may not store.read" in refused.stderr
