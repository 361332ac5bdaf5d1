"""The cheap readers a scheduler uses, without Spark: a YAML's dataset name, schedule and spark block.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from imbalance_spark.config.base import _Model
from imbalance_spark.config.messages import config_error, validation_problems
from imbalance_spark.config.runtime import ScheduleConfig, SparkConfig
from imbalance_spark.errors import ConfigError

DATASET_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def yaml_mapping(p: Path) -> dict:
    """The top-level mapping of a dataset YAML (for the cheap, Spark-free readers below)."""
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError:
        raise ConfigError(f"{p}: not valid YAML") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a YAML mapping at the top level")
    return data


def _block(p: Path, data: dict, key: str, model: type[_Model]) -> Any:
    """The YAML's ``key`` block validated as ``model`` (its defaults when empty); errors name file and key."""
    try:
        return model.model_validate(data.get(key) or {})
    except ValidationError as exc:
        raise config_error(str(p), validation_problems(exc, model, f"{key}.")) from None


def dataset_name(p: Path, data: dict) -> str:
    """The ``dataset`` of a YAML's mapping, checked to be usable in a DAG id."""
    dataset = data.get("dataset")
    if not isinstance(dataset, str) or not DATASET_NAME.fullmatch(dataset):
        raise ConfigError(f"{p}: dataset: expected a name of letters, digits, '_', '.' or '-'")
    return dataset


def load_schedule(path: str | os.PathLike[str]) -> tuple[str, ScheduleConfig]:
    """The dataset name and its validated schedule from a dataset YAML (cheap: no Spark)."""
    p = Path(path)
    data = yaml_mapping(p)
    dataset = dataset_name(p, data)
    if "schedule" not in data:
        return dataset, ScheduleConfig(enabled=False)
    return dataset, _block(p, data, "schedule", ScheduleConfig)


def load_spark_settings(path: str | os.PathLike[str]) -> SparkConfig:
    """The ``spark`` block of a dataset YAML (defaults when absent), for a scheduler's spark-submit."""
    p = Path(path)
    return _block(p, yaml_mapping(p), "spark", SparkConfig)
