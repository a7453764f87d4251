"""Plain-text rendering of a TickReport for the CLI."""

from __future__ import annotations

from lts.plugins.base import TickReport


def format_report(report: TickReport) -> str:
    """One header line, then one line per asset outcome."""
    lines = [f"Tick at {report.started_at.isoformat(timespec='seconds')}: "
             f"{len(report.portfolios_run)} portfolio(s), {len(report.outcomes)} asset(s), "
             f"{len(report.errors)} error(s), {report.duration_seconds:.3f} s"]
    if report.skipped_reason:
        lines.append(f"  skipped: {report.skipped_reason}")
    for outcome in report.outcomes:
        if outcome.ok:
            decision = outcome.decision
            action = decision.action if decision else "-"
            side = f" {decision.side}" if decision and decision.side else ""
            why = f" ({decision.reason})" if decision and decision.reason else ""
            orders = f", orders {list(outcome.order_ids)}" if outcome.order_ids else ""
            lines.append(f"  asset {outcome.asset_id}: {action}{side}{why}{orders}")
            lines.extend(f"    warning: {warning}" for warning in outcome.warnings)
        else:
            lines.append(f"  asset {outcome.asset_id}: FAILED {outcome.error}")
    return "\n".join(lines)
