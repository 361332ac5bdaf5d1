"""The ``evaluate`` section: the held-out split and the sweep of factors (docs/choosing-f.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, StrictInt, StrictStr, ValidationInfo, field_validator, model_validator

from imbalance_spark.config.base import Factor, _Model, check_factor


class SplitConfig(_Model):
    """How ``evaluate`` holds the test slice out, before any sampling (never sampled)."""

    # default: date when input.date_column is set (later days test), else hash
    by: Literal["date", "hash"] | None = None
    # date split: rows on or after this day are test (default: the last ~test_fraction of rows by day)
    test_from: dt.date | None = None
    # hash split: the share of rows (decided by a hash of key_columns and seed) held out as test
    test_fraction: Factor = 0.2
    key_columns: list[StrictStr] = Field(default_factory=list)
    seed: StrictInt = 7
    # a uniform, seeded pre-sample of the train slice to at most this many rows (so F = 1 trains)
    train_max_rows: StrictInt | None = Field(None, ge=1)

    @field_validator("test_fraction")
    @classmethod
    def _fraction(cls, value):
        if not (0.0 < value < 1.0):
            raise ValueError(f"must be a share strictly between 0 and 1, e.g. 0.2, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SplitConfig:
        if self.by == "hash" and not self.key_columns:
            raise ValueError("by: hash needs `key_columns` (e.g. [transaction_id]) to decide each row")
        if self.by == "date" and self.key_columns:
            raise ValueError("`key_columns` only apply to by: hash")
        if self.by == "hash" and self.test_from is not None:
            raise ValueError("`test_from` only applies to by: date")
        return self


class EvaluateConfig(_Model):
    """``imbalance-spark evaluate``: train on the sample at several factors, measure on a held-out slice."""

    # numeric columns used as they are; string columns one-hot encoded
    features: list[StrictStr] = Field(min_length=1)
    factors: list[Factor] = Field(default_factory=lambda: [1, 5, 10, 20, 50, 100], min_length=1)
    # logistic and gbt: MLlib; xgboost: xgboost.spark.SparkXGBClassifier (the `xgboost` extra)
    model: Literal["logistic", "gbt", "xgboost"] = "logistic"
    # PR-AUC may drop at most this share (relative) below F = 1 for F to be recommended
    tolerance: Factor = 0.02
    # mean prediction must stay within this share of the test base rate
    calibration_tolerance: Factor = 0.10
    # equal-mass bins of the calibration error and the reliability diagram
    bins: StrictInt = Field(10, ge=2, le=100)
    # fewer positives in the test slice than this: no recommendation (the differences are noise)
    min_test_positives: StrictInt = Field(400, ge=1)
    # the paired bootstrap of each F's PR-AUC difference to F = 1: replicates, their seed, and the
    # equal-mass score bins the PR curves are counted in
    bootstrap_replicates: StrictInt = Field(100, ge=20, le=1000)
    bootstrap_seed: StrictInt = 11
    score_bins: StrictInt = Field(1000, ge=50, le=10_000)
    # rows with a null feature: impute (numeric: the train mean; string: its own category) or drop
    nulls: Literal["impute", "drop"] = "impute"
    # logistic: iterations; gbt and xgboost: trees (boosting rounds)
    max_iter: StrictInt = Field(100, ge=1)
    # trees (gbt, xgboost): their depth and XGBoost's learning rate (None: the learner's default,
    # gbt 5, xgboost 6 and 0.3); XGBoost's training tasks (each uses spark.task.cpus threads)
    max_depth: StrictInt | None = Field(None, ge=1, le=30)
    learning_rate: Factor | None = Field(None, gt=0, le=1)
    num_workers: StrictInt = Field(1, ge=1)
    reg_param: Factor = Field(0.0, ge=0)
    split: SplitConfig = SplitConfig()
    # where the JSON report and figures go (default: an `evaluate` folder beside report.path)
    output_dir: StrictStr | None = None
    # how the split input is kept across the sweep
    storage_level: Literal["MEMORY_AND_DISK", "MEMORY_ONLY", "DISK_ONLY"] = "MEMORY_AND_DISK"
    # calibration per value of these columns on the test slice (calibration_by_segment); None: the
    # default of evaluate.calibration.segment_columns (none today)
    segments: list[StrictStr] | None = None
    # a segment column with more distinct test values than this is refused before any fit
    max_segment_values: StrictInt = Field(50, ge=1)

    @field_validator("factors")
    @classmethod
    def _factors(cls, value):
        for f in value:
            check_factor(f, "every factor")
        if len(set(float(f) for f in value)) != len(value):
            raise ValueError(f"factors repeat a value: {value}")
        return value

    @field_validator("tolerance", "calibration_tolerance")
    @classmethod
    def _share(cls, value):
        if not (0.0 < value < 1.0):
            raise ValueError(f"must be a relative share strictly between 0 and 1, e.g. 0.02, got {value!r}")
        return value

    @model_validator(mode="after")
    def _model_options(self) -> EvaluateConfig:
        if self.model != "xgboost" and (self.learning_rate is not None or self.num_workers != 1):
            raise ValueError("`learning_rate` and `num_workers` only apply to model: xgboost")
        if self.model == "logistic" and self.max_depth is not None:
            raise ValueError("`max_depth` only applies to the tree models (gbt, xgboost)")
        return self

    @field_validator("features", "segments")
    @classmethod
    def _unique(cls, value, info: ValidationInfo):
        if value is None:
            return value
        repeated = sorted({c for c in value if value.count(c) > 1})
        if repeated:
            what = "feature" if info.field_name == "features" else "segment column"
            raise ValueError(f"{what}(s) {repeated} listed twice")
        return value
