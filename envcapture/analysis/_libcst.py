"""libcst, imported with the methods of its node classes compiled once (`_fs.compiled_dataclasses`).

Imported before `envcapture.analysis.imports` (which imports libcst as usual, then finds it
loaded) by `parsepool.prepare_parser` and by a fork server's preload: the analysing process
and the fork server's workers both get libcst at half the import's cost.
"""

from __future__ import annotations

from envcapture._fs import compiled_dataclasses

with compiled_dataclasses():
    import libcst

__all__ = ["libcst"]
