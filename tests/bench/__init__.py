"""Benchmarks: scripts that start real servers and print figures; run by `make bench`, never by pytest."""
