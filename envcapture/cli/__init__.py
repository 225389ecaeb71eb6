"""The command line (EDGE: argv -> exit code; stdout, stderr).

`main` is the ``envcapture`` console script. Each command lives in the module of its part of
the pipeline (`analyze`, `bundle`, `image`, `check`, `cache`); importing them registers them
on the `cli` group. Every stage is imported lazily inside the commands, so ``envcapture run``
loads nothing of the analysis.
"""

from envcapture.cli import analyze, bundle, cache, check, image  # noqa: F401 - registers the commands
from envcapture.cli._app import cli, main

__all__ = ["cli", "main"]
