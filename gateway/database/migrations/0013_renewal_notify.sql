-- The renewal job sleeps until the next due moment (a period end, a dunning retry) and is
-- woken by NOTIFY gateway_renewals_due when that moment may have come earlier (issue 16):
-- a new renewing subscription, a period end moved earlier, a subscription that starts
-- renewing again, or an open invoice whose next charge was set or moved earlier.
-- Moving a moment later (as every renewal and every failed charge does) says nothing:
-- the job, waking at the earlier moment, finds nothing due and sleeps again.
-- Row triggers with one payload: PostgreSQL folds the NOTIFYs of one transaction into one.

CREATE FUNCTION notify_renewals_due() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gateway_renewals_due', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER subscriptions_renewal_inserted
    AFTER INSERT ON subscriptions FOR EACH ROW
    WHEN (NEW.status IN ('trialing', 'active', 'past_due'))
    EXECUTE FUNCTION notify_renewals_due();
CREATE TRIGGER subscriptions_renewal_earlier
    AFTER UPDATE OF status, current_period_end ON subscriptions FOR EACH ROW
    WHEN (NEW.status IN ('trialing', 'active', 'past_due')
          AND (OLD.status NOT IN ('trialing', 'active', 'past_due')
               OR NEW.current_period_end < OLD.current_period_end))
    EXECUTE FUNCTION notify_renewals_due();
CREATE TRIGGER invoices_collection_inserted
    AFTER INSERT ON invoices FOR EACH ROW
    WHEN (NEW.status = 'open' AND NEW.next_payment_attempt_at IS NOT NULL)
    EXECUTE FUNCTION notify_renewals_due();
CREATE TRIGGER invoices_collection_earlier
    AFTER UPDATE OF status, next_payment_attempt_at ON invoices FOR EACH ROW
    WHEN (NEW.status = 'open' AND NEW.next_payment_attempt_at IS NOT NULL
          AND (OLD.status <> 'open' OR OLD.next_payment_attempt_at IS NULL
               OR NEW.next_payment_attempt_at < OLD.next_payment_attempt_at))
    EXECUTE FUNCTION notify_renewals_due();
