-- Customers may cancel a subscription at the end of its period, and resume it before
-- then, from the portal: a choice of each tenant, off until the tenant turns it on.
ALTER TABLE tenants
    ADD COLUMN portal_subscription_cancel_enabled boolean NOT NULL DEFAULT false;
