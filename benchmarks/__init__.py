"""Seeded benchmark workloads for coordscope; run with ``make bench``."""
