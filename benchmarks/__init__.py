"""Benchmarks for actionbot: synthetic plans, and each figure timed beside its hardware baseline.

`python -m benchmarks` runs them (see benchmarks/__main__.py and benchmarks/RESULTS.md). Nothing
here runs in the test suite.
"""
