"""Background jobs beside the edge: domain worker, outbox delivery, worker supervisor."""
