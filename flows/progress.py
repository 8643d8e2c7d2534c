"""Progress of long phases, through ``logging`` (one logger per module under ``symnas``).

On a terminal a phase shows a progress bar (``tqdm``); elsewhere (a log file, a notebook's
captured stderr, a pipe) it logs a line when it starts, at each epoch or every few trials, and
when it ends. ``verbose=False`` turns a flow's progress off; ``logging.getLogger("symnas")
.setLevel(logging.WARNING)`` silences every module.

A program that configures no logging of its own still sees the lines: the first verbose search
or flow gives the ``symnas`` logger a handler to stderr (once, and only when neither it nor the
root logger has a handler, so an application's own logging setup is respected).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

FORMAT = "%(asctime)s %(message)s"


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (pytest and notebooks
    replace it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def show_progress() -> None:
    """Makes INFO lines of ``symnas`` loggers reach stderr when nothing else would show them."""
    logger = logging.getLogger("symnas")
    if any(isinstance(h, StderrHandler) for h in logger.handlers):
        return
    if logger.handlers or logging.getLogger().handlers:
        return  # the application routes the records itself
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


@contextlib.contextmanager
def phase(logger: logging.Logger, text: str, verbose: bool = True) -> Iterator[None]:
    """Logs ``text`` when the block starts and its duration when it ends."""
    if not verbose:
        yield
        return
    show_progress()
    logger.info("%s ...", text)
    start = time.perf_counter()
    yield
    logger.info("%s: done in %.1f s", text, time.perf_counter() - start)
