"""Progress within one F of the sweep: each step logged as it starts and ends, its seconds kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class FactorClock:
    """Logs each step of one F (sampling, each fit, each scoring, the bootstrap) with elapsed seconds."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.steps: dict[str, float] = {}
        self.started = time.perf_counter()

    @contextmanager
    def step(self, name: str, what: str) -> Iterator[None]:
        """Time the block as step ``name``; ``what`` says what it does, for the log."""
        log.info("evaluate: F = %g: %s ...", self.factor, what)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.steps[name] = self.steps.get(name, 0.0) + time.perf_counter() - t0
        log.info("evaluate: F = %g: %s done in %.1f s (%.1f s into this F)", self.factor, name,
                 self.steps[name], time.perf_counter() - self.started)

    def seconds(self) -> dict[str, float]:
        """Every step's seconds, and ``other`` for the rest: they sum to this F's wall time."""
        total = time.perf_counter() - self.started
        out = {k: round(v, 3) for k, v in self.steps.items()}
        out["other"] = round(max(0.0, total - sum(self.steps.values())), 3)
        return out
