"""How a dataset runs: the Spark settings of its session or spark-submit, and its Airflow schedule.
"""

from __future__ import annotations

import datetime as dt
from typing import Union

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from imbalance_spark.config.base import Factor, _Model


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
    # The driver JVM compiles with its quick JIT only (C1, -XX:TieredStopAtLevel=1): it pays for
    # short runs and costs on big local scans (measured in docs/performance.md).
    quick_start: StrictBool = False

    def settings(self) -> dict[str, str]:
        """``conf`` as Spark's strings (true/false for booleans)."""
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in self.conf.items()}
