"""Schemathesis over the whole generated document: no 500, responses match the schemas.

Runs in-process against the test app (WSGI), once with an admin token and once with a
user token, with a bounded number of examples per operation so the suite stays fast
and deterministic (derandomized, no example database). Valid and invalid inputs are
both generated. ``make fuzz`` runs the same test with many more, random examples
(``FUZZ_EXAMPLES``, ``FUZZ_RANDOM=1``).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from lts.blueprints.api import openapi_document
from lts.extensions import db as database
from lts.models import Order, Position, Statistic
from tests.factories import gen_asset, gen_portfolio, gen_user

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"  # make fuzz: new examples every run
# Operations that would end the session the fuzzer is using, or change its password.
SKIPPED = {
    ("POST", "/api/v1/auth/logout"),
    ("DELETE", "/api/v1/auth/tokens/{token_id}"),
    ("POST", "/api/v1/auth/password"),
    ("POST", "/api/v1/users/{user_id}/revoke-sessions"),
    ("PATCH", "/api/v1/users/{user_id}"),
}


@pytest.fixture
def app_overrides() -> dict[str, object]:
    """Generous login limits: the fuzzer logs in many times."""
    return {"login_rate_limit": "10000 per minute"}


def _seed() -> None:
    """A few objects with low ids, so generated ids sometimes hit real rows."""
    owner = gen_user("owner")
    portfolio = gen_portfolio(owner, "seeded")
    asset = gen_asset(portfolio, "EUR_USD", allocated_capital=1000.0)
    order = Order(asset_id=asset.id, side="buy", quantity=1.0, client_order_id="seed-1",
                  status="filled", fill_price=1.1)
    database.session.add(order)
    database.session.flush()
    database.session.add(Position(asset_id=asset.id, order_id=order.id, side="long",
                                  quantity=1.0, entry_price=1.1))
    database.session.add(Statistic(key=f"portfolio.{portfolio.id}.equity", value=1.0,
                                   portfolio_id=portfolio.id,
                                   timestamp=datetime(2026, 1, 1, tzinfo=UTC)))
    database.session.commit()


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid", "invalid"])
@pytest.mark.parametrize("role", ["admin", "user"])
def test_fuzz_the_whole_api(app, db, api_token, role, mode):
    _seed()
    user = gen_user(f"fuzz_{role}", role=role)
    headers = {"Authorization": f"Bearer {api_token(user, ttl_hours=24)}"}
    schema = schemathesis.openapi.from_dict(openapi_document())
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue

        @settings(max_examples=EXAMPLES, derandomize=not RANDOM, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(app=app, headers=headers,
                                   checks=[not_a_server_error, response_schema_conformance])

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
