"""Obtaining certificates: issuers, challenge store, renewal, encrypted key storage."""
