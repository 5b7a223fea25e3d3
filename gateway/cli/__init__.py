"""The `gateway` command: serve, migrate, manage tenants, API keys, domains and certificates.

One module per command group (`serve`, `database`, `tenants`, `api_keys`,
`domains`, `certificates`, `demo`); `program` builds the parser from them and
runs the command. `main` is the console entry point (`gateway`, `python -m gateway`).
"""

from gateway.cli.program import build_parser, main

__all__ = ["build_parser", "main"]
