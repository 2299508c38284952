"""Injected faults (``--inject-faults``): the worker side of the fault injector.

``kill``, ``raise`` and ``delay`` rules apply to a slot's first worker only (slot epoch 0):
a replacement resumes at the iteration that killed its predecessor and must not
be killed again.  ``retire`` rules apply to every worker: a successor starts
after the iteration its predecessor retired at, so it cannot loop.  Whether a
rule fires is drawn from a generator seeded by (seed, worker, iteration), so a
run is reproducible.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from runtime.specs import FaultPlan, FaultRule


class InjectedFault(RuntimeError):
    """Raised by a ``raise`` rule: a transient failure of the worker."""


class FaultInjector:
    def __init__(self, plan: FaultPlan, *, worker_index: int, slot_epoch: int) -> None:
        self._rules = tuple(rule for rule in plan.rules if slot_epoch == 0 or rule.kind == "retire")
        self._seed = plan.seed
        self._worker = worker_index

    def _fires(self, rule: FaultRule, iteration: int, position: int) -> bool:
        if rule.worker is not None and rule.worker != self._worker:
            return False
        if rule.iteration is not None and rule.iteration != iteration:
            return False
        if rule.probability >= 1.0:
            return True
        draw = np.random.default_rng([self._seed, self._worker, iteration, position]).random()
        return bool(draw < rule.probability)

    def _matching(self, kind: str, iteration: int) -> list[FaultRule]:
        return [
            rule
            for position, rule in enumerate(self._rules)
            if rule.kind == kind and self._fires(rule, iteration, position)
        ]

    def before_compute(self, iteration: int) -> None:
        """``kill``: die the hard way, as a crashed or reclaimed worker does; ``raise``: raise."""
        if self._matching("kill", iteration):
            os.kill(os.getpid(), signal.SIGKILL)
        if self._matching("raise", iteration):
            raise InjectedFault(f"injected fault at iteration {iteration}")

    def before_send(self, iteration: int) -> None:
        """``delay``: straggle."""
        for rule in self._matching("delay", iteration):
            time.sleep(rule.seconds)

    def retire_after(self, iteration: int) -> bool:
        return bool(self._matching("retire", iteration))
