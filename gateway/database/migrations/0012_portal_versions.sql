-- A data version per customer for the portal's rendered-page cache (issue 17): every write
-- to a row a portal page shows bumps it in the same transaction, so any replica that reads
-- the version after the commit renders (or keeps) the page of that version and no older.
-- Values come from one sequence: a version is never reused, even after a customer is gone.
CREATE SEQUENCE portal_version_numbers;

CREATE TABLE portal_versions (
    customer_id text PRIMARY KEY,
    tenant_id bigint NOT NULL,
    version bigint NOT NULL
);

CREATE FUNCTION bump_portal_version(changed_tenant bigint, changed_customer text)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO portal_versions (customer_id, tenant_id, version)
    VALUES (changed_customer, changed_tenant, nextval('portal_version_numbers'))
    ON CONFLICT (customer_id) DO UPDATE SET version = EXCLUDED.version;
$$;

-- TG_ARGV[0] says how a row names its customer: 'self' (customers), 'customer' (a
-- customer_id column), or the parent it hangs from: 'subscription', 'invoice', 'wallet'.
-- Rows are read as JSON so one function serves every table; it reads only columns that
-- existed before this migration (others add invoice columns in their own migrations).
CREATE FUNCTION portal_row_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed jsonb;
    tenant bigint;
    customer text;
BEGIN
    FOREACH changed IN ARRAY ARRAY[
        CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
        CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END
    ] LOOP
        CONTINUE WHEN changed IS NULL;
        tenant := (changed ->> 'tenant_id')::bigint;
        customer := CASE TG_ARGV[0]
            WHEN 'self' THEN changed ->> 'id'
            WHEN 'customer' THEN changed ->> 'customer_id'
            WHEN 'subscription' THEN (SELECT s.customer_id FROM subscriptions s
                WHERE s.tenant_id = tenant AND s.id = changed ->> 'subscription_id')
            WHEN 'invoice' THEN (SELECT i.customer_id FROM invoices i
                WHERE i.tenant_id = tenant AND i.id = changed ->> 'invoice_id')
            WHEN 'wallet' THEN (SELECT w.customer_id FROM wallets w
                WHERE w.tenant_id = tenant AND w.id = changed ->> 'wallet_id')
        END;
        IF customer IS NOT NULL THEN
            PERFORM bump_portal_version(tenant, customer);
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER customers_portal_version AFTER INSERT OR UPDATE OR DELETE ON customers
    FOR EACH ROW EXECUTE FUNCTION portal_row_changed('self');
CREATE TRIGGER payment_methods_portal_version
    AFTER INSERT OR UPDATE OR DELETE ON payment_methods
    FOR EACH ROW EXECUTE FUNCTION portal_row_changed('customer');
CREATE TRIGGER subscriptions_portal_version AFTER INSERT OR UPDATE OR DELETE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION portal_row_changed('customer');
CREATE TRIGGER subscription_items_portal_version
    AFTER INSERT OR UPDATE OR DELETE ON subscription_items
    FOR EACH ROW EXECUTE FUNCTION portal_row_changed('subscription');
CREATE TRIGGER invoices_portal_version AFTER INSERT OR UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION portal_row_changed('customer');
CREATE TRIGGER invoice_lines_portal_version AFTER INSERT OR UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION portal_row_changed('invoice');
CREATE TRIGGER invoice_payments_portal_version
    AFTER INSERT OR UPDATE OR DELETE ON invoice_payments
    FOR EACH ROW EXECUTE FUNCTION portal_row_changed('invoice');
CREATE TRIGGER payment_attempts_portal_version
    AFTER INSERT OR UPDATE OR DELETE ON payment_attempts
    FOR EACH ROW EXECUTE FUNCTION portal_row_changed('customer');
CREATE TRIGGER wallets_portal_version AFTER INSERT OR UPDATE OR DELETE ON wallets
    FOR EACH ROW EXECUTE FUNCTION portal_row_changed('customer');
CREATE TRIGGER wallet_ledger_portal_version AFTER INSERT ON wallet_ledger
    FOR EACH ROW EXECUTE FUNCTION portal_row_changed('wallet');
CREATE TRIGGER wallet_topups_portal_version AFTER INSERT OR UPDATE OR DELETE ON wallet_topups
    FOR EACH ROW EXECUTE FUNCTION portal_row_changed('wallet');
