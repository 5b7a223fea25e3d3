-- A customer pays an open invoice from the portal (issue 15). The invoice keeps how it
-- was paid; each attempt is one row keyed by the form's server nonce, written before the
-- provider is called, so a double submit charges once even where the provider ignores
-- idempotency keys (localstripe does).
ALTER TABLE invoices
    ADD COLUMN paid_with text CHECK (paid_with IN ('card', 'wallet', 'other')),
    -- what the customer reads: "visa 4242" for a card, the wallet id for credits
    ADD COLUMN paid_with_detail text CHECK (length(paid_with_detail) <= 200);

CREATE TABLE invoice_payments (
    nonce text PRIMARY KEY,
    tenant_id bigint NOT NULL,
    invoice_id text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    method text NOT NULL CHECK (method IN ('card', 'wallet')),
    -- the saved card charged (pm_...), or the wallet debited (wal_...)
    source_id text NOT NULL,
    status text NOT NULL DEFAULT 'processing'
        CHECK (status IN ('processing', 'requires_action', 'succeeded', 'failed')),
    stripe_payment_intent_id text UNIQUE,
    failure_code text,
    failure_message text CHECK (length(failure_message) <= 500),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id) ON DELETE CASCADE
);

-- At most one attempt per invoice is under way or done: a second tab's submission joins
-- the first instead of charging again.
CREATE UNIQUE INDEX invoice_payments_one_live ON invoice_payments (tenant_id, invoice_id)
    WHERE status IN ('processing', 'requires_action', 'succeeded');

-- The tenant lets customers pay open invoices with their wallet credits (off by default).
ALTER TABLE tenants ADD COLUMN wallet_pays_invoices boolean NOT NULL DEFAULT false;

-- Replicas keep tenants in memory and reload them on NOTIFY gateway_hosts: the new setting
-- must wake them too. (portal_link_ttl_seconds and portal_allow_no_payment_method were
-- missing from the list, so a change to them waited for the next unrelated reload.)
DROP TRIGGER tenants_hosts_changed ON tenants;
CREATE TRIGGER tenants_hosts_changed
    AFTER INSERT OR DELETE OR UPDATE OF slug, name, brand_color, icon_etag, portal_link_mode,
        portal_billing_edit_enabled, portal_link_ttl_seconds, portal_allow_no_payment_method,
        wallet_topups_enabled, wallet_topup_min, wallet_topup_max, wallet_max_balance,
        wallet_pays_invoices, default_currency, portal_subscription_cancel_enabled,
        dunning_retry_days, dunning_final_action, wallet_spend_enabled, webhook_url
    ON tenants FOR EACH STATEMENT EXECUTE FUNCTION notify_hosts_changed();
