"""Disclosure control of extracts (issue 17, item 3).

* ``trial`` is in every extract, so it is always a quasi-identifier: a class of the declared
  quasi-identifiers that is large over all trials can be small within one;
* the extract manifest (sent with the data) reports suppression as counts per class-size band,
  never the quasi-identifier values of the records it suppressed;
* a request without k-anonymity needs a written justification (recorded in the request and
  every extract's manifest) and is warned about; without one it is refused at submission,
  approval and extraction.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from repository.errors import RequestError
from repository.models import DataRequest, Extract
from tests.versions.conftest import Env, ipdrepo
from versions.anonymity import k_of
from versions.extracts import extract
from versions.releases import create_release, get_release
from versions.requests import add_request, approve_request, get_request

QIS = ["sex", "age"]
K = 3


def _add(e: Env, **overrides: Any) -> str:
    options: dict[str, Any] = dict(
        requestor="A. Smith", institution="University X", purpose="prognosis",
        trials=e.trials[:3], variables=["age", "sex", "rand_date", "os_time_days", "os_event"],
        dua_reference="DUA-2024-7")
    options.update(overrides)
    return add_request(e.store, **options).code


def _walk(value: Any) -> list[dict[str, Any]]:
    """Every JSON object inside ``value``."""
    if isinstance(value, dict):
        return [value] + [d for v in value.values() for d in _walk(v)]
    if isinstance(value, list):
        return [d for v in value for d in _walk(v)]
    return []


def test_trial_is_always_a_quasi_identifier(env_any: Env, tmp_path: Path) -> None:
    e = env_any
    create_release(e.store, e.inputs(), version="1.0")
    released = get_release(e.store, "1.0")
    mine = released[released["trial"].isin(e.trials[:3])]
    pooled = mine.groupby(QIS, dropna=False).size()
    split = mine.groupby(["trial", *QIS], dropna=False).size()
    # the data hold the case that used to slip through: k-anonymous over all trials, not
    # within one
    hidden = [key for key, n in split.items() if n < K and pooled[key[1:]] >= K]
    assert hidden
    code = _add(e, quasi_identifiers=QIS, k=K)
    approve_request(e.store, code, expires_on=date(2099, 1, 1))
    result = extract(e.store, code, release="1.0", output=tmp_path / "x")
    assert result.anonymity is not None
    assert result.anonymity.quasi_identifiers == ("trial", *QIS)
    frame = pd.read_parquet(tmp_path / "x" / "data.parquet")
    assert k_of(frame, ["trial", *QIS]) >= K
    manifest = json.loads((tmp_path / "x" / "manifest.json").read_text())
    assert manifest["anonymity"]["quasi_identifiers"] == ["trial", *QIS]
    assert manifest["anonymity"]["achieved"]["k_after"] >= K


def test_the_manifest_reports_counts_never_suppressed_values(env: Env, tmp_path: Path) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    code = _add(env, quasi_identifiers=QIS, k=K, l=2, sensitive_attribute="os_event")
    approve_request(env.store, code, expires_on=date(2099, 1, 1))
    result = extract(env.store, code, release="1.0", output=tmp_path / "x")
    manifest = json.loads((tmp_path / "x" / "manifest.json").read_text())
    block = manifest["anonymity"]
    assert result.anonymity is not None and result.anonymity.suppressed > 0
    # no object anywhere in the manifest carries a quasi-identifier as a key (a class's values)
    assert [d for d in _walk(manifest) if set(d) & {"trial", *QIS}] == []
    assert "suppressed_classes" not in block
    bands = block["suppressed_by_class_size"]
    assert sum(b["records"] for b in bands) == block["suppressed"]["total"] == \
        result.anonymity.suppressed
    assert sum(b["classes"] for b in bands) == block["classes"]["suppressed"]
    assert {b["class_size"] for b in bands} <= {"1", "2", "3-4", "5-9", "10-19", "20-49",
                                                  "50+"}
    assert {b["reason"] for b in bands} <= {"k", "l"}
    # the store's record of the extract is the same report
    with env.store.reading() as session:
        row = session.scalars(select(Extract)).one()
        assert row.report["anonymity"] == block


def test_no_k_anonymity_needs_a_justification(env: Env, tmp_path: Path) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    for missing_k in ({}, {"quasi_identifiers": QIS}, {"k": K}, {"k": K,
                                                                  "quasi_identifiers": ["trial"]}):
        with pytest.raises(RequestError, match="without k-anonymity") as err:
            _add(env, **missing_k)
        assert "--k" in err.value.message and "--anonymity-justification" in \
            err.value.message
    with pytest.raises(RequestError, match="justification .* but k"):
        _add(env, quasi_identifiers=QIS, k=K, anonymity_justification="safe haven")
    why = "analysed inside the sponsor's trusted research environment; DUA-2024-7 section 4"
    code = _add(env, anonymity_justification=why)
    info = get_request(env.store, code)
    assert info.anonymity_justification == why and info.to_dict()[
        "anonymity_justification"] == why
    assert any("without k-anonymity" in w for w in info.warnings)
    assert any("real dates" in w for w in info.warnings)
    # k on trial alone is allowed with a justification, and warned about too
    trial_only = get_request(env.store, _add(env, k=K, anonymity_justification=why))
    assert any("k = 3 is checked on trial alone" in w for w in trial_only.warnings)
    approved = approve_request(env.store, code, expires_on=date(2099, 1, 1))
    assert approved.warnings == info.warnings
    result = extract(env.store, code, release="1.0", output=tmp_path / "x")
    assert result.anonymity is None and result.warnings == info.warnings
    manifest = json.loads((tmp_path / "x" / "manifest.json").read_text())
    assert manifest["anonymity"] == {"applied": False, "justification": why,
                                     "warnings": list(info.warnings)}
    assert manifest["request"]["anonymity_justification"] == why


def test_an_older_request_without_k_is_neither_approved_nor_extracted(env: Env,
                                                                       tmp_path: Path) -> None:
    """Requests recorded before the rule (no k, no justification) are stopped at approval and,
    if already approved, at extraction."""
    create_release(env.store, env.inputs(), version="1.0")
    codes = []
    for status in ("submitted", "approved"):
        code = _add(env, anonymity_justification="placeholder")
        with env.store.transaction() as session:  # as the old code recorded it
            row = session.scalars(select(DataRequest).where(DataRequest.code == code)).one()
            row.anonymity_justification = None
            row.status = status
            row.expires_on = date(2099, 1, 1)
        codes.append(code)
    with pytest.raises(RequestError, match="without k-anonymity"):
        approve_request(env.store, codes[0], expires_on=date(2099, 1, 1))
    with pytest.raises(RequestError, match="without k-anonymity"):
        extract(env.store, codes[1], release="1.0", output=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_cli_records_the_justification_and_warns(env: Env, tmp_path: Path) -> None:
    create_release(env.store, env.inputs(), version="1.0")
    base = ["request", "add", "--requestor", "B. Jones", "--institution", "Y", "--purpose",
            "p", "--trials", env.trials[0], "--variables", "age,rand_date", "--dua", "D-1"]
    refused = ipdrepo(env, *base)
    assert refused.exit_code == 5 and "--anonymity-justification" in refused.output
    added = ipdrepo(env, *base, "--anonymity-justification", "aggregate tables only",
                    "--json")
    assert added.exit_code == 0, added.output
    code = json.loads(added.stdout)["code"]
    assert "warning: " in added.stderr and "without k-anonymity" in added.stderr
    approved = ipdrepo(env, "request", "approve", code, "--expires", "2099-01-01")
    assert approved.exit_code == 0 and "warning: " in approved.stderr
    out = ipdrepo(env, "request", "extract", code, "--release", "1.0", "-o",
                  str(tmp_path / "x"))
    assert out.exit_code == 0, out.output
    assert "real dates" in out.stderr
    shown = ipdrepo(env, "request", "show", code, "--json")
    assert json.loads(shown.stdout)["anonymity_justification"] == "aggregate tables only"
