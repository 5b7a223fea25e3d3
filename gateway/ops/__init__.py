"""Ops: health, metrics, logging and the ops site."""
