-- Customer mail is sent from the outbox: each event that mails the customer (an invoice
-- issued, paid, or whose payment failed) carries its own mail delivery state beside the
-- webhook's, so a mail server outage delays a mail and never loses it. A mail is marked
-- done in the transaction that holds the event's row lock while the message is handed
-- to the mail server, so two replicas never send it at once and a sent mail is not sent
-- again; `mail_outcome` says whether it was sent or why none was needed.
ALTER TABLE outbound_events
    ADD COLUMN mail_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN mail_next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN mail_done_at timestamptz,
    ADD COLUMN mail_outcome text,
    ADD COLUMN mail_last_error text;

CREATE INDEX outbound_events_mail_due ON outbound_events (mail_next_attempt_at)
    WHERE mail_done_at IS NULL
    AND type IN ('invoice.created', 'invoice.paid', 'invoice.payment_failed');
