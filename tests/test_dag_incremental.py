"""The Airflow DAG of an incremental dataset (a real DagBag): ``--incremental`` and no run date, one run at a
time, by spark-submit even when the Connect Variable switches the dated datasets to Spark Connect.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

if importlib.util.find_spec("airflow") is None or importlib.util.find_spec("airflow.providers.apache.spark") is None:
    pytest.skip("Airflow is not installed (pip install -e .[airflow])", allow_module_level=True)

from tests.conftest import REPO_ROOT, airflow_base_env  # noqa: E402

DAGS_DIR = REPO_ROOT / "jobs" / "dags"
PROBE = textwrap.dedent(
    """
    import json, sys
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1])
    print("DAGBAG=" + json.dumps({
        "errors": {p: str(e) for p, e in bag.import_errors.items()},
        "dags": {
            dag_id: {
                "max_active_runs": dag.max_active_runs, "catchup": dag.catchup,
                "tasks": {t.task_id: {"type": type(t).__name__, "args": getattr(t, "application_args", None),
                                      "name": getattr(t, "name", None), "op_kwargs": getattr(t, "op_kwargs", None)}
                          for t in dag.tasks},
            }
            for dag_id, dag in bag.dags.items()
        },
    }))
    """
)


def dataset_yaml(path: Path, dataset: str, extra: str) -> Path:
    path.write_text(textwrap.dedent(f"""\
        dataset: {dataset}
        input: {{path: /in, date_column: event_date}}
        label_column: is_fraud
        minority_classes: [1]
        downsampling: {{factor: 10}}
        output: {{path: /out/{dataset}}}
        schedule: {{cron: "@hourly", catchup: true, max_active_runs: 3}}
        """) + textwrap.dedent(extra))
    return path


@pytest.mark.slow
def test_an_incremental_dataset_gets_a_task_running_incremental_without_a_run_date(airflow_home, tmp_path):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    incr = dataset_yaml(datasets / "incr.yaml", "incr", "incremental: {checkpoint: /checkpoints/incr}\n")
    dataset_yaml(datasets / "dated.yaml", "dated", "")
    env = {
        **airflow_base_env(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW_VAR_IMBALANCE_SPARK_DATASETS_DIR": str(datasets),
        # the dated dataset goes through Spark Connect; the incremental one cannot, and stays on spark-submit
        "AIRFLOW_VAR_IMBALANCE_SPARK_CONNECT_CONN_ID": "spark_connect_test",
    }
    proc = subprocess.run([sys.executable, "-c", PROBE, str(DAGS_DIR)], env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-5000:]
    bag = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("DAGBAG="))[len("DAGBAG="):])
    assert bag["errors"] == {}
    dag = bag["dags"]["imbalance_downsampling__incr"]
    task = dag["tasks"]["downsample"]
    assert task["type"] == "SparkSubmitOperator"
    assert task["args"] == ["--config", str(incr.resolve()), "--incremental"]
    assert task["name"] == "imbalance-spark-incr-incremental"
    assert (dag["max_active_runs"], dag["catchup"]) == (1, False)  # one stream per checkpoint at a time
    dated = bag["dags"]["imbalance_downsampling__dated"]
    assert dated["tasks"]["downsample"]["type"] == "PythonOperator"
    assert "--incremental" not in json.dumps(dated["tasks"]["downsample"]["op_kwargs"])
    assert (dated["max_active_runs"], dated["catchup"]) == (3, True)
