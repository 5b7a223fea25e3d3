"""The kernel: small building blocks every layer may use; imports nothing of the product."""
