"""QEMU: acceleration probe, command line, launch with deadline, console parsing, results."""
