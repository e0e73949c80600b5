"""Benchmarks. Each module runs alone: ``python -m bench.<name> [--quick]``."""
