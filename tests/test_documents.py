"""envcapture._fs: the one schema header and the one reader with the schema-major check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envcapture import __version__
from envcapture._fs import document_header, read_document
from envcapture.errors import InputError

KIND = {"schema": "envcapture/thing", "version": "1.2", "what": "thing", "missing_hint": "is DIR a thing directory?"}


def _write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc), "utf-8")
    return path


def test_header_opens_every_document() -> None:
    doc = {**document_header("envcapture/thing", "1.2"), "x": 1}
    assert list(doc) == ["schema", "schema_version", "generator", "x"]
    assert doc["generator"] == f"envcapture {__version__}"


@pytest.mark.parametrize("version", ["1.0", "1.2", "1.9"])
def test_reads_the_same_major(tmp_path: Path, version: str) -> None:
    path = _write(tmp_path / "t.json", {**document_header("envcapture/thing", version), "x": 1})
    assert read_document(path, **KIND)["x"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"t\.json: no such file; is DIR a thing directory\?$"),
        ("{", r"t\.json: cannot read the thing: "),
        (
            {"schema": "envcapture/other", "schema_version": "1.0"},
            r"t\.json: not an envcapture thing \(schema 'envcapture/other'\)$",
        ),
        ([1, 2], r"t\.json: not an envcapture thing \(schema None\)$"),
        (
            {"schema": "envcapture/thing", "schema_version": "2.0"},
            r"t\.json: thing schema_version '2\.0'; this envcapture reads 1\.2 \(major 1\)$",
        ),
    ],
)
def test_refusals_name_the_file_and_both_versions(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "t.json"
    if isinstance(content, str):
        path.write_text(content, "utf-8")
    elif content is not None:
        _write(path, content)
    with pytest.raises(InputError, match=message):
        read_document(path, **KIND)


def test_foreign_ok_gives_none_for_a_missing_or_other_document(tmp_path: Path) -> None:
    assert read_document(tmp_path / "none.json", **KIND, foreign_ok=True) is None
    other = _write(tmp_path / "o.json", {"schema": "envcapture/other", "schema_version": "1.0"})
    assert read_document(other, **KIND, foreign_ok=True) is None
    newer = _write(tmp_path / "n.json", {"schema": "envcapture/thing", "schema_version": "2.0"})
    with pytest.raises(InputError, match=r"schema_version .2\.0."):
        read_document(newer, **KIND, foreign_ok=True)
