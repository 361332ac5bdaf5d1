"""What every config model shares: the frozen, extra-forbidding base, class labels, factors, paths.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr


def _integral_label(value: Any) -> Any:
    # `1.0` in YAML names the class 1 (MLlib's double labels); 0.5 names no class.
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"class {value!r} is not a class label (expected an integer, string or boolean)")
        return int(value)
    return value


# A class label as written in YAML: 1, "fraud", true (1.0 is read as 1).
Label = Annotated[Union[StrictBool, StrictInt, StrictStr], BeforeValidator(_integral_label)]


Factor = Union[StrictInt, StrictFloat]


Degree = Literal["extreme", "moderate", "mild", "none"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_factor(f: Any, what: str) -> None:
    """Raise unless ``f`` is a finite number >= 1 (a downsampling factor); ``what`` names it."""
    if isinstance(f, bool) or not isinstance(f, (int, float)):
        raise ValueError(f"{what} must be a number >= 1, got {f!r}")
    if not (1 <= f < float("inf")):
        raise ValueError(f"{what} must be a finite number >= 1 (1 keeps every row), got {f!r}")


def inside(child: str, parent: str) -> bool:
    """Whether path ``child`` is ``parent`` or lies under it."""
    c, p = child.rstrip("/"), parent.rstrip("/")
    return c == p or c.startswith(p + "/")
