#!/usr/bin/env bash
# A Spark standalone cluster on 127.0.0.1 (one master, N workers) from the installed pyspark.
# Usage: scripts/local-cluster.sh start|stop|status   (settings: the LOCAL_CLUSTER_* variables below)
#   start   launches the master and the workers with pyspark's bin/spark-class, waits until every
#           worker has registered, and prints the master URL (spark://127.0.0.1:PORT)
#   stop    signals every process group that start recorded (daemons, executors, Python workers)
#   status  one line per daemon; exit 0 when all run, 1 when one died, 3 when not started
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The interpreter whose pyspark runs the cluster: $PYTHON, else the repo's .venv (so that the
# script works without activating it), else python3 from the PATH.
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "${REPO_ROOT}/.venv/bin/python" ]]; then PYTHON=${REPO_ROOT}/.venv/bin/python; else PYTHON=python3; fi
fi
# The state dir holds pid files, logs and worker dirs; `stop` only signals what `start` recorded.
STATE_DIR=${LOCAL_CLUSTER_DIR:-${TMPDIR:-/tmp}/imbalance-spark-local-cluster}
MASTER_PORT=${LOCAL_CLUSTER_MASTER_PORT:-7077}
MASTER_WEBUI_PORT=${LOCAL_CLUSTER_MASTER_WEBUI_PORT:-8080}
# Worker i's web UI listens on WORKER_WEBUI_PORT + i; 0 lets each pick a free port.
WORKER_WEBUI_PORT=${LOCAL_CLUSTER_WORKER_WEBUI_PORT:-8081}
# The master's REST submission port (cluster deploy mode, Airflow's driver status polling).
MASTER_REST_PORT=${LOCAL_CLUSTER_MASTER_REST_PORT:-6066}
WORKERS=${LOCAL_CLUSTER_WORKERS:-2}
WORKER_CORES=${LOCAL_CLUSTER_WORKER_CORES:-1}
WORKER_MEMORY=${LOCAL_CLUSTER_WORKER_MEMORY:-2g}
START_TIMEOUT=${LOCAL_CLUSTER_START_TIMEOUT:-90}
HOST=127.0.0.1
MASTER_URL="spark://${HOST}:${MASTER_PORT}"

# Every Spark process binds its RPC and web UI to loopback only.
export SPARK_LOCAL_IP=${HOST}
if [[ -z "${SPARK_HOME:-}" ]]; then
  SPARK_HOME=$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null) || {
    echo "local-cluster: ${PYTHON} has no pyspark; run make install (or set PYTHON or SPARK_HOME)" >&2
    exit 2
  }
fi
export SPARK_HOME
# Logs go to the state dir, not into the installed pyspark package.
export SPARK_LOG_DIR=${STATE_DIR}/logs
SPARK_CLASS=${SPARK_HOME}/bin/spark-class

log() { echo "local-cluster: $*" >&2; }

pid_files() { ls "${STATE_DIR}"/*.pid 2>/dev/null || true; }

is_running() { kill -0 "$1" 2>/dev/null; }

# Start one daemon in its own session, so that `stop` can signal it together with the executors
# and Python workers it forks (they share its process group).
launch() {
  local name=$1
  shift
  setsid "${SPARK_CLASS}" "$@" >"${STATE_DIR}/logs/${name}.out" 2>&1 < /dev/null &
  echo $! >"${STATE_DIR}/${name}.pid"
}

wait_for_log() {
  local name=$1 pattern=$2 deadline=$((SECONDS + START_TIMEOUT))
  until grep -q "${pattern}" "${STATE_DIR}/logs/${name}.out" 2>/dev/null; do
    if ! is_running "$(cat "${STATE_DIR}/${name}.pid")"; then
      log "${name} exited; last lines of ${STATE_DIR}/logs/${name}.out:"
      tail -n 20 "${STATE_DIR}/logs/${name}.out" >&2 || true
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "${name} not ready after ${START_TIMEOUT}s (waiting for '${pattern}')"
      return 1
    fi
    sleep 0.5
  done
}

start() {
  if [[ -n "$(pid_files)" ]]; then
    log "already started (pid files in ${STATE_DIR}); run stop first"
    exit 1
  fi
  mkdir -p "${STATE_DIR}/logs"
  SPARK_MASTER_OPTS="${SPARK_MASTER_OPTS:-} -Dspark.master.rest.port=${MASTER_REST_PORT}" \
    launch master org.apache.spark.deploy.master.Master \
    --host "${HOST}" --port "${MASTER_PORT}" --webui-port "${MASTER_WEBUI_PORT}"
  wait_for_log master "Starting Spark master at" || { stop; exit 1; }
  wait_for_log master "I have been elected leader" || { stop; exit 1; }
  # Spark moves to the next port when the configured one is taken: use the one it bound.
  MASTER_URL=$(grep -o "Starting Spark master at spark://[^ ]*" "${STATE_DIR}/logs/master.out" |
    head -n 1 | sed 's/.* //')
  echo "${MASTER_URL}" >"${STATE_DIR}/master-url"
  local i webui
  for ((i = 1; i <= WORKERS; i++)); do
    webui=0
    ((WORKER_WEBUI_PORT == 0)) || webui=$((WORKER_WEBUI_PORT + i - 1))
    mkdir -p "${STATE_DIR}/work/worker-${i}"
    launch "worker-${i}" org.apache.spark.deploy.worker.Worker \
      --host "${HOST}" --webui-port "${webui}" \
      --cores "${WORKER_CORES}" --memory "${WORKER_MEMORY}" \
      --work-dir "${STATE_DIR}/work/worker-${i}" "${MASTER_URL}"
  done
  for ((i = 1; i <= WORKERS; i++)); do
    wait_for_log "worker-${i}" "Successfully registered with master" || { stop; exit 1; }
  done
  log "master ${MASTER_URL} with ${WORKERS} worker(s); logs in ${STATE_DIR}/logs"
  echo "${MASTER_URL}"
}

stop() {
  local f pid deadline
  for f in $(pid_files); do
    pid=$(cat "$f")
    # The negative pid signals the daemon's whole process group (executors, Python workers).
    if is_running "${pid}"; then
      kill -TERM -- "-${pid}" 2>/dev/null || true
    fi
  done
  deadline=$((SECONDS + 20))
  for f in $(pid_files); do
    pid=$(cat "$f")
    while is_running "${pid}" && ((SECONDS < deadline)); do sleep 0.2; done
    if is_running "${pid}"; then
      log "$(basename "$f" .pid) (pid ${pid}) ignored SIGTERM; sending SIGKILL"
      kill -KILL -- "-${pid}" 2>/dev/null || true
    fi
    # Children that outlived their daemon are still in its process group.
    kill -KILL -- "-${pid}" 2>/dev/null || true
    rm -f "$f"
  done
  rm -f "${STATE_DIR}/master-url"
  log "stopped"
}

status() {
  local f pid down=0
  if [[ -z "$(pid_files)" ]]; then
    echo "not started"
    return 3
  fi
  for f in $(pid_files); do
    pid=$(cat "$f")
    if is_running "${pid}"; then
      echo "$(basename "$f" .pid) running (pid ${pid})"
    else
      echo "$(basename "$f" .pid) not running (pid ${pid})"
      down=1
    fi
  done
  echo "master $(cat "${STATE_DIR}/master-url" 2>/dev/null || echo "${MASTER_URL}")"
  return "${down}"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
