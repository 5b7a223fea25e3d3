-- Sessions of the settings page (app.<base domain>): a tenant signs in with an API key and
-- gets a cookie. Only the SHA-256 of the cookie's token is stored; a session ends when it
-- expires, when the tenant signs out, or when the API key it was opened with is revoked.
CREATE TABLE dashboard_sessions (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    api_key_id text NOT NULL REFERENCES tenant_api_keys (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dashboard_sessions_tenant ON dashboard_sessions (tenant_id);
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_at);

-- Failed sign-ins per client address, shared by every replica, for throttling guessers.
CREATE TABLE dashboard_sign_in_failures (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_address text NOT NULL CHECK (length(client_address) <= 64),
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dashboard_sign_in_failures_address
    ON dashboard_sign_in_failures (client_address, failed_at);
