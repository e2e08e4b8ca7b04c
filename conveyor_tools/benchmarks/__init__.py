"""Benchmarks: each prints its figures; none of them is a timed test."""
