"""The HTTP edge: middleware, host -> tenant, errors as responses, branding, proxy routes."""
