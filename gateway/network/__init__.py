"""The network: listening sockets, one accept loop, PROXY protocol, the connection guard."""
