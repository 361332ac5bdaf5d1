"""Fitting the evaluation models (MLlib) and their predicted probabilities.
"""

from __future__ import annotations

import time

from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from imbalance_spark.config.models import EvaluateConfig, JobConfig
from imbalance_spark.evaluate.features import FEATURES
from imbalance_spark.evaluate.metrics import LABEL, SCORE


def config_for_factor(cfg: JobConfig, factor: float) -> JobConfig:
    """The job's config with every majority class downsampled by ``factor`` (and no degree skip)."""
    ds = cfg.downsampling.model_copy(update={"factor": factor, "target_minority_share": None, "skip_if_degree": []})
    return cfg.model_copy(update={"downsampling": ds})


def fit_model(train_df: DataFrame, ev: EvaluateConfig, weight_column: str | None, seed: int):
    """Fit the configured MLlib model; return (model, seconds, iterations)."""
    if ev.model == "gbt":
        estimator = GBTClassifier(featuresCol=FEATURES, labelCol=LABEL, maxIter=ev.max_iter, seed=seed)
    else:
        estimator = LogisticRegression(
            featuresCol=FEATURES, labelCol=LABEL, maxIter=ev.max_iter, regParam=float(ev.reg_param)
        )
    if weight_column is not None:
        estimator = estimator.setWeightCol(weight_column)
    t0 = time.perf_counter()
    model = estimator.fit(train_df)
    seconds = time.perf_counter() - t0
    if ev.model == "gbt":
        iterations = model.getNumTrees
    else:
        iterations = model.summary.totalIterations if model.hasSummary else None
    return model, seconds, iterations


def with_probability(pred_df: DataFrame, logit_offset: float = 0.0, keep: tuple[str, ...] = ()) -> DataFrame:
    """The positive-class probability as ``__p`` (beside ``keep``), its logit shifted by ``logit_offset``."""
    p = vector_to_array(F.col("probability"))[1]
    if logit_offset:
        clipped = F.least(F.greatest(p, F.lit(1e-15)), F.lit(1.0 - 1e-15))
        logit = F.log(clipped / (F.lit(1.0) - clipped)) + F.lit(logit_offset)
        p = F.lit(1.0) / (F.lit(1.0) + F.exp(-logit))
    return pred_df.select(*keep, LABEL, p.alias(SCORE))
