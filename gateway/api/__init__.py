"""Tenant API under /api/v1 on api.<base domain>."""
