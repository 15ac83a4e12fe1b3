"""Benchmarks side by side with nginx and a FastAPI reference (issue 6); not part of the tests.

``python -m bench`` (``make bench``) runs the whole suite; ``python -m bench --quick``
(``make bench QUICK=1``) a smaller one in under two minutes. See ``bench/run.py`` and
BENCHMARKS.md. The older single-purpose scripts (``upload_memory.py``, ``s3_throughput.py``)
still run on their own.
"""
