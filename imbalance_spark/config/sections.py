"""The config sections of one run: input, downsampling, weight, guards, output, report, history, tracking.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from imbalance_spark.common.names import label_key
from imbalance_spark.config.base import Degree, Factor, Label, _Model, check_factor


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
    # the factor (or target_minority_share) applies per class x values of these columns; each
    # stratum's kept rows are weighted by its own factor
    strata: list[StrictStr] = Field(default_factory=list)
    # refuse, after the profiling pass and before any sampling, strata columns with more distinct
    # value combinations than this (a stratum per user id is no stratum)
    max_strata: StrictInt = Field(100, ge=1)

    @field_validator("strata")
    @classmethod
    def _strata_distinct(cls, value):
        folded = [c.casefold() for c in value]
        if len(set(folded)) < len(folded):
            raise ValueError(f"{list(value)} names a column twice")
        return value

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
                check_factor(f, f"factor of class {label_key(label)}")
            return value
        check_factor(value, "factor")
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
    # Delta Change Data Feed on the output (delta.enableChangeDataFeed, set when the table is
    # created): downstream readers can follow its inserts and deletes (docs/production.md)
    change_data_feed: StrictBool = False
    # mixed: each file holds its rows in a seeded hash order (a trainer reading files in order sees
    # batches at the output's class share); input: the order Spark read them in (docs/performance.md)
    row_order: Literal["mixed", "input"] = "mixed"
    # at most this many rows per output file (Spark's maxRecordsPerFile); default: no limit
    max_records_per_file: StrictInt | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_target(self) -> OutputConfig:
        if (self.path is None) == (self.table is None):
            raise ValueError("set exactly one of `path` or `table`")
        return self


class ReportConfig(_Model):
    path: StrictStr | None = None


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


# A Delta byte size, as maxBytesPerTrigger reads it: 1073741824, "512m", "1g".
_BYTE_SIZE = re.compile(r"[1-9][0-9]*\s*(b|k|kb|m|mb|g|gb|t|tb)?", re.IGNORECASE)


class IncrementalConfig(_Model):
    """``run --incremental``: the input read as a Delta stream, only what is new since the last run."""

    # where the stream keeps its progress (one folder per dataset; docs/production.md)
    checkpoint: StrictStr = Field(min_length=1)
    # micro-batch limits (Delta's maxFilesPerTrigger / maxBytesPerTrigger); default: Delta's 1000 files
    max_files_per_batch: StrictInt | None = Field(None, ge=1)
    max_bytes_per_batch: StrictInt | StrictStr | None = None
    # the first input version a first run reads (as changes, not a snapshot); ignored once the
    # checkpoint exists. Needed to start into an output that batch runs wrote.
    starting_version: StrictInt | None = Field(None, ge=0)
    # input commits that change or delete rows: refuse (default), skip them (Delta's
    # skipChangeCommits), or cdf (follow them through the Change Data Feed: refused, not built)
    changes: Literal["refuse", "skip", "cdf"] = "refuse"

    @field_validator("max_bytes_per_batch")
    @classmethod
    def _byte_size(cls, value):
        if value is None:
            return value
        if isinstance(value, int):
            if value < 1:
                raise ValueError(f"must be a positive number of bytes, got {value}")
            return value
        if not _BYTE_SIZE.fullmatch(value.strip()):
            raise ValueError(f"expected a size like 1073741824, 512m or 1g, got {value!r}")
        return value.strip().replace(" ", "")

    @field_validator("changes")
    @classmethod
    def _no_cdf(cls, value):
        if value == "cdf":
            raise ValueError(
                "cdf is not built: a label corrected in place would need its output row replaced by key"
                " (MERGE) while the per-class counts, guards and history of past runs stay as they were;"
                " use refuse (the default: such a commit stops the run) or skip (ignore such commits)"
            )
        return value
