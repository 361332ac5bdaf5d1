"""The pictures: a real run's PNG beside its report, the drift picture from a real history table, and
the evaluation figures drawn from a report dict alone."""

from __future__ import annotations

import datetime as dt
import json
import struct
from pathlib import Path

import pytest

from imbalance_spark.cli import main
from imbalance_spark.config.load import parse_config
from imbalance_spark.evaluate.report import (
    BootstrapInfo,
    CalibrationBin,
    ClassCount,
    EvaluationReport,
    FeaturesInfo,
    InputInfo,
    NullsInfo,
    Recommendation,
    SplitInfo,
    SweepPoint,
    TestSide,
    TrainSide,
    VariantMetrics,
)
from imbalance_spark.figures.common import DPI
from imbalance_spark.figures.evaluation import TIME_TITLE, _coincide, draw_evaluation_figures
from imbalance_spark.figures.history import DRIFT_FIGURE_SIZE, X_RECORDED, X_RUN_DATE, drift_figure, drift_series
from imbalance_spark.figures.run import RUN_FIGURE_SIZE
from imbalance_spark.flows.run import run_job
from imbalance_spark.report.models import ReportDates
from imbalance_spark.tables.history import append_history
from tests.conftest import write_config

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk (it must be a PNG)."""
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def pixels(size: tuple[float, float]) -> tuple[int, int]:
    return round(size[0] * DPI), round(size[1] * DPI)


def _history_rows(dataset: str, days: int, start: dt.date, factor_change_at: int | None) -> list[dict]:
    rows = []
    for i in range(days):
        day = start + dt.timedelta(days=i)
        share = 0.004 + 0.02 * i / max(days, 1)  # drifts from extreme into moderate
        factor = 20.0 if factor_change_at is None or i < factor_change_at else 10.0
        for cls, s, f in (("0", 1 - share, factor), ("1", share, 1.0)):
            rows.append({
                "dataset": dataset, "run_id": f"r{i}", "run_date": day, "run_end_date": day, "class": cls,
                "input_count": int(100_000 * s), "share": s, "degree": "extreme" if share < 0.01 else "moderate",
                "output_count": int(100_000 * s / f), "weight_sum": 100_000 * s, "factor": f, "input_version": 0,
                "recorded_at": dt.datetime(2026, 1, 1) + dt.timedelta(days=i),
            })
    return rows


HISTORY_CONFIG = """\
dataset: {dataset}
input: {{path: /nowhere/in}}
label_column: is_fraud
downsampling: {{factor: 20}}
output: {{path: /nowhere/out}}
history: {{path: {history}}}
"""


def test_history_plot_over_hundreds_of_dates_marks_factor_change(spark, tmp_path, capsys):
    history = tmp_path / "history"
    hist_cfg = parse_config(json.loads(json.dumps({
        "dataset": "drift", "input": {"path": "/x/in"}, "label_column": "y", "downsampling": {"factor": 2},
        "output": {"path": "/x/out"}, "history": {"path": str(history)}})))
    # another dataset in the same table, and a rerun of one date (the latest run of a date wins)
    rerun = [r | {"run_id": "rerun", "share": 0.5, "recorded_at": dt.datetime(2027, 1, 1)}
             for r in _history_rows("drift", 1, dt.date(2025, 3, 1), None)]
    append_history(spark, hist_cfg.history, _history_rows("drift", 300, dt.date(2025, 3, 1), factor_change_at=200)
                   + _history_rows("other", 5, dt.date(2025, 3, 1), None) + rerun)
    config = write_config(tmp_path / "drift.yaml", HISTORY_CONFIG.format(dataset="drift", history=history))
    picture = tmp_path / "plots" / "drift.png"
    assert main(["history", "--config", str(config), "--plot", str(picture), "--limit", "2", "-q"]) == 0
    out = capsys.readouterr().out
    assert f"picture of the class drift: {picture}" in out
    assert png_size(picture) == pixels(DRIFT_FIGURE_SIZE)
    series = json.loads(picture.with_suffix(".json").read_text())
    assert len(series["runs"]) == 300 and series["classes"] == ["0", "1"]
    assert series["runs"][0]["run_id"] == "rerun" and series["runs"][0]["shares"]["0"] == 0.5
    assert series["factor_changes"] == [
        {"run_date": "2025-09-17", "run_id": "r200", "factors": {"0": [20.0, 10.0]}}]


def test_history_plot_of_one_real_run(spark, small_fraud_table, tmp_path, capsys):
    history = tmp_path / "history"
    config = write_config(tmp_path / "one.yaml", f"""\
dataset: one_day
input: {{path: {small_fraud_table}, date_column: event_date}}
label_column: is_fraud
minority_classes: [1]
downsampling: {{factor: 5}}
output: {{path: {tmp_path / 'out'}, partition_by: [event_date]}}
history: {{path: {history}}}
""")
    assert main(["run", "--config", str(config), "--run-date", "2026-01-02", "-q"]) == 0
    capsys.readouterr()
    picture = tmp_path / "one.png"
    assert main(["history", "--config", str(config), "--plot", str(picture), "--json", "-q"]) == 0
    rows = json.loads(capsys.readouterr().out)  # --json output stays parseable
    assert {r["class"] for r in rows} == {"0", "1"}
    assert png_size(picture) == pixels(DRIFT_FIGURE_SIZE)
    series = json.loads(picture.with_suffix(".json").read_text())
    assert [r["run_date"] for r in series["runs"]] == ["2026-01-02"]
    shares = series["runs"][0]["shares"]
    assert shares["0"] + shares["1"] == pytest.approx(1.0) and 0.005 < shares["1"] < 0.05
    assert series["factor_changes"] == []


def test_drift_series_ignores_missing_classes_in_factor_changes():
    rows = _history_rows("d", 2, dt.date(2026, 1, 1), None)
    rows = [r for r in rows if not (r["run_id"] == "r1" and r["class"] == "1")]
    series = drift_series(rows, "d")
    assert series["runs"][1]["shares"]["1"] is None and series["factor_changes"] == []




def variant(ratio: float, pr: float, seconds: float) -> VariantMetrics:
    bins = tuple(CalibrationBin(rows=100, mean_prediction=0.01 * i * ratio, observed_rate=0.01 * i) for i in range(1, 6))
    return VariantMetrics(rows=5_000, positives=500, base_rate=0.1, mean_prediction=0.1 * ratio,
                          calibration_ratio=ratio, ece=0.01, log_loss=0.1 * ratio, brier=0.05, pr_auc=pr, roc_auc=0.8,
                          calibration_bins=bins, pr_auc_vs_f1=None, train_seconds=seconds, iterations=10)


def report() -> EvaluationReport:
    """A small evaluation report, every number made up: the figures draw what it says."""
    sweep = []
    for f, rows in ((1.0, 10_000), (10.0, 1_900)):
        sweep.append(SweepPoint(
            factor=f, train_rows=rows, sample_bytes=rows * 50, logit_offset=0.0,
            classes={"0": ClassCount("majority", rows - 1_000, 9_000.0), "1": ClassCount("minority", 1_000, 1_000.0)},
            variants={"weighted": variant(1.0, 0.40, 3.0), "unweighted": variant(f, 0.39, 2.0),
                      "king_zeng": variant(1.0, 0.39, 2.0)},
        ))
    classes = {"0": ClassCount("majority", 9_000, 9_000.0), "1": ClassCount("minority", 1_000, 1_000.0)}
    return EvaluationReport(
        kind="evaluate", dataset="d", package_version="0", config_file=None, config_sha256=None, created_at="",
        label_column="y", positive_classes=("1",), model="logistic", method="sampleBy", seed=1, weight_column="w",
        input=InputInfo("d", 0, None, True, "MEMORY_AND_DISK", "persisted"),
        split=SplitInfo("hash", None, 0.3, ("id",), 1, None),
        features=FeaturesInfo(("x",), (), NullsInfo("impute", {"train": 0, "test": 0}, {"x": 0}, 0, "")),
        train=TrainSide(10_000, classes), test=TestSide(5_000, 500, 0.1, classes),
        factors=(1.0, 10.0), configured_factor=10.0, reliability_factor=10.0, tolerance=0.02,
        calibration_tolerance=0.1, bins=5, bootstrap=BootstrapInfo(10, 1, 100, "", ""), sweep=tuple(sweep),
        recommendation=Recommendation(10.0, True, "", 400), notes=(),
    )


def test_every_figure_is_a_real_png(tmp_path):
    paths = draw_evaluation_figures(report(), tmp_path / "figs")
    assert set(paths) == {"reliability", "sweep", "class_counts"}
    for path in paths.values():
        data = open(path, "rb").read()
        assert data[:8] == PNG_SIGNATURE and len(data) > 10_000, path


def test_drift_axes_fit_the_shares_and_name_the_x_axis():
    rows = _history_rows("d", 3, dt.date(2026, 1, 1), None)  # the majority near 100%
    series = drift_series(rows, "d")
    ax = drift_figure(series).axes[0]
    top = max(s for r in series["runs"] for s in r["shares"].values())
    assert ax.get_ylim()[1] > 1.2 * top, "no point sits on the top border"
    assert ax.get_ylim()[0] < min(s for r in series["runs"] for s in r["shares"].values())
    assert ax.get_xlabel() == X_RUN_DATE == series["x_axis"]
    # runs without a date (no input.date_column): placed at the day they were recorded, and said so
    undated = drift_series([r | {"run_date": None, "run_end_date": None} for r in rows], "d")
    assert undated["x_axis"] == X_RECORDED and not any(r["dated"] for r in undated["runs"])
    assert [r["run_date"] for r in undated["runs"]] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    ax = drift_figure(undated).axes[0]
    assert ax.get_xlabel() == X_RECORDED and "recorded day" in ax.get_title()


@pytest.fixture(scope="module")
def whole_table_runs(spark, small_fraud_table, tmp_path_factory):
    """Two whole-table runs into one history table: one with a date column (and a report path, so its
    picture is drawn beside the report), one without. Returns both reports and the folder."""
    tmp = tmp_path_factory.mktemp("whole_table_runs")
    base = {
        "dataset": "span", "input": {"path": small_fraud_table, "date_column": "event_date"},
        "label_column": "is_fraud", "minority_classes": [1], "downsampling": {"factor": 5},
        "output": {"path": str(tmp / "o1")}, "history": {"path": str(tmp / "history")},
    }
    dated = run_job(spark, parse_config(base | {"report": {"path": str(tmp / "reports" / "fraud.json")}}))
    undated = run_job(spark, parse_config(base | {
        "dataset": "undated", "input": {"path": small_fraud_table}, "output": {"path": str(tmp / "o2")}}))
    return dated, undated, tmp


def test_run_writes_its_picture_beside_the_report(whole_table_runs):
    report, _, tmp = whole_table_runs
    report_path = tmp / "reports" / "fraud.json"
    picture = tmp / "reports" / "fraud.png"
    assert report.figures == {"run": str(picture)}
    assert json.loads(report_path.read_text())["figures"] == {"run": str(picture)}
    assert png_size(picture) == pixels(RUN_FIGURE_SIZE)
    assert picture.stat().st_size > 20_000, "a blank canvas compresses to a few kB"
    from imbalance_spark.report.render import render_report

    assert f"picture of the run: {picture}" in render_report(report)


def test_whole_table_runs_record_the_data_span_or_no_date(spark, whole_table_runs, capsys):
    dated, undated, tmp = whole_table_runs
    history = tmp / "history"
    assert dated.run_dates == ReportDates("2026-01-01", "2026-01-03", sliced=False)
    assert undated.run_dates == ReportDates(None, None, sliced=False)
    rows = {r.dataset: r for r in spark.read.format("delta").load(str(history)).collect()}
    assert (rows["span"].run_date, rows["span"].run_end_date) == (dt.date(2026, 1, 1), dt.date(2026, 1, 3))
    assert rows["undated"].run_date is None and rows["undated"].run_end_date is None
    config = write_config(tmp / "undated.yaml", HISTORY_CONFIG.format(dataset="undated", history=history))
    picture = tmp / "undated.png"
    assert main(["history", "--config", str(config), "--plot", str(picture), "-q"]) == 0
    printed = [line.split() for line in capsys.readouterr().out.splitlines()[1:] if line[:2] == "20"]
    assert len(printed) == 2 and all(fields[2] == "-" for fields in printed), "no run date: printed as -"
    series = json.loads(picture.with_suffix(".json").read_text())
    assert series["x_axis"] == X_RECORDED and [r["dated"] for r in series["runs"]] == [False]
    assert png_size(picture) == pixels(DRIFT_FIGURE_SIZE)


def test_sweep_figure_shows_coinciding_lines_and_says_time_is_one_run(tmp_path, monkeypatch):
    """King-Zeng's PR-AUC is the unweighted model's: its line is drawn dashed on top and the legend says so."""
    from imbalance_spark.figures import evaluation

    drawn = []
    monkeypatch.setattr(evaluation, "_save_png", lambda fig, path: drawn.append(fig) or str(path))
    evaluation.draw_sweep(report(), tmp_path / "sweep.png")
    pr_auc, _, seconds, _ = drawn[0].axes[:4]
    lines = {line.get_label(): line for line in pr_auc.get_lines()}
    (kz,) = [line for label, line in lines.items() if label.startswith("unweighted + King-Zeng")]
    assert "the lines coincide" in kz.get_label() and kz.get_linestyle() == "--"
    assert lines["unweighted"].get_linestyle() == "-" and lines["unweighted"].get_linewidth() > kz.get_linewidth()
    assert "the lines coincide" not in lines["weighted (weightCol)"].get_label()
    assert seconds.get_title() == TIME_TITLE and "single run" in TIME_TITLE
    assert _coincide([0.39, None], [0.39, None]) and not _coincide([0.39], [0.40])

