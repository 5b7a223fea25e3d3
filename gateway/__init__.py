"""Multi-tenant billing edge gateway: host to tenant, branded portal and checkout."""
