"""The probe lists the distributions on ``sys.path`` without importing importlib.metadata where
its discovery is the standard library's (`_probe._path_distributions`): the document is the one
importlib.metadata gives, on every Python it runs on, in the awkward cases as well."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from envcapture.environment import _probe

PYENV = Path("/root/.pyenv/versions")
VERSIONS = ["3.10.13", "3.11.7", "3.12.1", "3.13.0"]

# Runs in the interpreter under test: the probe's document as it makes it, then with its own
# discovery turned off (importlib.metadata's), and what the fast discovery decided.
_COMPARE = """
import json, sys
namespace = {"__name__": "probe"}
exec(compile(open(sys.argv[1]).read(), "probe", "exec"), namespace)
sys.path[:0] = json.loads(sys.argv[2])
fast = namespace["_path_distributions"]() is not None
ours = json.dumps(namespace["snapshot"](), sort_keys=True)
namespace["_path_distributions"] = lambda: None
theirs = json.dumps(namespace["snapshot"](), sort_keys=True)
print(json.dumps({"fast": fast, "ours": ours, "theirs": theirs, "imported": "importlib.metadata" in sys.modules}))
"""


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def _dist_info(site: Path, dirname: str, name: str, version: str, extra: dict[str, str | bytes] | None = None) -> None:
    meta = site / dirname
    _write(meta / "METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Dist: six\n\nbody\n")
    _write(meta / "RECORD", f"{name.lower().replace('-', '_')}/__init__.py,,\n{dirname}/METADATA,,\n")
    for filename, text in (extra or {}).items():
        _write(meta / filename, text)


@pytest.fixture(scope="module")
def awkward_site(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Directories for ``sys.path`` holding what importlib.metadata's discovery must agree on."""
    root = tmp_path_factory.mktemp("discovery")
    site = root / "site"
    # one normalized name, three spellings, not listed together: grouped at the first one
    _dist_info(site, "Foo_Bar-1.0.dist-info", "Foo-Bar", "1.0")
    _dist_info(site, "aaa-1.0.dist-info", "aaa", "1.0", {"REQUESTED": "", "INSTALLER": "pip\n", "top_level.txt": "aaa\n"})
    _dist_info(site, "foo.bar-2.0.dist-info", "foo.bar", "2.0")
    _dist_info(site, "FOO-BAR-3.0.DIST-INFO", "FOO-BAR", "3.0")
    # an egg-info that is a file (distutils): its own text is the metadata
    _write(site / "old_dist-1.0-py3.11.egg-info", "Metadata-Version: 1.1\nName: old-dist\nVersion: 1.0\n")
    # an egg-info directory with requires.txt and installed-files.txt, and CRLF metadata
    egg_info = site / "legacy-0.5-py3.11.egg-info"
    _write(egg_info / "PKG-INFO", "Metadata-Version: 1.1\r\nName: legacy\r\nVersion: 0.5\r\n")
    _write(egg_info / "requires.txt", "six\n\n[extra]\nattrs\n")
    _write(egg_info / "installed-files.txt", "../legacy/__init__.py\nPKG-INFO\n")
    # broken ones: no Name, no metadata at all, metadata not UTF-8
    _write(site / "noname-1.0.dist-info" / "METADATA", "Metadata-Version: 2.1\n")
    (site / "empty-1.0.dist-info").mkdir()
    _write(
        site / "latin-1.0.dist-info" / "METADATA",
        "Metadata-Version: 2.1\nName: latin\nVersion: 1.0\nSummary: caf\xe9\n".encode("latin-1"),
    )
    # metadata that is a directory, and a RECORD that is one
    (site / "dirmeta-1.0.dist-info" / "METADATA").mkdir(parents=True)
    _dist_info(site, "dirrecord-1.0.dist-info", "dirrecord", "1.0")
    (site / "dirrecord-1.0.dist-info" / "RECORD").unlink()
    (site / "dirrecord-1.0.dist-info" / "RECORD").mkdir()
    # an .egg directory on sys.path, with its EGG-INFO
    egg = root / "Plugin_Thing-2.1-py3.11.egg"
    _write(egg / "EGG-INFO" / "PKG-INFO", "Metadata-Version: 1.1\nName: plugin-thing\nVersion: 2.1\n")
    _write(egg / "plugin_thing" / "__init__.py", "")
    # a second copy later on sys.path: shadowed
    later = root / "later"
    _dist_info(later, "aaa-0.9.dist-info", "aaa", "0.9")
    # a file that is not a zip, a missing directory, an entry written with "//" and "/./"
    _write(root / "notes.txt", "not a directory\n")
    return [
        str(site),
        f"{root}//site/./",
        str(egg),
        str(root / "missing"),
        str(later),
        str(site),
    ]


def _compare(version: str, paths: list[str]) -> dict[str, object]:
    python = PYENV / version / "bin" / "python"
    if not python.exists():
        pytest.skip(f"{python} is missing (pyenv {version} not installed)")
    done = subprocess.run(
        [str(python), "-I", "-c", _COMPARE, _probe.__file__, json.dumps(paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("version", VERSIONS)
def test_the_document_is_importlib_metadatas_without_importing_it(version: str, awkward_site: list[str]) -> None:
    result = _compare(version, awkward_site)
    assert result["fast"] is True
    assert result["ours"] == result["theirs"]
    document = json.loads(str(result["ours"]))
    names = [d["name"] for d in document["distributions"]]
    assert len([name for name in names if _probe.canonical(name) == "foo-bar"]) == 1  # the others shadowed
    assert {"old-dist", "legacy", "plugin-thing"} <= set(names)
    legacy = next(d for d in document["distributions"] if d["name"] == "legacy")
    assert legacy["requires"] == ["six", 'attrs; extra == "extra"']
    # no Name, no metadata, not UTF-8, a directory: for each of the three entries naming the site
    assert len(document["problems"]) == 12
    assert "//" not in str(document["problems"]) and "/./" not in str(document["problems"])  # as pathlib writes them


@pytest.mark.parametrize("version", VERSIONS)
def test_a_metadata_file_is_opened_by_the_path_pathlib_spells(version: str, tmp_path: Path) -> None:
    """importlib.metadata opens ``pathlib.Path(entry, child, "METADATA")``, "//" and "/./" gone: an
    error it cannot pass over (a symlink loop) names that path, and an entry padded with "/./"
    past the system's limit once a file in it is named still reads."""
    site = tmp_path / "site"
    _dist_info(site, "fine-1.0.dist-info", "fine", "1.0")
    (site / "loop-1.0.dist-info").mkdir()
    (site / "loop-1.0.dist-info" / "METADATA").symlink_to("METADATA")
    limit = os.pathconf(site, "PC_PATH_MAX")
    padded = str(tmp_path) + "/." * ((limit - 10 - len(str(site))) // 2) + "/site"
    assert len(padded) < limit <= len(padded + "/fine-1.0.dist-info/METADATA")
    result = _compare(version, [f"{tmp_path}//site/./", padded])
    assert result["fast"] is True
    assert result["ours"] == result["theirs"]
    document = json.loads(str(result["ours"]))
    found = [d["name"] for d in document["distributions"] + document["shadowed"] if d["location"] == str(site)]
    assert found == ["fine", "fine"]
    errors = [problem["error"] for problem in document["problems"]]
    assert len(errors) == 2 and all(f"'{site}/loop-1.0.dist-info/METADATA'" in error for error in errors)


@pytest.mark.parametrize("version", ["3.11.7"])
def test_a_zip_on_sys_path_is_read_by_importlib_metadata(version: str, tmp_path: Path) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n")
    result = _compare(version, [str(archive)])
    assert result["fast"] is False
    assert result["ours"] == result["theirs"]
    assert "zipped" in [d["name"] for d in json.loads(str(result["ours"]))["distributions"]]


def test_the_probe_does_not_import_importlib_metadata_for_a_plain_environment(awkward_site: list[str]) -> None:
    """The point of the fast discovery: the probe's start stays without email, zipfile and pathlib."""
    python = PYENV / "3.12.1" / "bin" / "python"
    if not python.exists():
        pytest.skip(f"{python} is missing (pyenv 3.12.1 not installed)")
    script = (
        "import json, sys\n"
        "namespace = {'__name__': 'probe'}\n"
        "exec(compile(open(sys.argv[1]).read(), 'probe', 'exec'), namespace)\n"
        "namespace['snapshot']()\n"
        "print(json.dumps(sorted(m for m in ('importlib.metadata', 'email', 'zipfile') if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [str(python), "-I", "-c", script, _probe.__file__], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout) == []
