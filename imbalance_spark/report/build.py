"""Building the run report and the profile summary from the plan and the write's counts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from imbalance_spark.config.models import JobConfig
from imbalance_spark.plan import SamplingPlan, factor_for_minority_share


def _share(n: int | float, total: int | float) -> float:
    return n / total if total else 0.0


def profile_section(plan: SamplingPlan, null_labels_dropped: int = 0) -> dict[str, Any]:
    """The input half of the report: rows, per-class counts/shares, degree."""
    return {
        "rows": plan.rows,
        "null_labels_dropped": null_labels_dropped,
        "classes": {
            c.key: {"count": c.count, "share": _share(c.count, plan.rows), "weight_sum": c.weight_sum}
            for c in plan.classes
        },
    }


def build_report(
    cfg: JobConfig,
    plan: SamplingPlan,
    *,
    observed: dict[str, Any] | None,
    null_labels_dropped: int,
    run: dict[str, Any],
    stages: dict[str, float],
    duration_s: float,
) -> dict[str, Any]:
    """Assemble the report from the config, the plan, the metrics observed during the write."""
    keys = [c.key for c in plan.classes]
    out_classes: dict[str, Any] = {}
    if observed is not None:
        out_rows = int(observed["rows"])
        for i, c in enumerate(plan.classes):
            out_classes[c.key] = {
                "count": int(observed[f"count_{i}"] or 0),
                "expected_count": c.expected_kept,
                "weight_sum": float(observed[f"weight_{i}"] or 0.0),
            }
    else:
        out_rows = plan.predicted_rows
        for c in plan.classes:
            out_classes[c.key] = {
                "count": c.predicted_kept,
                "expected_count": c.expected_kept,
                "weight_sum": (c.predicted_kept_weight or 0.0) * c.multiplier,
            }
    minority_out = sum(out_classes[k]["count"] for k in plan.minority_keys)
    run = dict(run)
    input_source = run.pop("input_source", None)
    output_info = run.pop("output_info", {})
    return {
        "dataset": cfg.dataset,
        **run,
        "label_column": cfg.label_column,
        "degree": plan.degree,
        "minority_share": plan.minority_share,
        "minority_classes": plan.minority_keys,
        "majority_classes": plan.majority_keys,
        "method": cfg.downsampling.method,
        "seed": cfg.downsampling.seed,
        "factors": {c.key: c.factor for c in plan.classes},
        "fractions": {c.key: c.fraction for c in plan.classes},
        "derived_factor": plan.derived_factor,
        "target_minority_share": cfg.downsampling.target_minority_share,
        "skipped": plan.skipped,
        "realized_factors": {c.key: c.realized_factor for c in plan.classes},
        "weight_multipliers": {c.key: c.multiplier for c in plan.classes},
        # King & Zeng (2001) prior correction for consumers that ignore the weights: add
        # ln(1/F) to the logit of a (minority vs class c) model trained on the sample.
        "logit_offsets": {c.key: c.logit_offset for c in plan.classes if c.downsampled},
        "absent_classes": list(plan.absent_classes),
        "weight_column": cfg.weight.column,
        "weight_mode": cfg.weight.mode,
        "weight_source_column": cfg.weight.source_column,
        "key_columns": list(cfg.downsampling.key_columns),
        "guards": {"enabled": cfg.guards.enabled, "sigmas": cfg.guards.sigmas},
        "input": {"source": input_source} | profile_section(plan, null_labels_dropped),
        "output": {
            "rows": out_rows,
            "minority_share": _share(minority_out, out_rows),
            "classes": out_classes,
        }
        | output_info,
        "classes": keys,
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "duration_s": round(duration_s, 3),
        "config": cfg.summary(),
    }


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


def history_rows(report: dict[str, Any], recorded_at: dt.datetime) -> list[dict[str, Any]]:
    """One class-proportion history row per class of a run's report."""
    dates = report["run_dates"]
    return [
        {
            "dataset": report["dataset"],
            "run_id": report["run_id"],
            "run_date": dt.date.fromisoformat(dates["start"]),
            "run_end_date": dt.date.fromisoformat(dates["end"]),
            "class": key,
            "input_count": report["input"]["classes"][key]["count"],
            "share": report["input"]["classes"][key]["share"],
            "degree": report["degree"],
            "output_count": report["output"]["classes"][key]["count"],
            "weight_sum": report["output"]["classes"][key]["weight_sum"],
            "factor": report["factors"][key],
            "input_version": report.get("input_version"),
            "recorded_at": recorded_at.replace(tzinfo=None),
        }
        for key in report["classes"]
    ]
