"""Worker start-up: the long-lived heap is frozen out of the garbage collector's way."""

from __future__ import annotations

import gc
import weakref

from lts.server import freeze_startup_objects, gunicorn_options


def test_freeze_collects_startup_garbage_then_freezes_the_rest():
    class Cycle:
        pass

    garbage = Cycle()
    garbage.me = garbage  # a cycle only the collector can free
    alive = weakref.ref(garbage)
    del garbage
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 0
        assert alive() is None  # collected, not frozen
    finally:
        gc.unfreeze()


def test_gunicorn_options_follow_settings():
    options = gunicorn_options({"host": "127.0.0.1", "port": 5000, "web_workers": 3,
                                "web_threads": 2, "log_level": "INFO"})
    assert options["bind"] == "127.0.0.1:5000"
    assert (options["workers"], options["threads"], options["preload_app"]) == (3, 2, False)
