"""Files the job writes beside its tables: JSON written atomically.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def write_report(report: dict[str, Any], path: str) -> None:
    """Write the report as JSON (atomically: a reader never sees half a file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False, default=_json_default) + "\n")
    os.replace(tmp, p)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return str(obj)
