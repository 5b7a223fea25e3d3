-- A subscription item's tax rate in basis points (2000 = 20%), as on invoice lines and
-- checkout line items, so every period of a taxed subscription is billed with its tax.
ALTER TABLE subscription_items
    ADD COLUMN tax_rate_bps integer NOT NULL DEFAULT 0
        CHECK (tax_rate_bps BETWEEN 0 AND 10000);
