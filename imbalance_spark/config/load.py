"""Loading a dataset YAML: ${VAR} expansion, paths made absolute, every problem named by file and key.

The cheap readers a scheduler uses (``load_schedule``, ``load_spark_settings``) live in
``scheduler`` and are re-exported here.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from imbalance_spark.config.base import inside
from imbalance_spark.config.messages import config_error, validation_problems
from imbalance_spark.config.models import JobConfig
from imbalance_spark.config.scheduler import load_schedule, load_spark_settings
from imbalance_spark.errors import ConfigError

__all__ = ["absolute_path", "load_config", "load_schedule", "load_spark_settings", "parse_config"]

_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE|API_KEY", re.I)


# The path keys made absolute at load time (relative to the working directory), section by section.
_PATH_KEYS = (
    ("input", "path"), ("output", "path"), ("report", "path"), ("history", "path"), ("evaluate", "output_dir"),
    ("incremental", "checkpoint"),
)


def _expand_env(value: Any, where: str, missing: list[str], secrets: list[str]) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match) -> str:
            name = m.group(1)
            if name not in os.environ:
                missing.append(f"{where} uses ${{{name}}} but that environment variable is not set")
                return m.group(0)
            if _SECRET_NAME.search(name):
                secrets.append(os.environ[name])
            return os.environ[name]

        return _ENV_VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{where}.{k}" if where else str(k), missing, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{where}[{i}]", missing, secrets) for i, v in enumerate(value)]
    return value


def is_uri(path: str) -> bool:
    """Whether ``path`` is a URI (``s3a://...``), which is kept as written and never looked at locally."""
    return bool(_URI.match(path))


def absolute_path(path: str | None) -> str | None:
    """``path`` made absolute against the working directory; a URI or None as it is."""
    if path is None or is_uri(path):
        return path
    return str(Path(path).expanduser().resolve())


def _absolute_paths(cfg: JobConfig, source: str) -> dict[str, Any]:
    """The sections of ``cfg`` whose paths change when made absolute, as model_copy updates."""
    updates: dict[str, Any] = {}
    for section, key in _PATH_KEYS:
        model = getattr(cfg, section)
        if model is None:
            continue
        try:
            updates[section] = model.model_copy(update={key: absolute_path(getattr(model, key))})
        except (ValueError, OSError) as exc:  # a NUL byte, a name too long for the file system
            raise ConfigError(f"{source}: {section}.{key}: not a usable path ({exc})") from None
    return updates


def _check_nesting(cfg: JobConfig, source: str) -> None:
    """Refuse outputs that would overwrite what the run reads or records (paths are absolute now)."""
    if cfg.history.path and cfg.output.path and inside(cfg.history.path, cfg.output.path):
        raise ConfigError(f"{source}: history.path: must not be inside output.path {cfg.output.path}")
    if cfg.input.path and cfg.output.path and inside(cfg.output.path, cfg.input.path):
        raise ConfigError(f"{source}: output.path: {cfg.output.path} is equal to or inside input.path {cfg.input.path}")
    checkpoint = cfg.incremental.checkpoint if cfg.incremental is not None else None
    for table in (cfg.input.path, cfg.output.path, cfg.history.path):
        if checkpoint and table and (inside(checkpoint, table) or inside(table, checkpoint)):
            # VACUUM of a table deletes files its log does not know; a table inside it would be read as progress
            raise ConfigError(f"{source}: incremental.checkpoint: {checkpoint} must be outside the table {table}")


def parse_config(data: Any, source: str = "<config>") -> JobConfig:
    """Validate already-parsed YAML data into a :class:`JobConfig`; every problem is named, one line each."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a YAML mapping at the top level, got {type(data).__name__}")
    missing: list[str] = []
    secrets: list[str] = []
    data = _expand_env(data, "", missing, secrets)
    if missing:
        raise config_error(source, missing)
    try:
        cfg = JobConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(source, validation_problems(exc, JobConfig)) from None
    cfg = cfg.model_copy(update={**_absolute_paths(cfg, source), "secrets": tuple(secrets)})
    _check_nesting(cfg, source)
    return cfg


def _read_yaml(p: Path) -> tuple[bytes, Any]:
    """The file's bytes and its parsed YAML; errors name the file (and the line of a YAML mistake)."""
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror})") from None
    try:
        return raw, yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{p}: not valid YAML{where}: {problem}") from None


def load_config(path: str | os.PathLike[str]) -> JobConfig:
    """Read, parse and validate one dataset YAML file; errors name the file and the key."""
    p = Path(path)
    raw, data = _read_yaml(p)
    cfg = parse_config(data, str(p))
    return cfg.model_copy(update={"source_file": str(p.resolve()), "source_sha256": hashlib.sha256(raw).hexdigest()})
