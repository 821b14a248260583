"""The PRISMA-IPD flow: from trials identified to participants analysed per outcome.

Built from the store's trial registry (each trial's ``ipd_status`` -- sought, obtained,
not_obtained, not_sought -- and ``ipd_status_reason``) and one release (participants with IPD,
and per outcome of the release's dictionary the participants analysed and excluded for a missing
outcome). :func:`flow_from` is the pure core; :func:`prisma_flow` reads the store and release.

A trial counts as *IPD obtained* when its status is ``obtained`` or the release holds its
records; a trial still ``sought`` with no records counts as *not obtained* with the reason
"awaiting data" (unless a reason is recorded). For an outcome, a participant is *analysed*
when every variable the outcome needs is present: ``time`` and ``event`` for time to event
(or ``origin`` and one of ``event_date`` / ``censor_date``), ``variable`` otherwise.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from repository import audit
from repository.errors import ReleaseError
from repository.roles import require
from repository.store import Store
from repository.trials import get_trial, list_trials

__all__ = ["IPD_STATUSES", "PrismaFlow", "flow_from", "prisma_flow", "set_ipd_status",
           "outcome_mask"]

IPD_STATUSES = ("sought", "obtained", "not_obtained", "not_sought")
TRIAL_COLUMNS = ["trial", "ipd_status", "flow", "reason", "randomised_published",
                 "participants"]
OUTCOME_COLUMNS = ["outcome", "kind", "trials_analysed", "participants", "analysed",
                   "excluded", "excluded_reason", "trials_without_data"]
FLOW_COLUMNS = ["stage", "trials", "participants", "detail"]


def set_ipd_status(store: Store, trial: str, status: str, *, reason: str | None = None,
                   topic: str | None = None) -> dict[str, Any]:
    """Record whether IPD of ``trial`` were sought/obtained (with the reason when not)."""
    if status not in IPD_STATUSES:
        raise ReleaseError(f"IPD status {status!r} is not one of {', '.join(IPD_STATUSES)}.",
                           trial=trial, status=status)
    if status in ("not_obtained", "not_sought") and not (reason and reason.strip()):
        raise ReleaseError(f"trial {trial}: say why IPD were {status.replace('_', ' ')} "
                           "(--reason), PRISMA-IPD reports it.", trial=trial, status=status)
    with store.transaction() as session:
        require(session, store.settings.actor, "store.write")
        topic_row = store.topic(session, topic)
        row = get_trial(session, topic_row, trial)
        before = {"ipd_status": row.ipd_status, "reason": row.ipd_status_reason}
        row.ipd_status, row.ipd_status_reason = status, (reason.strip() if reason else None)
        audit.append(session, actor=store.settings.actor, action="trial.ipd_status",
                     topic=topic_row.slug, entity_type="trial", entity_id=row.acronym,
                     details={"from": before, "to": {"ipd_status": status, "reason": reason}})
        return {"trial": row.acronym, "ipd_status": status, "reason": row.ipd_status_reason}


def outcome_mask(frame: pd.DataFrame, outcome: Mapping[str, Any]) -> tuple[pd.Series, str]:
    """Which rows can be analysed for ``outcome``, and the exclusion reason for the rest."""
    def present(name: str | None) -> pd.Series:
        if not name or name not in frame.columns:
            return pd.Series(False, index=frame.index)
        return frame[name].notna()

    if outcome.get("kind") == "time_to_event" and not outcome.get("time"):
        mask = present(outcome.get("origin")) & (present(outcome.get("event_date"))
                                                 | present(outcome.get("censor_date")))
        needed = [outcome.get("origin"), f"{outcome.get('event_date')} or "
                                         f"{outcome.get('censor_date')}"]
    elif outcome.get("kind") == "time_to_event":
        mask = present(outcome.get("time"))
        needed = [outcome.get("time")]
        if outcome.get("event"):
            mask &= present(outcome.get("event"))
            needed.append(outcome.get("event"))
    else:
        mask = present(outcome.get("variable"))
        needed = [outcome.get("variable")]
    return mask, "missing " + " / ".join(str(n) for n in needed if n)


@dataclass(frozen=True, eq=False)
class PrismaFlow:
    """A PRISMA-IPD flow.

    ``summary``: stage, trials, participants, detail (the boxes of the diagram, top to bottom).
    ``trials``: trial, ipd_status (as recorded), flow (obtained / not obtained / not sought),
    reason, randomised_published, participants (in the release). ``outcomes``: outcome, kind,
    trials_analysed, participants, analysed, excluded, excluded_reason, trials_without_data.
    """

    topic: str
    release: str | None
    trials: pd.DataFrame = field(repr=False)
    outcomes: pd.DataFrame = field(repr=False)

    # -- numbers ---------------------------------------------------------------------------
    def _by_flow(self, flow: str) -> pd.DataFrame:
        return self.trials[self.trials["flow"] == flow]

    @property
    def counts(self) -> dict[str, Any]:
        t = self.trials
        obtained, not_obt, not_sought = (self._by_flow("obtained"),
                                         self._by_flow("not obtained"),
                                         self._by_flow("not sought"))

        def reasons(frame: pd.DataFrame) -> dict[str, int]:
            counts = frame["reason"].fillna("no reason recorded").value_counts()
            return {str(k): int(v) for k, v in sorted(counts.items())}

        return {
            "trials_identified": len(t),
            "ipd_sought": len(t) - len(not_sought),
            "ipd_not_sought": len(not_sought),
            "ipd_not_sought_reasons": reasons(not_sought),
            "ipd_obtained": len(obtained),
            "ipd_not_obtained": len(not_obt),
            "ipd_not_obtained_reasons": reasons(not_obt),
            "participants_with_ipd": int(obtained["participants"].sum()),
            "randomised_in_trials_not_obtained": int(
                not_obt["randomised_published"].fillna(0).sum()),
        }

    @property
    def summary(self) -> pd.DataFrame:
        c = self.counts
        rows = [
            ("Trials identified", c["trials_identified"], None, ""),
            ("IPD not sought", c["ipd_not_sought"], None,
             "; ".join(f"{k} ({v})" for k, v in c["ipd_not_sought_reasons"].items())),
            ("IPD sought", c["ipd_sought"], None, ""),
            ("IPD not obtained", c["ipd_not_obtained"],
             c["randomised_in_trials_not_obtained"] or None,
             "; ".join(f"{k} ({v})" for k, v in c["ipd_not_obtained_reasons"].items())),
            ("IPD obtained", c["ipd_obtained"], c["participants_with_ipd"],
             f"participants with IPD{' in release ' + self.release if self.release else ''}"),
        ]
        for o in self.outcomes.itertuples(index=False):
            rows.append((f"Analysed: {o.outcome}", o.trials_analysed, o.analysed,
                         f"{o.kind}"))
            rows.append((f"Excluded: {o.outcome}", None, o.excluded, o.excluded_reason))
        return pd.DataFrame(rows, columns=FLOW_COLUMNS).astype(
            {"trials": "Int64", "participants": "Int64"})

    def to_dict(self) -> dict[str, Any]:
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v))
                     for k, v in r.items()} for r in frame.to_dict(orient="records")]

        return {"topic": self.topic, "release": self.release, "counts": self.counts,
                "flow": records(self.summary), "trials": records(self.trials),
                "outcomes": records(self.outcomes)}

    def __repr__(self) -> str:
        c = self.counts
        return (f"PrismaFlow({self.topic}, release={self.release}: {c['trials_identified']} "
                f"trials, {c['ipd_obtained']} with IPD, {c['participants_with_ipd']} "
                "participants)")

    def _repr_html_(self) -> str:
        from repository.html import Markup, fragment, table

        # the SVG is matplotlib's drawing of the counts and trial names (text escaped by it)
        return str(fragment("versions/prisma.html.j2", topic=self.topic, release=self.release,
                            flow=table(self.summary), svg=Markup(self.to_svg().decode())))

    # -- diagram ---------------------------------------------------------------------------
    def figure(self) -> Any:
        """A matplotlib figure of the flow: the main boxes down the left, exclusions right."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyBboxPatch

        c = self.counts
        outcomes = list(self.outcomes.itertuples(index=False))
        n_rows = 3 + len(outcomes)
        fig = Figure(figsize=(9.5, 1.1 * n_rows + 0.7))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, 10)
        ax.set_ylim(n_rows - (n_rows - 1) - 0.55, n_rows + 0.85)
        ax.axis("off")

        def box(x: float, y: float, w: float, text: str, color: str = "#eef3fb") -> None:
            ax.add_patch(FancyBboxPatch((x, y - 0.38), w, 0.76,
                                        boxstyle="round,pad=0.02,rounding_size=0.08",
                                        fc=color, ec="#335", lw=1))
            ax.text(x + w / 2, y, text, ha="center", va="center", fontsize=8.5, wrap=True)

        def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops={"arrowstyle": "->", "color": "#335", "lw": 1})

        def reasons(d: Mapping[str, int]) -> str:
            return "\n".join(f"{k}: {v}" for k, v in list(d.items())[:4])

        y = n_rows
        left, lw, right, rw = 0.3, 4.6, 5.4, 4.3
        for stage, left_out, key in (
                (f"Trials identified\n(k = {c['trials_identified']})", "IPD not sought",
                 "ipd_not_sought"),
                (f"IPD sought\n(k = {c['ipd_sought']})", "IPD not obtained",
                 "ipd_not_obtained")):
            box(left, y, lw, stage)
            box(right, y, rw, f"{left_out} (k = {c[key]})\n" + reasons(c[f"{key}_reasons"]),
                "#f7f0e6")
            arrow(left + lw, y, right, y)
            arrow(left + lw / 2, y - 0.38, left + lw / 2, y - 0.62)
            y -= 1
        box(left, y, lw, f"IPD obtained\n(k = {c['ipd_obtained']} trials, "
                         f"n = {c['participants_with_ipd']} participants)", "#e6f4ea")
        if outcomes:
            arrow(left + lw / 2, y - 0.38, left + lw / 2, y - 0.62)
        for o in outcomes:
            y -= 1
            box(left, y, lw, f"{o.outcome} ({o.kind}): analysed\n(k = {o.trials_analysed}, "
                             f"n = {o.analysed})", "#e6f4ea")
            box(right, y, rw, f"Excluded from {o.outcome}: n = {o.excluded}\n"
                              f"({o.excluded_reason})", "#f7f0e6")
            arrow(left + lw, y, right, y)
        title = f"PRISMA-IPD flow: {self.topic}" + (f", release {self.release}"
                                                    if self.release else "")
        ax.text(5, n_rows + 0.6, title, ha="center", va="center", fontsize=10,
                fontweight="bold")
        return fig

    def to_svg(self, path: str | Path | None = None) -> bytes:
        """The diagram as SVG (deterministic: no date, fixed hash salt); written to ``path``
        when given."""
        import matplotlib

        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "ipdrepo", "svg.fonttype": "none"}):
            self.figure().savefig(buf, format="svg", metadata={"Date": None})
        data = buf.getvalue()
        if path is not None:
            Path(path).write_bytes(data)
        return data

    def to_png(self, path: str | Path | None = None, *, dpi: int = 150) -> bytes:
        buf = io.BytesIO()
        self.figure().savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
        data = buf.getvalue()
        if path is not None:
            Path(path).write_bytes(data)
        return data


def flow_from(trials: Sequence[Mapping[str, Any]], *, topic: str,
              frame: pd.DataFrame | None = None,
              outcomes: Sequence[Mapping[str, Any]] = (),
              release: str | None = None) -> PrismaFlow:
    """The flow from trial records (``trial``, ``ipd_status``, ``reason``,
    ``randomised_published``), a release frame and the dictionary's outcomes (pure)."""
    per_trial = (frame.groupby(frame["trial"].astype(str)).size().to_dict()
                 if frame is not None else {})
    rows = []
    for t in trials:
        name, status = str(t["trial"]), str(t.get("ipd_status") or "sought")
        n = int(per_trial.get(name, 0))
        reason = t.get("reason")
        if status == "not_sought":
            flow = "not sought"
        elif status == "obtained" or n > 0:
            flow, reason = "obtained", (reason if status == "obtained" else None)
        else:
            flow = "not obtained"
            if status == "sought" and not reason:
                reason = "awaiting data"
        rows.append({"trial": name, "ipd_status": status, "flow": flow, "reason": reason,
                     "randomised_published": t.get("randomised_published"),
                     "participants": n})
    known = {r["trial"] for r in rows}
    for name, n in sorted(per_trial.items()):
        if name not in known:  # in the release but not in the registry: still identified
            rows.append({"trial": name, "ipd_status": "obtained", "flow": "obtained",
                         "reason": "not in the trial registry", "randomised_published": None,
                         "participants": int(n)})
    trial_frame = pd.DataFrame(rows, columns=TRIAL_COLUMNS).astype(
        {"randomised_published": "Int64", "participants": "int64"})
    out = []
    if frame is not None:
        for o in outcomes:
            mask, reason = outcome_mask(frame, o)
            analysed_trials = frame.loc[mask, "trial"].astype(str).unique()
            with_data = frame["trial"].astype(str).unique()
            out.append({"outcome": o.get("name"), "kind": o.get("kind"),
                        "trials_analysed": len(analysed_trials), "participants": len(frame),
                        "analysed": int(mask.sum()), "excluded": int((~mask).sum()),
                        "excluded_reason": reason,
                        "trials_without_data": ", ".join(sorted(set(with_data)
                                                                - set(analysed_trials)))})
    return PrismaFlow(topic=topic, release=release, trials=trial_frame,
                      outcomes=pd.DataFrame(out, columns=OUTCOME_COLUMNS))


def prisma_flow(store: Store, *, release: str | None = None,
                topic: str | None = None) -> PrismaFlow:
    """The flow of the store's topic; participants and outcomes from ``release`` (default:
    the latest release; without any release only the trial counts are filled in)."""
    from versions.dataset import read_parquet_bytes
    from versions.releases import list_releases, release_bytes

    with store.reading() as session:
        require(session, store.settings.actor, "releases.read")
        topic_row = store.topic(session, topic)
        slug = topic_row.slug
        trials = [{"trial": t.acronym, "ipd_status": t.ipd_status,
                   "reason": t.ipd_status_reason,
                   "randomised_published": t.randomised_published}
                  for t in list_trials(session, topic_row)]
    if release is None:
        known = list_releases(store, topic=slug).releases
        release = known[-1].version if known else None
    if release is None:
        return flow_from(trials, topic=slug)
    info, data = release_bytes(store, release, topic=slug)
    return flow_from(trials, topic=slug, frame=read_parquet_bytes(data),
                     outcomes=info.manifest["dictionary"].get("outcomes", []),
                     release=info.version)
