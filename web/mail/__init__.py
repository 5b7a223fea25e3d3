"""Mail to the customer: messages in the customer's language and the tenant's brand."""
