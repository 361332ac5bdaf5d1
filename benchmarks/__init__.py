"""The benchmarks, run as modules from the repo root: ``python -m benchmarks.run``, ``benchmarks.cold``, ...

Nothing is imported here: ``benchmarks.cold_commands`` times a bare pyspark start from its first line.
"""
