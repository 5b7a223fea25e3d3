-- Renewals, collection and dunning (issue 16): subscriptions renew by themselves at
-- period end, invoices are collected off-session, failed payments are retried.

-- Dunning and wallet spending are the tenant's settings: retries this many days after
-- the first failed charge, then the subscription is canceled or left unpaid.
ALTER TABLE tenants
    ADD COLUMN dunning_retry_days integer[] NOT NULL DEFAULT '{1,3,5,7}'
        CHECK (cardinality(dunning_retry_days) <= 10
               AND 0 < ALL (dunning_retry_days) AND 60 >= ALL (dunning_retry_days)),
    ADD COLUMN dunning_final_action text NOT NULL DEFAULT 'cancel'
        CHECK (dunning_final_action IN ('cancel', 'unpaid')),
    ADD COLUMN wallet_spend_enabled boolean NOT NULL DEFAULT false;

-- `unpaid`: every retry failed and the tenant keeps the subscription without renewing it.
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_status_check;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_status_check
    CHECK (status IN ('incomplete', 'trialing', 'active', 'past_due', 'paused', 'unpaid',
                      'canceled'));
-- Periods are counted from the anchor (the first paid period's start), so a subscription
-- started on the 31st comes back to the 31st after a short month. NULL: not renewed yet,
-- the anchor is then the trial's end or the first period's start.
ALTER TABLE subscriptions ADD COLUMN billing_anchor timestamptz;
CREATE INDEX subscriptions_due ON subscriptions (current_period_end)
    WHERE status IN ('trialing', 'active', 'past_due');

-- When the collector next tries to charge an open invoice (NULL: it does not).
ALTER TABLE invoices ADD COLUMN next_payment_attempt_at timestamptz;
CREATE INDEX invoices_collection_due ON invoices (next_payment_attempt_at)
    WHERE status = 'open' AND next_payment_attempt_at IS NOT NULL;
-- One invoice per subscription period, whichever replica renews it.
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (tenant_id, subscription_id, period_start)
    WHERE kind = 'subscription' AND period_start IS NOT NULL;

-- Each off-session charge of an invoice, written before the provider is called: the row
-- (and its idempotency key) makes a crashed charge findable and never repeated.
CREATE TABLE payment_attempts (
    id text PRIMARY KEY CHECK (id ~ '^pa_[0-9A-Za-z]{22,}$'),
    tenant_id bigint NOT NULL,
    invoice_id text NOT NULL,
    customer_id text NOT NULL,
    attempt integer NOT NULL CHECK (attempt > 0),
    amount bigint NOT NULL CHECK (amount > 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- pending: sent, outcome not recorded yet; abandoned: never reached the provider
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'succeeded', 'failed', 'requires_action', 'abandoned')),
    idempotency_key text NOT NULL UNIQUE,
    stripe_payment_intent_id text UNIQUE,
    failure_code text,
    failure_message text CHECK (length(failure_message) <= 500),
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, invoice_id, attempt),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX payment_attempts_tenant_created
    ON payment_attempts (tenant_id, created_at DESC, id DESC);
CREATE INDEX payment_attempts_pending ON payment_attempts (started_at) WHERE status = 'pending';
