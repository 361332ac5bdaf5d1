"""The typed run report and profile summary: built from a real plan, serialised with today's keys. No Spark."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from imbalance_spark.config.load import parse_config
from imbalance_spark.plan import plan_sampling
from imbalance_spark.profile import ClassProfile, ClassStats
from imbalance_spark.report.build import (
    WriteInfo,
    build_profile_summary,
    build_report,
    history_rows,
    profile_hint,
    report_dates,
    report_path,
)
from imbalance_spark.report.models import Lineage, MlflowRef, ReportDates
from imbalance_spark.report.render import render_report
from imbalance_spark.tracking.flatten import run_metrics, run_params

# The run report's keys, in order, as the JSON had them before the report was typed.
REPORT_KEYS = [
    "dataset", "run_id", "package_version", "config_file", "config_sha256", "input_version", "run_dates",
    "started_at", "label_column", "degree", "minority_share", "minority_classes", "majority_classes", "method",
    "seed", "factors", "fractions", "derived_factor", "target_minority_share", "skipped", "realized_factors",
    "weight_multipliers", "logit_offsets", "absent_classes", "weight_column", "weight_mode",
    "weight_source_column", "key_columns", "guards", "input", "output", "classes", "stages_s", "duration_s",
    "config", "notes",
]
PROFILE_KEYS = [
    "dataset", "label_column", "run_dates", "input_version", "degree", "minority_share", "minority_classes",
    "majority_classes", "factors", "input", "hint", "stages_s", "duration_s",
]


def cfg(**over):
    data = {
        "dataset": "d",
        "input": {"path": "/in", "date_column": "day"},
        "label_column": "y",
        "downsampling": {"factor": 20, "seed": 3},
        "output": {"path": "/out", "partition_by": ["day"]},
    }
    data.update(over)
    return parse_config(data)


def plan_of(c):
    profile = ClassProfile(
        classes=(
            ClassStats("0", 0, 9_900, 9_900.0, 495, 495.0),
            ClassStats("1", 1, 100, 100.0, 100, 100.0),
        ),
        null_labels=7,
    )
    return plan_sampling(profile, c)


LINEAGE = Lineage(
    run_id="abc123",
    package_version="9.9",
    config_file="/conf/d.yaml",
    config_sha256="f" * 64,
    input_source="/in",
    input_version=4,
    run_dates=ReportDates("2026-01-02", "2026-01-02", True),
)
WRITTEN = WriteInfo(target="/out", version=5, partition_by=("day",), mode="replace_slice", replace_where="day = 1")


def report_of(c, plan, observed=None, **over):
    kw: dict[str, Any] = dict(
        observed=observed,
        null_labels_dropped=7,
        lineage=LINEAGE,
        started_at="2026-01-02T03:04:05+00:00",
        written=WRITTEN,
        stages={"read": 1.23456, "write": 2.0},
        duration_s=3.45678,
        notes=["a note"],
    )
    kw.update(over)
    return build_report(c, plan, **kw)


def legacy_report(c, plan) -> dict[str, Any]:
    """The report as today's dict-building code wrote it (build_report and run_job before the models)."""
    share = lambda n, t: n / t if t else 0.0  # noqa: E731
    out_classes = {
        k.key: {"count": k.predicted_kept, "expected_count": k.expected_kept,
                "weight_sum": (k.predicted_kept_weight or 0.0) * k.multiplier}
        for k in plan.classes
    }
    minority_out = sum(out_classes[k]["count"] for k in plan.minority_keys)
    return {
        "dataset": c.dataset, "run_id": "abc123", "package_version": "9.9", "config_file": "/conf/d.yaml",
        "config_sha256": "f" * 64, "input_version": 4,
        "run_dates": {"start": "2026-01-02", "end": "2026-01-02", "sliced": True},
        "started_at": "2026-01-02T03:04:05+00:00", "label_column": c.label_column, "degree": plan.degree,
        "minority_share": plan.minority_share, "minority_classes": plan.minority_keys,
        "majority_classes": plan.majority_keys, "method": c.downsampling.method, "seed": c.downsampling.seed,
        "factors": {k.key: k.factor for k in plan.classes}, "fractions": {k.key: k.fraction for k in plan.classes},
        "derived_factor": plan.derived_factor, "target_minority_share": c.downsampling.target_minority_share,
        "skipped": plan.skipped, "realized_factors": {k.key: k.realized_factor for k in plan.classes},
        "weight_multipliers": {k.key: k.multiplier for k in plan.classes},
        "logit_offsets": {k.key: k.logit_offset for k in plan.classes if k.downsampled},
        "absent_classes": list(plan.absent_classes), "weight_column": c.weight.column,
        "weight_mode": c.weight.mode, "weight_source_column": c.weight.source_column,
        "key_columns": list(c.downsampling.key_columns),
        "guards": {"enabled": c.guards.enabled, "sigmas": c.guards.sigmas},
        "input": {"source": "/in", "rows": plan.rows, "null_labels_dropped": 7, "classes": {
            k.key: {"count": k.count, "share": share(k.count, plan.rows), "weight_sum": k.weight_sum}
            for k in plan.classes}},
        "output": {"rows": plan.predicted_rows, "minority_share": share(minority_out, plan.predicted_rows),
                   "classes": out_classes, "target": "/out", "version": 5, "partition_by": ["day"],
                   "mode": "replace_slice", "replace_where": "day = 1"},
        "classes": [k.key for k in plan.classes],
        "stages_s": {"read": 1.235, "write": 2.0}, "duration_s": 3.457, "config": c.summary(), "notes": ["a note"],
    }


def test_the_typed_report_serialises_to_todays_keys_and_values():
    c = cfg()
    plan = plan_of(c)
    report = report_of(c, plan)
    doc = report.as_dict()
    assert list(doc) == REPORT_KEYS
    assert list(doc["output"]) == ["rows", "minority_share", "classes", "target", "version", "partition_by",
                                   "mode", "replace_where"]
    assert list(doc["input"]) == ["source", "rows", "null_labels_dropped", "classes"]
    assert doc == legacy_report(c, plan)
    assert json.loads(report.to_json()) == json.loads(json.dumps(legacy_report(c, plan), default=str))
    # attributes read what the JSON holds
    assert report.output.classes["0"].count == doc["output"]["classes"]["0"]["count"] == 495
    assert report.input.classes["1"].share == pytest.approx(0.01)


def test_mlflow_and_figures_appear_at_the_end_only_when_set():
    c = cfg()
    report = report_of(c, plan_of(c))
    ref = MlflowRef(experiment="e", experiment_id="1", run_id="r", tracking_uri="file:/x")
    full = dataclasses.replace(report, mlflow=ref, figures={"run": "/r/d.png"}).as_dict()
    assert list(full) == [*REPORT_KEYS, "mlflow", "figures"]
    assert full["mlflow"] == {"experiment": "e", "experiment_id": "1", "run_id": "r", "tracking_uri": "file:/x"}
    text = render_report(dataclasses.replace(report, mlflow=ref, figures={"run": "/r/d.png"}))
    assert "MLflow run r in experiment 'e' at file:/x" in text and "picture of the run: /r/d.png" in text


def test_observed_counts_are_what_the_report_shows():
    c = cfg()
    plan = plan_of(c)
    observed = {"rows": 590, "count_0": 490, "weight_0": 9_800.0, "count_1": 100, "weight_1": 100.0}
    report = report_of(c, plan, observed=observed)
    assert report.output.rows == 590 and report.output.classes["0"].count == 490
    assert report.output.classes["0"].expected_count == plan.classes[0].expected_kept
    assert report.output.minority_share == pytest.approx(100 / 590)


def test_render_params_and_metrics_read_the_typed_report():
    c = cfg()
    report = report_of(c, plan_of(c))
    text = render_report(report)
    assert "dataset d: " in text and "output /out (Delta version 5)" in text and "note: a note" in text
    params = run_params(report)
    assert params["run_dates"] == "2026-01-02" and params["input_version"] == "4" and params["factor.0"] == "20.0"
    assert params["imbalance_spark_run_id"] == "abc123" and params["output_mode"] == "replace_slice"
    metrics = run_metrics(report)
    assert metrics["output.count.0"] == 495 and metrics["stage_s.read"] == 1.235 and metrics["input.rows"] == 10_000


def test_the_profile_summary_keeps_its_keys():
    c = cfg()
    plan = plan_of(c)
    summary = build_profile_summary(
        c, plan, run_dates=None, input_version=2, null_labels_dropped=7, stages={"read": 0.5}, duration_s=1.0
    )
    doc = summary.as_dict()
    assert list(doc) == PROFILE_KEYS
    assert list(doc["input"]) == ["rows", "null_labels_dropped", "classes"]
    assert doc["input"]["classes"]["1"] == {"count": 100, "share": 0.01, "weight_sum": 100.0}
    assert doc["hint"] == profile_hint(plan) and doc["factors"] == {"0": 20.0, "1": 1.0}
    assert json.loads(summary.to_json()) == doc


def test_report_dates_slice_span_or_none():
    day = dt.date(2026, 1, 2)
    assert report_dates((day, day), None) == ReportDates("2026-01-02", "2026-01-02", True)
    # a whole-table run: the data's span, not today's date
    span = (dt.date(2026, 1, 1), dt.date(2026, 1, 30))
    assert report_dates(None, span) == ReportDates("2026-01-01", "2026-01-30", False)
    assert report_dates(None, None) == ReportDates(None, None, False)


def test_report_path_takes_the_run_date():
    one = ReportDates("2026-01-02", "2026-01-02", True)
    many = ReportDates("2026-01-01", "2026-01-03", True)
    whole = ReportDates("2026-01-01", "2026-01-30", False)
    assert report_path("/r/d-{run_date}.json", one) == "/r/d-2026-01-02.json"
    assert report_path("/r/{run_date}/d.json", many) == "/r/2026-01-01..2026-01-03/d.json"
    assert report_path("/r/d-{run_date}.json", whole) == "/r/d-all.json"
    assert report_path("/r/d.json", one) == "/r/d.json"
    assert report_path(None, one) is None


def test_history_rows_of_an_undated_run_have_no_date():
    c = cfg(input={"path": "/in"}, output={"path": "/out"})
    undated = dataclasses.replace(report_of(c, plan_of(c)), run_dates=ReportDates(None, None, False))
    rows = history_rows(undated, dt.datetime(2026, 12, 1, 8, tzinfo=dt.timezone.utc))
    assert [r["class"] for r in rows] == ["0", "1"]
    assert all(r["run_date"] is None and r["run_end_date"] is None for r in rows)
    dated = history_rows(report_of(c, plan_of(c)), dt.datetime(2026, 12, 1, 8))
    assert dated[0]["run_date"] == dt.date(2026, 1, 2) and dated[0]["input_version"] == 4
