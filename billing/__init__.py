"""Customers, payment methods, subscriptions, invoices, wallets and checkout sessions."""
