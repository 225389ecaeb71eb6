"""Tests for envcapture.environment.snapshot: a real interpreter -> EnvSnapshot (probe subprocess)."""

from __future__ import annotations

import ast
import json
import os
import platform
import stat
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import FixtureEnv, WheelFactory, make_venv, pip_install, venv_python

from envcapture.analysis.stdlib import stdlib_names
from envcapture.environment import _probe
from envcapture.environment.distributions import module_owners, owners_of
from envcapture.environment.model import DistributionInfo, EnvSnapshot
from envcapture.environment.snapshot import default_interpreter, snapshot_environment, start_probe
from envcapture.errors import InterpreterError
from envcapture.model import ModuleName, dist_name

PYENV = Path("/root/.pyenv/versions")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def snapshot(fixture_env: FixtureEnv) -> EnvSnapshot:
    return snapshot_environment(str(fixture_env.python))


def _dist(snapshot: EnvSnapshot, name: str) -> DistributionInfo:
    found = snapshot.distribution(name)
    assert found is not None, f"{name} not in {[d.name for d in snapshot.distributions]}"
    return found


# --- the interpreter -------------------------------------------------------------------------


def test_interpreter_fields(snapshot: EnvSnapshot, fixture_env: FixtureEnv) -> None:
    site = str(fixture_env.site_packages)
    assert snapshot.executable == str(fixture_env.python)
    assert snapshot.python_version == platform.python_version()
    assert snapshot.implementation == "cpython"
    assert snapshot.sys_platform == sys.platform
    assert snapshot.platform_machine == platform.machine()
    assert snapshot.prefix == str(fixture_env.venv)
    assert snapshot.base_prefix == sys.base_prefix
    assert snapshot.site_packages == (site,)
    assert snapshot.stdlib_dirs[0] == sysconfig.get_paths()["stdlib"]
    assert all(os.path.isabs(entry) for entry in snapshot.sys_path)
    assert site in snapshot.sys_path
    assert os.getcwd() not in snapshot.sys_path
    assert str(Path(_probe.__file__).parent) not in snapshot.sys_path
    assert snapshot.shadowed == ()
    assert snapshot.diagnostics == ()


def test_distribution_names_versions(snapshot: EnvSnapshot) -> None:
    found: dict[str, tuple[str, str]] = {d.name: (d.display_name, d.version) for d in snapshot.distributions}
    pip_version, setuptools_version = found.pop("pip")[1], found.pop("setuptools")[1]
    assert pip_version and setuptools_version  # seeded by virtualenv
    assert found == {
        "dep-rich": ("dep-rich", "0.3.0"),
        "dist-alpha": ("dist-alpha", "1.0.0"),
        "edit-me": ("edit-me", "0.2.0"),
        "edit-src": ("edit-src", "0.1.0"),
        "ns-one": ("ns-one", "0.1.0"),
        "ns-two": ("ns-two", "0.1.0"),
        "yaml-like": ("Yaml-Like", "2.1"),
    }
    assert [d.name for d in snapshot.distributions] == sorted(d.name for d in snapshot.distributions)


def test_dev_venv_packages_do_not_leak(snapshot: EnvSnapshot) -> None:
    names = {d.name for d in snapshot.distributions}
    for dev_only in ("click", "rich", "libcst", "envcapture", "pytest", "packaging", "virtualenv"):
        assert dev_only not in names


def test_wheel_install_exact(snapshot: EnvSnapshot, fixture_env: FixtureEnv) -> None:
    site = fixture_env.site_packages
    assert _dist(snapshot, "dist-alpha") == DistributionInfo(
        name=dist_name("dist-alpha"),
        display_name="dist-alpha",
        version="1.0.0",
        requires_python=">=3.8",
        top_level=(ModuleName("alpha_mod"),),
        modules=(ModuleName("alpha_mod"), ModuleName("alpha_mod.core")),
        location=str(site),
        metadata_dir=str(site / "dist_alpha-1.0.0.dist-info"),
        direct_url=None,
        installer="pip",
        requested=True,
        has_record=True,
    )


def test_requires_with_markers_and_extras(snapshot: EnvSnapshot) -> None:
    dist = _dist(snapshot, "dep-rich")
    assert dist.requires == (
        "dist-alpha>=1.0",
        'winonly; sys_platform == "win32"',
        'extra-thing; extra == "fancy"',
    )
    assert dist.provides_extras == ("fancy",)
    assert dist.requires_python == ">=3.8"
    assert dist.modules == ("dep_rich",)


def test_namespace_package(snapshot: EnvSnapshot) -> None:
    assert _dist(snapshot, "ns-one").top_level == ("nsroot",)
    assert _dist(snapshot, "ns-one").modules == ("nsroot", "nsroot.one")
    assert _dist(snapshot, "ns-two").modules == ("nsroot", "nsroot.two", "nsroot.two.sub")
    owners = module_owners(snapshot)
    assert owners[ModuleName("nsroot")] == ("ns-one", "ns-two")
    assert owners[ModuleName("nsroot.one")] == ("ns-one",)
    assert owners[ModuleName("nsroot.two")] == ("ns-two",)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("alpha_mod", ("dist-alpha",)),  # import name differs from the dist name
        ("alpha_mod.core", ("dist-alpha",)),
        ("alpha_mod.core.deeper", ("dist-alpha",)),
        ("yamlish", ("yaml-like",)),
        ("nsroot", ("ns-one", "ns-two")),
        ("nsroot.one", ("ns-one",)),
        ("nsroot.two.sub", ("ns-two",)),
        ("nsroot.three", ("ns-one", "ns-two")),  # longest claimed prefix: the namespace
        ("editme.helpers", ("edit-me",)),
        ("editsrc", ("edit-src",)),
        ("pip._internal", ("pip",)),
        ("not_installed", ()),
    ],
)
def test_owners_of(snapshot: EnvSnapshot, module: str, expected: tuple[str, ...]) -> None:
    assert owners_of(snapshot, module) == expected


def test_editable_pep660_finder(snapshot: EnvSnapshot, fixture_env: FixtureEnv) -> None:
    project = fixture_env.editable_dir
    dist = _dist(snapshot, "edit-me")
    assert json.loads(dist.direct_url or "") == {
        "dir_info": {"editable": True},
        "url": project.as_uri(),
    }
    assert dist.editable_roots == (str(project),)
    assert dist.top_level == ("editme",)
    assert dist.modules == ("editme",)  # the __editable__ hooks are not the dist's modules
    assert snapshot.editable_mappings == (("editme", str(project / "editme")),)


def test_editable_static_pth(snapshot: EnvSnapshot, fixture_env: FixtureEnv) -> None:
    project = fixture_env.editable_src_dir
    dist = _dist(snapshot, "edit-src")
    assert dist.editable_roots == (str(project), str(project / "src"))
    assert dist.modules == ("editsrc",)
    assert str(project / "src") in snapshot.sys_path


def test_local_dir_install_direct_url(snapshot: EnvSnapshot, fixture_env: FixtureEnv) -> None:
    dist = _dist(snapshot, "yaml-like")
    assert json.loads(dist.direct_url or "") == {
        "dir_info": {},
        "url": fixture_env.local_dir.as_uri(),
    }
    assert dist.editable_roots == ()
    assert (dist.top_level, dist.modules) == (("yamlish",), ("yamlish",))


def test_ignores_pythonpath_and_cwd(fixture_env: FixtureEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("from-pythonpath", "from-cwd"):
        meta = tmp_path / name / f"{name.replace('-', '_')}-1.0.dist-info"
        meta.mkdir(parents=True)
        (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "from-pythonpath"))
    monkeypatch.chdir(tmp_path / "from-cwd")
    names = {d.name for d in snapshot_environment(str(fixture_env.python)).distributions}
    assert "from-pythonpath" not in names
    assert "from-cwd" not in names
    assert "dist-alpha" in names


def test_default_interpreter(monkeypatch: pytest.MonkeyPatch, fixture_env: FixtureEnv) -> None:
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    assert default_interpreter() == sys.executable
    monkeypatch.setenv("VIRTUAL_ENV", str(fixture_env.venv))
    assert default_interpreter() == str(venv_python(fixture_env.venv))
    assert snapshot_environment().distribution("dist-alpha") is not None


# --- other interpreters ----------------------------------------------------------------------


def _pyenv(version: str) -> Path:
    python = PYENV / version / "bin" / "python"
    if not python.exists():
        pytest.skip(f"{python} is missing (pyenv {version} not installed)")
    return python


def test_other_interpreter_venv(tmp_path: Path, wheel_factory: WheelFactory) -> None:
    base = _pyenv("3.10.13")
    python = make_venv(tmp_path / "venv310", str(base))
    pip_install(python, "--no-deps", "dist-alpha", find_links=[wheel_factory.wheelhouse])
    snap = snapshot_environment(str(python))
    assert snap.python_version.startswith("3.10.")
    assert snap.executable == str(python)
    assert snap.site_packages == (str(tmp_path / "venv310" / "lib" / "python3.10" / "site-packages"),)
    alpha = _dist(snap, "dist-alpha")
    assert (alpha.version, alpha.modules) == ("1.0.0", ("alpha_mod", "alpha_mod.core"))
    assert "click" not in {d.name for d in snap.distributions}


@pytest.mark.parametrize("version", ["3.8.18", "3.9.18", "3.12.1", "3.13.0"])
def test_probe_runs_on_old_and_new_pythons(version: str) -> None:
    snap = snapshot_environment(str(_pyenv(version)))
    assert snap.python_version == version
    assert snap.base_prefix == str(PYENV / version)
    assert snap.distribution("pip") is not None


def test_probe_is_stdlib_only() -> None:
    """The probe runs in environments without packaging/importlib_metadata (3.8 stdlib)."""
    tree = ast.parse(Path(_probe.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported <= stdlib_names((3, 8)), imported - stdlib_names((3, 8))


# --- errors (each one line) ------------------------------------------------------------------


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _error(python: str, **kwargs: float) -> str:
    with pytest.raises(InterpreterError) as info:
        snapshot_environment(python, **kwargs)
    text = str(info.value)
    assert "\n" not in text
    assert info.value.exit_code == 2
    return text


def test_error_missing(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "python"
    assert _error(str(missing)) == f"{missing}: interpreter not found"


def test_error_not_on_path() -> None:
    assert _error("no-such-python-9.9") == "no-such-python-9.9: interpreter not found on PATH"


def test_error_directory(tmp_path: Path) -> None:
    assert _error(str(tmp_path)) == f"{tmp_path}: a directory that is not a virtualenv (no bin/python in it)"


def test_error_not_executable(tmp_path: Path) -> None:
    text_file = tmp_path / "python"
    text_file.write_text("print('hi')\n")
    assert _error(str(text_file)) == f"{text_file}: interpreter is not executable"


def test_error_not_python(tmp_path: Path) -> None:
    fake = _script(tmp_path / "python", "#!/bin/sh\necho hello from sh\n")
    assert _error(str(fake)) == f"{fake}: not a Python interpreter (hello from sh)"


def test_error_exec_format(tmp_path: Path) -> None:
    fake = _script(tmp_path / "python", "no shebang here\n")
    assert _error(str(fake)) == f"{fake}: cannot run interpreter: Exec format error"


def test_error_crash_reports_last_stderr_line(tmp_path: Path) -> None:
    fake = _script(tmp_path / "python", "#!/bin/sh\necho first >&2\necho 'Boom: it broke' >&2\nexit 3\n")
    assert _error(str(fake)) == f"{fake}: environment probe failed (exit 3): Boom: it broke"


def test_error_timeout(tmp_path: Path) -> None:
    fake = _script(tmp_path / "python", "#!/bin/sh\nsleep 10\n")
    assert _error(str(fake), timeout=0.5) == f"{fake}: environment probe timed out after 0.5 s"


@pytest.mark.parametrize("version", ["3.7.16", "2.7.18"])
def test_error_too_old(version: str) -> None:
    python = _pyenv(version)
    minor = ".".join(version.split(".")[:2])
    assert _error(str(python)) == (f"{python}: Python {minor} is too old (envcapture needs Python 3.8 or newer)")


# --- hand-made installs: RECORD edge cases, egg-info, egg-link, shadowing, broken ---------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _dist_info(site: Path, name: str, version: str, record: list[str] | None) -> None:
    meta = site / f"{name.replace('-', '_')}-{version}.dist-info"
    _write(meta / "METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if record is not None:
        _write(meta / "RECORD", "".join(f"{path},,\n" for path in record))


@pytest.fixture(scope="module")
def handmade(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, EnvSnapshot]:
    root = tmp_path_factory.mktemp("handmade")
    python = make_venv(root / "venv", seed=False)
    site = Path(next(p for p in (root / "venv" / "lib").glob("python*/site-packages")))
    _dist_info(
        site,
        "fastext",
        "1.0",
        [
            "fastext/__init__.py",
            "fastext/_speed.cpython-311-x86_64-linux-gnu.so",
            "fastext/sub/mod.py",
            "fastext/__pycache__/__init__.cpython-311.pyc",
            "fastext/data/file.json",
            "fastext/py.typed",
            "fastext-1.0.dist-info/METADATA",
            "fastext-1.0.dist-info/RECORD",
            "../../../bin/fastext",
            "fastext.libs/libx.so.1",
            "fastext-stubs/__init__.pyi",
            "top_ext.abi3.so",
            "__editable___fastext_finder.py",
        ],
    )
    # egg-info with installed-files.txt (paths relative to the .egg-info directory)
    egg = site / "legacy_pkg-0.5-py3.11.egg-info"
    _write(egg / "PKG-INFO", "Metadata-Version: 1.1\nName: legacy-pkg\nVersion: 0.5\n")
    _write(egg / "installed-files.txt", "../legacy_pkg/__init__.py\n../legacy_pkg/util.py\nPKG-INFO\n")
    _write(egg / "top_level.txt", "legacy_pkg\n")
    # legacy `setup.py develop`: an .egg-link and easy-install.pth pointing at the project
    project = root / "devproj"
    _write(
        project / "Dev_Proj.egg-info" / "PKG-INFO",
        "Metadata-Version: 1.1\nName: Dev-Proj\nVersion: 0.0.1\n",
    )
    _write(project / "Dev_Proj.egg-info" / "top_level.txt", "devproj\n")
    _write(project / "devproj" / "__init__.py", "")
    _write(site / "Dev-Proj.egg-link", f"{project}\n.\n")
    _write(site / "easy-install.pth", f"{project}\n")
    # a second copy of fastext later on sys.path: shadowed
    extra = root / "extra"
    _dist_info(extra, "fastext", "0.9", ["fastext/__init__.py"])
    _write(site / "zz-extra.pth", f"{extra}\n")
    # unreadable metadata: no Name
    _write(site / "broken-1.0.dist-info" / "METADATA", "Metadata-Version: 2.1\n")
    return site, project, snapshot_environment(str(python))


def test_record_edge_cases(handmade: tuple[Path, Path, EnvSnapshot]) -> None:
    _, _, snap = handmade
    dist = _dist(snap, "fastext")
    assert dist.version == "1.0"
    assert dist.modules == (
        "fastext",
        "fastext._speed",
        "fastext.sub",
        "fastext.sub.mod",
        "top_ext",
    )
    assert dist.top_level == ("fastext", "top_ext")


def test_egg_info_without_record(handmade: tuple[Path, Path, EnvSnapshot]) -> None:
    site, _, snap = handmade
    dist = _dist(snap, "legacy-pkg")
    assert dist.has_record is False
    assert dist.modules == ("legacy_pkg", "legacy_pkg.util")
    assert dist.metadata_dir == str(site / "legacy_pkg-0.5-py3.11.egg-info")
    assert dist.editable_roots == ()


def test_egg_link_develop_install(handmade: tuple[Path, Path, EnvSnapshot]) -> None:
    _, project, snap = handmade
    dist = _dist(snap, "dev-proj")
    assert (dist.display_name, dist.has_record) == ("Dev-Proj", False)
    assert dist.location == str(project)
    assert dist.editable_roots == (str(project),)
    assert dist.modules == ("devproj",)


def test_shadowed_and_broken(handmade: tuple[Path, Path, EnvSnapshot]) -> None:
    site, _, snap = handmade
    assert [(d.name, d.version) for d in snap.shadowed] == [("fastext", "0.9")]
    assert owners_of(snap, "fastext") == ("fastext",)
    assert len(snap.diagnostics) == 1
    diagnostic = snap.diagnostics[0]
    assert diagnostic.code == "unreadable-distribution"
    assert diagnostic.file == str(site / "broken-1.0.dist-info")
    assert "no Name" in diagnostic.message


# --- probe helpers, in process --------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("mod.py", "mod"),
        ("__init__.py", "__init__"),
        ("mod.pyc", "mod"),
        ("_c.cpython-311-x86_64-linux-gnu.so", "_c"),
        ("_c.abi3.so", "_c"),
        ("_c.cp311-win_amd64.pyd", "_c"),
        ("libfoo.so.1", None),
        ("mod.pyi", None),
        ("data.json", None),
        ("not-a-name.py", None),
    ],
)
def test_module_from_filename(filename: str, expected: str | None) -> None:
    assert _probe.module_from_filename(filename) == expected


def test_parse_finder_source() -> None:
    source = (
        "from __future__ import annotations\n"
        "MAPPING: dict[str, str] = {'pkg': '/src/pkg', 'single': '/src/single.py'}\n"
        "NAMESPACES: dict[str, list[str]] = {'ns': ['/src/ns']}\n"
        "F.map_module('other', '/elsewhere/other/__init__.py')\n"
        "def install():\n    pass\n"
    )
    assert _probe.parse_finder_source(source) == [
        ("pkg", "/src/pkg"),
        ("single", "/src/single.py"),
        ("ns", "/src/ns"),
        ("other", "/elsewhere/other"),
    ]
    assert _probe.parse_finder_source("MAPPING = {") == []


@pytest.mark.parametrize(
    ("record", "paths"),
    [
        # the common RECORD: nothing quoted, lines split at the first comma
        ("pkg/__init__.py,sha256=x,10\npkg/data.json,,\n\nbare.py\n", ["pkg/__init__.py", "pkg/data.json", "bare.py"]),
        # what csv reads: a quoted path with a comma, CRLF line ends
        ('"pkg/a,b.py",sha256=x,1\r\npkg/c.py,,\r\n', ["pkg/a,b.py", "pkg/c.py"]),
        ('"pkg/say ""hi"".py",,\n', ['pkg/say "hi".py']),
    ],
)
def test_record_paths_read_as_csv_reads_them(record: str, paths: list[str]) -> None:
    assert _probe._record_paths(record) == paths


def test_a_record_path_out_of_pycache_still_names_its_module() -> None:
    """Rows are skipped by their text before they are made relative, and only those that
    cannot name a module or an editable hook: ``..`` may take a path out of ``__pycache__``."""
    rows = ["pkg/__pycache__/../back.py", "pkg/__pycache__/mod.cpython-311.pyc", "pkg/data.json", "hook.pth", "pkg/."]
    assert [row for row in rows if _probe._may_matter(row)] == ["pkg/__pycache__/../back.py", "hook.pth", "pkg/."]
    assert _probe.modules_from_paths(["pkg/back.py", "pkg/__init__.py", "pkg/sub/deep.py", "bad-dir/x.py"]) == [
        "pkg",
        "pkg.back",
        "pkg.sub",
        "pkg.sub.deep",
    ]


@pytest.mark.parametrize(
    "headers",
    [
        "Metadata-Version: 2.1\nName: torch\nVersion: 2.13.0\nRequires-Dist: numpy\nRequires-Dist: typing-extensions>=4 ; extra == 'x'\n\n",
        "name: lower\nVERSION: 1\nProvides-Extra: a\nProvides-Extra: b\nRequires-Python:   >=3.9  \n",  # case, blanks kept at the end
        "Name:x\nVersion:\t1.0\nSummary: é ünïcode\n",  # no blank after the colon, a tab
        "Name: folded\nRequires-Dist: a\n  ; extra == 'b'\nVersion: 1\n",  # a folded value: its lines kept
        "Name: x\nSummary: MIT License\n        Copyright (c) 2020\n\tAll rights\n\nVersion: body\n",
        "Name: x\nSummary: a\n   \nVersion: 1\n",  # a continuation of blanks only
        " Name: folded-first\nVersion: 1\n",
        "Name: crlf\r\nVersion: 1\r\n\r\n",
        "From someone\nName: unixfrom\n",
        "Name: stray\nthis line is no field\nVersion: 1\n",
        ": empty name\nName: x\n",
        "\nName: after-a-blank-line\n",
        "",
    ],
)
def test_metadata_headers_read_as_the_email_parser_reads_them(headers: str) -> None:
    import email

    expected = email.message_from_string(headers)
    simple = _probe._simple_headers(headers)
    read = simple if simple is not None else expected
    for name in ("Name", "Version", "Requires-Python", "Summary", "VERSION", "Missing"):
        assert read.get(name) == expected.get(name)
    for name in ("Requires-Dist", "Provides-Extra", "Missing"):
        assert read.get_all(name) == expected.get_all(name)
    if any(mark in headers for mark in ("\r", "From ", "no field", ": empty", " Name: folded-first")):
        assert simple is None  # left to the email parser


def test_pth_path_lines() -> None:
    text = "# comment\n/abs/path\nimport sys; sys.path.append('x')\n\nrelative/dir\n"
    assert _probe.pth_path_lines(text) == ["/abs/path", "relative/dir"]


def test_snapshot_cache_skips_the_probe_until_the_environment_changes(
    tmp_path: Path, wheel_factory: WheelFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeated snapshot (the pre-commit hook) reuses the probe's answer; installing a
    distribution changes site-packages, and the next snapshot runs the probe again."""
    monkeypatch.setenv("ENVCAPTURE_CACHE_DIR", str(tmp_path / "cache"))
    python = make_venv(tmp_path / "venv")
    probes: list[str] = []
    first = snapshot_environment(str(python), while_probing=lambda _finished: probes.append("first"))
    assert first.distribution("dist-alpha") is None
    assert probes == ["first"]  # the probe ran, and the caller's work ran meanwhile

    again = snapshot_environment(str(python), while_probing=lambda _finished: probes.append("again"))
    assert probes == ["first"] and again == first

    wheel_factory("dist-alpha")
    pip_install(python, "--no-deps", "dist-alpha", find_links=[wheel_factory.wheelhouse])
    after = snapshot_environment(str(python), while_probing=lambda _finished: probes.append("after"))
    assert probes == ["first", "after"]
    assert after.distribution("dist-alpha") is not None
    assert snapshot_environment(str(python), use_cache=False) == after


def _children_of_this_thread() -> list[int]:
    try:
        return [int(pid) for pid in Path(f"/proc/self/task/{threading.get_native_id()}/children").read_text().split()]
    except OSError:
        pytest.skip("needs /proc/<pid>/task/<tid>/children (Linux)")


def _has_exited(pid: int) -> bool:
    """A child that exited and is not reaped yet is a zombie: state Z in /proc/<pid>/stat."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.skipif(sys.platform != "linux", reason="watches the probe through /proc")
def test_work_while_probing_runs_as_the_probe_runs_to_its_end(tmp_path: Path) -> None:
    """``while_probing`` runs once the probe has its script: the probe runs to its end
    meanwhile (its answer the same as without); what it raises propagates, the probe killed."""
    python = make_venv(tmp_path / "venv")
    seen: list[str] = []
    others = set(_children_of_this_thread())  # a fork server another test started, say

    def watch_the_probe(finished: Callable[[], bool]) -> None:
        (probe,) = set(_children_of_this_thread()) - others
        seen.append("finished" if finished() else "running")  # a fresh probe imports for a while
        deadline = time.monotonic() + 60
        while not _has_exited(probe) and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append("exited" if _has_exited(probe) else "still running")
        seen.append("finished" if finished() else "running")  # its document waits in the pipe

    overlapped = snapshot_environment(str(python), use_cache=False, while_probing=watch_the_probe)
    assert seen == ["running", "exited", "finished"]
    assert overlapped == snapshot_environment(str(python), use_cache=False)

    killed: list[int] = []

    def interrupted(_finished: Callable[[], bool]) -> None:
        killed.extend(set(_children_of_this_thread()) - others)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        snapshot_environment(str(python), use_cache=False, while_probing=interrupted)
    assert len(killed) == 1 and not Path(f"/proc/{killed[0]}").exists()  # killed and reaped


@pytest.mark.skipif(os.name != "posix", reason="descriptors past FD_SETSIZE: a POSIX limit of select")
def test_finished_tells_of_a_probe_whose_pipe_is_past_descriptor_1024() -> None:
    """A process holding many files open (a notebook, a server) gives the probe's pipes
    numbers past 1024, which select refuses: `finished` still answers, the snapshot is made."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("needs at least 1200 open files")
    if soft != resource.RLIM_INFINITY and soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    held: list[int] = []
    answers: list[bool] = []

    def look(finished: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 60
        while not answers or (not answers[-1] and time.monotonic() < deadline):
            answers.append(finished())
            time.sleep(0.005)

    try:
        with open(os.devnull, "rb") as devnull:
            while len(held) < 1100:
                held.append(os.dup(devnull.fileno()))
        snapshot = snapshot_environment(sys.executable, use_cache=False, while_probing=look)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert answers[-1] is True
    assert snapshot.python_version == platform.python_version()


@pytest.mark.skipif(sys.platform != "linux", reason="watches the probe through /proc")
def test_a_probe_started_early_is_the_one_the_snapshot_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`start_probe` (the CLI calls it before importing the analysis) runs the probe before
    the snapshot is asked for: `snapshot_environment` reads that one, starting no other, with
    the answer of a probe of its own; once cached, `start_probe` starts nothing."""
    monkeypatch.setenv("ENVCAPTURE_CACHE_DIR", str(tmp_path / "cache"))
    python = make_venv(tmp_path / "venv")
    others = set(_children_of_this_thread())
    start_probe(str(python))
    (early,) = set(_children_of_this_thread()) - others
    more: list[int] = []
    snapshot = snapshot_environment(
        str(python), while_probing=lambda _finished: more.extend(set(_children_of_this_thread()) - others)
    )
    assert more == [early]  # while it ran, the only probe was the early one
    assert not Path(f"/proc/{early}").exists()  # read and reaped
    assert snapshot == snapshot_environment(str(python), use_cache=False)

    start_probe(str(python))
    assert set(_children_of_this_thread()) == others  # the cached snapshot answers
    assert snapshot_environment(str(python)) == snapshot


@pytest.mark.skipif(sys.platform != "linux", reason="watches the probe through /proc")
def test_a_probe_started_early_and_never_read_is_stopped_at_exit(tmp_path: Path) -> None:
    """Killed and reaped at exit, at once: even when a child it started holds its pipes."""
    started = tmp_path / "started"
    fake = _script(tmp_path / "python", f"#!/bin/sh\nsleep 20 &\ntouch {started}\nexec sleep 20\n")
    code = (
        "import sys, time, pathlib\n"
        "from envcapture.environment import snapshot\n"
        "snapshot.start_probe(sys.argv[1])\n"
        "print(*[e.process.pid for e in snapshot._early.values()])\n"
        "while not pathlib.Path(sys.argv[2]).exists():\n"
        "    time.sleep(0.01)\n"
    )
    env = {**os.environ, "ENVCAPTURE_CACHE_DIR": str(tmp_path / "cache")}
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code, str(fake), str(started)], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - began < 15  # not waiting for the probe's child to let its pipes go
    (pid,) = map(int, done.stdout.split())
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped before the process ended


def test_snapshot_cache_follows_pyvenv_cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """include-system-site-packages turned on adds directories the cached sys.path does not
    list: the venv's pyvenv.cfg is part of the fingerprint, so the probe runs again."""
    monkeypatch.setenv("ENVCAPTURE_CACHE_DIR", str(tmp_path / "cache"))
    python = make_venv(tmp_path / "venv")
    first = snapshot_environment(str(python))
    assert snapshot_environment(str(python)) == first  # served by the cache
    cfg = tmp_path / "venv" / "pyvenv.cfg"
    cfg.write_text(cfg.read_text().replace("include-system-site-packages = false", "include-system-site-packages = true"))
    after = snapshot_environment(str(python))
    assert len(after.sys_path) > len(first.sys_path)
    assert after == snapshot_environment(str(python), use_cache=False)
