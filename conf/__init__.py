"""This folder travels in the package as ``imbalance_spark.conf``: the quiet log4j2 file and the demo config.

pyproject.toml maps it into the package (a wheel, an editable install and ``make zip`` carry those
two files; imbalance_spark.packages.conf_file finds them with importlib.resources). Edit them here.
"""
