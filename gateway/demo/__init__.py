"""The demo of `make run`: tenants, customers and payments to try; never on the request path."""
