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

from typing import TYPE_CHECKING

from repository.lazy import lazy_exports

#: public name -> module that defines it (imported on first use: `import versions` is cheap)
_EXPORTS: dict[str, str] = {
    "AnonymityReport": "versions.anonymity",
    "ExtractResult": "versions.extracts",
    "PrismaFlow": "versions.prisma",
    "ReleaseCheck": "versions.verify",
    "ReleaseDiff": "versions.diff",
    "ReleaseInfo": "versions.releases",
    "ReleaseInputs": "versions.inputs",
    "ReleaseList": "versions.releases",
    "ReleaseRepository": "versions.gitdvc",
    "ReleaseResult": "versions.releases",
    "RemoteConfig": "versions.gitdvc",
    "RequestInfo": "versions.requests",
    "RequestList": "versions.requests",
    "WithdrawalList": "versions.withdrawals",
    "WithdrawalRecord": "versions.withdrawals",
    "add_request": "versions.requests",
    "anonymise": "versions.anonymity",
    "approve_request": "versions.requests",
    "available_versions": "versions.consumers",
    "build_release": "versions.releases",
    "configure_remote": "versions.releases",
    "create_release": "versions.releases",
    "diff_frames": "versions.diff",
    "diff_releases": "versions.diff",
    "extract": "versions.extracts",
    "get_release": "versions.releases",
    "get_request": "versions.requests",
    "list_releases": "versions.releases",
    "list_requests": "versions.requests",
    "list_withdrawals": "versions.withdrawals",
    "load": "versions.consumers",
    "load_manifest": "versions.consumers",
    "load_tables": "versions.consumers",
    "prisma_flow": "versions.prisma",
    "reject_request": "versions.requests",
    "release_repository": "versions.releases",
    "release_tag": "versions.consumers",
    "revoke_request": "versions.requests",
    "set_ipd_status": "versions.prisma",
    "show_release": "versions.releases",
    "software_versions": "versions.inputs",
    "verify_release": "versions.verify",
    "withdraw": "versions.withdrawals",
}

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


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, __all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from versions.anonymity import AnonymityReport, anonymise
    from versions.consumers import available_versions, load, load_manifest, release_tag
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
