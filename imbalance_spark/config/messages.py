"""Config errors as the user reads them: one line per problem, naming the file and the key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from imbalance_spark.common.text import one_line
from imbalance_spark.errors import ConfigError, ImbalanceSparkError, InputError


class ConfigProblems(ConfigError):
    """Every problem found in one config, one line each (``lines``); the CLI prints each on its own line."""

    def __init__(self, lines: Sequence[str]):
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


class InputProblems(InputError):
    """Every problem found in the input of one config, one line each (``lines``)."""

    def __init__(self, lines: Sequence[str]):
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


def problems_error(kind: type[ImbalanceSparkError], source: str, problems: Sequence[str]) -> ImbalanceSparkError:
    """One error of ``kind`` (ConfigError or InputError) for ``problems`` of ``source``, one line each."""
    lines = [one_line(f"{source}: {p}") for p in problems]
    if len(lines) == 1:
        return kind(lines[0])
    return (ConfigProblems if issubclass(kind, ConfigError) else InputProblems)(lines)


def config_error(source: str, problems: Sequence[str]) -> ConfigError:
    """One error for ``problems`` of ``source``: a plain :class:`ConfigError` for one, else :class:`ConfigProblems`."""
    return problems_error(ConfigError, source, problems)


def _known_keys(loc: tuple[Any, ...], model: type[BaseModel]) -> list[str]:
    """The keys allowed at the mapping that holds ``loc``'s last key (empty if not a model)."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [k for k in model.model_fields if k not in ("source_file", "source_sha256", "secrets")]


def format_error(error: dict[str, Any], model: type[BaseModel] | None = None) -> str:
    """One pydantic error as ``key.path: what is wrong`` (an unknown key says which was meant)."""
    parts = [str(p) for p in error["loc"] if not str(p).startswith(("function-after", "union"))]
    loc = ".".join(p if p.isprintable() else repr(p) for p in parts)
    # pydantic reports union members as locations ("int", "float", "dict[...]"); drop them
    loc = re.sub(r"\.(bool|int|float|str|dict\[.*?\]|list\[.*?\]|literal\[.*?\])(?=\.|$)", "", loc)
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


def validation_problems(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every problem of a failed validation, one line each; a misspelled key first (it makes the real one "missing")."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    # A value that fits no member of a union fails once per member, at the same key: one line per key.
    by_key: dict[str, str] = {}
    for error in errors:
        line = prefix + format_error(error, model)
        by_key.setdefault(line.split(": ", 1)[0] if ": " in line else line, line)
    return list(by_key.values())
