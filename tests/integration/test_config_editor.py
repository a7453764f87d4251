"""The admin config editor: empty means null for nullable keys; inf and NaN are refused."""

from __future__ import annotations

import pytest

from lts.runtime_config import effective_setting
from tests.factories import gen_user
from tests.helpers import csrf_from


@pytest.fixture
def admin_headers(client, db, login_as):
    login_as(gen_user("cora", role="admin"))
    token = csrf_from(client.get("/admin/config").get_data(as_text=True))
    return {"HX-Request": "true", "X-CSRFToken": token}


def test_an_empty_value_clears_a_nullable_setting(client, admin_headers):
    set_limit = client.post("/admin/config/max_order_notional", headers=admin_headers,
                            data={"value": "2500"})
    assert set_limit.status_code == 200
    assert effective_setting("max_order_notional") == 2500.0
    cleared = client.post("/admin/config/max_order_notional", headers=admin_headers,
                          data={"value": ""})
    assert cleared.status_code == 200, cleared.get_data(as_text=True)
    assert effective_setting("max_order_notional") is None
    assert 'placeholder="empty: none"' in cleared.get_data(as_text=True)


def test_an_empty_value_is_still_refused_for_a_setting_that_needs_one(client, admin_headers):
    refused = client.post("/admin/config/global_latency", headers=admin_headers,
                          data={"value": ""})
    assert refused.status_code == 422
    assert 'id="setting-global_latency-error"' in refused.get_data(as_text=True)


@pytest.mark.parametrize("text", ["1e400", "-1e400", "NaN", "Infinity"])
def test_non_finite_numbers_are_refused_not_stored_as_inf(client, admin_headers, text):
    refused = client.post("/admin/config/max_order_notional", headers=admin_headers,
                          data={"value": text})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "must be a finite number" in html
    assert effective_setting("max_order_notional") != float("inf")


def test_the_api_refuses_non_finite_numbers_too(client, admin_headers):
    response = client.put("/api/v1/config/max_order_notional", headers=admin_headers,
                          data='{"value": 1e400}', content_type="application/json")
    assert response.status_code == 422
    assert "finite" in response.get_data(as_text=True)
