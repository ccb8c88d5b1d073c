"""The benchmark tool of `make bench` (`python -m bench`): starts real servers, drives lean charge points, prints figures.

Not collected by pytest (tests/bench/test_bench.py runs it end to end at a
tiny size). `deployment` is the throwaway deployment both the benchmarks and
the end-to-end tests (tests/e2e/deployment.py) start servers with.
"""
