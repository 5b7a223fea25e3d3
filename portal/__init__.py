"""Customer portal pages and actions."""
