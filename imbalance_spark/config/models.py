"""The typed, frozen config models of one dataset YAML, validated before Spark starts.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from imbalance_spark.common.names import label_key


def _integral_label(value: Any) -> Any:
    # `1.0` in YAML names the class 1 (MLlib's double labels); 0.5 names no class.
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"class {value!r} is not a class label (expected an integer, string or boolean)")
        return int(value)
    return value


# A class label as written in YAML: 1, "fraud", true (1.0 is read as 1).
Label = Annotated[Union[StrictBool, StrictInt, StrictStr], BeforeValidator(_integral_label)]


Factor = Union[StrictInt, StrictFloat]


Degree = Literal["extreme", "moderate", "mild", "none"]


_URI_PASSWORD = re.compile(r"(://[^/:@\s]+:)[^@/\s]+@")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask URI passwords and values that came from secret-named environment variables."""
    text = _URI_PASSWORD.sub(r"\1***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputConfig(_Model):
    path: StrictStr | None = None
    table: StrictStr | None = None
    format: Literal["delta", "parquet", "csv"] = "delta"
    # the event date column that --run-date / --start-date/--end-date slice on
    date_column: StrictStr | None = None
    # pin a Delta input (default: the latest version, resolved once at start)
    version: StrictInt | None = None
    timestamp: StrictStr | None = None
    # extra Spark reader options (credentials via ${VAR}; never printed)
    options: dict[StrictStr, StrictStr] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> InputConfig:
        if (self.path is None) == (self.table is None):
            raise ValueError("set exactly one of `path` or `table`")
        if self.version is not None and self.timestamp is not None:
            raise ValueError("set either `version` or `timestamp` to pin the input, not both")
        if (self.version is not None or self.timestamp is not None) and self.format != "delta":
            raise ValueError("`version`/`timestamp` pin only a Delta input (format: delta)")
        if self.version is not None and self.version < 0:
            raise ValueError(f"version must be >= 0, got {self.version}")
        return self


class DownsamplingConfig(_Model):
    # keep 1 in F rows of each majority class and weight them xF; or {class: F}
    factor: Factor | dict[Label, Factor] | None = None
    # alternative to factor: derive F so the expected minority share of the output is this
    target_minority_share: Factor | None = None
    seed: StrictInt = 42
    method: Literal["sampleBy", "hash"] = "sampleBy"
    key_columns: list[StrictStr] = Field(default_factory=list)
    null_keys: Literal["error", "allow"] = "error"
    skip_if_degree: list[Degree] = Field(default_factory=list)

    @field_validator("factor", mode="before")
    @classmethod
    def _factor_at_least_one(cls, value):
        if value is None:
            return value
        if isinstance(value, dict):
            if not value:
                raise ValueError("expected a number >= 1 or a non-empty {class: factor} mapping")
            for label, f in value.items():
                if not isinstance(label, (bool, int, str)) and not (isinstance(label, float) and label.is_integer()):
                    raise ValueError(f"class {label!r} must be an integer, string or boolean")
                _check_factor(f, f"factor of class {label_key(label)}")
            return value
        _check_factor(value, "factor")
        return value

    @field_validator("target_minority_share")
    @classmethod
    def _share_in_unit_interval(cls, value):
        if value is not None and not (0.0 < value < 1.0):
            raise ValueError(f"must be a share strictly between 0 and 1, e.g. 0.10, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DownsamplingConfig:
        if self.factor is None and self.target_minority_share is None:
            raise ValueError("set `factor` (e.g. 20) or `target_minority_share` (e.g. 0.10)")
        if self.factor is not None and self.target_minority_share is not None:
            raise ValueError("set either `factor` or `target_minority_share`, not both")
        if self.method == "hash" and not self.key_columns:
            raise ValueError("method hash needs `key_columns` (e.g. [transaction_id]) to decide each row")
        if self.method != "hash" and self.key_columns:
            raise ValueError("`key_columns` only apply to method: hash")
        return self

    def factor_for(self, key: str) -> float | None:
        """The configured factor of a class (canonical key), or None if not configured."""
        if self.factor is None:
            return None
        if isinstance(self.factor, dict):
            for label, f in self.factor.items():
                if label_key(label) == key:
                    return float(f)
            return None
        return float(self.factor)


class WeightConfig(_Model):
    column: StrictStr = "example_weight"
    source_column: StrictStr | None = None
    # nominal: x F; realized: x (input weight of the class) / (kept weight of the class)
    mode: Literal["nominal", "realized"] = "nominal"


class GuardsConfig(_Model):
    enabled: StrictBool = True
    # a downsampled class's kept count must lie within this many binomial sigmas of N/F
    sigmas: Factor = 6

    @field_validator("sigmas")
    @classmethod
    def _positive(cls, value):
        if not value > 0:
            raise ValueError(f"must be a positive number of standard deviations, got {value!r}")
        return value


class OutputConfig(_Model):
    path: StrictStr | None = None
    table: StrictStr | None = None
    partition_by: list[StrictStr] = Field(default_factory=list)
    # refuse, before writing, a run that would create more partitions than this (estimated in the
    # profiling pass); Hive's hive.exec.max.dynamic.partitions default, ~2.7 years of daily folders
    max_partitions: StrictInt = Field(1000, ge=1)
    # default: replace_slice when the run has dates, else overwrite
    mode: Literal["overwrite", "replace_slice", "error_if_exists"] | None = None
    # an existing table whose schema differs: error (default) or merge the new columns in
    schema_evolution: Literal["error", "merge"] = "error"
    # Delta file statistics (data skipping) are collected for these columns only; default: the
    # label, the weight and the date column (unless partitioned by it); "all": Delta's default
    # (the first 32 columns), which costs ~15% of the job's time on wide tables.
    stats_columns: list[StrictStr] | Literal["all"] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> OutputConfig:
        if (self.path is None) == (self.table is None):
            raise ValueError("set exactly one of `path` or `table`")
        return self


class ReportConfig(_Model):
    path: StrictStr | None = None


class ScheduleConfig(_Model):
    """How the Airflow DAG (jobs/dags/imbalance_downsampling.py) schedules this dataset.

    Only a YAML with a ``schedule`` block gets a DAG (a copied config must not start running
    daily unasked); inside the block ``enabled: false`` switches it off.
    """

    enabled: StrictBool = True
    cron: StrictStr | None = "@daily"
    start_date: dt.date = dt.date(2026, 1, 1)
    catchup: StrictBool = False
    max_active_runs: StrictInt = Field(1, ge=1)
    retries: StrictInt = Field(2, ge=0)
    retry_delay_minutes: Factor = Field(10, ge=0)
    execution_timeout_minutes: Factor = Field(180, ge=1)


class SparkConfig(_Model):
    """Spark settings of this dataset: for the session ``imbalance-spark`` starts (plain Python),
    and for the spark-submit of the Airflow DAG.

    Under a spark-submit of your own, or in a session that already runs, the JVM exists: what is
    fixed at its start (driver memory, JVM options) comes from there (``--conf``,
    ``--driver-java-options``).
    """

    # Spark settings for this dataset, e.g. {spark.driver.memory: 8g}; they win over the job's defaults.
    conf: dict[StrictStr, Union[StrictStr, StrictInt, StrictFloat, StrictBool]] = {}
    # The driver JVM compiles with its quick JIT only (C1, -XX:TieredStopAtLevel=1): a cold run of a
    # small slice (a day of 200k rows) takes ~5 s less; a big scan on a local master takes ~30% more.
    quick_start: StrictBool = False

    def settings(self) -> dict[str, str]:
        """``conf`` as Spark's strings (true/false for booleans)."""
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in self.conf.items()}


class HistoryConfig(_Model):
    """A Delta table that every run appends its per-class proportions to."""

    path: StrictStr | None = None
    table: StrictStr | None = None

    @model_validator(mode="after")
    def _one_target(self) -> HistoryConfig:
        if self.path is not None and self.table is not None:
            raise ValueError("set at most one of `path` or `table`")
        return self

    @property
    def enabled(self) -> bool:
        return self.path is not None or self.table is not None


class MlflowConfig(_Model):
    """Log each run to this MLflow experiment; the server comes from MLFLOW_TRACKING_URI."""

    experiment: StrictStr = Field(min_length=1)


class TrackingConfig(_Model):
    mlflow: MlflowConfig | None = None

    @property
    def mlflow_experiment(self) -> str | None:
        return self.mlflow.experiment if self.mlflow is not None else None


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
    model: Literal["logistic", "gbt"] = "logistic"
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
    max_iter: StrictInt = Field(100, ge=1)
    reg_param: Factor = Field(0.0, ge=0)
    split: SplitConfig = SplitConfig()
    # where the JSON report and figures go (default: an `evaluate` folder beside report.path)
    output_dir: StrictStr | None = None
    # how the split input is kept across the sweep
    storage_level: Literal["MEMORY_AND_DISK", "MEMORY_ONLY", "DISK_ONLY"] = "MEMORY_AND_DISK"

    @field_validator("factors")
    @classmethod
    def _factors(cls, value):
        for f in value:
            _check_factor(f, "every factor")
        if len(set(float(f) for f in value)) != len(value):
            raise ValueError(f"factors repeat a value: {value}")
        return value

    @field_validator("tolerance", "calibration_tolerance")
    @classmethod
    def _share(cls, value):
        if not (0.0 < value < 1.0):
            raise ValueError(f"must be a relative share strictly between 0 and 1, e.g. 0.02, got {value!r}")
        return value

    @field_validator("features")
    @classmethod
    def _unique(cls, value):
        repeated = sorted({c for c in value if value.count(c) > 1})
        if repeated:
            raise ValueError(f"feature(s) {repeated} listed twice")
        return value


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
        minority = self.minority_keys()
        if minority is not None and not minority:
            raise ValueError("minority_classes: the list is empty; omit the key for the default")
        if isinstance(self.downsampling.factor, dict) and minority:
            both = sorted({label_key(k) for k in self.downsampling.factor} & minority)
            if both:
                raise ValueError(
                    f"downsampling.factor: class(es) {both} are also listed in minority_classes;"
                    " minority classes are never downsampled"
                )
        # Spark and Delta match column names case-insensitively: "Y" and "y" are one column.
        partitions = [c.casefold() for c in self.output.partition_by]
        if self.weight.column.casefold() == self.label_column.casefold():
            raise ValueError("weight.column: must differ from label_column")
        if len(set(partitions)) < len(partitions):
            raise ValueError(f"output.partition_by: {list(self.output.partition_by)} names a column twice")
        if self.label_column.casefold() in partitions:
            raise ValueError("output.partition_by: the label column cannot be a partition column")
        if self.weight.column.casefold() in partitions:
            raise ValueError("output.partition_by: the weight column cannot be a partition column")
        if isinstance(self.output.stats_columns, list):
            if not self.output.stats_columns:
                raise ValueError('output.stats_columns: the list is empty; omit the key for the default or use "all"')
            partitioned = [c for c in self.output.stats_columns if c in self.output.partition_by]
            if partitioned:
                raise ValueError(
                    f"output.stats_columns: {partitioned} are partition columns (Delta keeps no statistics for them)"
                )
        if self.input.date_column and self.input.date_column == self.label_column:
            raise ValueError("input.date_column: must differ from label_column")
        if self.evaluate is not None:
            _check_evaluate(self)
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
        import json

        data = self.model_dump(mode="json", exclude={"source_file", "source_sha256", "secrets"})
        data["input"].pop("options", None)
        return json.loads(self.redact(json.dumps(data)))


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


def _check_factor(f: Any, what: str) -> None:
    if isinstance(f, bool) or not isinstance(f, (int, float)):
        raise ValueError(f"{what} must be a number >= 1, got {f!r}")
    if not (1 <= f < float("inf")):
        raise ValueError(f"{what} must be a finite number >= 1 (1 keeps every row), got {f!r}")


def _inside(child: str, parent: str) -> bool:
    c, p = child.rstrip("/"), parent.rstrip("/")
    return c == p or c.startswith(p + "/")
