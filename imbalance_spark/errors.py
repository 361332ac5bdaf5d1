"""Typed errors raised at the boundaries of the job.

The CLI turns each into one clear line and a non-zero exit code; nothing here carries a JVM trace.
"""

from __future__ import annotations


class ImbalanceSparkError(Exception):
    """Base class of every error the job reports to the user as one line."""

    exit_code = 1


class ConfigError(ImbalanceSparkError, ValueError):
    """The YAML config is unreadable, malformed or inconsistent."""

    exit_code = 2


class InputError(ImbalanceSparkError, ValueError):
    """The input table is missing, empty or does not fit the config."""

    exit_code = 3


class EmptyInputError(InputError):
    """The input (or the run's slice of it) has no labelled rows."""


class DataFrameMissingColumnError(InputError):
    """A column named in the config is not in the input."""


class OutputError(ImbalanceSparkError):
    """The output table cannot be written as configured."""

    exit_code = 4


class GuardError(ImbalanceSparkError):
    """A check of the sample failed before it was committed; nothing was written."""

    exit_code = 5


class ConnectServerError(ImbalanceSparkError):
    """The Spark Connect server given by --remote or SPARK_REMOTE does not answer, or its client is not installed."""

    exit_code = 6


class TrackingError(ImbalanceSparkError):
    """The run cannot be recorded in the experiment tracker (missing package, unreachable server)."""

    exit_code = 7
