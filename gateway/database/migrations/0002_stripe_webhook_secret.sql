-- The signing secret Stripe generates for a tenant's webhook endpoint, sealed like the API key.
ALTER TABLE tenants ADD COLUMN stripe_webhook_secret_sealed bytea;
