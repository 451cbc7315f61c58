"""Benchmarks (not tests): `make bench` runs every contender and writes bench/RESULTS.md."""
