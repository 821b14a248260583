"""Input and output for ``ipdrepo analyse``: reading a file or a release with its provenance,
the figure options every command shares, and writing figures, tables and reports.

Kept apart from :mod:`analyses.cli` (which only declares the commands) so that the commands
stay short; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from analyses.errors import AnalysisProblem, Reason
from analyses.provenance import DataSource, file_source, release_source

if TYPE_CHECKING:  # pandas is imported when data are read, not for --help
    import pandas as pd

__all__ = ["read_data", "read_table", "figure_options", "FigureArgs", "write_outputs",
           "parse_at"]

F = TypeVar("F", bound=Callable[..., Any])


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV/TSV/parquet file or ``release:VERSION`` (``release:TOPIC@VERSION``) as a frame."""
    return read_data(path)[0]


def read_data(path: str | Path) -> tuple[pd.DataFrame, DataSource]:
    """The data and where they came from (a release's version and hash, or a file's hash)."""
    if str(path).startswith("release:"):
        return _read_release(str(path).removeprefix("release:"))
    p = Path(path)
    if not p.is_file():
        raise AnalysisProblem(f"{p} does not exist; give a .csv or .parquet file, or a released "
                              "version as release:VERSION.", reason=Reason.UNREADABLE,
                              file=str(p))
    import pandas as pd

    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p), file_source(p)
        if suffix in (".csv", ".txt"):
            return pd.read_csv(p), file_source(p)
        if suffix in (".tsv", ".tab"):
            return pd.read_csv(p, sep="\t"), file_source(p)
    except (OSError, ValueError) as exc:
        raise AnalysisProblem(f"cannot read {p}: {exc}", reason=Reason.UNREADABLE, file=str(p)) from exc
    raise AnalysisProblem(f"{p}: unknown file type {suffix!r}; give a .csv or .parquet file",
                        reason=Reason.UNREADABLE, file=str(p))


def _read_release(spec: str) -> tuple[pd.DataFrame, DataSource]:
    """A release of the workspace's store: analysts and curators; the bytes are checked
    against the release manifest (versions' public API, read only)."""
    from repository.cli._common import get_settings
    from repository.store import Store
    from versions import get_release, show_release

    topic, _, version = spec.rpartition("@")
    with Store.open(get_settings()) as store:
        info = show_release(store, version, topic=topic or None)
        data = get_release(store, version, topic=topic or None)
    return data, release_source(info.topic, info.version, info.data_sha256)


# ------------------------------------------------------------------------ figure options
def parse_at(text: str | None) -> tuple[float, ...] | None:
    """``"0.25,0.5,1,2"`` -> ticks."""
    if not text:
        return None
    try:
        return tuple(float(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError as exc:
        raise click.BadParameter(f"--at takes numbers separated by commas, not {text!r}") from exc


@dataclass(frozen=True)
class FigureArgs:
    title: str | None
    favours: tuple[str, str] | None
    order: str
    at: tuple[float, ...] | None
    common: bool
    arm_labels: tuple[str, str] | None

    def forest_kwargs(self, source: DataSource | None) -> dict[str, Any]:
        kw: dict[str, Any] = {"title": self.title, "favours": self.favours,
                              "order": self.order, "at": self.at, "common": self.common,
                              "source": source.caption() if source else None}
        if self.arm_labels:
            kw["arm_labels"] = self.arm_labels
        return kw


def figure_options(f: F) -> F:
    """--title, --favours, --order, --at, --common, --arm-labels."""
    options = [
        click.option("--title", help="Title of the figures and the report."),
        click.option("--favours", nargs=2, metavar="LEFT RIGHT",
                     help="Labels under the forest plot's axis, left then right of the null "
                          "line, e.g. --favours 'Favours chemotherapy' 'Favours surgery'."),
        click.option("--order", default="given", show_default=True,
                     help="Trial order in the forest plot: given, weight, effect, or a "
                          "per-trial column (e.g. n)."),
        click.option("--at", "at_", metavar="TICKS",
                     help="Forest plot axis ticks, comma-separated (default for ratios: "
                          "0.25,0.5,1,2,4 widened to the data)."),
        click.option("--common", is_flag=True,
                     help="Also draw the common-effect diamond under the random-effects one."),
        click.option("--arm-labels", nargs=2, metavar="TREATED CONTROL",
                     help="Column headings for the arms (default: Treatment Control)."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def figure_args(kw: dict[str, Any]) -> FigureArgs:
    """Pop the figure options from a command's keyword arguments."""
    return FigureArgs(title=kw.pop("title"), favours=kw.pop("favours") or None,
                      order=kw.pop("order"), at=parse_at(kw.pop("at_")),
                      common=kw.pop("common"), arm_labels=kw.pop("arm_labels") or None)


# ------------------------------------------------------------------------ outputs
def write_outputs(res: Any, *, fig: FigureArgs, source: DataSource | None,
                  default_title: str, forest: str | None = None, report: str | None = None,
                  table: str | None = None, diagnostics: Any = None, funnel: str | None = None,
                  baujat: str | None = None) -> None:
    """Write the figures, table and report asked for."""
    title = fig.title or default_title
    if forest:
        from analyses.forest import forest_plot

        forest_plot(res, path=forest, **{**fig.forest_kwargs(source), "title": title})
    if table:
        from analyses.tables import results_table

        results_table(res, labels=fig.arm_labels or ("Treatment", "Control"),
                      title=title).save(table)
    if report:
        from analyses.report import write_report

        write_report(res, report, title=title, source=source,
                     arm_labels=fig.arm_labels or ("Treatment", "Control"))
    caption = source.caption() if source else None
    if funnel or baujat:
        if diagnostics is None:
            from analyses.diagnostics import diagnose

            diagnostics = diagnose(res)
        if funnel:
            from analyses.diagnostic_plots import funnel_plot

            funnel_plot(diagnostics.result, trimfill=diagnostics.trimfill, path=funnel,
                        title=f"Funnel plot: {title}" if fig.title else None, source=caption)
        if baujat:
            diagnostics.plot("baujat", path=baujat, source=caption)
