-- The whole product's schema. Later migrations add behaviour, not tables.
--
-- Conventions:
--   * Public ids are text with a prefix (cus_, sub_, in_, ...) and >= 128 random bits;
--     they are the primary keys of tenant-owned rows.
--   * Every tenant-owned row carries tenant_id. References between tenant-owned
--     rows are composite (tenant_id, id), so a row can never point at another
--     tenant's row, whatever the application does.
--   * Money is bigint minor units beside an ISO 4217 currency code.

CREATE TABLE tenants (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug text NOT NULL UNIQUE
        CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$')
        CHECK (slug NOT IN ('api', 'app', 'www', 'cname', 'admin', 'static', 'mail')),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    brand_color text NOT NULL DEFAULT '#4f46e5' CHECK (brand_color ~ '^#[0-9a-f]{6}$'),
    icon bytea,
    icon_type text CHECK (icon_type IN ('image/png', 'image/x-icon', 'image/webp')),
    icon_etag text,
    default_currency text NOT NULL DEFAULT 'EUR' CHECK (default_currency ~ '^[A-Z]{3}$'),
    -- wallet settings (amounts in minor units of the wallet's currency)
    wallet_topups_enabled boolean NOT NULL DEFAULT false,
    wallet_topup_min bigint NOT NULL DEFAULT 500 CHECK (wallet_topup_min > 0),
    wallet_topup_max bigint NOT NULL DEFAULT 10000,
    wallet_max_balance bigint NOT NULL DEFAULT 50000,
    -- portal settings
    portal_billing_edit_enabled boolean NOT NULL DEFAULT true,
    portal_link_mode text NOT NULL DEFAULT 'customer_id'
        CHECK (portal_link_mode IN ('customer_id', 'signed')),
    portal_link_ttl_seconds integer NOT NULL DEFAULT 3600
        CHECK (portal_link_ttl_seconds BETWEEN 60 AND 2592000),
    portal_allow_no_payment_method boolean NOT NULL DEFAULT false,
    -- secrets are sealed with AES-GCM under the process's key-encryption key
    stripe_secret_key_sealed bytea,
    stripe_publishable_key text CHECK (stripe_publishable_key ~ '^pk_'),
    webhook_url text CHECK (webhook_url ~ '^https?://'),
    webhook_secret_sealed bytea,
    next_invoice_number integer NOT NULL DEFAULT 1 CHECK (next_invoice_number > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((icon IS NULL) = (icon_type IS NULL)),
    CHECK (wallet_topup_min <= wallet_topup_max),
    CHECK (wallet_topup_max <= wallet_max_balance)
);

CREATE TABLE tenant_api_keys (
    id text PRIMARY KEY CHECK (id ~ '^key_[0-9A-Za-z]{22,}$'),
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    -- SHA-256 of the whole key; keys carry 190+ random bits, so a plain hash suffices
    key_hash bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    key_prefix text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX tenant_api_keys_tenant ON tenant_api_keys (tenant_id);

CREATE TABLE domains (
    id text PRIMARY KEY CHECK (id ~ '^dom_[0-9A-Za-z]{22,}$'),
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9.-]+$' AND length(name) <= 253),
    status text NOT NULL DEFAULT 'pending_dns'
        CHECK (status IN ('pending_dns', 'verified', 'issuing', 'active', 'renewing',
                          'failed', 'moved')),
    failure_reason text,
    diagnosis jsonb,
    attempts integer NOT NULL DEFAULT 0,
    next_check_at timestamptz,
    last_checked_at timestamptz,
    verified_at timestamptz,
    moved_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE INDEX domains_next_check ON domains (next_check_at) WHERE next_check_at IS NOT NULL;

CREATE TABLE certificates (
    id text PRIMARY KEY CHECK (id ~ '^crt_[0-9A-Za-z]{22,}$'),
    -- NULL for vendor hosts (api., app.) that belong to no tenant
    tenant_id bigint REFERENCES tenants (id) ON DELETE CASCADE,
    domain_id text REFERENCES domains (id) ON DELETE CASCADE,
    names text[] NOT NULL CHECK (cardinality(names) >= 1),
    issuer text NOT NULL CHECK (issuer IN ('acme', 'internal')),
    issuer_detail text NOT NULL DEFAULT '',
    serial text NOT NULL,
    not_before timestamptz NOT NULL,
    not_after timestamptz NOT NULL,
    chain_pem text NOT NULL,
    key_sealed bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (not_before < not_after)
);
CREATE INDEX certificates_names ON certificates USING gin (names);
CREATE INDEX certificates_domain ON certificates (domain_id, not_after DESC);

CREATE TABLE acme_accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    directory_url text NOT NULL UNIQUE,
    account_uri text,
    key_sealed bytea NOT NULL,
    contact text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Pending challenge answers, readable by every replica (HTTP-01 on :80, TLS-ALPN-01 on :443).
CREATE TABLE acme_challenges (
    token text NOT NULL,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('http-01', 'tls-alpn-01')),
    key_authorization text NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, name, token)
);

-- Every order placed with a CA, for budgets that model the CA's rate limits.
CREATE TABLE acme_orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    registered_domain text NOT NULL,
    directory_url text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('pending', 'valid', 'invalid', 'error')),
    detail text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX acme_orders_registered ON acme_orders (registered_domain, created_at);
CREATE INDEX acme_orders_name ON acme_orders (name, created_at);

-- The internal CA's root for offline and demo issuance; its key is sealed.
CREATE TABLE internal_ca (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cert_pem text NOT NULL,
    key_sealed bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
    id text PRIMARY KEY CHECK (id ~ '^cus_[0-9A-Za-z]{22,}$'),
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email text CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254),
    address_line1 text CHECK (length(address_line1) <= 200),
    address_line2 text CHECK (length(address_line2) <= 200),
    city text CHECK (length(city) <= 100),
    postal_code text CHECK (length(postal_code) <= 20),
    state text CHECK (length(state) <= 100),
    country text CHECK (country ~ '^[A-Z]{2}$'),
    vat_number text CHECK (vat_number ~ '^[A-Z0-9]{4,20}$'),
    language text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2}(-[A-Z]{2})?$'),
    currency text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    stripe_customer_id text,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE INDEX customers_tenant_created ON customers (tenant_id, created_at DESC, id DESC);

CREATE TABLE payment_methods (
    id text PRIMARY KEY CHECK (id ~ '^pm_[0-9A-Za-z]{22,}$'),
    tenant_id bigint NOT NULL,
    customer_id text NOT NULL,
    stripe_payment_method_id text,
    brand text NOT NULL DEFAULT 'card',
    last4 text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month smallint NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year smallint NOT NULL CHECK (exp_year BETWEEN 2000 AND 2200),
    is_default boolean NOT NULL DEFAULT false,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'detached')),
    created_at timestamptz NOT NULL DEFAULT now(),
    detached_at timestamptz,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE,
    CHECK (NOT (is_default AND status = 'detached'))
);
CREATE UNIQUE INDEX payment_methods_one_default
    ON payment_methods (tenant_id, customer_id) WHERE is_default;
CREATE INDEX payment_methods_customer ON payment_methods (tenant_id, customer_id);

CREATE TABLE subscriptions (
    id text PRIMARY KEY CHECK (id ~ '^sub_[0-9A-Za-z]{22,}$'),
    tenant_id bigint NOT NULL,
    customer_id text NOT NULL,
    status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('incomplete', 'trialing', 'active', 'past_due', 'paused',
                          'canceled')),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    plan_name text NOT NULL CHECK (length(plan_name) BETWEEN 1 AND 200),
    current_period_start timestamptz NOT NULL,
    current_period_end timestamptz NOT NULL,
    trial_end timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    canceled_at timestamptz,
    stripe_subscription_id text,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE,
    CHECK (current_period_start < current_period_end),
    CHECK ((status = 'canceled') = (canceled_at IS NOT NULL))
);
CREATE INDEX subscriptions_customer ON subscriptions (tenant_id, customer_id);
CREATE INDEX subscriptions_tenant_created ON subscriptions (tenant_id, created_at DESC, id DESC);

CREATE TABLE subscription_items (
    id text PRIMARY KEY CHECK (id ~ '^si_[0-9A-Za-z]{22,}$'),
    tenant_id bigint NOT NULL,
    subscription_id text NOT NULL,
    position smallint NOT NULL DEFAULT 0,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- flat: unit_amount per period whatever the quantity; per_unit: unit_amount x quantity
    price_model text NOT NULL DEFAULT 'per_unit' CHECK (price_model IN ('flat', 'per_unit')),
    unit_amount bigint NOT NULL CHECK (unit_amount >= 0),
    quantity integer NOT NULL DEFAULT 1 CHECK (quantity > 0),
    billing_interval text NOT NULL CHECK (billing_interval IN ('day', 'week', 'month', 'year')),
    interval_count smallint NOT NULL DEFAULT 1 CHECK (interval_count BETWEEN 1 AND 36),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, subscription_id) REFERENCES subscriptions (tenant_id, id)
        ON DELETE CASCADE
);
CREATE INDEX subscription_items_subscription ON subscription_items (tenant_id, subscription_id);

CREATE TABLE invoices (
    id text PRIMARY KEY CHECK (id ~ '^in_[0-9A-Za-z]{22,}$'),
    tenant_id bigint NOT NULL,
    customer_id text NOT NULL,
    subscription_id text,
    number text,
    kind text NOT NULL DEFAULT 'one_off'
        CHECK (kind IN ('one_off', 'subscription', 'wallet_topup', 'checkout')),
    status text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    subtotal bigint NOT NULL DEFAULT 0,
    tax bigint NOT NULL DEFAULT 0 CHECK (tax >= 0),
    total bigint NOT NULL DEFAULT 0,
    amount_paid bigint NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    memo text CHECK (length(memo) <= 2000),
    period_start timestamptz,
    period_end timestamptz,
    finalized_at timestamptz,
    due_at timestamptz,
    paid_at timestamptz,
    voided_at timestamptz,
    stripe_payment_intent_id text UNIQUE,
    -- the rendered PDF of a final invoice; a final invoice never changes
    pdf bytea,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, number),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, subscription_id) REFERENCES subscriptions (tenant_id, id),
    CHECK (total = subtotal + tax),
    CHECK ((status = 'draft') = (number IS NULL)),
    CHECK (status <> 'paid' OR paid_at IS NOT NULL)
);
CREATE INDEX invoices_customer ON invoices (tenant_id, customer_id, created_at DESC);
CREATE INDEX invoices_tenant_created ON invoices (tenant_id, created_at DESC, id DESC);

CREATE TABLE invoice_lines (
    id text PRIMARY KEY CHECK (id ~ '^il_[0-9A-Za-z]{22,}$'),
    tenant_id bigint NOT NULL,
    invoice_id text NOT NULL,
    position smallint NOT NULL DEFAULT 0,
    description text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
    quantity integer NOT NULL DEFAULT 1 CHECK (quantity > 0),
    unit_amount bigint NOT NULL,
    amount bigint NOT NULL,
    tax_rate_bps integer NOT NULL DEFAULT 0 CHECK (tax_rate_bps BETWEEN 0 AND 10000),
    period_start timestamptz,
    period_end timestamptz,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id) ON DELETE CASCADE,
    CHECK (amount = unit_amount * quantity)
);
CREATE INDEX invoice_lines_invoice ON invoice_lines (tenant_id, invoice_id, position);

CREATE TABLE wallets (
    id text PRIMARY KEY CHECK (id ~ '^wal_[0-9A-Za-z]{22,}$'),
    tenant_id bigint NOT NULL,
    customer_id text NOT NULL,
    name text NOT NULL DEFAULT 'Credits' CHECK (length(name) BETWEEN 1 AND 100),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- running total of the ledger, maintained in the same transaction as each entry
    balance bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, customer_id, currency),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);

-- Append-only: rows are never updated or deleted (see the trigger below).
CREATE TABLE wallet_ledger (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL,
    wallet_id text NOT NULL,
    amount bigint NOT NULL CHECK (amount <> 0),
    balance_after bigint NOT NULL CHECK (balance_after >= 0),
    kind text NOT NULL CHECK (kind IN ('topup', 'grant', 'debit', 'adjustment')),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- a charge credits a wallet once
    stripe_payment_intent_id text UNIQUE,
    invoice_id text,
    idempotency_key text,
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, wallet_id) REFERENCES wallets (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id),
    UNIQUE (tenant_id, wallet_id, idempotency_key)
);
CREATE INDEX wallet_ledger_wallet ON wallet_ledger (tenant_id, wallet_id, id DESC);

CREATE FUNCTION wallet_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'wallet_ledger is append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER wallet_ledger_append_only
    BEFORE UPDATE OR DELETE ON wallet_ledger
    FOR EACH ROW EXECUTE FUNCTION wallet_ledger_append_only();

-- One row per portal top-up form nonce: the idempotency key of the charge.
CREATE TABLE wallet_topups (
    nonce text PRIMARY KEY,
    tenant_id bigint NOT NULL,
    wallet_id text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status text NOT NULL DEFAULT 'created'
        CHECK (status IN ('created', 'processing', 'requires_action', 'succeeded', 'failed')),
    stripe_payment_intent_id text UNIQUE,
    failure_message text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, wallet_id) REFERENCES wallets (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE checkout_sessions (
    id text PRIMARY KEY CHECK (id ~ '^cs_[0-9A-Za-z]{22,}$'),
    tenant_id bigint NOT NULL,
    customer_id text,
    customer_details jsonb,
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'complete', 'expired')),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    line_items jsonb NOT NULL CHECK (jsonb_typeof(line_items) = 'array'),
    amount_total bigint NOT NULL CHECK (amount_total >= 0),
    trial_days integer CHECK (trial_days BETWEEN 1 AND 730),
    success_url text NOT NULL,
    cancel_url text,
    expires_at timestamptz NOT NULL,
    completed_at timestamptz,
    subscription_id text,
    invoice_id text,
    stripe_payment_intent_id text UNIQUE,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, subscription_id) REFERENCES subscriptions (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id),
    CHECK (customer_id IS NOT NULL OR customer_details IS NOT NULL),
    CHECK ((status = 'complete') = (completed_at IS NOT NULL))
);
CREATE INDEX checkout_sessions_tenant_created
    ON checkout_sessions (tenant_id, created_at DESC, id DESC);

-- Signed links into the portal; only the token's hash is stored.
CREATE TABLE portal_sessions (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    tenant_id bigint NOT NULL,
    customer_id text NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);

-- Transactional outbox of events to tenants' webhook URLs.
CREATE TABLE outbound_events (
    id text PRIMARY KEY CHECK (id ~ '^evt_[0-9A-Za-z]{22,}$'),
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    type text NOT NULL,
    payload jsonb NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbound_events_due ON outbound_events (next_attempt_at) WHERE delivered_at IS NULL;

-- Stripe webhook events already processed (delivery is at least once).
CREATE TABLE stripe_events (
    id text PRIMARY KEY,
    type text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Responses replayed for a repeated Idempotency-Key on the tenant API.
CREATE TABLE api_idempotency_keys (
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    method text NOT NULL,
    path text NOT NULL,
    request_hash bytea NOT NULL,
    status integer,
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

-- Replicas refresh their host index when tenants or domains change.
CREATE FUNCTION notify_hosts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gateway_hosts', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;
CREATE TRIGGER tenants_hosts_changed
    AFTER INSERT OR DELETE OR UPDATE OF slug, name, brand_color, icon_etag, portal_link_mode,
        portal_billing_edit_enabled, wallet_topups_enabled, wallet_topup_min, wallet_topup_max,
        wallet_max_balance, default_currency
    ON tenants FOR EACH STATEMENT EXECUTE FUNCTION notify_hosts_changed();
CREATE TRIGGER domains_hosts_changed
    AFTER INSERT OR DELETE OR UPDATE OF name, status, tenant_id
    ON domains FOR EACH STATEMENT EXECUTE FUNCTION notify_hosts_changed();

CREATE FUNCTION notify_certificates_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gateway_certificates', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;
CREATE TRIGGER certificates_changed
    AFTER INSERT OR DELETE OR UPDATE ON certificates
    FOR EACH STATEMENT EXECUTE FUNCTION notify_certificates_changed();
