-- Invoices fit to send (issue 15): an issued invoice never changes. The tenant's legal
-- details (EU invoices name the seller's legal name, address, VAT and registration
-- numbers) join its settings; at finalisation billing copies the seller, the buyer, the
-- brand and the language into the invoice's own `snapshot`, and the page and the PDF
-- render from it alone.
ALTER TABLE tenants
    ADD COLUMN legal_name text CHECK (length(legal_name) <= 200),
    ADD COLUMN legal_address_line1 text CHECK (length(legal_address_line1) <= 200),
    ADD COLUMN legal_address_line2 text CHECK (length(legal_address_line2) <= 200),
    ADD COLUMN legal_postal_code text CHECK (length(legal_postal_code) <= 20),
    ADD COLUMN legal_city text CHECK (length(legal_city) <= 100),
    ADD COLUMN legal_country text CHECK (legal_country ~ '^[A-Z]{2}$'),
    ADD COLUMN legal_vat_number text CHECK (legal_vat_number ~ '^[A-Z0-9]{4,20}$'),
    ADD COLUMN legal_registration_number text CHECK (length(legal_registration_number) <= 100);

-- Billing's copy of the seller, kept by a trigger whichever code changes the tenant, so
-- billing takes it without reading tenants (DESIGN.md, "Packages and layers"; the same
-- way as invoice_numbering, migration 0006). Icons are kept by content: an invoice names
-- the icon it was issued with, and a later icon does not replace it.
CREATE TABLE invoice_icons (
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    content_type text NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (tenant_id, digest)
);

CREATE TABLE invoice_sellers (
    tenant_id bigint PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    details jsonb NOT NULL CHECK (jsonb_typeof(details) = 'object')
);

CREATE FUNCTION copy_invoice_seller() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    icon_digest text;
BEGIN
    IF NEW.icon IS NOT NULL THEN
        icon_digest := encode(sha256(NEW.icon), 'hex');
        INSERT INTO invoice_icons (tenant_id, digest, content_type, data)
        VALUES (NEW.id, icon_digest, NEW.icon_type, NEW.icon) ON CONFLICT DO NOTHING;
    END IF;
    INSERT INTO invoice_sellers (tenant_id, details)
    VALUES (NEW.id, jsonb_build_object(
        'display_name', NEW.name,
        'brand_color', NEW.brand_color,
        'icon_digest', icon_digest,
        'icon_type', NEW.icon_type,
        'legal_name', NEW.legal_name,
        'address_line1', NEW.legal_address_line1,
        'address_line2', NEW.legal_address_line2,
        'postal_code', NEW.legal_postal_code,
        'city', NEW.legal_city,
        'country', NEW.legal_country,
        'vat_number', NEW.legal_vat_number,
        'registration_number', NEW.legal_registration_number))
    ON CONFLICT (tenant_id) DO UPDATE SET details = EXCLUDED.details;
    RETURN NEW;
END;
$$;

CREATE TRIGGER tenants_copy_invoice_seller
    AFTER INSERT OR UPDATE OF name, brand_color, icon, icon_type, legal_name,
        legal_address_line1, legal_address_line2, legal_postal_code, legal_city, legal_country,
        legal_vat_number, legal_registration_number
    ON tenants FOR EACH ROW EXECUTE FUNCTION copy_invoice_seller();

UPDATE tenants SET name = name;

-- A line the product writes (a wallet top-up, a free trial) keeps its words as a gettext
-- message and its values, so each language's document says it in that language.
ALTER TABLE invoice_lines
    ADD COLUMN phrase jsonb CHECK (phrase IS NULL OR jsonb_typeof(phrase) = 'object');

UPDATE invoice_lines AS l SET phrase = jsonb_build_object(
    'message', 'Wallet credits: %(wallet)s',
    'values', jsonb_build_object('wallet', substr(l.description, 17)))
FROM invoices AS i
WHERE i.tenant_id = l.tenant_id AND i.id = l.invoice_id AND i.kind = 'wallet_topup'
    AND l.description LIKE 'Wallet credits: %';

UPDATE invoice_lines AS l SET phrase = jsonb_build_object(
    'message', '%(name)s (free trial)',
    'values', jsonb_build_object('name', left(l.description, length(l.description) - 13)))
FROM invoices AS i
WHERE i.tenant_id = l.tenant_id AND i.id = l.invoice_id AND i.kind = 'checkout'
    AND l.description LIKE '% (free trial)';

ALTER TABLE invoices
    ADD COLUMN snapshot jsonb CHECK (snapshot IS NULL OR jsonb_typeof(snapshot) = 'object');

-- Invoices issued before this migration get their snapshot once, from today's data.
UPDATE invoices AS i SET snapshot = jsonb_build_object(
    'language', c.language,
    'seller', s.details,
    'buyer', jsonb_build_object(
        'name', c.name, 'email', c.email, 'address_line1', c.address_line1,
        'address_line2', c.address_line2, 'postal_code', c.postal_code, 'city', c.city,
        'state', c.state, 'country', c.country, 'vat_number', c.vat_number),
    'reverse_charge', coalesce(
        c.vat_number IS NOT NULL AND c.country <> (s.details ->> 'country')
        AND c.country = ANY (eu.members) AND (s.details ->> 'country') = ANY (eu.members),
        false))
FROM customers AS c, invoice_sellers AS s,
    (SELECT ARRAY['AT', 'BE', 'BG', 'CY', 'CZ', 'DE', 'DK', 'EE', 'ES', 'FI', 'FR', 'GR',
        'HR', 'HU', 'IE', 'IT', 'LT', 'LU', 'LV', 'MT', 'NL', 'PL', 'PT', 'RO', 'SE', 'SI',
        'SK'] AS members) AS eu
WHERE c.tenant_id = i.tenant_id AND c.id = i.customer_id AND s.tenant_id = i.tenant_id
    AND i.status <> 'draft' AND i.snapshot IS NULL;

ALTER TABLE invoices ADD CONSTRAINT invoices_final_have_snapshot
    CHECK (status = 'draft' OR snapshot IS NOT NULL);

-- Replicas keep the tenant's legal details in memory (the settings API and page show
-- them): a change wakes them like any other setting.
DROP TRIGGER tenants_hosts_changed ON tenants;
CREATE TRIGGER tenants_hosts_changed
    AFTER INSERT OR DELETE OR UPDATE OF slug, name, brand_color, icon_etag, portal_link_mode,
        portal_billing_edit_enabled, portal_link_ttl_seconds, portal_allow_no_payment_method,
        wallet_topups_enabled, wallet_topup_min, wallet_topup_max, wallet_max_balance,
        wallet_pays_invoices, default_currency, portal_subscription_cancel_enabled,
        dunning_retry_days, dunning_final_action, wallet_spend_enabled, webhook_url,
        legal_name, legal_address_line1, legal_address_line2, legal_postal_code, legal_city,
        legal_country, legal_vat_number, legal_registration_number
    ON tenants FOR EACH STATEMENT EXECUTE FUNCTION notify_hosts_changed();
