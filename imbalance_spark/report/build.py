"""Building the run report and the profile summary from the plan and the write's counts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from imbalance_spark.config.models import JobConfig
from imbalance_spark.plan import ClassPlan, SamplingPlan, StratumPlan, factor_for_minority_share
from imbalance_spark.report.models import (
    FileCounts,
    Guards,
    InputClass,
    InputSection,
    Lineage,
    OutputClass,
    OutputFiles,
    OutputSection,
    ProfileSummary,
    ReportDates,
    RunReport,
    Spread,
    StrataSection,
    StratumClass,
    StratumReport,
)

# The placeholder of report.path replaced by the run's slice (``all`` for a whole table).
RUN_DATE_PLACEHOLDER = "{run_date}"


def _share(n: int | float, total: int | float) -> float:
    return n / total if total else 0.0


def report_path(path: str | None, run_dates: ReportDates) -> str | None:
    """``report.path`` of one run: ``{run_date}`` replaced by its slice (2026-01-02, a..b, or ``all``)."""
    return path.replace(RUN_DATE_PLACEHOLDER, run_dates.label()) if path else None


def report_dates(sliced: tuple[dt.date, dt.date] | None, span: tuple[dt.date, dt.date] | None) -> ReportDates:
    """The dates a run covered: its slice, else the data's span (from the date column), else none."""
    days = sliced or span
    if days is None:
        return ReportDates(start=None, end=None, sliced=False)
    return ReportDates(start=days[0].isoformat(), end=days[1].isoformat(), sliced=sliced is not None)


def profile_section(plan: SamplingPlan, null_labels_dropped: int = 0, source: str | None = None) -> InputSection:
    """The input half of the report: rows, per-class counts/shares, null labels dropped."""
    return InputSection(
        rows=plan.rows,
        null_labels_dropped=null_labels_dropped,
        classes={
            c.key: InputClass(count=c.count, share=_share(c.count, plan.rows), weight_sum=c.weight_sum)
            for c in plan.classes
        },
        source=source,
    )


def output_classes(plan: SamplingPlan, observed: Mapping[str, Any] | None) -> tuple[int, dict[str, OutputClass]]:
    """Rows and per-class counts written: observed during the write, else the checked prediction."""
    if observed is not None:
        return int(observed["rows"]), {
            c.key: OutputClass(
                count=int(observed[f"count_{i}"] or 0),
                expected_count=c.expected_kept,
                weight_sum=float(observed[f"weight_{i}"] or 0.0),
            )
            for i, c in enumerate(plan.classes)
        }
    weights = {c.key: (c.predicted_kept_weight or 0.0) * c.multiplier for c in plan.classes}
    if plan.strata:  # each stratum's kept weight times its own multiplier
        weights = {c.key: 0.0 for c in plan.classes}
        for s in plan.strata:
            for c in s.classes:
                weights[c.key] += (c.predicted_kept_weight or 0.0) * c.multiplier
    return plan.predicted_rows, {
        c.key: OutputClass(count=c.predicted_kept, expected_count=c.expected_kept, weight_sum=weights[c.key])
        for c in plan.classes
    }


def _stratum_class(c: ClassPlan) -> StratumClass:
    return StratumClass(
        role=c.role,
        factor=c.factor,
        fraction=c.fraction,
        input_count=c.count,
        input_weight_sum=c.weight_sum,
        output_count=c.predicted_kept,
        expected_count=c.expected_kept,
        weight_multiplier=c.multiplier,
        weight_sum=(c.predicted_kept_weight or 0.0) * c.multiplier,
        logit_offset=c.logit_offset if c.downsampled else None,
    )


def _stratum_report(s: StratumPlan, columns: tuple[str, ...]) -> StratumReport:
    known = all(c.predicted_kept is not None for c in s.classes)
    out_rows = sum(c.predicted_kept or 0 for c in s.classes) if known else None
    out_minority = sum(c.predicted_kept or 0 for c in s.classes if c.role == "minority")
    return StratumReport(
        key=s.label,
        values=dict(zip(columns, s.values, strict=True)),
        rows=s.rows,
        output_rows=out_rows,
        minority_share=s.minority_share,
        output_minority_share=_share(out_minority, out_rows) if out_rows is not None else None,
        degree=s.degree,
        derived_factor=s.derived_factor,
        classes={c.key: _stratum_class(c) for c in s.classes},
    )


def strata_section(plan: SamplingPlan, max_strata: int) -> StrataSection | None:
    """The class table of every stratum (counts as checked before the write), or None when unstratified."""
    if not plan.strata:
        return None
    return StrataSection(
        columns=list(plan.strata_columns),
        max_strata=max_strata,
        strata=[_stratum_report(s, plan.strata_columns) for s in plan.strata],
    )


@dataclasses.dataclass(frozen=True)
class WriteInfo:
    """Where and how the run wrote, for the output half of the report."""

    target: str
    version: int | None
    partition_by: tuple[str, ...]
    mode: str
    replace_where: str | None


def build_report(
    cfg: JobConfig,
    plan: SamplingPlan,
    *,
    observed: Mapping[str, Any] | None,
    null_labels_dropped: int,
    lineage: Lineage,
    started_at: str,
    written: WriteInfo,
    stages: Mapping[str, float],
    duration_s: float,
    notes: list[str] | None = None,
    output_files: OutputFiles | None = None,
) -> RunReport:
    """Assemble the report from the config, the plan, the metrics observed during the write."""
    out_rows, out_classes = output_classes(plan, observed)
    minority_out = sum(out_classes[k].count for k in plan.minority_keys)
    return RunReport(
        dataset=cfg.dataset,
        run_id=lineage.run_id,
        package_version=lineage.package_version,
        config_file=lineage.config_file,
        config_sha256=lineage.config_sha256,
        input_version=lineage.input_version,
        run_dates=lineage.run_dates,
        started_at=started_at,
        label_column=cfg.label_column,
        degree=plan.degree,
        minority_share=plan.minority_share,
        minority_classes=plan.minority_keys,
        majority_classes=plan.majority_keys,
        method=cfg.downsampling.method,
        seed=cfg.downsampling.seed,
        factors={c.key: c.factor for c in plan.classes},
        fractions={c.key: c.fraction for c in plan.classes},
        derived_factor=plan.derived_factor,
        target_minority_share=cfg.downsampling.target_minority_share,
        skipped=plan.skipped,
        realized_factors={c.key: c.realized_factor for c in plan.classes},
        weight_multipliers={c.key: c.multiplier for c in plan.classes},
        logit_offsets=plan.logit_offsets,
        absent_classes=list(plan.absent_classes),
        weight_column=cfg.weight.column,
        weight_mode=cfg.weight.mode,
        weight_source_column=cfg.weight.source_column,
        key_columns=list(cfg.downsampling.key_columns),
        guards=Guards(enabled=cfg.guards.enabled, sigmas=cfg.guards.sigmas),
        input=profile_section(plan, null_labels_dropped, source=lineage.input_source),
        output=OutputSection(
            rows=out_rows,
            minority_share=_share(minority_out, out_rows),
            classes=out_classes,
            **dataclasses.asdict(written),
        ),
        classes=[c.key for c in plan.classes],
        stages_s={k: round(v, 3) for k, v in stages.items()},
        duration_s=round(duration_s, 3),
        config=cfg.summary(),
        notes=list(notes or []),
        output_files=output_files,
        strata=strata_section(plan, cfg.downsampling.max_strata),
    )


def _spread(values: Sequence[float]) -> Spread | None:
    return Spread(min(values), statistics.median(values), max(values)) if values else None


def random_batches_without_minority(rows: int, minority_rows: int, batch_rows: int) -> float:
    """Expected batches of a file without a minority row in random order: (1-p)^b per batch of b rows."""
    if rows == 0:
        return 0.0
    q = 1.0 - minority_rows / rows
    full, rest = divmod(rows, batch_rows)
    return full * q**batch_rows + (q**rest if rest else 0.0)


def output_files_section(
    files: Sequence[FileCounts], row_order: str, batch_rows: int, max_records_per_file: int | None = None,
) -> OutputFiles:
    """The files as a trainer reading them in order meets them: per-file spreads, empty batches against random."""
    filled = [f for f in files if f.rows > 0]
    batches = sum(-(-f.rows // batch_rows) for f in filled)
    empty = batches - sum(f.batches_with_minority for f in filled)
    expected = sum(random_batches_without_minority(f.rows, f.minority_rows, batch_rows) for f in filled)
    share = _share(sum(f.minority_rows for f in filled), sum(f.rows for f in filled))
    pooled = sum(random_batches_without_minority(f.rows, round(share * f.rows, 9), batch_rows) for f in filled)
    return OutputFiles(
        row_order=row_order,
        files=len(files),
        rows_per_file=_spread([f.rows for f in files]),
        bytes_per_file=_spread([f.size for f in files]),
        minority_share=_spread([f.minority_rows / f.rows for f in filled]),
        batch_rows=batch_rows,
        batches=batches,
        batches_without_minority=empty,
        share_without_minority=_share(empty, batches) if batches else None,
        random_share_without_minority=_share(expected, batches) if batches else None,
        pooled_random_share_without_minority=_share(pooled, batches) if batches else None,
        max_records_per_file=max_records_per_file,
    )


def build_profile_summary(
    cfg: JobConfig,
    plan: SamplingPlan,
    *,
    run_dates: str | None,
    input_version: int | None,
    null_labels_dropped: int,
    stages: Mapping[str, float],
    duration_s: float,
) -> ProfileSummary:
    """The summary ``profile`` prints: degree, per-class counts, factors and a hint."""
    return ProfileSummary(
        dataset=cfg.dataset,
        label_column=cfg.label_column,
        run_dates=run_dates,
        input_version=input_version,
        degree=plan.degree,
        minority_share=plan.minority_share,
        minority_classes=plan.minority_keys,
        majority_classes=plan.majority_keys,
        factors={c.key: c.factor for c in plan.classes},
        input=profile_section(plan, null_labels_dropped),
        hint=profile_hint(plan),
        stages_s={k: round(v, 3) for k, v in stages.items()},
        duration_s=round(duration_s, 3),
        strata=strata_section(plan, cfg.downsampling.max_strata),
    )


def profile_hint(plan: SamplingPlan, target_share: float = 0.10) -> str:
    """Advice after profiling: try the true distribution first when mild; a factor for ~10%."""
    minority = sum(c.count for c in plan.classes if c.role == "minority")
    factor = factor_for_minority_share(minority, plan.rows, target_share)
    if plan.degree in ("none", "mild"):
        return (
            f"The imbalance is {plan.degree}: first try training on the true distribution; "
            "downsample only if the model does not learn the minority class."
        )
    if factor <= 1.0:
        return f"The minority is already at or above {target_share:.0%}; factor 1 keeps every row."
    return (
        f"The imbalance is {plan.degree}: a factor of about {factor:.1f} (keep 1 in {factor:.1f}"
        f" majority rows, weight x{factor:.1f}) brings the minority to about {target_share:.0%}."
    )


def history_rows(report: RunReport, recorded_at: dt.datetime) -> list[dict[str, Any]]:
    """One class-proportion history row per class of a run's report (run_date null: no date column).

    A stratified run adds one row per class per stratum (``stratum`` names it; null on the class rows).
    """
    dates = report.run_dates
    head = {
        "dataset": report.dataset,
        "run_id": report.run_id,
        "run_date": dt.date.fromisoformat(dates.start) if dates.start else None,
        "run_end_date": dt.date.fromisoformat(dates.end) if dates.end else None,
    }
    tail = {"input_version": report.input_version, "recorded_at": recorded_at.replace(tzinfo=None)}
    rows = [
        {
            **head,
            "class": key,
            "input_count": report.input.classes[key].count,
            "share": report.input.classes[key].share,
            "degree": report.degree,
            "output_count": report.output.classes[key].count,
            "weight_sum": report.output.classes[key].weight_sum,
            "factor": report.factors[key],
            **tail,
        }
        for key in report.classes
    ]
    if report.strata is None:
        return rows
    rows = [{**r, "stratum": None} for r in rows]
    for s in report.strata.strata:
        for key, c in s.classes.items():
            rows.append(
                {
                    **head,
                    "class": key,
                    "input_count": c.input_count,
                    "share": _share(c.input_count, s.rows),
                    "degree": s.degree,
                    "output_count": c.output_count,
                    "weight_sum": c.weight_sum,
                    "factor": c.factor,
                    **tail,
                    "stratum": s.key,
                }
            )
    return rows
