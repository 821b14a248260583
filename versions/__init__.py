"""Versioned releases of a topic's dataset, and what is done with them.

* :mod:`~versions.inputs`: :class:`ReleaseInputs`, what a release is made from;
  :mod:`~versions.store_inputs`: building them from the store with the harmonisation pipeline
* :mod:`~versions.dataset`, :mod:`~versions.manifest`: the release's bytes (pure)
* :mod:`~versions.gitdvc`: the release repository (git + DVC) behind a small interface;
  :mod:`~versions.locations`: what may be handed to git and DVC (locations, remotes, revisions)
* :mod:`~versions.releases`: create (all or nothing), list, show, get
* :mod:`~versions.writing`, :mod:`~versions.journal`: writing a release with every byte checked,
  and recovering one that was interrupted
* :mod:`~versions.verify`: every check of a release (``release verify``)
* :mod:`~versions.consumers`: :func:`load` a pinned release from any clone, checked against
  its tag
* :mod:`~versions.diff`: what changed between two releases, cell by cell
* :mod:`~versions.requests`, :mod:`~versions.extracts`, :mod:`~versions.anonymity`,
  :mod:`~versions.dateshift`: data requests and their extracts
* :mod:`~versions.withdrawals`: consent withdrawal
* :mod:`~versions.prisma`: the PRISMA-IPD flow
"""

from versions.anonymity import AnonymityReport, anonymise
from versions.consumers import available_versions, load, load_manifest, load_tables, release_tag
from versions.diff import ReleaseDiff, diff_frames, diff_releases
from versions.extracts import ExtractResult, extract
from versions.gitdvc import ReleaseRepository, RemoteConfig
from versions.inputs import ReleaseInputs, software_versions
from versions.prisma import PrismaFlow, prisma_flow, set_ipd_status
from versions.releases import (
    ReleaseInfo,
    ReleaseList,
    ReleaseResult,
    build_release,
    configure_remote,
    create_release,
    get_release,
    list_releases,
    release_repository,
    show_release,
)
from versions.requests import (
    RequestInfo,
    RequestList,
    add_request,
    approve_request,
    get_request,
    list_requests,
    reject_request,
    revoke_request,
)
from versions.verify import ReleaseCheck, verify_release
from versions.withdrawals import WithdrawalList, WithdrawalRecord, list_withdrawals, withdraw

__all__ = [
    "AnonymityReport",
    "ExtractResult",
    "PrismaFlow",
    "ReleaseCheck",
    "ReleaseDiff",
    "ReleaseInfo",
    "ReleaseInputs",
    "ReleaseList",
    "ReleaseRepository",
    "ReleaseResult",
    "RemoteConfig",
    "RequestInfo",
    "RequestList",
    "WithdrawalList",
    "WithdrawalRecord",
    "add_request",
    "anonymise",
    "approve_request",
    "available_versions",
    "build_release",
    "configure_remote",
    "create_release",
    "diff_frames",
    "diff_releases",
    "extract",
    "get_release",
    "get_request",
    "list_releases",
    "list_requests",
    "list_withdrawals",
    "load",
    "load_manifest",
    "load_tables",
    "prisma_flow",
    "reject_request",
    "release_repository",
    "release_tag",
    "revoke_request",
    "set_ipd_status",
    "show_release",
    "software_versions",
    "verify_release",
    "withdraw",
]
