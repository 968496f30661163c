"""Kernel specs, fetching Debian kernel packages, extracting vmlinuz and modules, caching."""
