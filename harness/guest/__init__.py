"""What runs inside the guest: the init that mounts, loads modules, runs pytest and reports back."""
