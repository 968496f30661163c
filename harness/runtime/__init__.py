"""An OCI container runtime (a subset of runc), usable as a library and as a runc-compatible CLI."""
