"""Tests for envcapture.analysis.stdlib: module + TARGET version -> stdlib or not."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from envcapture.analysis.stdlib import SUPPORTED_VERSIONS, is_stdlib, stdlib_names
from envcapture.errors import InputError

ALL = [f"3.{minor}" for minor in range(8, 15)]


def _table(present_in: set[str]) -> list[tuple[str, bool]]:
    return [(version, version in present_in) for version in ALL]


VERSION_DEPENDENT = {
    # removed in 3.12 (PEP 632, PEP 594's early removals)
    "distutils": {"3.8", "3.9", "3.10", "3.11"},
    "imp": {"3.8", "3.9", "3.10", "3.11"},
    "asynchat": {"3.8", "3.9", "3.10", "3.11"},
    "asyncore": {"3.8", "3.9", "3.10", "3.11"},
    "smtpd": {"3.8", "3.9", "3.10", "3.11"},
    # removed in 3.13 (PEP 594)
    "cgi": {"3.8", "3.9", "3.10", "3.11", "3.12"},
    "cgitb": {"3.8", "3.9", "3.10", "3.11", "3.12"},
    "crypt": {"3.8", "3.9", "3.10", "3.11", "3.12"},
    "telnetlib": {"3.8", "3.9", "3.10", "3.11", "3.12"},
    "imghdr": {"3.8", "3.9", "3.10", "3.11", "3.12"},
    "lib2to3": {"3.8", "3.9", "3.10", "3.11", "3.12"},
    "pipes": {"3.8", "3.9", "3.10", "3.11", "3.12"},
    # removed in 3.11 / 3.10 / 3.9
    "binhex": {"3.8", "3.9", "3.10"},
    "parser": {"3.8", "3.9"},
    "symbol": {"3.8", "3.9"},
    "formatter": {"3.8", "3.9"},
    "_bootlocale": {"3.8", "3.9"},
    "dummy_threading": {"3.8"},
    # added
    "zoneinfo": {"3.9", "3.10", "3.11", "3.12", "3.13", "3.14"},
    "graphlib": {"3.9", "3.10", "3.11", "3.12", "3.13", "3.14"},
    "tomllib": {"3.11", "3.12", "3.13", "3.14"},
    "_pylong": {"3.12", "3.13", "3.14"},
    "_pyrepl": {"3.13", "3.14"},
    "annotationlib": {"3.14"},
    "compression": {"3.14"},
    "_zstd": {"3.14"},
    "_compression": {"3.8", "3.9", "3.10", "3.11", "3.12", "3.13"},
}


@pytest.mark.parametrize(
    ("module", "version", "expected"),
    [(module, version, expected) for module, present in VERSION_DEPENDENT.items() for version, expected in _table(present)],
)
def test_version_dependent(module: str, version: str, expected: bool) -> None:
    assert is_stdlib(module, version) is expected
    assert is_stdlib(module + ".sub", version + ".4") is expected


@pytest.mark.parametrize(
    "module",
    ["os", "os.path", "sys", "__future__", "__main__", "_thread", "_collections_abc",
     "xml.etree.ElementTree", "importlib.metadata", "winreg", "msvcrt", "json", "typing"],
)  # fmt: skip
@pytest.mark.parametrize("version", ALL)
def test_always_stdlib(module: str, version: str) -> None:
    assert is_stdlib(module, version)


@pytest.mark.parametrize(
    "module",
    ["numpy", "yaml", "setuptools", "pip", "test", "_testcapi", "six", "typing_extensions",
     "importlib_metadata", ".relative", "", "osx"],
)  # fmt: skip
def test_never_stdlib(module: str) -> None:
    assert not any(is_stdlib(module, version) for version in ALL)


def test_judged_for_target_not_running_interpreter() -> None:
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    other = "3.8" if running != "3.8" else "3.14"
    assert is_stdlib("distutils", "3.8") and not is_stdlib("distutils", "3.12")
    assert stdlib_names((3, 8)) != stdlib_names((3, 14))
    assert is_stdlib("tomllib", other) is (other != "3.8")


def test_newer_version_uses_newest_table() -> None:
    assert stdlib_names((3, 15)) == stdlib_names((3, 14))
    assert is_stdlib("annotationlib", "3.16.0a1")


@pytest.mark.parametrize("version", ["3.7", "2.7.18"])
def test_too_old_version(version: str) -> None:
    with pytest.raises(InputError) as info:
        is_stdlib("os", version)
    major, minor = version.split(".")[:2]
    assert str(info.value) == f"python {major}.{minor}: the standard-library table covers 3.8 to 3.14"


@pytest.mark.parametrize("version", ["", "3", "three.ten", "latest"])
def test_bad_version(version: str) -> None:
    with pytest.raises(InputError) as info:
        is_stdlib("os", version)
    assert str(info.value) == f"python version {version!r}: expected MAJOR.MINOR such as '3.11'"


def test_supported_versions_match_data() -> None:
    document = json.loads(resources.files("envcapture").joinpath("data", "stdlib_modules.json").read_text())
    assert document["schema"] == "envcapture/stdlib-modules"
    assert [tuple(map(int, v.split("."))) for v in document["versions"]] == list(SUPPORTED_VERSIONS)
    assert set(document["header"]["derivation"]) >= {"3.8", "3.9", "3.14"}


def test_matches_running_interpreter() -> None:
    if sys.version_info >= (3, 14):
        pytest.skip("3.14 is derived, not measured")
    names = set(sys.stdlib_module_names) | {"__main__"}
    assert names <= stdlib_names(sys.version_info[:2])


@pytest.mark.slow
def test_generator_is_up_to_date() -> None:
    """The committed JSON equals what scripts/gen_stdlib.py makes (needs pyenv 3.10-3.13)."""
    pyenv = Path("/root/.pyenv/versions")
    if not all(list(pyenv.glob(f"3.{minor}.*/bin/python")) for minor in (10, 11, 12, 13)):
        pytest.skip("pyenv interpreters 3.10 to 3.13 are not all installed")
    script = Path(__file__).resolve().parents[2] / "scripts" / "gen_stdlib.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
