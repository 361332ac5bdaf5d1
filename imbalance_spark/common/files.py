"""Files the job writes beside its tables: JSON written atomically.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_json(document: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a JSON document atomically (a reader never sees half a file); return its path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=False, default=_json_default) + "\n")
    os.replace(tmp, p)
    return p


# The evaluation flow's name for it.
write_report = write_json


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return str(obj)
