"""The policy table: which roles may perform each action (:mod:`repository.roles` enforces it).

Kept apart from :mod:`repository.roles` (which reads users from the store) so that the command
line can check its declarations (:func:`repository.cli.access.requires`) without importing the
database layer; :mod:`repository.roles` re-exports these names.
"""

from __future__ import annotations

__all__ = ["ROLES", "ANYONE", "ACTIONS"]

ROLES = ("curator", "trialist", "analyst")
#: in :data:`ACTIONS`: no account needed (the action works on files the user already holds)
ANYONE = "anyone"

_ALL = frozenset(ROLES)

#: action -> roles allowed (trialists additionally only on their own trial)
ACTIONS: dict[str, frozenset[str]] = {
    # no account: files and directories the user already holds
    "workspace.create": frozenset({ANYONE}),     # init, demo, example
    "server.connect": frozenset({ANYONE}),       # --server commands: the server checks them
    "files.analyse": frozenset({ANYONE}),        # analyse a CSV/parquet file
    # the store
    "store.read": frozenset({"curator", "trialist"}),  # registry, deliveries, participants
    "store.write": frozenset({"curator"}),
    "store.admin": frozenset({"curator"}),       # schema migrations
    "pseudonyms.map_back": frozenset({"curator"}),
    "audit.read": _ALL,                          # non-curators: their own / their trial's
    "audit.verify": frozenset({"curator"}),
    "dictionary.read": _ALL,
    "mappings.read": frozenset({"curator", "trialist"}),
    "mappings.check": frozenset({"curator"}),    # reads the raw delivery
    "harmonise.run": frozenset({"curator"}),     # harmonise, validate, report
    "data.read": frozenset({"curator", "trialist"}),
    "queries.read": frozenset({"curator", "trialist"}),
    "queries.answer": frozenset({"curator", "trialist"}),
    "queries.manage": frozenset({"curator"}),
    "queries.workbook": frozenset({"curator", "trialist"}),  # a trial's workbook (its own)
    "corrections.accept": frozenset({"curator"}),
    "explain": frozenset({"curator", "trialist"}),
    "consent.read": frozenset({"curator"}),
    "releases.read": frozenset({"curator", "analyst"}),
    "releases.write": frozenset({"curator"}),
    "requests.manage": frozenset({"curator"}),
    "users.read": frozenset({"curator"}),
    "users.manage": frozenset({"curator"}),
    "lab.start": _ALL,
    # the service (repository.service): every route declares one of these too
    "account.self": _ALL,                        # sign in/out, own password, TOTP, tokens
    "tokens.manage": frozenset({"curator"}),     # other users' tokens
    "deliveries.upload": frozenset({"curator", "trialist"}),  # through the identifier gate
    "releases.data": frozenset({"curator"}),     # a whole release's data (analysts: extracts)
    "requests.read": frozenset({"curator", "analyst"}),  # analysts: their own requests
    "extracts.download": frozenset({"curator", "analyst"}),  # analysts: approved, unexpired
    "access_log.read": frozenset({"curator"}),
    "governance.pack": frozenset({"curator"}),
    "service.run": frozenset({"curator"}),       # ipdrepo serve
}
