"""Where the settings page lives on the app host: the edge routes by it, the page mounts there."""

from __future__ import annotations

PREFIX = "/settings"


def is_dashboard_path(path: str) -> bool:
    """Whether `path` belongs to the settings page (served on the app host only)."""
    return path == PREFIX or path.startswith(PREFIX + "/")
