"""Plain-text rendering of a TickReport for the CLI: every failure, and why nothing ran."""

from __future__ import annotations

from lts.plugins.base import PortfolioFailure, TickReport

_FAILURE_TITLES = {"allocation_failed": "allocation FAILED",
                   "over_allocated": "OVER-ALLOCATED",
                   "portfolio_failed": "FAILED",
                   "step_missing": "step result MISSING"}


def format_report(report: TickReport) -> str:
    """A header line, the portfolio-wide failures, why nothing ran, one line per asset.

    ``error(s)`` counts failed asset steps and portfolio-wide failures (an allocator
    that raised or allocated more than there is) alike: each is a plugin failure.
    """
    failures = len(report.errors) + len(report.portfolio_failures)
    lines = [f"Tick at {report.started_at.isoformat(timespec='seconds')}: "
             f"{len(report.portfolios_run)} portfolio(s), {len(report.outcomes)} asset(s), "
             f"{failures} error(s), {report.duration_seconds:.3f} s"]
    if report.skipped_reason:
        lines.append(f"  skipped: {report.skipped_reason}")
    lines.extend(_failure_line(f) for f in report.portfolio_failures)
    lines.extend(_step_lines(report))
    lines.extend(_waiting_lines(report))
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


def _failure_line(failure: PortfolioFailure) -> str:
    """``  portfolio 3: allocation FAILED (portfolio plugin 'split'): ...``."""
    title = _FAILURE_TITLES.get(failure.kind, failure.kind)
    return (f"  portfolio {failure.portfolio_id}: {title} "
            f"(plugin {failure.plugin!r}): {failure.error}")


def _step_lines(report: TickReport) -> list[str]:
    """Where each fanned-out portfolio step ran and how long it took (Celery workers)."""
    if not report.steps:
        return []
    ran = [s.seconds for s in report.steps if s.status == "ran"]
    lines = [f"  workers: {len(report.steps)} step(s), {len(ran)} ran"
             + (f", slowest {max(ran):.3f} s" if ran else "")]
    for step in report.steps:
        where = f" on {step.worker}" if step.worker else ""
        again = ", redelivered" if step.redelivered else ""
        lines.append(f"    portfolio {step.portfolio_id}: {step.status}{where} "
                     f"({step.seconds:.3f} s{again})")
    return lines


def _waiting_lines(report: TickReport) -> list[str]:
    """Why nothing ran, or which portfolios wait, and when the next one is due."""
    if report.skipped_reason:
        return []
    text = nothing_ran_reason(report)
    if text is None and report.next_due_at is not None:
        text = (f"not due yet: {len(report.waiting)} portfolio(s), the next at "
                f"{report.next_due_at.isoformat(timespec='seconds')}")
    return [f"  {text}"] if text else []


def nothing_ran_reason(report: TickReport) -> str | None:
    """Why a tick that was not skipped ran no portfolio (None when one ran, or skipped).

    Shown by the CLI and by "Run now", so "0 portfolio(s)" never leaves one guessing.
    """
    if report.portfolios_run or report.skipped_reason:
        return None
    if not report.waiting:
        return "no portfolio was due: none is active (or another process ran it)"
    first = min(report.waiting, key=lambda p: p.next_due_at)
    return (f"no portfolio was due: {len(report.waiting)} wait(s); the next is portfolio "
            f"{first.id} ({first.name}) at {first.next_due_at.isoformat(timespec='seconds')}")
