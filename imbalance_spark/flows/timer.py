"""StageTimer: each stage logged as it starts and ends, its duration kept for the report.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

log = logging.getLogger(__name__)


class StageTimer:
    """Logs each stage as it starts and ends, and keeps the durations for the report."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.started = time.perf_counter()

    @contextmanager
    def stage(self, name: str, what: str):
        log.info("%s: %s ...", name, what)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = time.perf_counter() - t0
        log.info("%s: done in %.1f s", name, self.stages[name])

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started
