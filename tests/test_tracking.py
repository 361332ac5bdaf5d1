"""MLflow tracking against a real local store (SQLite file + artifact folder), read back with MlflowClient."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from imbalance_spark.cli import main
from imbalance_spark.config.load import load_config
from imbalance_spark.errors import TrackingError
from imbalance_spark.flows.run import run_job
from tests.conftest import write_config
from tests.test_figures import png_size

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
from mlflow import MlflowClient  # noqa: E402

CONFIG = """\
dataset: tracked
input: {{path: {input}, date_column: event_date}}
label_column: is_fraud
minority_classes: [1]
downsampling: {{factor: 10, seed: 3}}
output: {{path: {output}, partition_by: [event_date]}}
{report}tracking:
  mlflow: {{experiment: from_config}}
"""


@pytest.fixture(scope="module")
def store(mlflow_store):
    """The session's SQLite tracking store (tests/conftest.py), which the shared evaluation logs to too;
    artifacts land in the folder beside it (MLflow's default root is ./mlruns)."""
    return mlflow_store


@pytest.fixture()
def tracking_env(store, monkeypatch):
    root, uri = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(root)
    return MlflowClient(uri)


def only_run(client: MlflowClient, experiment: str):
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"experiment {experiment} was not created"
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    return runs[0]


def artifact_paths(client: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    found = []
    for a in client.list_artifacts(run_id, path):
        found += artifact_paths(client, run_id, a.path) if a.is_dir else [a.path]
    return sorted(found)


def test_cli_run_logged_with_params_metrics_artifacts_and_table_versions(spark, small_fraud_table, tmp_path, tracking_env, capsys):
    client = tracking_env
    out = tmp_path / "out"
    config = write_config(tmp_path / "tracked.yaml", CONFIG.format(
        input=small_fraud_table, output=out, report=f"report: {{path: {tmp_path / 'reports' / 'tracked.json'}}}\n"))
    code = main(["run", "--config", str(config), "--run-date", "2026-01-02", "--mlflow-experiment", "from_cli", "-q"])
    console = capsys.readouterr().out
    assert code == 0
    report = json.loads((tmp_path / "reports" / "tracked.json").read_text())
    assert client.get_experiment_by_name("from_config") is None, "--mlflow-experiment wins over the config"
    run = only_run(client, "from_cli")
    assert run.info.status == "FINISHED" and run.info.run_name == "tracked 2026-01-02"
    assert report["mlflow"]["run_id"] == run.info.run_id
    assert f"MLflow run {run.info.run_id} in experiment 'from_cli'" in console

    params = run.data.params
    assert params["dataset"] == "tracked" and params["method"] == "sampleBy" and params["seed"] == "3"
    assert params["factor.0"] == "10.0" and params["factor.1"] == "1.0"
    assert params["weight_mode"] == "nominal" and params["run_dates"] == "2026-01-02"
    assert params["config_sha256"] == hashlib.sha256(config.read_bytes()).hexdigest()

    metrics = run.data.metrics
    for key in ("0", "1"):
        assert metrics[f"input.count.{key}"] == report["input"]["classes"][key]["count"]
        assert metrics[f"input.share.{key}"] == pytest.approx(report["input"]["classes"][key]["share"])
        assert metrics[f"output.count.{key}"] == report["output"]["classes"][key]["count"]
        assert metrics[f"output.weight_sum.{key}"] == pytest.approx(report["output"]["classes"][key]["weight_sum"])
    assert metrics["output.share.0"] + metrics["output.share.1"] == pytest.approx(1.0)
    assert metrics["output.rows"] == report["output"]["rows"] and metrics["stage_s.write"] > 0

    assert artifact_paths(client, run.info.run_id) == ["report/tracked.json", "report/tracked.png"]
    local = Path(client.download_artifacts(run.info.run_id, "report", str(tmp_path / "dl")))
    assert json.loads((local / "tracked.json").read_text()) == report
    assert png_size(local / "tracked.png")[0] > 0

    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"tracked.input", "tracked.output"}
    tags = {name: {t.key: t.value for t in d.tags} for name, d in inputs.items()}
    assert tags["tracked.input"]["mlflow.data.context"] == "source"
    assert tags["tracked.output"]["mlflow.data.context"] == "training"
    source_in = json.loads(inputs["tracked.input"].dataset.source)
    source_out = json.loads(inputs["tracked.output"].dataset.source)
    assert inputs["tracked.output"].dataset.source_type == "delta_table"
    assert source_in == {"path": small_fraud_table, "delta_table_version": report["input_version"]}
    assert source_out == {"path": str(out), "delta_table_version": report["output"]["version"]} and report["output"]["version"] == 0
    profile = json.loads(inputs["tracked.output"].dataset.profile)
    assert profile["num_rows"] == report["output"]["rows"]
    assert "is_fraud" in inputs["tracked.input"].dataset.schema
    # the logged source reloads the exact table version the run wrote
    reloaded = mlflow.data.get_source(inputs["tracked.output"]).load()
    assert reloaded.count() == report["output"]["rows"]


def test_config_experiment_without_report_path_logs_report_and_picture(spark, small_fraud_table, tmp_path, tracking_env):
    client = tracking_env
    config = write_config(tmp_path / "c.yaml", CONFIG.format(input=small_fraud_table, output=tmp_path / "out", report=""))
    cfg = load_config(config)
    report = run_job(spark, cfg)
    run = only_run(client, "from_config")
    assert run.info.run_id == report.mlflow.run_id and report.figures is None
    assert artifact_paths(client, run.info.run_id) == ["report/tracked.json", "report/tracked.png"]
    local = Path(client.download_artifacts(run.info.run_id, "report/tracked.png", str(tmp_path / "dl")))
    assert png_size(local) == (1100, 500)
    assert "run_dates" not in run.data.params, "a whole-table run has no run dates"


def test_evaluate_logs_the_input_at_the_delta_version_it_read(segment_evaluation, tracking_env, tmp_path):
    """The real evaluate path into a real store: the input dataset's Delta version is the table's own.

    The shared evaluation (tests/conftest.py) ran `evaluate --mlflow-experiment` on a table at
    version 1, into this module's store.
    """
    from imbalance_spark.evaluate.report import EvaluationReport
    from imbalance_spark.tracking.runs import log_evaluation

    client, table, version = tracking_env, segment_evaluation.table, 1
    assert segment_evaluation.experiment == "evaluations"
    report = json.loads((segment_evaluation.out / "evaluate" / "evaluate.json").read_text())
    assert report == segment_evaluation.report, "the JSON printed is the one written"
    assert report["input"]["version"] == version

    run = only_run(client, "evaluations")
    assert report["mlflow"]["run_id"] == run.info.run_id
    (dataset,) = run.inputs.dataset_inputs
    tags = {t.key: t.value for t in dataset.tags}
    assert tags["mlflow.data.context"] == "evaluation" and tags["imbalance_spark.delta_version"] == str(version)
    assert json.loads(dataset.dataset.source) == {"path": table, "delta_table_version": version}
    assert dataset.dataset.name == "segments.input"

    assert run.info.status == "FINISHED" and run.data.tags["imbalance_spark.kind"] == "evaluate"
    params, metrics = run.data.params, run.data.metrics
    assert params["model"] == "logistic" and params["recommendation.reason"] == report["recommendation"]["reason"]
    assert params["config_sha256"] == hashlib.sha256(segment_evaluation.config.read_bytes()).hexdigest()
    weighted = [s["variants"]["weighted"]["pr_auc"] for s in report["sweep"]]
    assert metrics["sweep.F10.variants.weighted.pr_auc"] == weighted[1]
    assert metrics["sweep.F10.stages_s.fit_weighted"] == report["sweep"][1]["stages_s"]["fit_weighted"]
    history = client.get_metric_history(run.info.run_id, "sweep.variants.weighted.pr_auc")
    assert sorted((m.step, m.value) for m in history) == [(1, weighted[0]), (10, weighted[1])]
    assert artifact_paths(client, run.info.run_id) == [
        "evaluation/calibration_groups.png", "evaluation/class_counts.png", "evaluation/reliability.png",
        "evaluation/segments.json", "evaluation/sweep.png"]
    local = Path(client.download_artifacts(run.info.run_id, "evaluation/segments.json", str(tmp_path / "dl")))
    logged = json.loads(local.read_text())
    assert logged == {k: v for k, v in report.items() if k != "mlflow"}
    assert log_evaluation(EvaluationReport.from_dict(logged), [], None) is None, "no experiment: nothing logged"


def test_missing_mlflow_package_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    # sys.modules[name] = None is how Python marks a package as not importable
    monkeypatch.setitem(sys.modules, "mlflow", None)
    config = write_config(tmp_path / "c.yaml", CONFIG.format(input="/nowhere/in", output=tmp_path / "out", report=""))
    code = main(["run", "--config", str(config)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 7 and len(err) == 1
    assert err[0] == ("imbalance-spark: error: MLflow tracking is requested but the mlflow package is not installed:"
                      " pip install 'imbalance-spark[mlflow]'")


def test_unusable_tracking_uri_is_a_tracking_error(monkeypatch):
    from imbalance_spark.tracking.runs import start_mlflow_run

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://host/x")
    with pytest.raises(TrackingError, match="could not start a run in experiment 'e' at nosuchscheme://host/x"):
        start_mlflow_run("e", "r")


def test_demo_end_to_end_picture_history_plot_and_mlflow_run(spark, tmp_path, tracking_env, monkeypatch, capsys):
    client = tracking_env
    monkeypatch.chdir(tmp_path)  # the demo config's paths (data/demo/...) are relative to the working directory
    assert main(["demo", "--rows", "20000", "--mlflow-experiment", "demo", "-q"]) == 0
    reports = tmp_path / "data" / "demo" / "reports"
    report = json.loads((reports / "demo_fraud.json").read_text())
    assert png_size(reports / "demo_fraud.png") == (1100, 500)
    run = only_run(client, "demo")
    assert run.info.run_id == report["mlflow"]["run_id"] and run.data.params["factor.0"] == "20.0"
    assert run.data.metrics["input.rows"] == 20_000
    assert {d.dataset.name for d in run.inputs.dataset_inputs} == {"demo_fraud.input", "demo_fraud.output"}
    assert artifact_paths(client, run.info.run_id) == ["report/demo_fraud.json", "report/demo_fraud.png"]
    capsys.readouterr()
    config = Path(__file__).resolve().parent.parent / "conf" / "datasets" / "demo_fraud.yaml"
    assert main(["history", "--config", str(config), "--plot", "drift.png", "-q"]) == 0
    assert "picture of the class drift: drift.png" in capsys.readouterr().out
    assert png_size(tmp_path / "drift.png") == (1100, 550)
    assert json.loads((tmp_path / "drift.json").read_text())["runs"][0]["shares"]["1"] == report["input"]["classes"]["1"]["share"]
