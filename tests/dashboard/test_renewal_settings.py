"""The renewal settings on the settings page: dunning schedule, final action, wallet spending."""

from __future__ import annotations

from typing import Any

from gateway.tenants.registry import get_tenant
from tests.dashboard.test_settings_forms import MakeTenant, desk_for, field_error


async def test_the_dunning_schedule_final_action_and_wallet_spending_are_saved(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    _, page = await desk.get("/settings/renewals")
    assert 'value="1, 3, 5, 7"' in page
    response = await desk.submit(
        "/settings/renewals",
        "/settings/renewals",
        {"retry_days": "2, 4 ,9", "final_action": "unpaid", "wallet_spend_enabled": "on"},
    )
    assert response.status == 303
    dunning = (await get_tenant(pool, alpeak.tenant.id)).dunning
    assert (dunning.retry_days, dunning.final_action, dunning.wallet_spend_enabled) == (
        (2, 4, 9),
        "unpaid",
        True,
    )


async def test_a_schedule_that_is_not_rising_days_is_refused_beside_its_field(
    gateway_client: Any, make_tenant: MakeTenant, pool: Any
) -> None:
    desk, alpeak = await desk_for(gateway_client, make_tenant)
    response = await desk.submit(
        "/settings/renewals",
        "/settings/renewals",
        {"retry_days": "5, 3", "final_action": "cancel"},
    )
    assert response.status == 422
    page = await response.text()
    assert "rising days" in field_error(page, "retry_days")
    assert 'value="5, 3"' in page
    assert (await get_tenant(pool, alpeak.tenant.id)).dunning.retry_days == (1, 3, 5, 7)
