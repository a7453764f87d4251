"""The outbox: jobs run after the caller returns, in order, in an app context, isolated."""

from __future__ import annotations

import logging
import threading

from flask import current_app

from lts.services.outbox import outbox


def test_jobs_run_in_order_in_the_apps_context_on_another_thread(app):
    seen: list[tuple[int, str, bool]] = []
    gate = threading.Event()
    caller = threading.get_ident()

    def job(number: int) -> None:
        gate.wait(10)  # the first job holds the queue until every job is in
        seen.append((number, current_app.name, threading.get_ident() != caller))

    box = outbox(app)
    for number in range(3):
        box.submit(lambda n=number: job(n))
    assert seen == []  # submit returned before any job ran
    gate.set()
    assert box.wait_idle(10)
    assert seen == [(0, app.name, True), (1, app.name, True), (2, app.name, True)]


def test_a_failing_job_is_logged_and_the_next_one_still_runs(app, caplog):
    done = []

    def broken() -> None:
        raise RuntimeError("smtp exploded")

    box = outbox(app)
    with caplog.at_level(logging.ERROR):
        box.submit(broken)
        box.submit(lambda: done.append(True))
        assert box.wait_idle(10)
    assert done == [True]
    assert "a background job failed" in caplog.text


def test_one_outbox_per_app_and_an_idle_one_answers_at_once(app):
    assert outbox(app) is outbox(app)
    assert outbox(app).wait_idle(0)
