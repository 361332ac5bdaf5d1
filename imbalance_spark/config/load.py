"""Loading a dataset YAML: ${VAR} expansion, one-line errors naming file and key, the Airflow loaders.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from imbalance_spark.config.models import JobConfig, ScheduleConfig, SparkConfig, _inside, _Model
from imbalance_spark.errors import ConfigError

_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE|API_KEY", re.I)


def _expand_env(value: Any, where: str, missing: list[str], secrets: list[str]) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match) -> str:
            name = m.group(1)
            if name not in os.environ:
                missing.append(f"{where} uses ${{{name}}}")
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


def _absolute(path: str | None) -> str | None:
    if path is None or _URI.match(path):
        return path
    return str(Path(path).expanduser().resolve())


def _known_keys(loc: tuple[Any, ...], model: type[BaseModel]) -> list[str]:
    """The keys allowed at the mapping that holds ``loc``'s last key (empty if not a model)."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [k for k in model.model_fields if k not in ("source_file", "source_sha256", "secrets")]


def _format_error(error: dict[str, Any], model: type[BaseModel] | None = None) -> str:
    loc = ".".join(str(p) for p in error["loc"] if not str(p).startswith(("function-after", "union")))
    # pydantic reports union members as locations ("int", "float", "dict[...]"); drop them
    loc = re.sub(r"\.(bool|int|float|str|dict\[.*?\]|list\[.*?\])(?=\.|$)", "", loc)
    msg = error["msg"]
    if error["type"] == "extra_forbidden":
        msg = "unknown key"
        if model is not None:
            close = difflib.get_close_matches(str(error["loc"][-1]), _known_keys(error["loc"], model), n=1)
            msg += f"; did you mean {close[0]!r}?" if close else ""
    elif error["type"] == "missing":
        msg = "required key is missing"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    got = error.get("input")
    if error["type"] not in ("missing", "extra_forbidden", "value_error") and not isinstance(got, (dict, list)):
        msg += f" (got {got!r})"
    return f"{loc}: {msg}" if loc else msg


def parse_config(data: Any, source: str = "<config>") -> JobConfig:
    """Validate already-parsed YAML data into a :class:`JobConfig`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a YAML mapping at the top level, got {type(data).__name__}")
    missing: list[str] = []
    secrets: list[str] = []
    data = _expand_env(data, "", missing, secrets)
    if missing:
        raise ConfigError(f"{source}: {missing[0]} but that environment variable is not set")
    try:
        cfg = JobConfig.model_validate(data)
    except ValidationError as exc:
        # A misspelled key also makes the real one "missing": name the misspelling first.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        first = _format_error(errors[0], JobConfig)
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: {first}{more}") from None
    updates: dict[str, Any] = {"secrets": tuple(secrets)}
    for section in ("input", "output", "report", "history"):
        model = getattr(cfg, section)
        try:
            updates[section] = model.model_copy(update={"path": _absolute(model.path)})
        except (ValueError, OSError) as exc:  # a NUL byte, a name too long for the file system
            raise ConfigError(f"{source}: {section}.path: not a usable path ({exc})") from None


    updates = {
        "input": cfg.input.model_copy(update={"path": _absolute(cfg.input.path)}),
        "output": cfg.output.model_copy(update={"path": _absolute(cfg.output.path)}),
        "report": cfg.report.model_copy(update={"path": _absolute(cfg.report.path)}),
        "history": cfg.history.model_copy(update={"path": _absolute(cfg.history.path)}),
        "evaluate": cfg.evaluate
        and cfg.evaluate.model_copy(update={"output_dir": _absolute(cfg.evaluate.output_dir)}),
        "secrets": tuple(secrets),
    }
    cfg = cfg.model_copy(update=updates)
    if cfg.history.path and cfg.output.path and _inside(cfg.history.path, cfg.output.path):
        raise ConfigError(f"{source}: history.path: must not be inside output.path {cfg.output.path}")
    if cfg.input.path and cfg.output.path and _inside(cfg.output.path, cfg.input.path):
        raise ConfigError(f"{source}: output.path: {cfg.output.path} is equal to or inside input.path {cfg.input.path}")
    return cfg


def _yaml_mapping(p: Path) -> dict:
    """The top-level mapping of a dataset YAML (for the cheap, Spark-free readers below)."""
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError:
        raise ConfigError(f"{p}: not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a YAML mapping at the top level")
    return data


def _block(p: Path, data: dict, key: str, model: type[_Model]) -> Any:
    """The YAML's ``key`` block validated as ``model`` (its defaults when empty); errors name file and key."""
    try:
        return model.model_validate(data.get(key) or {})
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        raise ConfigError(f"{p}: {key}.{_format_error(errors[0], model)}") from None


def load_schedule(path: str | os.PathLike[str]) -> tuple[str, ScheduleConfig]:
    """The dataset name and its validated schedule from a dataset YAML (cheap: no Spark)."""
    p = Path(path)
    data = _yaml_mapping(p)
    dataset = data.get("dataset")
    if not isinstance(dataset, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", dataset):
        raise ConfigError(f"{p}: dataset: expected a name of letters, digits, '_', '.' or '-'")
    if "schedule" not in data:
        return dataset, ScheduleConfig(enabled=False)
    return dataset, _block(p, data, "schedule", ScheduleConfig)


def load_spark_settings(path: str | os.PathLike[str]) -> SparkConfig:
    """The ``spark`` block of a dataset YAML (defaults when absent), for a scheduler's spark-submit."""
    p = Path(path)
    return _block(p, _yaml_mapping(p), "spark", SparkConfig)


def load_config(path: str | os.PathLike[str]) -> JobConfig:
    """Read, parse and validate one dataset YAML file; errors name the file and the key."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{p}: not valid YAML{where}: {problem}") from None
    cfg = parse_config(data, str(p))
    return cfg.model_copy(update={"source_file": str(p.resolve()), "source_sha256": hashlib.sha256(raw).hexdigest()})
