"""Hosted checkout pages and completion."""
