"""The run report: one JSON document, printed as a readable table and optionally written to a file.

Labels are JSON object keys, so classes are keyed by their canonical strings ("0", "1", "true").
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

from imbalance_spark.config import JobConfig
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


def _fmt_num(x: float) -> str:
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e15):
        return f"{int(x):,}"
    return f"{x:,.2f}"


def render_report(report: dict[str, Any]) -> str:
    """The report as a readable console table."""
    lines = [
        f"dataset {report['dataset']}: {report['degree']} imbalance "
        f"(minority share {report['minority_share']:.4%}, classes {', '.join(report['minority_classes'])}"
        f" minority, {', '.join(report['majority_classes']) or 'none'} majority)",
        f"method {report['method']}, seed {report['seed']}, weight column {report['weight_column']!r}",
        "",
        f"{'class':<12}{'role':<10}{'factor':>8}{'input rows':>16}{'share':>10}"
        f"{'output rows':>16}{'expected':>14}{'weight sum':>18}",
    ]
    minority = set(report["minority_classes"])
    for key in report["classes"]:
        i = report["input"]["classes"][key]
        o = report["output"]["classes"].get(key, {})
        lines.append(
            f"{key:<12}{'minority' if key in minority else 'majority':<10}"
            f"{report['factors'][key]:>8.4g}{i['count']:>16,}{i['share']:>10.4%}"
            f"{o.get('count', 0):>16,}{o.get('expected_count', 0):>14,.0f}"
            f"{_fmt_num(o.get('weight_sum', 0.0)):>18}"
        )
    lines.append(f"{'total':<12}{'':<10}{'':>8}{report['input']['rows']:>16,}{1:>10.0%}{report['output']['rows']:>16,}")
    lines.append("")
    out = report["output"]
    where = out.get("target", "")
    version = out.get("version")
    lines.append(
        f"output {where}"
        + (f" (Delta version {version})" if version is not None else "")
        + f": minority share {out['minority_share']:.2%}"
    )
    if report.get("skipped"):
        lines.append(f"not downsampled: {report['skipped']}")
    if report.get("derived_factor"):
        lines.append(
            f"factor {report['derived_factor']:.3f} derived from target_minority_share"
            f" {report['target_minority_share']:g}"
        )
    if report.get("weight_mode") == "realized":
        realized = {k: round(v, 4) for k, v in report["realized_factors"].items() if v is not None}
        lines.append(f"weights: realized factors {realized} (nominal {report['factors']})")
    if report.get("logit_offsets"):
        offsets = {k: round(v, 4) for k, v in report["logit_offsets"].items()}
        lines.append(f"prior correction for unweighted models: add ln(1/F) to the logit {offsets}")
    if report.get("hint"):
        lines.append(report["hint"])
    if report.get("notes"):
        lines.extend(f"note: {n}" for n in report["notes"])
    if report.get("mlflow"):
        m = report["mlflow"]
        lines.append(f"MLflow run {m['run_id']} in experiment {m['experiment']!r} at {m['tracking_uri']}")
    for name, path in (report.get("figures") or {}).items():
        lines.append(f"picture of the {name}: {path}")
    lines.append(f"done in {report['duration_s']:.1f} s")
    return "\n".join(lines)


def write_report(report: dict[str, Any], path: str) -> None:
    """Write the report as JSON (atomically: a reader never sees half a file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False, default=_json_default) + "\n")
    os.replace(tmp, p)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return str(obj)


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
