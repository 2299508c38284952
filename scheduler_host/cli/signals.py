"""SIGTERM handled like Ctrl-C while a solve runs: the workers are told to stop, none is left.

``kill PID`` (a service manager, a batch scheduler, a terminal closing) sends SIGTERM, whose
default action ends the process at once and leaves its local workers to time out on the
scheduler's silence. During a solve the CLI turns it into the KeyboardInterrupt that Ctrl-C
raises, so the same path runs (``run_solve`` broadcasts ``terminate`` and waits for the
workers' goodbyes), and the command exits 128 + the signal's number, as a shell reports a
process ended by it (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: The signals ignored while an interrupted solve's result is saved.
IGNORED_WHILE_SAVING = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """A SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be."""


def exit_code_of(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal's number: 143 for SIGTERM, 130 for SIGINT (Ctrl-C); an interrupt
    re-raised by the solve (``SolveInterrupted``) counts as its ``interrupt``."""
    interrupt = getattr(interrupt, "interrupt", interrupt)
    number = signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT
    return 128 + int(number)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signum}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only; elsewhere a
    no-op, since only the main thread may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def interrupts_ignored() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are ignored: an interrupted solve's
    latest iterate is being saved, and a second Ctrl-C must not lose it. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in IGNORED_WHILE_SAVING}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
