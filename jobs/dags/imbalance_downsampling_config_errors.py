"""Airflow import errors for the dataset YAMLs that imbalance_downsampling.py gives no DAG.

A broken dataset YAML (or one sharing its dataset name with another) must not take
every dataset's DAG down, yet must be seen where an Airflow user looks: this file defines no DAG
and fails to import with one line per bad YAML, each naming the file, in the UI's "DAG Import
Errors" and in `airflow dags list-import-errors`. The DAG file keeps the valid datasets' DAGs.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Variable

from imbalance_spark.config.folder import scan_datasets
from imbalance_spark.config.scheduler import load_spark_settings
from imbalance_spark.errors import ConfigError

# The same Variables as imbalance_downsampling.py reads.
PROJECT_ROOT = Path(Variable.get("imbalance_spark_home", default=None) or Path(__file__).resolve().parents[2])
DATASETS_DIR = Path(Variable.get("imbalance_spark_datasets_dir", default=None) or PROJECT_ROOT / "conf" / "datasets")


def config_problems(datasets_dir: Path) -> list[str]:
    """One line per dataset YAML of ``datasets_dir`` that gets no DAG because it is broken or clashes."""
    if not datasets_dir.is_dir():
        return []  # imbalance_downsampling.py reports the missing folder itself
    kept, problems = scan_datasets(datasets_dir)
    for found in kept:
        try:
            load_spark_settings(found.path)
        except ConfigError as exc:
            problems.extend(getattr(exc, "lines", None) or [str(exc)])
    return problems


PROBLEMS = config_problems(DATASETS_DIR)
if PROBLEMS:
    heading = f"{len(PROBLEMS)} dataset config problem(s), each without a DAG (the others keep theirs):"
    raise ValueError("\n".join([heading, *PROBLEMS]))
