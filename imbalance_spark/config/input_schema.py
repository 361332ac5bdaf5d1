"""The input's column names without Spark: a Delta log's newest metaData, or a Parquet file's footer.

``validate`` uses them to check every configured column before Spark ever starts; an input that
cannot be read this way (remote, a catalog table, CSV, no pyarrow) is reported as not checked.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

_COMMIT = re.compile(r"(\d{20})\.json")
# classic (one file or parts), and v2 (a UUID, parquet or json) checkpoints
_CHECKPOINT = re.compile(r"(\d{20})\.checkpoint(?:\.\d+\.\d+|\.[0-9A-Fa-f-]+)?\.(parquet|json)")


@dataclass(frozen=True)
class InputColumns:
    """The columns the input holds, or why they could not be read (``columns`` None, ``reason`` set)."""

    columns: list[str] | None
    reason: str = ""


def _not_checked(reason: str) -> InputColumns:
    return InputColumns(None, reason)


def _schema_fields(schema_string: str) -> list[str]:
    return [f["name"] for f in json.loads(schema_string).get("fields", [])]


def _metadata_in_json_lines(path: Path) -> str | None:
    """The schemaString of the metaData action in a JSON-lines commit (or v2 checkpoint), if any."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if '"metaData"' in line:
                action = json.loads(line)
                if "metaData" in action:
                    return action["metaData"]["schemaString"]
    return None


def _metadata_in_parquet_checkpoint(paths: list[Path]) -> str | None:
    import pyarrow.parquet as pq

    for path in paths:
        table = pq.read_table(path, columns=["metaData"])
        for meta in table.column("metaData").to_pylist():
            if meta and meta.get("schemaString"):
                return meta["schemaString"]
    return None


def _checkpoint(names: list[str], upto: int | None) -> tuple[int, list[str]] | None:
    """The newest checkpoint at or before ``upto``: its version and its files."""
    found: dict[int, list[str]] = {}
    for name in names:
        m = _CHECKPOINT.fullmatch(name)
        if m and (upto is None or int(m.group(1)) <= upto):
            found.setdefault(int(m.group(1)), []).append(name)
    if not found:
        return None
    version = max(found)
    return version, sorted(found[version])


def delta_columns(root: str, upto: int | None = None) -> InputColumns:
    """The columns of the local Delta table at ``root`` (at version ``upto``, default the newest)."""
    log_dir = Path(root) / "_delta_log"
    names = os.listdir(log_dir)
    staged = log_dir / "_staged_commits"
    if staged.is_dir() and os.listdir(staged):
        return _not_checked("its commits are staged (a catalog owns the table)")
    checkpoint = _checkpoint(names, upto)
    since = checkpoint[0] if checkpoint else -1
    commits = sorted(
        (int(m.group(1)) for n in names if (m := _COMMIT.fullmatch(n))),
        reverse=True,
    )
    for version in commits:
        if version > since and (upto is None or version <= upto):
            schema = _metadata_in_json_lines(log_dir / f"{version:020d}.json")
            if schema is not None:
                return InputColumns(_schema_fields(schema))
    if checkpoint is None:
        return _not_checked("its log holds no metaData")
    files = [log_dir / n for n in checkpoint[1]]
    if files[0].suffix == ".json":
        schema = _metadata_in_json_lines(files[0])
    else:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            return _not_checked("its schema is in a checkpoint, which is read with pyarrow (not installed)")
        schema = _metadata_in_parquet_checkpoint(files)
    return InputColumns(_schema_fields(schema)) if schema else _not_checked("its checkpoint holds no metaData")


def _first_data_file(root: Path) -> Path | None:
    """The first data file under ``root`` as Spark lists them (names starting with _ or . are not data)."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        for name in sorted(files):
            if not name.startswith(("_", ".")) and not name.endswith(".crc"):
                return Path(folder) / name
    return None


def parquet_columns(path: str) -> InputColumns:
    """The columns of the local Parquet input at ``path``: one file's footer, plus its partition folders."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return _not_checked("Parquet footers are read with pyarrow (not installed)")
    root = Path(path)
    first = root if root.is_file() else _first_data_file(root)
    if first is None:
        return _not_checked("it holds no data files")
    try:
        columns = list(pq.read_schema(first).names)
    except Exception as exc:  # not a Parquet file: Spark's read says what it is
        return _not_checked(f"{first.name} is not readable as Parquet ({type(exc).__name__})")
    partitions = [part.split("=", 1)[0] for part in first.relative_to(root).parts[:-1] if "=" in part]
    return InputColumns(columns + [p for p in partitions if p not in columns])
