"""What the input's Delta log and a stream's checkpoint say: commits that rewrote rows, and progress.

An incremental run reads only appends; these look-ups let it refuse a rewritten input before it writes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from imbalance_spark.tables.delta_log import sees_driver_disk


@dataclass(frozen=True)
class StreamOffset:
    """A Delta stream's position in its source: a table version, a file index in it, and whether a snapshot."""

    version: int
    index: int
    snapshot: bool

    @property
    def next_change(self) -> int:
        """The first input version whose commit the stream has not read yet as a change."""
        return self.version + 1 if self.snapshot else self.version

    @property
    def last_read(self) -> int:
        """The last input version the stream has read (wholly or in part) up to this position."""
        return self.version - 1 if not self.snapshot and self.index == -1 else self.version


def parse_offset(text: str | dict | None) -> StreamOffset | None:
    """A Delta source offset as Spark writes it (``reservoirVersion``, ``index``, ``isStartingVersion``)."""
    data = json.loads(text) if isinstance(text, str) else text
    if not data:
        return None
    return StreamOffset(int(data["reservoirVersion"]), int(data["index"]), bool(data["isStartingVersion"]))


def _read_text(spark: SparkSession, path: str) -> str | None:
    """A small file's text (None: it is not there); local files directly, others through Spark."""
    if sees_driver_disk(spark, path):
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None
    try:
        rows = spark.read.text(path, wholetext=True).collect()
    except Exception:  # a path Spark finds nothing at
        return None
    return rows[0][0] if rows else None


def _batch_ids(spark: SparkSession, folder: str) -> list[int]:
    """The batch ids with a file in a checkpoint's ``offsets`` or ``commits`` folder, ascending."""
    if sees_driver_disk(spark, folder):
        names = os.listdir(folder) if os.path.isdir(folder) else []
    else:
        try:
            rows = spark.read.format("binaryFile").load(folder).select(F.col("path")).collect()
        except Exception:
            return []
        names = [r[0].rsplit("/", 1)[-1] for r in rows]
    return sorted(int(n) for n in names if n.isdigit())


@dataclass(frozen=True)
class CheckpointState:
    """What a stream's checkpoint holds: its last planned batch and input position (None: a fresh one)."""

    last_batch: int | None
    last_offset: StreamOffset | None
    committed: bool = False  # the last planned batch finished (a ``commits`` file), so a start would not retry it

    @property
    def fresh(self) -> bool:
        return self.last_batch is None

    def read_all_of(self, latest: int) -> bool:
        """Whether the stream has read every commit up to input version ``latest`` and has no batch to retry."""
        at = self.last_offset
        return self.committed and at is not None and not at.snapshot and at.index == -1 and at.version > latest


def batch_offset(spark: SparkSession, checkpoint: str, batch_id: int) -> StreamOffset | None:
    """The input position at the end of micro-batch ``batch_id`` (Spark writes it before the batch runs)."""
    text = _read_text(spark, f"{checkpoint.rstrip('/')}/offsets/{batch_id}")
    if text is None:
        return None
    lines = text.splitlines()
    # "v1", the batch's metadata, then one offset per source: this job's stream has one
    return parse_offset(lines[2]) if len(lines) > 2 else None


def checkpoint_state(spark: SparkSession, checkpoint: str) -> CheckpointState:
    """The checkpoint's last planned batch and where it ends in the input."""
    ids = _batch_ids(spark, f"{checkpoint.rstrip('/')}/offsets")
    if not ids:
        return CheckpointState(None, None)
    done = _batch_ids(spark, f"{checkpoint.rstrip('/')}/commits")
    return CheckpointState(ids[-1], batch_offset(spark, checkpoint, ids[-1]), bool(done) and done[-1] == ids[-1])


def query_id(spark: SparkSession, checkpoint: str) -> str | None:
    """The stream's id, kept in the checkpoint's ``metadata`` file from its first start to its reset."""
    text = _read_text(spark, f"{checkpoint.rstrip('/')}/metadata")
    return json.loads(text.splitlines()[0]).get("id") if text else None


@dataclass(frozen=True)
class Rewrite:
    """An input commit that removed rows (overwrite, DELETE, UPDATE, MERGE, replaceWhere)."""

    version: int
    operation: str


_LOG_SCHEMA = "remove struct<path:string, dataChange:boolean>, commitInfo struct<operation:string>"


def _commit_lines(spark: SparkSession, table_path: str, versions: range) -> dict[int, list[dict]]:
    """The actions of the input's commits in ``versions`` that are in its log (local: read here; else Spark)."""
    log_dir = f"{table_path.rstrip('/')}/_delta_log"
    files = {v: f"{log_dir}/{v:020d}.json" for v in versions}
    found: dict[int, list[dict]] = {}
    if sees_driver_disk(spark, table_path):
        for v, name in files.items():
            if os.path.exists(name):
                with open(name, encoding="utf-8") as f:
                    found[v] = [json.loads(line) for line in f if line.strip()]
        return found
    for v, name in files.items():
        try:
            rows = spark.read.schema(_LOG_SCHEMA).json(name).collect()
        except Exception:  # not in the log (cleaned up): the stream itself reports the gap
            continue
        found[v] = [r.asDict(recursive=True) for r in rows]
    return found


def rewrites(spark: SparkSession, table_path: str, first: int, last: int) -> list[Rewrite]:
    """The commits from version ``first`` to ``last`` that removed data (a remove with dataChange).

    OPTIMIZE, ZORDER and a deletion-vector purge rewrite files with ``dataChange: false``: not rewrites.
    """
    found = []
    for version, actions in sorted(_commit_lines(spark, table_path, range(first, last + 1)).items()):
        removed = any((a.get("remove") or {}).get("dataChange", True) for a in actions if a.get("remove"))
        if removed:
            info = next((a["commitInfo"] for a in actions if a.get("commitInfo")), None) or {}
            found.append(Rewrite(version, str(info.get("operation") or "a rewrite")))
    return found
