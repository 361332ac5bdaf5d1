"""`evaluate.model: xgboost`: XGBoost's Spark estimator in the sweep, and its extra missing (one line)."""

from __future__ import annotations

import sys

import pytest
import yaml

from imbalance_spark.cli import main
from imbalance_spark.config.load import parse_config
from imbalance_spark.flows.evaluate import evaluate_job
from imbalance_spark.synthetic import generate_logistic
from tests.conftest import write_config

# Ten rounds: the weighted trees predict the test base rate within 2% and King-Zeng's correction within
# 9% (measured; the bounds below are 25%); a round more or less costs little beside each fit's barrier stage.
ROUNDS = 10


def config_data(input_path: str, out, **evaluate) -> dict:
    return {
        "dataset": "logistic_xgb",
        "input": {"path": input_path, "format": "delta", "date_column": "event_date"},
        "label_column": "label",
        "minority_classes": [1],
        "downsampling": {"factor": 10, "seed": 42},
        "output": {"path": str(out / "output")},
        "evaluate": {
            "features": ["x1", "device.score", "segment"],
            "factors": [1, 10],
            "model": "xgboost",
            "max_iter": ROUNDS,
            "max_depth": 3,
            "output_dir": str(out / "evaluate"),
            "split": {"by": "date", "test_from": "2026-01-08"},
            **evaluate,
        },
    }


@pytest.fixture(scope="module")
def xgb_evaluation(spark, tmp_path_factory):
    """One small evaluation with model xgboost, in process and without figures (test_evaluate.py runs
    the CLI and draws them; the XGBoost fits are what this adds)."""
    pytest.importorskip("xgboost.spark")
    out = tmp_path_factory.mktemp("xgb")
    table = str(out / "table")
    # ~30,000 rows, ~6% positives: ~450 test positives (the test base rate known to ~5%); each XGBoost fit
    # costs seconds whatever its rows (a barrier stage and a Python worker), so fewer rows would only
    # widen the bounds below
    generate_logistic(spark, rows=30_000, intercept=-3.5, days=10, seed=6).write.format("delta").save(table)
    report = evaluate_job(spark, parse_config(config_data(table, out)), figures=False)
    return report.to_dict()


@pytest.mark.slow
def test_xgboost_variants_weighted_unweighted_and_king_zeng(xgb_evaluation):
    report = xgb_evaluation
    base = report["test"]["base_rate"]
    one, ten = report["sweep"]
    assert report["model"] == "xgboost" and (one["factor"], ten["factor"]) == (1.0, 10.0)
    for point in (one, ten):
        weighted = point["variants"]["weighted"]
        assert weighted["iterations"] == ROUNDS and weighted["train_seconds"] > 0
        assert weighted["roc_auc"] > 0.75 and weighted["pr_auc"] > 2 * base
        # weight_col: the weighted trees predict the test base rate (5 s.e. of it: 0.25)
        assert abs(weighted["mean_prediction"] / base - 1) < 0.25, (point["factor"], weighted["mean_prediction"])
        assert point["stages_s"]["fit_weighted"] >= weighted["train_seconds"]
    at_f = ten["variants"]
    # unweighted trees learn the sample's odds (F times too high); the logit shift ln(1/F) brings them back
    assert at_f["unweighted"]["calibration_ratio"] > 3
    assert abs(at_f["king_zeng"]["calibration_ratio"] - 1) < 0.25
    assert at_f["king_zeng"]["roc_auc"] == pytest.approx(at_f["unweighted"]["roc_auc"], abs=2e-3)
    assert ten["stages_s"]["fit_unweighted"] > 0 and "bootstrap" in ten["stages_s"]
    assert ten["variants"]["weighted"]["pr_auc_vs_f1"]["half_width"] > 0


def test_missing_xgboost_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    # sys.modules[name] = None is how Python marks a package as not importable
    monkeypatch.setitem(sys.modules, "xgboost", None)
    monkeypatch.setitem(sys.modules, "xgboost.spark", None)
    cfg = write_config(tmp_path / "x.yaml", yaml.safe_dump(config_data("/nowhere/in", tmp_path)))
    code = main(["evaluate", "--config", str(cfg)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0] == (f"imbalance-spark: error: {cfg}: evaluate.model: xgboost needs the xgboost package, which is"
                      " not installed: pip install 'imbalance-spark[xgboost]'")


@pytest.mark.parametrize(
    ("evaluate", "message"),
    [
        ({"model": "logistic", "max_depth": 3}, "evaluate: `max_depth` only applies to the tree models"),
        ({"model": "gbt", "learning_rate": 0.1}, "evaluate: `learning_rate` and `num_workers` only apply to model: xgboost"),
        ({"learning_rate": 0}, "evaluate.learning_rate: Input should be greater than 0"),
        ({"num_workers": 0}, "evaluate.num_workers: Input should be greater than or equal to 1"),
    ],
)
def test_model_options_are_checked_before_spark(tmp_path, evaluate, message):
    from imbalance_spark.config.load import load_config
    from imbalance_spark.errors import ConfigError

    data = config_data("/data/in", tmp_path)
    data["evaluate"].pop("max_depth")
    data["evaluate"].update(evaluate)
    path = write_config(tmp_path / "bad.yaml", yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert "\n" not in text and message in text, text
