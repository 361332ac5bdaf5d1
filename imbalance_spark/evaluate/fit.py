"""Fitting the evaluation models (MLlib, or XGBoost's Spark estimator) and their predicted probabilities.
"""

from __future__ import annotations

import time

from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from imbalance_spark.config.models import EvaluateConfig, JobConfig
from imbalance_spark.errors import ConfigError
from imbalance_spark.evaluate.features import FEATURES
from imbalance_spark.evaluate.metrics import LABEL, SCORE

XGBOOST_INSTALL = "pip install 'imbalance-spark[xgboost]'"


def config_for_factor(cfg: JobConfig, factor: float) -> JobConfig:
    """The job's config with every majority class downsampled by ``factor`` (and no degree skip)."""
    ds = cfg.downsampling.model_copy(update={"factor": factor, "target_minority_share": None, "skip_if_degree": []})
    return cfg.model_copy(update={"downsampling": ds})


def require_model_package(ev: EvaluateConfig | None, source: str = "config") -> None:
    """Fail with one line naming the extra when ``model: xgboost`` is configured but not installed."""
    if ev is None or ev.model != "xgboost":
        return
    try:
        import sklearn  # noqa: F401  (xgboost.spark's estimator is built on XGBoost's scikit-learn wrapper)
        import xgboost.spark  # noqa: F401
    except ImportError:
        raise ConfigError(f"{source}: evaluate.model: xgboost needs the xgboost package, which is not"
                          f" installed: {XGBOOST_INSTALL}") from None


def _estimator(ev: EvaluateConfig, weight_column: str | None, seed: int):
    if ev.model == "xgboost":
        from xgboost.spark import SparkXGBClassifier

        params = {"max_depth": ev.max_depth, "learning_rate": ev.learning_rate}
        return SparkXGBClassifier(
            features_col=FEATURES, label_col=LABEL, weight_col=weight_column, n_estimators=ev.max_iter,
            num_workers=ev.num_workers, random_state=seed,
            **{k: v for k, v in params.items() if v is not None},
        )
    if ev.model == "gbt":
        estimator = GBTClassifier(featuresCol=FEATURES, labelCol=LABEL, maxIter=ev.max_iter, seed=seed)
        if ev.max_depth is not None:
            estimator = estimator.setMaxDepth(ev.max_depth)
    else:
        estimator = LogisticRegression(
            featuresCol=FEATURES, labelCol=LABEL, maxIter=ev.max_iter, regParam=float(ev.reg_param)
        )
    return estimator.setWeightCol(weight_column) if weight_column is not None else estimator


def fit_model(train_df: DataFrame, ev: EvaluateConfig, weight_column: str | None, seed: int):
    """Fit the configured model; return (model, seconds, iterations: LR's, or the trees' rounds)."""
    estimator = _estimator(ev, weight_column, seed)
    t0 = time.perf_counter()
    model = estimator.fit(train_df)
    seconds = time.perf_counter() - t0
    if ev.model == "xgboost":
        iterations = model.get_booster().num_boosted_rounds()
    elif ev.model == "gbt":
        iterations = model.getNumTrees
    else:
        iterations = model.summary.totalIterations if model.hasSummary else None
    return model, seconds, iterations


def with_logit_offset(p, offset: float):
    """The probability column ``p`` with its logit shifted by ``offset`` (``p`` itself for 0)."""
    if not offset:
        return p
    clipped = F.least(F.greatest(p, F.lit(1e-15)), F.lit(1.0 - 1e-15))
    logit = F.log(clipped / (F.lit(1.0) - clipped)) + F.lit(offset)
    return F.lit(1.0) / (F.lit(1.0) + F.exp(-logit))


def with_probability(pred_df: DataFrame, logit_offset: float = 0.0, keep: tuple[str, ...] = ()) -> DataFrame:
    """The positive-class probability as ``__p`` (beside ``keep``), its logit shifted by ``logit_offset``.

    The shift is the King-Zeng prior correction for every model: a tree ensemble's output is the
    sigmoid of an additive margin too, so shifting the logit of its probability is exactly XGBoost's
    ``base_margin`` at prediction time, with no second scoring path.
    """
    p = with_logit_offset(vector_to_array(F.col("probability"))[1], logit_offset)
    return pred_df.select(*keep, LABEL, p.alias(SCORE))
