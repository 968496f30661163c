"""Kernel test and benchmark harness: boots kernels in QEMU and runs container suites inside."""
