"""Tables people paste into papers: baseline characteristics and results, in five formats.

A :class:`Table` is a title, a frame of display strings with journal column headers (no
internal column names), optional section rows and footnotes. It writes itself as CSV,
Excel (``.xlsx``), Word (``.docx``, python-docx), LaTeX (``.tex``, booktabs) and HTML
(:meth:`Table.save` picks by suffix).

* :func:`baseline_table` - characteristics by arm (and total), optionally per trial:
  continuous variables as mean (SD) or median [IQR], categorical ones as n (%) per level,
  missing values counted;
* :func:`results_table` - a pooled or two-stage result: each trial's events/N per arm, the
  effect with its confidence interval and weight, then the pooled rows, heterogeneity and the
  test of the overall effect (p-values written as journals do: :mod:`analyses.formatting`).

Example::

    baseline_table(data, treatment="arm", variables=["age", "sex", "t_stage"],
                   labels=("Chemotherapy", "Surgery alone")).save("table1.docx")
    results_table(two_stage_result).save("table2.xlsx")
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analyses.checks import require_columns
from analyses.errors import AnalysisProblem, Reason, writing
from analyses.formatting import fmt_ci, fmt_i2, fmt_p, is_ratio, minus, tau2_text

if TYPE_CHECKING:
    from markupsafe import Markup

__all__ = ["Table", "baseline_table", "results_table", "TABLE_FORMATS"]

#: Suffixes :meth:`Table.save` writes.
TABLE_FORMATS: tuple[str, ...] = (".csv", ".xlsx", ".docx", ".tex", ".html")


_FORMULA = re.compile(r"[=@\t\r]|[+-].*([A-Za-z_][A-Za-z0-9_.]*\s*\(|!)", re.DOTALL)


def _not_a_formula(value: object) -> object:
    """Text a spreadsheet would run as a formula when it opens the CSV (``=HYPERLINK(...)``,
    ``@SUM(...)``, ``-1+CMD(...)``), with an apostrophe first (OWASP's advice against formula
    injection); numbers and estimates such as ``-0.12 (-0.30, 0.05)`` unchanged."""
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value


@dataclass(frozen=True)
class Table:
    """A display table. ``sections`` marks rows (by position) that are headings: in those
    rows only the first cell is shown, bold, across the table."""

    title: str
    frame: pd.DataFrame
    notes: tuple[str, ...] = ()
    sections: tuple[int, ...] = ()

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            return f"{self.title}\n{self.frame.to_string(index=False)}" + "".join(
                f"\n{n}" for n in self.notes)

    # --------------------------------------------------------------- formats
    def to_csv(self, path: str | Path) -> Path:
        p = Path(path)
        self.frame.map(_not_a_formula).to_csv(p, index=False)
        return p

    def to_excel(self, path: str | Path) -> Path:
        from openpyxl.styles import Font

        p = Path(path)
        with pd.ExcelWriter(p, engine="openpyxl") as xl:
            self.frame.to_excel(xl, index=False, startrow=2, sheet_name="Table")
            ws = xl.sheets["Table"]
            ws.cell(row=1, column=1, value=self.title).font = Font(bold=True, size=12)
            for i in self.sections:
                ws.cell(row=4 + i, column=1).font = Font(bold=True)
            for j, note in enumerate(self.notes):
                ws.cell(row=5 + len(self.frame) + j, column=1, value=note)
            for row in ws.iter_rows():
                for cell in row:  # text from the data is never a formula
                    if isinstance(cell.value, str) and cell.value.startswith("="):
                        cell.data_type = "s"
            for col in ws.columns:
                width = max(len(str(c.value or "")) for c in col[2:]) if len(col) > 2 else 10
                ws.column_dimensions[col[0].column_letter].width = min(max(width + 2, 8), 60)
        return p

    def to_docx(self, path: str | Path) -> Path:
        import docx
        from docx.shared import Pt

        p = Path(path)
        doc = docx.Document()
        head = doc.add_paragraph()
        run = head.add_run(self.title)
        run.bold = True
        table = doc.add_table(rows=1 + len(self.frame), cols=len(self.frame.columns))
        for j, name in enumerate(self.frame.columns):
            cell = table.cell(0, j)
            cell.text = str(name)
            cell.paragraphs[0].runs[0].bold = True
        for i, row in enumerate(self.frame.itertuples(index=False), start=1):
            for j, value in enumerate(row):
                if (i - 1) in self.sections and j > 0:
                    continue
                table.cell(i, j).text = str(value)
                if (i - 1) in self.sections:
                    table.cell(i, j).paragraphs[0].runs[0].bold = True
        for note in self.notes:
            para = doc.add_paragraph(note)
            para.runs[0].font.size = Pt(8)
        doc.save(str(p))
        return p

    def to_latex(self) -> str:
        cols = list(self.frame.columns)
        spec = "l" + "r" * (len(cols) - 1)
        lines = [f"% {self.title}", f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
                 " & ".join(_tex(c) for c in cols) + " \\\\", "\\midrule"]
        for i, row in enumerate(self.frame.itertuples(index=False)):
            if i in self.sections:
                lines.append(f"\\multicolumn{{{len(cols)}}}{{l}}{{\\textbf{{{_tex(row[0])}}}}} \\\\")
            else:
                lines.append(" & ".join(_tex(v) for v in row) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}"]
        lines += [f"% {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """The table as an HTML fragment (``templates/analyses/results_table.html.j2``, in the
        classes of the shared stylesheet); every title, header, cell and note escaped once."""
        return str(self.html())

    def html(self) -> Markup:
        """:meth:`to_html` as :class:`~repository.html.Markup`, to put into a page."""
        from repository.html import fragment

        rows = [(i in self.sections, tuple(str(v) for v in row))
                for i, row in enumerate(self.frame.itertuples(index=False))]
        return fragment("analyses/results_table.html.j2", title=self.title,
                        columns=[str(c) for c in self.frame.columns], rows=rows,
                        notes=self.notes)

    def save(self, path: str | Path) -> Path:
        """Write by suffix: .csv, .xlsx, .docx, .tex or .html."""
        p = Path(path)
        suffix = p.suffix.lower()
        writers = {".csv": self.to_csv, ".xlsx": self.to_excel, ".docx": self.to_docx,
                   ".tex": self._write_text, ".html": self._write_text,
                   ".htm": self._write_text}
        if suffix not in writers:
            raise AnalysisProblem(f"cannot write a table as {p.name!r}: use "
                                  f"{', '.join(TABLE_FORMATS)}", reason=Reason.BAD_OPTION,
                                  file=str(p))
        with writing(p, "the table"):
            return writers[suffix](p)

    def _write_text(self, p: Path) -> Path:
        p.write_text(self.to_latex() if p.suffix.lower() == ".tex" else self.to_html(),
                     encoding="utf-8")
        return p


_TEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
        "\u2212": "$-$", "\u00b2": "$^2$", "\u03c4": r"$\tau$", "\u2264": r"$\le$",
        "\u00b1": r"$\pm$", "<": r"$<$", ">": r"$>$"}


def _tex(value: Any) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(value))


# ------------------------------------------------------------------------ baseline table
def _continuous(x: pd.Series, how: str) -> str:
    x = pd.to_numeric(x, errors="coerce").dropna()
    if x.empty:
        return ""
    if how == "median":
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        return f"{med:.1f} [{q1:.1f}, {q3:.1f}]"
    return f"{x.mean():.1f} ({x.std(ddof=1):.1f})" if len(x) > 1 else f"{x.mean():.1f}"


def _natural(value: Any) -> tuple[int, float, str]:
    """Sort key: numbers (also numbers written as text) first, in numeric order."""
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def _is_categorical(s: pd.Series, categorical: Sequence[str]) -> bool:
    return (s.name in categorical or not pd.api.types.is_numeric_dtype(s)
            or s.dropna().nunique() <= 5)


def _variable_rows(data: pd.DataFrame, var: str, groups: list[pd.Series], how: str,
                   categorical: Sequence[str]) -> list[list[str]]:
    col = data[var]
    rows: list[list[str]] = []
    if _is_categorical(col, categorical):
        levels = sorted(col.dropna().unique(), key=_natural)
        rows.append([f"{var}, n (%)"] + [""] * len(groups))
        for lev in levels:
            cells = []
            for g in groups:
                sub = col[g]
                n = int((sub == lev).sum())
                denom = int(sub.notna().sum())
                cells.append(f"{n} ({100 * n / denom:.1f})" if denom else "0")
            rows.append([f"  {lev}"] + cells)
    else:
        label = f"{var}, median [IQR]" if how == "median" else f"{var}, mean (SD)"
        rows.append([label] + [_continuous(col[g], how) for g in groups])
    miss = [int(col[g].isna().sum()) for g in groups]
    if any(miss):
        rows.append(["  missing"] + [str(m) for m in miss])
    return rows


def baseline_table(data: pd.DataFrame, *, treatment: str, variables: Sequence[str],
                   treated_value: Any = 1, labels: tuple[str, str] = ("Treatment", "Control"),
                   trial: str | None = None, by_trial: bool = False,
                   categorical: Sequence[str] = (), continuous: str = "mean",
                   title: str = "Baseline characteristics by arm") -> Table:
    """Characteristics by arm and overall (see the module docstring); ``by_trial`` repeats
    the table within each trial (needs ``trial``). Numeric columns with at most five values
    (and those in ``categorical``) are shown as categories."""
    from analyses.ipd_frame import matches_value

    require_columns(data, [treatment, *variables, *([trial] if trial else [])])
    if by_trial and trial is None:
        raise AnalysisProblem("by_trial needs the trial column", reason=Reason.MISSING_OPTION)
    if continuous not in ("mean", "median"):
        raise AnalysisProblem("continuous must be 'mean' or 'median'", reason=Reason.BAD_OPTION)
    blocks = [("", data)] if not by_trial else [
        (f"Trial {k}", data[data[trial] == k]) for k in pd.unique(data[str(trial)])]
    rows: list[list[str]] = []
    sections: list[int] = []
    for heading, part in blocks:
        treated = matches_value(part[treatment], treated_value)
        groups = [treated, ~treated, pd.Series(True, index=part.index)]
        if heading:
            sections.append(len(rows))
            rows.append([heading, "", "", ""])
        rows.append(["Participants, n"] + [str(int(g.sum())) for g in groups])
        for var in variables:
            rows += _variable_rows(part, var, groups, continuous, categorical)
    frame = pd.DataFrame(rows, columns=["Characteristic", labels[0], labels[1], "Total"])
    return Table(title=title, frame=frame, sections=tuple(sections),
                 notes=("Mean (SD) or median [IQR] for continuous, n (%) of those with a "
                        "value for categorical characteristics.",))


# ------------------------------------------------------------------------ results table
def _arm(r: pd.Series, arm: str) -> str:
    ev, n = r.get(f"events_{arm}"), r.get(f"n_{arm}")
    if n is None or n is pd.NA or (isinstance(n, float) and math.isnan(n)):
        return ""
    if ev is None or ev is pd.NA or (isinstance(ev, float) and math.isnan(ev)):
        return f"{int(n)}"
    return f"{int(ev)}/{int(n)}"


def _effect(est: float, lo: float, hi: float, ratio: bool) -> str:
    tr = math.exp if ratio else (lambda v: v)
    return minus(fmt_ci(tr(est), tr(lo), tr(hi)))


def results_table(result: Any, *, labels: tuple[str, str] = ("Treatment", "Control"),
                  title: str | None = None) -> Table:
    """Per-trial and pooled effects of a two-stage or pooled result (module docstring)."""
    from analyses.pooling import PoolResult
    from analyses.two_stage import TwoStageResult

    measure: str | None
    if isinstance(result, TwoStageResult):
        pooled, per = result.pooled, result.per_trial
        measure = result.measure
    elif isinstance(result, PoolResult):
        pooled, measure = result, result.measure
        per = result.studies.rename(columns={"study": "trial", "yi": "estimate"})
    else:
        raise AnalysisProblem(f"cannot tabulate a {type(result).__name__}; give a pooled or "
                            "two-stage result", reason=Reason.WRONG_TYPE)
    ratio = is_ratio(measure)
    code = {"PETO": "OR", "RMSTD": "RMST difference"}.get((measure or "").upper(),
                                                         measure or "Estimate")
    head = f"{code} ({pooled.level:g}% CI)"
    rows = []
    for _, r in per.iterrows():
        rows.append([str(r["trial"]), _arm(r, "treated"), _arm(r, "control"),
                     _effect(r["estimate"], r["ci_low"], r["ci_high"], ratio),
                     f"{r['weight']:.1f}" if pd.notna(r.get("weight")) else ""])
    totals = [f"{int(per[f'events_{a}'].sum())}/{int(per[f'n_{a}'].sum())}"
              if f"events_{a}" in per and per[f"events_{a}"].notna().any() else ""
              for a in ("treated", "control")]
    model = {"FE": "Common effect", "MH": "Mantel-Haenszel", "Peto": "Peto"}.get(
        pooled.method, f"Random effects ({pooled.method})")
    rows.append([f"Pooled: {model}", *totals,
                 _effect(pooled.estimate, pooled.ci[0], pooled.ci[1], ratio), "100.0"])
    frame = pd.DataFrame(rows, columns=["Trial", f"{labels[0]}, events/N",
                                        f"{labels[1]}, events/N", head, "Weight (%)"])
    het = f"Heterogeneity: I\u00b2 = {fmt_i2(pooled.I2)}"
    if pooled.tau2 is not None:
        het += f", {tau2_text(pooled.tau2)}"
    het += f", Q = {pooled.Q:.2f} on {pooled.Q_df} df ({fmt_p(pooled.Q_p)})."
    overall = f"Test of the overall effect: {fmt_p(pooled.p)}."
    return Table(title=title or "Treatment effect by trial and pooled", frame=frame,
                 notes=(het, overall))
