"""The demo's hosted checkout: one open session, made through the billing service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.demo.plans import DEMO_SLUG
from gateway.demo.seed import DemoInfo
from gateway.settings import Settings, SettingsError, env_name

# Marks the checkout session the demo made, so sessions made through the API are not shown.
DEMO_CHECKOUT_METADATA = {"source": "gateway-demo"}
DEMO_TRIAL_DAYS = 14


@dataclass(frozen=True, kw_only=True)
class DemoCheckout:
    url: str
    trial_days: int | None

    @property
    def line(self) -> str:
        """The banner line: its label says what the session is."""
        kind = f" ({self.trial_days}-day trial)" if self.trial_days else ""
        return f"Demo checkout{kind}: {self.url}"


def demo_checkout_data(settings: Settings) -> dict[str, Any]:
    """The demo's checkout session as API data, returning to the tenant's own site.

    Its return URLs use https unless the base domain is local (localhost): checkout
    accepts plain http only there.
    """
    host = f"{DEMO_SLUG}.{settings.base_domain}"
    local = settings.base_domain == "localhost" or settings.base_domain.endswith(".localhost")
    base = settings.public_url(host) if local else settings.secure_url(host)
    return {
        "customer_details": {"name": "New Customer", "email": "new@example.com"},
        "currency": "EUR",
        "line_items": [
            {"name": "Alpeak Team", "unit_amount": 4900, "quantity": 1, "interval": "month"},
            {"name": "Onboarding", "unit_amount": 9900, "quantity": 1},
        ],
        "trial_days": DEMO_TRIAL_DAYS,
        "success_url": base + "/demo-shop/thanks?session={CHECKOUT_SESSION_ID}",
        "cancel_url": base + "/demo-shop/",
        "metadata": DEMO_CHECKOUT_METADATA,
    }


def check_demo_settings(settings: Settings) -> None:
    """Raise SettingsError when the demo could not be made with `settings`; creates nothing.

    Run it before seeding, so a wrong setting never leaves half a demo behind.
    """
    from billing.checkout_requests import validate_redirect_url
    from billing.validation import FieldErrors

    errors = FieldErrors()
    data = demo_checkout_data(settings)
    for field in ("success_url", "cancel_url"):
        validate_redirect_url(errors, field, data[field])
    if errors.errors:
        problems = "; ".join(f"{field} {message}" for field, message in errors.errors.items())
        raise SettingsError(
            env_name("base_domain"), f"the demo's checkout cannot use it ({problems})"
        )


async def demo_checkout(pool: Any, settings: Settings, info: DemoInfo) -> DemoCheckout:
    """The hosted checkout of the demo's open session (a new one when none is open)."""
    from billing.checkout_sessions import create_checkout_session

    host = f"{info.tenant.slug}.{settings.base_domain}"
    row = await pool.fetchrow(
        """SELECT id, trial_days FROM checkout_sessions
           WHERE tenant_id = $1 AND status = 'open' AND metadata->>'source' = $2
           AND expires_at > now() + interval '1 hour' ORDER BY created_at DESC LIMIT 1""",
        info.tenant.id,
        DEMO_CHECKOUT_METADATA["source"],
    )
    if row is None:
        session = await create_checkout_session(
            pool,
            tenant_id=info.tenant.id,
            default_currency=info.tenant.default_currency,
            data=demo_checkout_data(settings),
        )
        session_id, trial_days = session.id, session.trial_days
    else:
        session_id, trial_days = row["id"], row["trial_days"]
    base = settings.public_url(host)
    return DemoCheckout(url=f"{base}/checkout/{session_id}", trial_days=trial_days)
