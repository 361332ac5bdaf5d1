#!/usr/bin/env bash
# A Spark Connect server on 127.0.0.1 from the installed pyspark, with the Delta jars and the
# session settings of imbalance_spark/session.py (Delta extension and catalog, UTC, quiet logs).
# Usage: scripts/connect-server.sh start [spark-submit options]|stop|status
#   start   launches the server with spark-submit --class ...SparkConnectServer (the pyspark wheel
#           ships the spark-connect jar but no sbin/start-connect-server.sh), waits until its port
#           answers, and prints the URL for --remote / SPARK_REMOTE (sc://127.0.0.1:PORT); options
#           after `start` go to spark-submit, e.g. --conf spark.sql.warehouse.dir=/data/warehouse
#   stop    signals the process group that start recorded (the server JVM and its Python workers)
#   status  exit 0 when the server runs, 1 when it died, 3 when not started
# Settings: the CONNECT_SERVER_* variables below. The server reads and writes the tables on
# this machine's disk; the clients only send plans and receive counts and reports.
set -euo pipefail

PYTHON=${PYTHON:-python3}
# The state dir holds the pid file, the URL and the log; `stop` only signals what `start` recorded.
STATE_DIR=${CONNECT_SERVER_DIR:-${TMPDIR:-/tmp}/imbalance-spark-connect-server}
PORT=${CONNECT_SERVER_PORT:-15002}
MASTER=${CONNECT_SERVER_MASTER:-local[*]}
START_TIMEOUT=${CONNECT_SERVER_START_TIMEOUT:-120}
HOST=127.0.0.1
SERVER_CLASS=org.apache.spark.sql.connect.service.SparkConnectServer

# The driver's RPC and web UI bind to loopback only, like the gRPC port below.
export SPARK_LOCAL_IP=${HOST}
# Python workers (none for this job, but a client may send a UDF) run the same interpreter.
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$(command -v "$PYTHON")}

log() { echo "connect-server: $*" >&2; }

is_running() { kill -0 "$1" 2>/dev/null; }

port_answers() { (exec 3<>"/dev/tcp/${HOST}/${PORT}") 2>/dev/null; }

start() {
  if [[ -f "${STATE_DIR}/server.pid" ]]; then
    log "already started (${STATE_DIR}/server.pid); run stop first"
    exit 1
  fi
  if port_answers; then
    log "port ${PORT} on ${HOST} is taken; set CONNECT_SERVER_PORT"
    exit 1
  fi
  mkdir -p "${STATE_DIR}"
  export SPARK_HOME=${SPARK_HOME:-$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}
  local jars_args=() conf_args=() line jars
  # One source of truth: the Delta jars and the factory's settings come from the package. The jars
  # cached by `imbalance-spark packages --fetch` (make install) need no Ivy resolution at start.
  jars=$("$PYTHON" -c 'from imbalance_spark.packages import cached_jars_arg; print(cached_jars_arg() or "")')
  if [[ -n "${jars}" ]]; then
    jars_args=(--jars "${jars}")
  else
    jars_args=(--packages "$("$PYTHON" -m imbalance_spark.packages)")
  fi
  while IFS= read -r line; do
    conf_args+=(--conf "${line}")
  done < <("$PYTHON" -m imbalance_spark.session connect-server-conf "${MASTER}")
  # Its own session, so that `stop` signals the server together with the Python workers it forks.
  setsid "${SPARK_HOME}/bin/spark-submit" --class "${SERVER_CLASS}" --name imbalance-spark-connect \
    --master "${MASTER}" "${jars_args[@]}" "${conf_args[@]}" \
    --conf "spark.connect.grpc.binding.address=${HOST}" --conf "spark.connect.grpc.binding.port=${PORT}" \
    "$@" >"${STATE_DIR}/server.out" 2>&1 </dev/null &
  echo $! >"${STATE_DIR}/server.pid"
  local pid deadline=$((SECONDS + START_TIMEOUT))
  pid=$(cat "${STATE_DIR}/server.pid")
  until port_answers; do
    if ! is_running "${pid}"; then
      log "the server exited; last lines of ${STATE_DIR}/server.out:"
      tail -n 20 "${STATE_DIR}/server.out" >&2 || true
      stop
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "port ${PORT} not answering after ${START_TIMEOUT}s; see ${STATE_DIR}/server.out"
      stop
      exit 1
    fi
    sleep 0.5
  done
  echo "sc://${HOST}:${PORT}" >"${STATE_DIR}/url"
  log "Spark Connect server (master ${MASTER}) at sc://${HOST}:${PORT}; log in ${STATE_DIR}/server.out"
  echo "sc://${HOST}:${PORT}"
}

stop() {
  local pid deadline
  if [[ ! -f "${STATE_DIR}/server.pid" ]]; then
    log "not started"
    return 0
  fi
  pid=$(cat "${STATE_DIR}/server.pid")
  # The negative pid signals the server's whole process group (JVM, Python workers).
  if is_running "${pid}"; then
    kill -TERM -- "-${pid}" 2>/dev/null || true
  fi
  deadline=$((SECONDS + 20))
  while is_running "${pid}" && ((SECONDS < deadline)); do sleep 0.2; done
  if is_running "${pid}"; then
    log "server (pid ${pid}) ignored SIGTERM; sending SIGKILL"
  fi
  # Children that outlived the server are still in its process group.
  kill -KILL -- "-${pid}" 2>/dev/null || true
  rm -f "${STATE_DIR}/server.pid" "${STATE_DIR}/url"
  log "stopped"
}

status() {
  local pid
  if [[ ! -f "${STATE_DIR}/server.pid" ]]; then
    echo "not started"
    return 3
  fi
  pid=$(cat "${STATE_DIR}/server.pid")
  if is_running "${pid}"; then
    echo "server running (pid ${pid}) at $(cat "${STATE_DIR}/url" 2>/dev/null || echo "sc://${HOST}:${PORT}")"
    return 0
  fi
  echo "server not running (pid ${pid}); see ${STATE_DIR}/server.out"
  return 1
}

case "${1:-}" in
  start)
    shift
    start "$@"
    ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start [spark-submit options]|stop|status" >&2
    exit 2
    ;;
esac
