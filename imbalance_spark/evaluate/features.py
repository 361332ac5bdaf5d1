"""Features for the evaluation models: which columns, encoders and the assembled vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.ml import Pipeline
from pyspark.ml.feature import Imputer, OneHotEncoder, StringIndexer, VectorAssembler
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import DataFrameMissingColumnError, InputError
from imbalance_spark.evaluate.metrics import LABEL
from imbalance_spark.read import NUMERIC_TYPES, describe_input
from imbalance_spark.transform import (
    column,
    label_key_column,
    value_by_class,
)

FEATURES = "__features"


@dataclass(frozen=True)
class FeatureSpec:
    """The configured features by kind, each with the internal column name MLlib stages see."""

    numeric: tuple[tuple[str, str], ...]
    categorical: tuple[tuple[str, str], ...]

    @property
    def all(self) -> tuple[tuple[str, str], ...]:
        return self.numeric + self.categorical


def feature_spec(schema: T.StructType, cfg: JobConfig) -> FeatureSpec:
    """Sort the configured features into numeric and categorical; one-line errors for unusable ones."""
    fields = {f.name: f for f in schema.fields}
    numeric, categorical = [], []
    for i, name in enumerate(cfg.evaluate.features):
        if name not in fields:
            raise DataFrameMissingColumnError(
                f"evaluate.features: column {name!r} is not in input {describe_input(cfg)}"
                f" (columns: {', '.join(fields)})"
            )
        dtype = fields[name].dataType
        # Internal names: MLlib stages resolve column names themselves, and a dot would read as a path.
        if isinstance(dtype, (*NUMERIC_TYPES, T.BooleanType)):
            numeric.append((name, f"__num_{i}"))
        elif isinstance(dtype, T.StringType):
            categorical.append((name, f"__cat_{i}"))
        else:
            raise InputError(
                f"evaluate.features: column {name!r} has type {dtype.simpleString()};"
                " expected a number or boolean (used as is) or a string (one-hot encoded)"
            )
    return FeatureSpec(tuple(numeric), tuple(categorical))


def with_feature_columns(df: DataFrame, spec: FeatureSpec) -> DataFrame:
    """Copy each feature to its internal column: numbers and booleans as double, strings as they are."""
    cols = [column(name).cast("double").alias(internal) for name, internal in spec.numeric]
    cols += [column(name).alias(internal) for name, internal in spec.categorical]
    return df.select("*", *cols)


def any_null_feature(spec: FeatureSpec) -> Column:
    """True where at least one feature is null (or a numeric feature is NaN)."""
    cond = F.lit(False)
    for _, internal in spec.numeric:
        cond = cond | F.col(internal).isNull() | F.isnan(F.col(internal))
    for _, internal in spec.categorical:
        cond = cond | F.col(internal).isNull()
    return cond


def feature_pipeline(spec: FeatureSpec) -> Pipeline:
    """MLlib stages: impute numbers (train mean), index + one-hot strings (unseen and null kept), assemble."""
    stages: list[Any] = []
    inputs: list[str] = []
    if spec.numeric:
        numeric = [internal for _, internal in spec.numeric]
        imputed = [f"{c}_imputed" for c in numeric]
        stages.append(Imputer(inputCols=numeric, outputCols=imputed, strategy="mean"))
        inputs += imputed
    if spec.categorical:
        cats = [internal for _, internal in spec.categorical]
        indexed, encoded = [f"{c}_index" for c in cats], [f"{c}_onehot" for c in cats]
        # handleInvalid keep: a category unseen in training (or a null) gets its own slot, not an error.
        stages.append(StringIndexer(inputCols=cats, outputCols=indexed, handleInvalid="keep"))
        stages.append(OneHotEncoder(inputCols=indexed, outputCols=encoded, handleInvalid="keep"))
        inputs += encoded
    stages.append(VectorAssembler(inputCols=inputs, outputCol=FEATURES))
    return Pipeline(stages=stages)


def with_label(df: DataFrame, label_column: str, positive_values: list[Any]) -> DataFrame:
    """Add the model's 0/1 label: 1.0 for the minority (positive) classes."""
    positive = {v: 1.0 for v in positive_values}
    return df.withColumn(LABEL, value_by_class(label_key_column(df, label_column), positive, 0.0))
