"""The trial registry of a topic: trials, their registry IDs, arms and published numbers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from repository import audit
from repository.errors import AlreadyExists, ConfigError, NotFound, SpecError, SpecProblem
from repository.models import Arm, Topic, Trial
from repository.names import check_name, check_text
from repository.roles import not_visible, require

__all__ = [
    "ArmSpec",
    "TrialSpec",
    "REGISTRIES",
    "parse_registry_id",
    "parse_arm",
    "add_trial",
    "get_trial",
    "list_trials",
    "lock_trial",
    "visible_trial",
    "visible_trials",
    "load_registry_file",
    "trial_to_dict",
]

#: registry name -> pattern of its identifiers
REGISTRIES: dict[str, re.Pattern[str]] = {
    "NCT": re.compile(r"^NCT\d{8}$"),
    "ISRCTN": re.compile(r"^ISRCTN\d{8}$"),
    "EudraCT": re.compile(r"^\d{4}-\d{6}-\d{2}$"),
    "EU CT": re.compile(r"^\d{4}-\d{6}-\d{2}-\d{2}$"),
    "ACTRN": re.compile(r"^ACTRN\d{14}$"),
    "ChiCTR": re.compile(r"^ChiCTR[-A-Z0-9]{6,20}$"),
    "UMIN": re.compile(r"^UMIN\d{9}$"),
    "JPRN": re.compile(r"^JPRN-[A-Za-z0-9]+$"),
    "DRKS": re.compile(r"^DRKS\d{8}$"),
    "CTRI": re.compile(r"^CTRI/\d{4}/\d{2,3}/\d{6}$"),
    "KCT": re.compile(r"^KCT\d{7}$"),
}
_ACRONYM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def parse_registry_id(value: str) -> dict[str, str]:
    """``"NCT01234567"`` -> ``{"registry": "NCT", "id": "NCT01234567"}``; unknown forms are
    refused with the list of accepted patterns."""
    text = value.strip()
    if ":" in text and not text.startswith(("CTRI", "JPRN")):
        registry, _, ident = text.partition(":")
        registry, ident = registry.strip(), ident.strip()
        if registry in REGISTRIES and REGISTRIES[registry].match(ident):
            return {"registry": registry, "id": ident}
    for registry, pattern in REGISTRIES.items():
        if pattern.match(text):
            return {"registry": registry, "id": text}
    raise ConfigError(
        f"registry ID {value!r} is not in a known form; expected e.g. NCT01234567, "
        "ISRCTN12345678, 2004-001234-56 (EudraCT), ACTRN12345678901234, UMIN000012345, "
        "DRKS00012345, CTRI/2010/091/000123, or REGISTRY:ID.", value=value)


@dataclass(frozen=True)
class ArmSpec:
    code: str
    label: str
    ratio: int = 1
    randomised_published: int | None = None
    #: the arm's code in the dictionary's treatment variable
    harmonised: str | None = None


_ARM = re.compile(r"^\s*(?P<code>[^=]+?)\s*=\s*(?P<label>[^:]+?)\s*"
                  r"(:\s*(?P<ratio>\d+)\s*)?(:\s*(?P<n>\d+)\s*)?(:\s*(?P<h>[^:]+?)\s*)?$")


def parse_arm(text: str) -> ArmSpec:
    """``"A=Surgery alone:1:150:0"`` -> ArmSpec(code "A", label, ratio 1, published N 150,
    harmonised arm "0"); ratio, N and the harmonised code are optional."""
    m = _ARM.match(text)
    if not m:
        raise ConfigError(f"arm {text!r} is not CODE=LABEL[:RATIO[:N[:HARMONISED]]], e.g. "
                          "'A=Surgery alone:1:150:0'.", value=text)
    return ArmSpec(code=m["code"], label=m["label"], ratio=int(m["ratio"] or 1),
                   randomised_published=int(m["n"]) if m["n"] else None,
                   harmonised=m["h"])


@dataclass(frozen=True)
class TrialSpec:
    acronym: str
    title: str | None = None
    registry_ids: tuple[str, ...] = ()
    arms: tuple[ArmSpec, ...] = ()
    contact_name: str | None = None
    contact_email: str | None = None
    id_column: str | None = None
    notes: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: language of the trial's codebook (ISO 639-1): its query workbooks are written in it
    language: str | None = None


def _check_names(spec: TrialSpec) -> None:
    check_name(spec.acronym, what="trial acronym", pattern=_ACRONYM,
               rule="1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    for what, value in (("title", spec.title), ("contact name", spec.contact_name),
                        ("contact e-mail", spec.contact_email), ("ID column", spec.id_column)):
        if value is not None:
            check_name(value, what=f"trial {spec.acronym} {what}")
    for arm in spec.arms:
        for what, value in (("code", arm.code), ("label", arm.label),
                            ("harmonised code", arm.harmonised)):
            if value is not None:
                check_name(value, what=f"trial {spec.acronym} arm {what}")
    if spec.notes is not None:
        check_text(spec.notes, what=f"trial {spec.acronym} notes")


def add_trial(session: Session, topic: Topic, spec: TrialSpec, *, actor: str) -> Trial:
    """Register a trial in ``topic`` (inside the caller's transaction); curators only."""
    require(session, actor, "store.write")
    _check_names(spec)
    existing = session.scalar(select(Trial).where(Trial.topic_id == topic.id,
                                                  Trial.acronym == spec.acronym))
    if existing is not None:
        raise AlreadyExists(f"trial {spec.acronym} is already registered in topic {topic.slug}.",
                            trial=spec.acronym)
    codes = [a.code for a in spec.arms]
    if len(set(codes)) != len(codes):
        raise ConfigError(f"trial {spec.acronym}: arm codes must be distinct (got "
                          f"{', '.join(codes)}).", trial=spec.acronym)
    if spec.arms and len(spec.arms) < 2:
        raise ConfigError(f"trial {spec.acronym}: a randomised trial has at least two arms.",
                          trial=spec.acronym)
    registry_ids = [parse_registry_id(r) for r in spec.registry_ids]
    trial = Trial(topic_id=topic.id, acronym=spec.acronym, title=spec.title,
                  registry_ids=registry_ids, contact_name=spec.contact_name,
                  contact_email=spec.contact_email, id_column=spec.id_column, notes=spec.notes,
                  language=spec.language)
    trial.arms = [Arm(position=i, code=a.code, label=a.label, ratio=a.ratio,
                      randomised_published=a.randomised_published, harmonised=a.harmonised)
                  for i, a in enumerate(spec.arms)]
    session.add(trial)
    session.flush()
    audit.append(session, actor=actor, action="trial.add", topic=topic.slug,
                 entity_type="trial", entity_id=trial.acronym, details=trial_to_dict(trial))
    return trial


def check_arm_codes(specs: Sequence[TrialSpec], variable: str,
                    categories: Mapping[str, str]) -> None:
    """Every arm's dictionary code (its ``harmonised`` code, else its own code) must be one of
    the dictionary's arm ``categories`` (code -> label) of ``variable``: otherwise the arm
    counts and every by-arm check would compare the data with arms that cannot occur in it.
    All problems at once, as one :class:`ConfigError`."""
    known = ", ".join(f"{c} = {label}" for c, label in categories.items())
    problems = []
    for spec in specs:
        for arm in spec.arms:
            code = arm.harmonised if arm.harmonised is not None else arm.code
            if str(code) not in categories:
                how = ("its dictionary code" if arm.harmonised is not None else
                       "its code (no dictionary code given)")
                problems.append(f"trial {spec.acronym}, arm {arm.code} ({arm.label}): {how} "
                                f"{code!r} is not a code of the dictionary's {variable} ({known})")
    if problems:
        raise ConfigError(
            "arm codes that match no arm of the dictionary:\n" +
            "\n".join(f"  - {p}" for p in problems) +
            "\nGive each arm its dictionary code: --arm 'CODE=LABEL:RATIO:N:DICTIONARY_CODE' "
            "(e.g. --arm 'A=Surgery alone:1:150:0'), or `harmonised:` in a registry file.",
            problems=problems)


def update_trial(session: Session, topic: Topic, acronym: str, *, actor: str,
                 **changes: Any) -> Trial:
    """Change a registered trial (curators): any of ``title``, ``registry_ids``, ``arms``
    (ArmSpecs, replacing all arms), ``contact_name``, ``contact_email``, ``id_column``,
    ``notes``, ``language``; ``None`` leaves a field as it is. Audited with before and after."""
    require(session, actor, "store.write")
    allowed = {"title", "registry_ids", "arms", "contact_name", "contact_email", "id_column",
               "notes", "language"}
    unknown = set(changes) - allowed
    if unknown:
        raise ConfigError(f"trial {acronym}: cannot change {', '.join(sorted(unknown))}.",
                          trial=acronym)
    trial = get_trial(session, topic, acronym)
    before = trial_to_dict(trial)
    given = {k: v for k, v in changes.items() if v is not None}
    current = TrialSpec(acronym=acronym, title=trial.title, contact_name=trial.contact_name,
                        contact_email=trial.contact_email, id_column=trial.id_column,
                        notes=trial.notes, language=trial.language,
                        arms=tuple(given.get("arms", ())))
    spec = TrialSpec(**{**current.__dict__, **{k: v for k, v in given.items()
                                                if k not in ("registry_ids",)}})
    _check_names(spec)
    if "arms" in given:
        codes = [a.code for a in spec.arms]
        if len(set(codes)) != len(codes) or len(codes) < 2:
            raise ConfigError(f"trial {acronym}: give at least two arms with distinct codes "
                              f"(got {', '.join(codes) or 'none'}).", trial=acronym)
        trial.arms.clear()
        session.flush()  # the old arms go before the new ones take their codes
        trial.arms = [Arm(position=i, code=a.code, label=a.label, ratio=a.ratio,
                          randomised_published=a.randomised_published, harmonised=a.harmonised)
                      for i, a in enumerate(spec.arms)]
    if "registry_ids" in given:
        trial.registry_ids = [parse_registry_id(r) for r in given["registry_ids"]]
    for name in ("title", "contact_name", "contact_email", "id_column", "notes", "language"):
        if name in given:
            setattr(trial, name, given[name])
    session.flush()
    after = trial_to_dict(trial)
    changed = sorted(k for k in after if after[k] != before.get(k))
    audit.append(session, actor=actor, action="trial.update", topic=topic.slug,
                 entity_type="trial", entity_id=acronym,
                 details={"changed": changed, "before": {k: before.get(k) for k in changed},
                          "after": {k: after[k] for k in changed}})
    return trial


def get_trial(session: Session, topic: Topic, acronym: str) -> Trial:
    trial = session.scalar(select(Trial).where(Trial.topic_id == topic.id,
                                               Trial.acronym == acronym))
    if trial is None:
        known = session.scalars(select(Trial.acronym).where(Trial.topic_id == topic.id)
                                .order_by(Trial.acronym)).all()
        raise NotFound(f"trial {acronym!r} is not registered in topic {topic.slug} (known: "
                       f"{', '.join(known) or 'none'}); add it first with `ipdrepo trial add "
                       f"{acronym} ...`.", trial=acronym, topic=topic.slug)
    return trial


def visible_trial(session: Session, topic: Topic, acronym: str, *, actor: str,
                  action: str = "store.read") -> Trial:
    """Trial ``acronym`` if ``actor`` may ``action`` on it. A trialist asking for another
    trial, or for one that is not there, gets the same refusal (no existence oracle); a
    curator gets :class:`NotFound` with the known trials."""
    who = require(session, actor, action, trial=acronym)
    trial = session.scalar(select(Trial).where(Trial.topic_id == topic.id,
                                               Trial.acronym == acronym))
    if trial is not None and who.sees_trial(trial.id):
        return trial
    if not who.sees_all:
        raise not_visible(who, acronym, action=action)
    return get_trial(session, topic, acronym)


def visible_trials(session: Session, topic: Topic, *, actor: str,
                   action: str = "store.read") -> list[Trial]:
    """The topic's trials ``actor`` may see: all for a curator, their own for a trialist."""
    who = require(session, actor, action)
    return [t for t in list_trials(session, topic) if who.sees_trial(t.id)]


def lock_trial(session: Session, trial_id: int) -> None:
    """Serialise the writers of one trial: until this session's transaction ends, every other
    transaction that locks the trial waits here, and everything this one reads afterwards is
    current (what another writer committed before is seen; nothing can be committed under it).

    Call it first in a write transaction that reads the trial's state and writes from it
    (which delivery is current, which queries exist). PostgreSQL: a row lock on the trial
    (``SELECT ... FOR NO KEY UPDATE``, which leaves foreign-key checks of other tables alone).
    SQLite has one writer at a time: a write to the trial row takes the database's write lock
    at once, like ``BEGIN IMMEDIATE`` (other writers wait up to the busy timeout).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Trial.id).where(Trial.id == trial_id)
                        .with_for_update(key_share=True))
    else:
        session.execute(text("UPDATE trial SET id = id WHERE id = :id"), {"id": trial_id})


def list_trials(session: Session, topic: Topic) -> Sequence[Trial]:
    """Every trial of the topic (for the library; what a user sees: :func:`visible_trials`)."""
    return session.scalars(select(Trial).where(Trial.topic_id == topic.id)
                           .order_by(Trial.acronym)).all()


def trial_to_dict(trial: Trial) -> dict[str, Any]:
    return {
        "acronym": trial.acronym,
        "title": trial.title,
        "registry_ids": trial.registry_ids,
        "arms": [{"code": a.code, "label": a.label, "ratio": a.ratio,
                  "randomised_published": a.randomised_published, "harmonised": a.harmonised}
                 for a in trial.arms],
        "allocation_ratio": trial.allocation_ratio,
        "randomised_published": trial.randomised_published,
        "contact_name": trial.contact_name,
        "contact_email": trial.contact_email,
        "id_column": trial.id_column,
        "language": trial.language,
        "ipd_status": trial.ipd_status,
    }


def load_registry_file(path: Path) -> list[TrialSpec]:
    """Trials from a registry YAML (``trials:`` list; see docs/architecture.md).

    Each trial: ``acronym``, optional ``title``, ``registry_ids`` (list of IDs, or of
    ``{registry, id}``), ``arms`` (list of ``{code, label, ratio, randomised, harmonised}``;
    ``randomised_published`` and ``arm`` are accepted for the last two), ``contact``
    (``{name, email}``), ``id_column`` (or ``delivery.id_column``). ``ipdrepo example create``
    writes such a file (topic.yaml). Every problem is reported at once.
    """
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path} is not valid YAML: {exc}", file=str(path)) from exc
    problems: list[SpecProblem] = []
    trials = data.get("trials") if isinstance(data, dict) else None
    if not isinstance(trials, list):
        raise SpecError(f"{path}: expected a top-level `trials:` list.", file=str(path))
    specs: list[TrialSpec] = []
    for i, t in enumerate(trials):
        key = f"trials[{i}]"
        if not isinstance(t, dict) or "acronym" not in t:
            problems.append(SpecProblem(str(path), None, key, "needs an `acronym`"))
            continue
        arms = []
        for j, a in enumerate(t.get("arms") or []):
            if not isinstance(a, dict) or "code" not in a:
                problems.append(SpecProblem(str(path), None, f"{key}.arms[{j}]",
                                            "needs `code` and `label`"))
                continue
            n = a.get("randomised", a.get("randomised_published"))
            harmonised = a.get("harmonised", a.get("arm"))
            arms.append(ArmSpec(code=str(a["code"]), label=str(a.get("label", a["code"])),
                                ratio=int(a.get("ratio", 1)),
                                randomised_published=int(n) if n is not None else None,
                                harmonised=None if harmonised is None else str(harmonised)))
        registry_ids = []
        for r in t.get("registry_ids") or ():
            # "NCT01234567" or {registry: NCT, id: NCT01234567}
            registry_ids.append(str(r["id"]) if isinstance(r, dict) and "id" in r else str(r))
        contact = t.get("contact") or {}
        delivery = t.get("delivery") or {}
        specs.append(TrialSpec(
            acronym=str(t["acronym"]), title=t.get("title"), registry_ids=tuple(registry_ids),
            arms=tuple(arms), contact_name=contact.get("name"),
            contact_email=contact.get("email"),
            id_column=t.get("id_column", delivery.get("id_column")), notes=t.get("notes"),
            language=None if t.get("language") is None else str(t["language"])))
    if problems:
        raise SpecError(f"{path}: the trial registry has problems.", problems, file=str(path))
    return specs
