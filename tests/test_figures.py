"""Figures are drawn from a report dict alone (no Spark): real, non-empty PNGs."""

from __future__ import annotations

from imbalance_spark.figures import draw_evaluation_figures

PNG = b"\x89PNG\r\n\x1a\n"


def variant(ratio: float, pr: float, seconds: float) -> dict:
    bins = [{"rows": 100, "mean_prediction": 0.01 * i * ratio, "observed_rate": 0.01 * i} for i in range(1, 6)]
    return {"pr_auc": pr, "log_loss": 0.1 * ratio, "train_seconds": seconds, "calibration_ratio": ratio,
            "calibration_bins": bins}


def report() -> dict:
    sweep = []
    for f, rows in ((1.0, 10_000), (10.0, 1_900)):
        sweep.append({
            "factor": f, "train_rows": rows, "sample_bytes": rows * 50,
            "classes": {"0": {"count": rows - 1_000, "weight_sum": 9_000.0}, "1": {"count": 1_000, "weight_sum": 1_000.0}},
            "variants": {"weighted": variant(1.0, 0.40, 3.0), "unweighted": variant(f, 0.39, 2.0),
                         "king_zeng": variant(1.0, 0.39, 2.0)},
        })
    return {
        "dataset": "d", "model": "logistic", "label_column": "y", "bins": 5, "tolerance": 0.02,
        "reliability_factor": 10.0, "test": {"rows": 5_000, "base_rate": 0.1},
        "train": {"classes": {"0": {"count": 9_000, "role": "majority"}, "1": {"count": 1_000, "role": "minority"}}},
        "sweep": sweep, "recommendation": {"factor": 10.0},
    }


def test_every_figure_is_a_real_png(tmp_path):
    paths = draw_evaluation_figures(report(), tmp_path / "figs")
    assert set(paths) == {"reliability", "sweep", "class_counts"}
    for path in paths.values():
        data = open(path, "rb").read()
        assert data[:8] == PNG and len(data) > 10_000, path
