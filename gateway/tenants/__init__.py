"""Tenants, domains and brand; the host index."""
