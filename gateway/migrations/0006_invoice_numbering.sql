-- Invoice numbers ("ALPEAK-0001") belong to billing: their counter moves from
-- tenants.next_invoice_number to a table billing owns, so billing never writes or
-- locks a tenant row. Numbering continues where each tenant's counter stood.
CREATE TABLE invoice_numbering (
    tenant_id bigint PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    -- Fixed when the counter is made: a number once issued never changes its prefix.
    prefix text NOT NULL CHECK (prefix <> ''),
    next_number integer NOT NULL DEFAULT 1 CHECK (next_number > 0)
);

INSERT INTO invoice_numbering (tenant_id, prefix, next_number)
SELECT id, upper(slug), next_invoice_number FROM tenants;

-- Every tenant gets its counter when it is created, whichever code inserts the row,
-- so billing finds one without reading tenants (DESIGN.md, "Packages and layers").
CREATE FUNCTION open_invoice_numbering() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO invoice_numbering (tenant_id, prefix) VALUES (NEW.id, upper(NEW.slug));
    RETURN NEW;
END;
$$;

CREATE TRIGGER tenants_open_invoice_numbering AFTER INSERT ON tenants
    FOR EACH ROW EXECUTE FUNCTION open_invoice_numbering();

ALTER TABLE tenants DROP COLUMN next_invoice_number;
