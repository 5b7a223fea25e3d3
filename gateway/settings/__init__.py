"""Settings: one frozen object built from the environment and an optional TOML file.

`load_settings` is the only reader of the environment; a bad or missing value
raises `SettingsError` naming the key and the expected form. The value parsers
live in `parsers`, the `Settings` dataclass in `model`, loading and describing
in `loading`.
"""

from __future__ import annotations

from gateway.settings.errors import SettingsError
from gateway.settings.loading import describe_settings, env_name, load_settings
from gateway.settings.model import Settings

__all__ = ["Settings", "SettingsError", "describe_settings", "env_name", "load_settings"]
