"""The typed, frozen config of one dataset YAML (:class:`JobConfig`), validated before Spark starts.

Its sections live in ``sections`` (the run), ``runtime`` (Spark, Airflow) and ``evaluate``; they
are re-exported here, so ``from imbalance_spark.config.models import OutputConfig`` keeps working.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, StrictStr, model_validator

from imbalance_spark.common.names import label_key
from imbalance_spark.common.text import redact
from imbalance_spark.config.base import Degree, Factor, Label, _Model, check_factor, inside
from imbalance_spark.config.evaluate import EvaluateConfig, SplitConfig
from imbalance_spark.config.runtime import ScheduleConfig, SparkConfig
from imbalance_spark.config.sections import (
    DownsamplingConfig,
    GuardsConfig,
    HistoryConfig,
    IncrementalConfig,
    InputConfig,
    MlflowConfig,
    OutputConfig,
    ReportConfig,
    TrackingConfig,
    WeightConfig,
)

__all__ = [
    "Degree", "DownsamplingConfig", "EvaluateConfig", "Factor", "GuardsConfig", "HistoryConfig", "IncrementalConfig",
    "InputConfig", "JobConfig", "Label", "MlflowConfig", "OutputConfig", "ReportConfig", "ScheduleConfig",
    "SparkConfig", "SplitConfig", "TrackingConfig", "WeightConfig", "check_factor", "inside", "redact",
]


class JobConfig(_Model):
    dataset: StrictStr
    input: InputConfig
    label_column: StrictStr
    minority_classes: list[Label] | None = None
    null_labels: Literal["error", "drop"] = "error"
    downsampling: DownsamplingConfig
    weight: WeightConfig = WeightConfig()
    output: OutputConfig
    report: ReportConfig = ReportConfig()
    guards: GuardsConfig = GuardsConfig()
    history: HistoryConfig = HistoryConfig()
    spark: SparkConfig = SparkConfig()
    # No block: no DAG. A block without `enabled` schedules the dataset.
    schedule: ScheduleConfig = ScheduleConfig(enabled=False)
    tracking: TrackingConfig = TrackingConfig()
    evaluate: EvaluateConfig | None = None
    # run --incremental: the input as a Delta stream (docs/production.md#incremental-runs)
    incremental: IncrementalConfig | None = None
    # Set by load_config: where the config came from and its content hash.
    source_file: StrictStr | None = None
    source_sha256: StrictStr | None = None
    # Values expanded from secret-named ${VAR}s, masked wherever the job prints text.
    secrets: tuple[StrictStr, ...] = Field(default=(), repr=False, exclude=True)

    def redact(self, text: str) -> str:
        """``text`` with secrets masked."""
        return redact(text, self.secrets)

    @model_validator(mode="after")
    def _consistent(self) -> JobConfig:
        _check_minority(self)
        _check_output_columns(self)
        _check_stats_columns(self)
        if self.input.date_column and self.input.date_column == self.label_column:
            raise ValueError("input.date_column: must differ from label_column")
        if self.evaluate is not None:
            _check_evaluate(self)
        if self.incremental is not None:
            _check_incremental(self)
        return self

    def split_by(self) -> str:
        """The evaluate split actually used: the configured one, else date when the input has one."""
        split = self.evaluate.split if self.evaluate else SplitConfig()
        return split.by or ("date" if self.input.date_column else "hash")

    def stats_columns(self) -> list[str] | None:
        """The output columns Delta collects file statistics for; None: Delta's default (first 32)."""
        if self.output.stats_columns == "all":
            return None
        if self.output.stats_columns is not None:
            return list(self.output.stats_columns)
        wanted = [self.label_column, self.weight.column, self.input.date_column]
        return [c for c in dict.fromkeys(wanted) if c is not None and c not in self.output.partition_by]

    def minority_keys(self) -> set[str] | None:
        """Configured minority classes as canonical keys, or None for the default."""
        if self.minority_classes is None:
            return None
        return {label_key(v) for v in self.minority_classes}

    def summary(self) -> dict[str, Any]:
        """The config as plain data, secrets masked and reader options left out."""
        data = self.model_dump(mode="json", exclude={"source_file", "source_sha256", "secrets"})
        data["input"].pop("options", None)
        if not self.downsampling.strata:  # an unstratified run's summary stays as it was
            data["downsampling"].pop("strata", None)
            data["downsampling"].pop("max_strata", None)
        return json.loads(self.redact(json.dumps(data)))


def _check_minority(cfg: JobConfig) -> None:
    minority = cfg.minority_keys()
    if minority is not None and not minority:
        raise ValueError("minority_classes: the list is empty; omit the key for the default")
    if isinstance(cfg.downsampling.factor, dict) and minority:
        both = sorted({label_key(k) for k in cfg.downsampling.factor} & minority)
        if both:
            raise ValueError(
                f"downsampling.factor: class(es) {both} are also listed in minority_classes;"
                " minority classes are never downsampled"
            )


def _check_output_columns(cfg: JobConfig) -> None:
    # Spark and Delta match column names case-insensitively: "Y" and "y" are one column.
    partitions = [c.casefold() for c in cfg.output.partition_by]
    if cfg.weight.column.casefold() == cfg.label_column.casefold():
        raise ValueError("weight.column: must differ from label_column")
    if len(set(partitions)) < len(partitions):
        raise ValueError(f"output.partition_by: {list(cfg.output.partition_by)} names a column twice")
    if cfg.label_column.casefold() in partitions:
        raise ValueError("output.partition_by: the label column cannot be a partition column")
    if cfg.weight.column.casefold() in partitions:
        raise ValueError("output.partition_by: the weight column cannot be a partition column")
    strata = [c.casefold() for c in cfg.downsampling.strata]
    if cfg.label_column.casefold() in strata or cfg.weight.column.casefold() in strata:
        raise ValueError("downsampling.strata: the label and weight columns cannot be strata columns")


def _check_stats_columns(cfg: JobConfig) -> None:
    if not isinstance(cfg.output.stats_columns, list):
        return
    if not cfg.output.stats_columns:
        raise ValueError('output.stats_columns: the list is empty; omit the key for the default or use "all"')
    partitioned = [c for c in cfg.output.stats_columns if c in cfg.output.partition_by]
    if partitioned:
        raise ValueError(
            f"output.stats_columns: {partitioned} are partition columns (Delta keeps no statistics for them)"
        )


def _check_evaluate(cfg: JobConfig) -> None:
    ev = cfg.evaluate
    for column in ev.features:
        for other, key in ((cfg.label_column, "label_column"), (cfg.weight.column, "weight.column")):
            if column == other:
                raise ValueError(f"evaluate.features: {column!r} is the {key}; a model cannot use it as a feature")
    split, by = ev.split, cfg.split_by()
    if by == "date" and not cfg.input.date_column:
        raise ValueError("evaluate.split.by: date needs input.date_column (or use by: hash with key_columns)")
    if by == "hash" and not split.key_columns:
        raise ValueError(
            "evaluate.split.key_columns: the input has no date_column, so the split is by a hash of key columns;"
            " name them (e.g. [transaction_id])"
        )
    ds = cfg.downsampling
    if by == "hash" and ds.method == "hash" and split.seed == ds.seed and split.key_columns == ds.key_columns:
        raise ValueError(
            "evaluate.split.seed: equals downsampling.seed with the same key columns, so the test slice and the"
            " kept rows would be decided by the same draw; choose another seed"
        )


def _check_incremental(cfg: JobConfig) -> None:
    """What an incremental run cannot keep exact, refused before Spark (each micro-batch is planned alone)."""
    if cfg.input.format != "delta":
        raise ValueError("incremental: needs a Delta input (input.format: delta), which it reads as a stream")
    if cfg.input.version is not None or cfg.input.timestamp is not None:
        raise ValueError(
            "incremental: input.version/input.timestamp pin one version, an incremental run reads every new one;"
            " remove the pin (incremental.starting_version sets where a first run starts)"
        )
    if cfg.minority_classes is None:
        raise ValueError(
            "incremental: set minority_classes (e.g. [1]): by default the minority is every class but the most"
            " frequent, and a micro-batch's most frequent class can differ from the table's"
        )
    ds = cfg.downsampling
    if ds.target_minority_share is not None:
        raise ValueError(
            "downsampling.target_minority_share: not with incremental: F would be derived from each micro-batch's"
            " counts, so rows of different batches would carry different factors and weights; set"
            " downsampling.factor (`imbalance-spark profile` suggests one)"
        )
    if ds.strata:
        raise ValueError(
            "downsampling.strata: not with incremental: each micro-batch's strata would be planned and guarded"
            " alone, and the run's report and history sum classes only; remove strata or use batch runs"
        )
    if ds.skip_if_degree:
        raise ValueError(
            "downsampling.skip_if_degree: not with incremental: the degree would be judged per micro-batch, so some"
            " batches would be written unsampled; remove it"
        )
    if cfg.weight.mode == "realized":
        raise ValueError(
            "weight.mode: realized is not kept with incremental: each micro-batch would get its own multiplier,"
            " and a small batch that keeps no row of a class would lose that class's weight; use nominal"
        )
