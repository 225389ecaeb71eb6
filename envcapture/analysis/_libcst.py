"""libcst, imported with the methods of its node classes compiled once (`_fs.compiled_dataclasses`).

What a fork server preloads before `envcapture.analysis.imports` (which imports libcst as
usual, then finds it loaded): its workers, forked from it, start with libcst at half the
import's cost, as the analysing process does (`parsepool.prepare_parser`).
"""

from __future__ import annotations

from envcapture._fs import compiled_dataclasses

with compiled_dataclasses():
    import libcst

__all__ = ["libcst"]
