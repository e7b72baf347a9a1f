"""Benchmarks (`make bench`): measurements, not tests; nothing here asserts a timing."""
