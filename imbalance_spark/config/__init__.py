"""The dataset config: typed models (``models``) and how a YAML file becomes one (``load``)."""

from imbalance_spark.config.load import load_config, load_schedule, load_spark_settings, parse_config
from imbalance_spark.config.models import JobConfig

__all__ = ["JobConfig", "load_config", "load_schedule", "load_spark_settings", "parse_config"]
