"""What a run or an evaluation logs to MLflow: params and metrics flattened from its report.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imbalance_spark.evaluate.report import EvaluationReport

from imbalance_spark.report.models import ReportDates, RunReport

_PARAM_VALUE_MAX = 6000


_KEY_UNSAFE = re.compile(r"[^\w\-]")


def metric_key(*parts: Any) -> str:
    """A dotted MLflow key; each part (a class label may be any string) made safe for MLflow."""
    return ".".join(_KEY_UNSAFE.sub("_", str(p)) or "_" for p in parts)


def run_params(report: RunReport) -> dict[str, str]:
    """The run's MLflow params: dataset, factors, method, seed, weight mode, config SHA-256, lineage."""
    out = report.output
    params: dict[str, Any] = {
        "dataset": report.dataset,
        "label_column": report.label_column,
        "method": report.method,
        "seed": report.seed,
        "weight_mode": report.weight_mode,
        "weight_column": report.weight_column,
        "weight_source_column": report.weight_source_column,
        "config_sha256": report.config_sha256,
        "minority_classes": ",".join(report.minority_classes),
        "majority_classes": ",".join(report.majority_classes),
        "target_minority_share": report.target_minority_share,
        "derived_factor": report.derived_factor,
        "key_columns": ",".join(report.key_columns),
        "skipped": report.skipped,
        "input": report.input.source,
        "input_version": report.input_version,
        "output": out.target,
        "output_version": out.version,
        "output_mode": out.mode,
        "run_dates": run_dates_param(report.run_dates),
        "imbalance_spark_run_id": report.run_id,
        "imbalance_spark_version": report.package_version,
    }
    for key, factor in report.factors.items():
        params[metric_key("factor", key)] = factor
    return {k: _param_value(v) for k, v in params.items() if v is not None and v != ""}


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:_PARAM_VALUE_MAX]


def run_dates_param(dates: ReportDates) -> str | None:
    """A sliced run's dates as one string (``2026-01-02``, ``a..b``); None for a whole-table run."""
    return dates.label() if dates.sliced else None


def run_metrics(report: RunReport) -> dict[str, float]:
    """The run's MLflow metrics: input/output counts, shares and weight sums per class, stage times."""
    inp, out = report.input, report.output
    metrics: dict[str, float] = {
        "input.rows": inp.rows,
        "output.rows": out.rows,
        "input.minority_share": report.minority_share,
        "output.minority_share": out.minority_share,
        "input.null_labels_dropped": inp.null_labels_dropped,
        "duration_s": report.duration_s,
    }
    for key in report.classes:
        i, o = inp.classes[key], out.classes[key]
        metrics[metric_key("input", "count", key)] = i.count
        metrics[metric_key("input", "share", key)] = i.share
        metrics[metric_key("input", "weight_sum", key)] = i.weight_sum
        metrics[metric_key("output", "count", key)] = o.count
        metrics[metric_key("output", "share", key)] = o.count / out.rows if out.rows else 0.0
        metrics[metric_key("output", "expected_count", key)] = o.expected_count
        metrics[metric_key("output", "weight_sum", key)] = o.weight_sum
        metrics[metric_key("weight_multiplier", key)] = report.weight_multipliers[key]
    for stage, seconds in report.stages_s.items():
        metrics[metric_key("stage_s", stage)] = seconds
    return {k: float(v) for k, v in metrics.items() if _is_number(v)}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def evaluation_params_and_metrics(
    report: EvaluationReport,
) -> tuple[dict[str, str], dict[str, float], list[tuple[str, float, int]]]:
    """An evaluation report as MLflow params (strings and booleans, two levels deep), metrics (every
    number, by its dotted path in the JSON; sweep entries named by their factor, ``F20``; of the
    calibration per day and segment, each day's or value's ratio, by its name) and, for
    sweeps over integral factors, (key, value, step=F) points so MLflow charts each metric against F."""
    doc = report.to_dict()
    params: dict[str, str] = {}
    metrics: dict[str, float] = {}
    steps: list[tuple[str, float, int]] = []
    for path, value, in_list in _leaves(doc, ()):
        if _is_number(value):
            metrics[metric_key(*path)] = float(value)
        elif isinstance(value, (str, bool)) and len(path) <= 2 and not in_list:
            params[metric_key(*path)] = _param_value(value)
    for name, items in _sweeps(doc, ()):
        for item in items:
            for path, value, _ in _leaves(item, ()):
                if _is_number(value) and path != ("factor",):
                    steps.append((metric_key(*name, *path), float(value), int(item["factor"])))
    return params, metrics, steps


def _item_name(i: int, item: Any) -> str:
    if isinstance(item, Mapping) and _is_number(item.get("factor")):
        return f"F{item['factor']:g}"
    return str(i)


def _in_group_table(path: tuple[str, ...]) -> bool:
    """Whether ``path`` is a variant's calibration per day, or per value of one segment column."""
    return path[-1:] == ("calibration_by_day",) or path[-2:-1] == ("calibration_by_segment",)


def _leaves(value: Any, path: tuple[str, ...], in_list: bool = False) -> Iterator[tuple[tuple[str, ...], Any, bool]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _leaves(v, (*path, str(k)), in_list)
    elif isinstance(value, (list, tuple)) and _in_group_table(path):
        # A day or segment value by its name, with its ratio only: the rest is in the logged JSON, and
        # every number of every group would multiply the metrics by the groups' count.
        for v in value:
            name = v.get("date", v.get("value"))
            yield (*path, "null" if name is None else str(name), "calibration_ratio"), v["calibration_ratio"], True
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, _item_name(i, v)), True)
    else:
        yield path, value, in_list


def _sweeps(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], list]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _sweeps(v, (*path, str(k)))
    elif isinstance(value, list) and value and all(
        isinstance(x, Mapping) and _is_number(x.get("factor")) and float(x["factor"]).is_integer() for x in value
    ):
        yield path, value
