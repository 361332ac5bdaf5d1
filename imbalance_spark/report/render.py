"""The run report as a readable console table.
"""

from __future__ import annotations

from imbalance_spark.report.models import OutputClass, RunReport, StratumReport

# The console shows this many strata's class tables (the JSON report holds them all).
SHOWN_STRATA = 20


def _fmt_num(x: float) -> str:
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e15):
        return f"{int(x):,}"
    return f"{x:,.2f}"


def _class_lines(report: RunReport) -> list[str]:
    lines = [
        f"{'class':<12}{'role':<10}{'factor':>8}{'input rows':>16}{'share':>10}"
        f"{'output rows':>16}{'expected':>14}{'weight sum':>18}",
    ]
    minority = set(report.minority_classes)
    for key in report.classes:
        i = report.input.classes[key]
        o = report.output.classes.get(key, OutputClass(count=0, expected_count=0, weight_sum=0.0))
        lines.append(
            f"{key:<12}{'minority' if key in minority else 'majority':<10}"
            f"{report.factors[key]:>8.4g}{i.count:>16,}{i.share:>10.4%}"
            f"{o.count:>16,}{o.expected_count:>14,.0f}{_fmt_num(o.weight_sum):>18}"
        )
    lines.append(f"{'total':<12}{'':<10}{'':>8}{report.input.rows:>16,}{1:>10.0%}{report.output.rows:>16,}")
    return lines


def _stratum_lines(s: StratumReport) -> list[str]:
    """One stratum's class table, under a line with its balance before and after."""
    written = (
        f" -> {s.output_minority_share:.2%} in {s.output_rows:,} rows written" if s.output_rows is not None else ""
    )
    lines = [f"stratum {s.key}: {s.rows:,} rows, {s.degree} imbalance, minority share {s.minority_share:.4%}{written}"]
    for key, c in s.classes.items():
        written = f"{c.output_count:,}" if c.output_count is not None else "-"
        lines.append(
            f"  {key:<10}{c.role:<10}{c.factor:>8.4g}{c.input_count:>16,}{'':>10}"
            f"{written:>16}{c.expected_count:>14,.0f}{_fmt_num(c.weight_sum):>18}"
        )
    return lines


def _strata_lines(report: RunReport) -> list[str]:
    """The class table of each stratum (the first :data:`SHOWN_STRATA`), when the run is stratified."""
    if report.strata is None:
        return []
    strata = report.strata.strata
    lines = ["", f"per stratum of {report.strata.columns} ({len(strata)} strata, each its own factor):"]
    for s in strata[:SHOWN_STRATA]:
        lines.extend(_stratum_lines(s))
    if len(strata) > SHOWN_STRATA:
        lines.append(f"... and {len(strata) - SHOWN_STRATA} more strata in the JSON report (--json)")
    return lines


def _note_lines(report: RunReport) -> list[str]:
    lines = []
    if report.skipped:
        lines.append(f"not downsampled: {report.skipped}")
    if report.derived_factor:
        lines.append(
            f"factor {report.derived_factor:.3f} derived from target_minority_share {report.target_minority_share:g}"
        )
    if report.weight_mode == "realized":
        realized = {k: round(v, 4) for k, v in report.realized_factors.items() if v is not None}
        lines.append(f"weights: realized factors {realized} (nominal {dict(report.factors)})")
    if report.logit_offsets:
        offsets = {k: round(v, 4) for k, v in report.logit_offsets.items()}
        lines.append(f"prior correction for unweighted models: add ln(1/F) to the logit {offsets}")
    if report.strata is not None:
        lines.append(
            "prior correction per stratum: add ln(1/F) of the row's stratum (table property imbalance_spark.strata)"
        )
    lines.extend(f"note: {n}" for n in report.notes)
    if report.mlflow:
        m = report.mlflow
        lines.append(f"MLflow run {m.run_id} in experiment {m.experiment!r} at {m.tracking_uri}")
    for name, path in (report.figures or {}).items():
        lines.append(f"picture of the {name}: {path}")
    return lines


def _files_line(report: RunReport) -> list[str]:
    """One line on the output's files: how many, their minority share, batches without a minority row."""
    files = report.output_files
    if files is None:
        return []
    line = f"files: {files.files:,} ({files.row_order} row order)"
    if files.rows_per_file is not None:
        line += f", {files.rows_per_file.median:,.0f} rows each (median)"
    if files.minority_share is not None:
        s = files.minority_share
        line += f", minority share per file {s.min:.1%} / {s.median:.1%} / {s.max:.1%} (min/median/max)"
    if files.share_without_minority is not None and files.random_share_without_minority is not None:
        line += (
            f"; {files.batch_rows}-row batches in file order without a minority row:"
            f" {files.batches_without_minority:,} of {files.batches:,} ({files.share_without_minority:.1%};"
            f" random order: {files.random_share_without_minority:.1%} within files,"
            f" {files.pooled_random_share_without_minority or 0:.1%} over the output)"
        )
    if files.note:
        line += f"; {files.note}"
    return [line]


def render_report(report: RunReport) -> str:
    """The report as a readable console table."""
    out = report.output
    lines = [
        f"dataset {report.dataset}: {report.degree} imbalance "
        f"(minority share {report.minority_share:.4%}, classes {', '.join(report.minority_classes)}"
        f" minority, {', '.join(report.majority_classes) or 'none'} majority)",
        f"method {report.method}, seed {report.seed}, weight column {report.weight_column!r}",
        "",
        *_class_lines(report),
        *_strata_lines(report),
        "",
        f"output {out.target}"
        + (f" (Delta version {out.version})" if out.version is not None else "")
        + f": minority share {out.minority_share:.2%}",
        *_files_line(report),
        *_note_lines(report),
        f"done in {report.duration_s:.1f} s",
    ]
    return "\n".join(lines)
