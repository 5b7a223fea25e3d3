"""Renewal settings on the settings page: the dunning schedule, the final action, wallet spending.

Values go through the same validation as the API (`gateway.tenants.registry`); a
rejected form is shown again with what was typed and the error beside its field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from gateway.dashboard.auth import Desk, signed_in, text_field
from gateway.edge import keys
from gateway.edge.app_host import PREFIX
from gateway.tenants import registry
from gateway.tenants.errors import InvalidTenantInput
from gateway.tenants.models import Tenant

routes = web.RouteTableDef()


def _values(tenant: Tenant) -> dict[str, str]:
    return {
        "retry_days": ", ".join(str(day) for day in tenant.dunning.retry_days),
        "final_action": tenant.dunning.final_action,
        "wallet_spend_enabled": "on" if tenant.dunning.wallet_spend_enabled else "",
    }


def _render(
    request: web.Request,
    desk: Desk,
    *,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    status: int = 200,
) -> web.StreamResponse:
    context = desk.context(
        "renewals", values=values, errors=errors, saved=request.query.get("saved") == "1"
    )
    return aiohttp_jinja2.render_template(
        "dashboard/renewals.html", request, context, status=status
    )


def parse_days(text: str) -> list[int] | str:
    """`1, 3, 5` as a list of days; anything else is passed on for the registry to refuse."""
    parts = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    return [int(part) for part in parts] if all(part.isdigit() for part in parts) else text


@routes.get("/renewals")
@signed_in
async def renewals_form(request: web.Request, desk: Desk) -> web.StreamResponse:
    """Retry days after a failed renewal charge, what follows the last one, wallet spending."""
    return _render(request, desk, values=_values(desk.tenant), errors={})


@routes.post("/renewals")
@signed_in
async def renewals_save(request: web.Request, desk: Desk) -> web.StreamResponse:
    form = await request.post()
    values = {
        "retry_days": text_field(form, "retry_days").strip(),
        "final_action": text_field(form, "final_action"),
        "wallet_spend_enabled": "on" if text_field(form, "wallet_spend_enabled") else "",
    }
    changes: dict[str, Any] = {
        "dunning.retry_days": parse_days(values["retry_days"]),
        "dunning.final_action": values["final_action"],
        "dunning.wallet_spend_enabled": bool(values["wallet_spend_enabled"]),
    }
    try:
        await registry.update_settings(
            request.config_dict[keys.POOL], tenant_id=desk.tenant.id, changes=changes
        )
    except InvalidTenantInput as error:
        errors = {name.split(".", 1)[-1]: message for name, message in error.errors.items()}
        return _render(request, desk, values=values, errors=errors, status=422)
    raise web.HTTPSeeOther(location=f"{PREFIX}/renewals?saved=1")
