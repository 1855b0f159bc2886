"""Benchmarks; run them as scripts from the project root (see README.md)."""
