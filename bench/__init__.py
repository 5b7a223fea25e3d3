"""Load and cost benchmarks of the gateway against plain aiohttp; run with `make bench`."""
