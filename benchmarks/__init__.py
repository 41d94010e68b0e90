"""Benchmarks behind `make bench`. Each part is a module with `run(args) -> dict` printing its figures."""
