"""Names: column references and quoting, and the canonical string of a class label.
"""

from __future__ import annotations

import decimal
from typing import Any


def label_key(value: Any) -> str:
    """The canonical string of a class label, used as JSON key and to match config to data."""
    if isinstance(value, bool):
        return "true" if value else "false"
    # MLlib writes labels as doubles: the class 1.0 is the class 1 (and Decimal("1.00") too).
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, decimal.Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    return str(value)


def backtick(name: str) -> str:
    """``name`` quoted for Spark SQL: always backticks, so a space, a dot or a keyword is one name."""
    return "`" + str(name).replace("`", "``") + "`"


def quote_if_needed(name: str) -> str:
    """``name`` as Delta's table properties and SQL expect it: backticks only when it is not plain."""
    plain = name.isascii() and name.replace("_", "a").isalnum() and not name[0].isdigit()
    return name if plain else backtick(name)
