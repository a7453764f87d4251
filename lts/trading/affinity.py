"""Keep the tick thread and its plugin worker thread on one CPU while a tick runs.

Every plugin call hands work to a worker thread and waits for it. When the two threads
sit on different CPUs, each hand-off wakes an idle CPU; on virtual machines that costs
0.1-0.3 ms per call, which measured as half of all plugin time in bench/loop_bench.py.
Only one of the two threads runs at a time anyway (one waits for the other), so sharing
a CPU loses nothing. Linux only; elsewhere, and on one-CPU machines, it does nothing.
Affinity is per thread on Linux: web request threads of the same process keep every CPU.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from lts.trading.plugin_calls import PluginCaller

log = logging.getLogger(__name__)


@contextlib.contextmanager
def shared_cpu(caller: PluginCaller) -> Iterator[None]:
    """Pin this thread and ``caller``'s worker to one CPU for the block, then restore."""
    setter = getattr(os, "sched_setaffinity", None)
    getter = getattr(os, "sched_getaffinity", None)
    if setter is None or getter is None:
        yield
        return
    try:
        before = getter(0)
        if len(before) < 2:
            yield
            return
        one = {max(before)}
        setter(0, one)
    except OSError as exc:  # containers may forbid it: run unpinned
        log.debug("cannot pin the tick thread: %s", exc)
        yield
        return
    caller.set_affinity(one)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            setter(0, before)
        caller.set_affinity(before)
