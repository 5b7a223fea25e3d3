-- Custom domains must prove that a claim is this tenant's before they are served: a TXT
-- record _gateway-verify.<name> holding the claim's own token. Several tenants may claim
-- one name; only one claim can be proven at a time, and the unproven ones expire.
ALTER TABLE domains
    ADD COLUMN proof_token text,
    ADD COLUMN proven_at timestamptz,
    ADD COLUMN claim_expires_at timestamptz;

-- Domains past pending_dns passed the DNS check of their time and stay served: their
-- claims count as proven. Pending claims must prove themselves within the default week.
UPDATE domains SET proven_at = coalesce(verified_at, updated_at) WHERE status <> 'pending_dns';
UPDATE domains SET claim_expires_at = now() + interval '7 days' WHERE proven_at IS NULL;
-- gen_random_uuid() draws 122 random bits; new claims get 128 from the application.
UPDATE domains SET proof_token = replace(gen_random_uuid()::text, '-', '');

ALTER TABLE domains
    ALTER COLUMN proof_token SET NOT NULL,
    -- The application makes its own tokens; the default serves rows written by hand.
    ALTER COLUMN proof_token SET DEFAULT replace(gen_random_uuid()::text, '-', ''),
    ADD CONSTRAINT domains_proof_token_format CHECK (proof_token ~ '^[0-9a-f]{32}$'),
    -- A proven claim never expires (an unproven one without an expiry waits for proof).
    ADD CONSTRAINT domains_proven_claims_stay CHECK (
        proven_at IS NULL OR claim_expires_at IS NULL),
    -- Nothing happens to a name before its claim is proven.
    ADD CONSTRAINT domains_proven_before_use CHECK (status = 'pending_dns' OR proven_at IS NOT NULL),
    DROP CONSTRAINT domains_name_key,
    ADD CONSTRAINT domains_tenant_name_key UNIQUE (tenant_id, name);
-- One owner per name: the tenant whose claim was proven.
CREATE UNIQUE INDEX domains_owner ON domains (name) WHERE proven_at IS NOT NULL;
CREATE INDEX domains_name ON domains (name);
