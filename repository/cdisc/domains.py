"""The conventions of SDTM and ADaM datasets a repository needs to know.

* Which datasets hold one row per subject (``DM``, ``ADSL``), which are *long* and what
  identifies their rows within a subject (:func:`row_key`): the keys define.xml declares
  the domain's sequence number (``AESEQ``, ``--SEQ``) when it identifies the rows; else the
  keys define.xml declares (``def:DomainKeys`` in Define-XML 1.0, ``KeySequence`` in 2.x)
  without ``STUDYID`` and ``USUBJID`` (rows sharing them are then a data problem, reported at
  ingest); else ``VISITNUM`` or ``PARAMCD`` when they identify the rows; else the rows are only
  ordered.
* Trial-level datasets (``TA``, ``TS``, ``TE``, ``TI``, ``TV``: no ``USUBJID``) describe the trial,
  not participants (:func:`is_trial_level`).
* ``SUPPxx`` datasets hold supplemental qualifiers of domain ``xx`` as long rows
  (``RDOMAIN``, ``USUBJID``, ``IDVAR``, ``IDVARVAL``, ``QNAM``, ``QLABEL``, ``QVAL``):
  :func:`pivot_supplemental` turns them into columns of the parent domain (one column per
  ``QNAM``, labelled with ``QLABEL``), matched by subject and, where ``IDVAR`` is given, by the
  parent's row (``AESEQ = IDVARVAL``). A qualifier given twice for one row is refused, never
  resolved by picking one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from repository.cdisc.define import DefineDataset
from repository.errors import UnreadableDelivery
from repository.reasons import Reason

__all__ = ["SUBJECT_ID", "SUBJECT_LEVEL", "SUPP_COLUMNS", "is_trial_level", "is_supplemental",
           "parent_of", "row_key", "pivot_supplemental", "looks_like_cdisc"]

#: the subject identifier of SDTM and ADaM datasets
SUBJECT_ID = "USUBJID"
#: datasets with one row per subject
SUBJECT_LEVEL = ("DM", "ADSL")
#: the columns of a SUPPxx dataset
SUPP_COLUMNS = ("RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL")
_SEQ = re.compile(r"^[A-Z]{2}SEQ$")


def looks_like_cdisc(columns: Sequence[str]) -> bool:
    """Whether a dataset's columns are those of an SDTM/ADaM dataset."""
    names = {c.upper() for c in columns}
    return "STUDYID" in names and (SUBJECT_ID in names or "DOMAIN" in names or
                                   any(n.startswith("TS") or n.startswith("TA") for n in names))


def is_trial_level(columns: Sequence[str]) -> bool:
    return SUBJECT_ID not in {c.upper() for c in columns}


def is_supplemental(name: str, columns: Sequence[str]) -> bool:
    names = {c.upper() for c in columns}
    return name.lower().startswith("supp") and set(SUPP_COLUMNS) <= names


def parent_of(name: str) -> str:
    """``suppdm`` -> ``dm``."""
    return name[4:] if name.lower().startswith("supp") else name


def _unique(frame: pd.DataFrame, columns: Sequence[str]) -> bool:
    if any(c not in frame.columns for c in columns):
        return False
    return not frame.duplicated(subset=list(columns), keep=False).any()


def row_key(name: str, frame: pd.DataFrame, *, id_column: str = SUBJECT_ID,
            define: DefineDataset | None = None) -> tuple[str, ...] | None:
    """The columns identifying a row within a subject (see the module docstring); None for a
    dataset with one row per subject."""
    upper = name.upper()
    if upper in SUBJECT_LEVEL or (define is not None and define.repeating is False and
                                  _unique(frame, [id_column])):
        return None
    if _unique(frame, [id_column]) and not (define is not None and define.repeating):
        return None
    seq = [c for c in frame.columns if _SEQ.match(str(c).upper())]
    for c in seq:
        if _unique(frame, [id_column, c]):
            return (str(c),)
    if define is not None and define.keys:
        keys = [k for k in define.keys if k.upper() not in ("STUDYID", id_column.upper())]
        keys = [next((c for c in frame.columns if str(c).upper() == k.upper()), k) for k in keys]
        if keys and all(k in frame.columns for k in keys):
            return tuple(keys)  # declared: rows sharing them are reported at ingest
    for candidate in (["VISITNUM"], ["PARAMCD"], ["PARAMCD", "AVISITN"]):
        if _unique(frame, [id_column, *candidate]):
            return tuple(candidate)
    return ()


def _text(values: pd.Series) -> np.ndarray:
    """Values as canonical text for matching IDVARVAL (``3.0`` -> ``"3"``)."""
    out: list[str | None] = []
    for v in values.to_numpy(dtype=object):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))
        else:
            out.append(str(v).strip())
    return np.array(out, dtype=object)


def pivot_supplemental(parent: pd.DataFrame, supp: pd.DataFrame, *, parent_name: str,
                       supp_name: str, id_column: str = SUBJECT_ID
                       ) -> tuple[pd.DataFrame, dict[str, str]]:
    """``parent`` with one column per qualifier of ``supp`` (see the module docstring), and
    the qualifiers' labels (QNAM -> QLABEL). A qualifier named like a column of the parent is
    added as ``QNAM_SUPP``."""
    cols = {str(c).upper(): c for c in supp.columns}
    q = pd.DataFrame({k: supp[cols[k]] for k in SUPP_COLUMNS if k in cols})
    q["QLABEL"] = supp[cols["QLABEL"]] if "QLABEL" in cols else None
    q["IDVAR"] = q["IDVAR"].fillna("").astype(str).str.strip()
    q["IDVARVAL"] = _text(q["IDVARVAL"])
    q["QNAM"] = q["QNAM"].astype(str).str.strip()
    subject = _text(parent[id_column]) if id_column in parent.columns else \
        np.full(len(parent), None, dtype=object)
    dup = q.duplicated(subset=["USUBJID", "IDVAR", "IDVARVAL", "QNAM"], keep=False)
    if dup.any():
        rows = (np.flatnonzero(dup.to_numpy()) + 1).tolist()
        raise UnreadableDelivery(
            f"{supp_name}: {int(dup.sum())} rows give a qualifier twice for the same "
            f"{parent_name.upper()} record (rows {', '.join(map(str, rows[:10]))}); a "
            "supplemental qualifier has one value per record. Ask the trial to correct "
            f"{supp_name}.", file=supp_name, reason=Reason.SUPPLEMENTAL_DUPLICATES, rows=rows)
    out = parent.copy()
    labels: dict[str, str] = {}
    taken = {str(c).upper() for c in parent.columns}
    for qnam, group in q.groupby("QNAM", sort=False):
        column = str(qnam) if str(qnam).upper() not in taken else f"{qnam}_SUPP"
        labels[column] = next((str(x) for x in group["QLABEL"] if x is not None and
                               str(x).strip()), column)
        values = np.full(len(parent), None, dtype=object)
        for idvar, part in group.groupby("IDVAR", sort=False):
            if not idvar:
                key = pd.Index(_text(part["USUBJID"]), dtype=object)
                pos = key.get_indexer(pd.Index(subject, dtype=object))
            else:
                pcol = next((c for c in parent.columns if str(c).upper() == idvar.upper()), None)
                if pcol is None:
                    raise UnreadableDelivery(
                        f"{supp_name}: IDVAR {idvar} is not a column of {parent_name.upper()}; "
                        f"its qualifiers cannot be attached.", file=supp_name,
                        reason=Reason.SUPPLEMENTAL_IDVAR)
                pair = pd.MultiIndex.from_arrays([_text(part["USUBJID"]), part["IDVARVAL"]])
                target = pd.MultiIndex.from_arrays([subject, _text(parent[pcol])])
                pos = pair.get_indexer(target)
            hit = pos >= 0
            values[hit] = part["QVAL"].to_numpy(dtype=object)[pos[hit]]
        out[column] = values
        taken.add(column.upper())
    return out, labels


def describe(define: DefineDataset | None) -> dict[str, Any]:
    """What a delivery records about a CDISC dataset from define.xml."""
    if define is None:
        return {}
    return {k: v for k, v in {"label": define.label, "class": define.klass,
                              "structure": define.structure,
                              "keys": list(define.keys)}.items() if v}
