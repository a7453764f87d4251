"""Plugins the ops system tests install into their servers (as a real distribution).

- ``recording_synthetic``: the synthetic pipeline, appending one line per snapshot to
  the file named by ``LTS_TEST_RUN_LOG`` (portfolio, asset, tick time, process): which
  portfolio ran when, and in which gunicorn worker.
- ``crash_paper``: the paper broker; its first submission (across all processes, an
  ``O_EXCL`` marker file ``LTS_TEST_CRASH_MARKER``) is booked at the "broker", then the
  call blocks: the test hook where the Order row is committed and the broker has the
  order, but LTS has not booked its answer. The test kills the process there.

``LTS_TEST_*`` variables are test tooling, not settings (lts.config ignores them).
"""

from __future__ import annotations

import os
import threading
from datetime import datetime

from lts.plugins.base import AssetInfo, BrokerResult, MarketSnapshot, OrderRequest
from lts.plugins.broker.paper import PaperBroker
from lts.plugins.pipeline.synthetic import SyntheticPipeline


class RecordingPipeline(SyntheticPipeline):
    """The synthetic pipeline, recording every snapshot it is asked for."""

    name = "recording_synthetic"
    interface_version = "1.0"
    description = "Synthetic prices; records each call (system tests)."

    def snapshot(self, asset: AssetInfo, now: datetime) -> MarketSnapshot:
        """Record (portfolio, asset, now, pid), then answer like the synthetic pipeline."""
        path = os.environ.get("LTS_TEST_RUN_LOG")
        if path:
            line = f"{asset.portfolio_id} {asset.id} {now.isoformat()} {os.getpid()}\n"
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())  # one write with O_APPEND: lines never mix
            finally:
                os.close(fd)
        return super().snapshot(asset, now)


class CrashBroker(PaperBroker):
    """The paper broker, hanging after booking its first order (kill -9 test hook)."""

    name = "crash_paper"
    interface_version = "1.0"
    description = "Paper broker that hangs after its first booking (system tests)."

    def submit(self, request: OrderRequest) -> BrokerResult:
        """Book like paper; the first booking of all processes then never returns."""
        result = super().submit(request)
        marker = os.environ.get("LTS_TEST_CRASH_MARKER")
        if marker:
            try:
                fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return result
            os.write(fd, f"{request.client_order_id} {os.getpid()}\n".encode())
            os.close(fd)
            threading.Event().wait()  # until the test's kill -9
        return result
