"""Serving TLS: ClientHello parsing, per-name contexts, TLS policy."""
