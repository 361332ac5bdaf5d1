"""What the commands print: the run report, the profile table, the history table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass



def _print_report(report, as_json: bool) -> None:
    """Print a run's report (a ``RunReport``) as JSON or as the console table."""
    from imbalance_spark.report.render import render_report

    print(report.to_json() if as_json else render_report(report))


def _render_profile(summary) -> str:
    """A ``ProfileSummary`` as the console table ``profile`` prints."""
    lines = [
        f"dataset {summary.dataset}: {summary.degree} imbalance, minority share "
        f"{summary.minority_share:.4%} (minority {', '.join(summary.minority_classes)})",
        f"{'class':<12}{'role':<10}{'rows':>16}{'share':>10}{'factor':>8}",
    ]
    minority = set(summary.minority_classes)
    for key, c in summary.input.classes.items():
        role = "minority" if key in minority else "majority"
        lines.append(f"{key:<12}{role:<10}{c.count:>16,}{c.share:>10.4%}{summary.factors[key]:>8g}")
    if summary.strata is not None:
        lines.extend(_profile_strata_lines(summary.strata))
    if summary.input.null_labels_dropped:
        lines.append(f"null labels dropped: {summary.input.null_labels_dropped:,}")
    lines.append(summary.hint)
    return "\n".join(lines)


def _profile_strata_lines(strata) -> list[str]:
    """Per stratum of a ``StrataSection``: its rows, minority share, degree and majority factors."""
    from imbalance_spark.report.render import SHOWN_STRATA

    lines = [f"per stratum of {strata.columns} ({len(strata.strata)} strata):"]
    for s in strata.strata[:SHOWN_STRATA]:
        factors = {k: round(c.factor, 4) for k, c in s.classes.items() if c.role == "majority"}
        lines.append(
            f"  {s.key}: {s.rows:,} rows, minority share {s.minority_share:.4%} ({s.degree}), factors {factors}"
        )
    if len(strata.strata) > SHOWN_STRATA:
        lines.append(f"  ... and {len(strata.strata) - SHOWN_STRATA} more strata (--json)")
    return lines


def _print_history(spark, cfg, limit: int, as_json: bool, plot: str | None = None) -> int:
    from pyspark.sql import functions as F

    from imbalance_spark.tables.history import STRATUM_COLUMN, class_history, read_history

    df = read_history(spark, cfg.history)
    if df is None:
        print(f"no history yet for {cfg.dataset}")
        return 0
    from imbalance_spark.figures.history import plot_history

    # the drift picture is of whole-table class shares (a stratified run's stratum rows left out)
    if plot and plot_history(class_history(df), cfg.dataset, plot) is None:
        print(f"no history yet for {cfg.dataset}")
        return 0
    stratified = STRATUM_COLUMN in df.columns
    order = [F.col("recorded_at").desc(), *([F.col(STRATUM_COLUMN).asc_nulls_first()] if stratified else [])]
    rows = df.filter(F.col("dataset") == cfg.dataset).orderBy(*order, F.col("class")).limit(limit).collect()
    if as_json:
        print(json.dumps([r.asDict() for r in rows], indent=2, default=str))
        return 0
    print(
        f"{'recorded_at':<21}{'run_date':<12}{'class':<10}{'input':>12}{'share':>10}{'degree':>10}"
        f"{'output':>12}{'weight_sum':>14}{'factor':>8}" + ("  stratum" if stratified else "")
    )
    for r in rows:
        stratum = f"  {r[STRATUM_COLUMN] or '(all)'}" if stratified else ""
        output = f"{r.output_count:>12,}" if r.output_count is not None else f"{'-':>12}"
        print(
            f"{r.recorded_at:%Y-%m-%d %H:%M:%S}  {str(r.run_date or '-'):<12}{r['class']:<10}{r.input_count:>12,}"
            f"{r.share:>10.4%}{r.degree:>10}{output}{r.weight_sum:>14,.1f}{r.factor:>8.4g}{stratum}"
        )
    if plot:
        print(f"picture of the class drift: {plot} (its numbers: {Path(plot).with_suffix('.json')})")
    return 0
