"""The one exception of the settings: a missing or malformed value, named with its key."""

from __future__ import annotations


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the key and the expected form."""

    def __init__(self, key: str, expected: str, got: object = None) -> None:
        self.key = key
        self.expected = expected
        self.got = got
        shown = "" if got is None else f" (got {got!r})"
        super().__init__(f"setting {key}: expected {expected}{shown}")
