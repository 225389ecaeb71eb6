"""The installed-extras rule: envcapture.resolution.extras, the closure walk, and what analyze/lock show.

Pure tables first (synthetic snapshots), then a real virtualenv (`tabular_env`: tabular,
whose ``read_parquet()`` imports arrowlite, installed with arrowlite and dist-alpha) through
the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from envcapture.analysis.classify import AddedDistribution
from envcapture.analysis.report import ANALYSIS_SCHEMA_VERSION
from envcapture.build.lock import render_environment_json, render_requirements
from envcapture.cli import cli
from envcapture.environment.model import DistributionInfo, EnvSnapshot
from envcapture.model import Target, dist_name
from envcapture.resolution.additions import added_from_closure
from envcapture.resolution.closure import resolve
from envcapture.resolution.extras import installed_extras, is_skipped_extra
from envcapture.resolution.model import DirectRequirement, ResolveOptions, Via, ViaKind

TARGET = Target(python_version="3.11")
ENV = TARGET.marker_environment()
EXTRAS_ON = ResolveOptions(installed_extras=True)


def dist(name: str, version: str, *requires: str, extras: tuple[str, ...] = ()) -> DistributionInfo:
    return DistributionInfo(name=dist_name(name), display_name=name, version=version, requires=requires, provides_extras=extras)


def snapshot(*dists: DistributionInfo) -> EnvSnapshot:
    return EnvSnapshot(executable="/venv/bin/python", python_version="3.11.7", distributions=tuple(sorted(dists)))


PANDAS = dist(
    "pandas",
    "2.2.2",
    "numpy>=1.23",
    'pyarrow>=10.0.1; extra == "parquet"',
    'pyarrow>=10.0.1; extra == "feather"',
    'numexpr>=2.8; extra == "performance"',
    'bottleneck>=1.3; extra == "performance"',
    'pytest>=7.3.2; extra == "test"',
    'sqlalchemy>=2.0; extra == "sql-other"',
    'pywin32>=306; sys_platform == "win32" and extra == "excel-win"',
    'pandas[parquet,performance]; extra == "all"',
    extras=("parquet", "feather", "performance", "test", "sql-other", "excel-win", "all"),
)
LOCAL = snapshot(
    PANDAS,
    dist("numpy", "1.26.4"),
    dist("pyarrow", "15.0.2", "numpy>=1.16.6"),
    dist("numexpr", "2.10.0"),  # bottleneck is not installed: performance is not complete
    dist("pytest", "8.2.0"),
    dist("pywin32", "306"),
)


def _extras(d: DistributionInfo, snap: EnvSnapshot = LOCAL) -> dict[str, tuple[tuple[str, ...], bool]]:
    return {e.extra: (e.requirements, e.skipped) for e in installed_extras(d, snap, ENV)}


# --- which extras count ---------------------------------------------------------------------------


def test_complete_extras_and_why_the_others_are_not() -> None:
    assert _extras(PANDAS) == {
        "parquet": (("pyarrow>=10.0.1",), False),
        "feather": (("pyarrow>=10.0.1",), False),
        # pytest is installed, but a test extra is never shipped
        "test": (("pytest>=7.3.2",), True),
        # performance lacks bottleneck, sql-other sqlalchemy; excel-win adds nothing on Linux
        # (pywin32 is installed here, but its marker is false for the target); all names
        # performance, which is not complete
    }


def test_installed_version_must_satisfy_the_extra() -> None:
    old = snapshot(PANDAS, dist("numpy", "1.26.4"), dist("pyarrow", "9.0.0"))
    assert "parquet" not in _extras(PANDAS, old)


def test_an_extra_naming_another_extra_needs_that_one_complete() -> None:
    lib = dist(
        "lib", "1.0", 'lib[parquet]; extra == "everything"', 'pyarrow; extra == "parquet"', extras=("everything", "parquet")
    )
    assert set(_extras(lib, snapshot(lib, dist("pyarrow", "15.0.2")))) == {"everything", "parquet"}
    assert _extras(lib, snapshot(lib)) == {}


def test_old_metadata_without_provides_extra() -> None:
    legacy = dist("legacy", "0.9", "httpx", 'h2<5,>=3; extra == "http2"')
    assert _extras(legacy, snapshot(legacy, dist("h2", "4.1.0"))) == {"http2": (("h2<5,>=3",), False)}


@pytest.mark.parametrize(
    ("extra", "skipped"),
    [
        ("test", True), ("tests", True), ("Testing", True), ("test_gpu", True), ("unit-tests", True),
        ("dev", True), ("docs", True), ("doc", True), ("lint", True), ("typing", True), ("all", True),
        ("parquet", False), ("http2", False), ("socks", False), ("s3", False), ("testbed", False), ("devices", False),
    ],
)  # fmt: skip
def test_skip_list(extra: str, skipped: bool) -> None:
    assert is_skipped_extra(extra) is skipped


# --- the closure walk ---------------------------------------------------------------------------


def test_extra_requirements_join_the_closure_with_their_reason() -> None:
    closure = resolve([DirectRequirement(name=dist_name("pandas"), via=("train.py:3",))], LOCAL, TARGET, EXTRAS_ON)
    assert [p.name for p in closure.pins] == ["numpy", "pandas", "pyarrow"]
    pyarrow = closure.pin("pyarrow")
    assert pyarrow is not None
    assert pyarrow.via == (
        Via(source="pandas[feather]", kind=ViaKind.INSTALLED_EXTRA, reason="extra feather of pandas, installed locally"),
        Via(source="pandas[parquet]", kind=ViaKind.INSTALLED_EXTRA, reason="extra parquet of pandas, installed locally"),
    )  # fmt: skip
    pandas = closure.pin("pandas")
    assert pandas is not None and pandas.extras == frozenset() and pandas.installed_extras == {"feather", "parquet"}
    assert "pytest" not in [p.name for p in closure.pins]
    decisions = {(d.subject, d.action, d.reason) for d in closure.decisions}
    assert (
        "pandas",
        "installed-extra",
        "extra parquet of pandas, installed locally: pyarrow>=10.0.1 joins the closure",
    ) in decisions
    assert [r for s, a, r in decisions if a == "skip-installed-extra"] == [
        "extra test of pandas is installed locally (pytest>=7.3.2) but names tooling a job does not import at run time "
        "(envcapture/data/skipped_extras.txt); --with adds one of its distributions on purpose"
    ]
    # The install line stays plain; the pin says why, pip-tools style.
    text = render_requirements(closure)
    assert "pandas==2.2.2\n" in text
    assert "pyarrow==15.0.2\n    # via\n    #   pandas[feather]\n    #   pandas[parquet]\n" in text
    env_doc = json.loads(render_environment_json(closure, TARGET))
    pins = {p["name"]: p for p in env_doc["distributions"]}
    assert pins["pandas"]["installed_extras"] == ["feather", "parquet"]
    assert pins["pyarrow"]["via"][1] == {
        "kind": "installed-extra", "source": "pandas[parquet]", "reason": "extra parquet of pandas, installed locally"
    }  # fmt: skip
    assert added_from_closure(closure) == (
        AddedDistribution(name=dist_name("pyarrow"), display_name="pyarrow", version="15.0.2", rule="installed-extra",
                          via="pandas[feather]", reason="extra feather of pandas, installed locally", parent=dist_name("pandas")),
        AddedDistribution(name=dist_name("pyarrow"), display_name="pyarrow", version="15.0.2", rule="installed-extra",
                          via="pandas[parquet]", reason="extra parquet of pandas, installed locally", parent=dist_name("pandas")),
    )  # fmt: skip


def test_rule_off_and_asked_for_extras_keep_their_old_shape() -> None:
    off = resolve([DirectRequirement(name=dist_name("pandas"), via=("train.py:3",))], LOCAL, TARGET, ResolveOptions())
    assert [p.name for p in off.pins] == ["numpy", "pandas"]
    asked = resolve(
        [DirectRequirement(name=dist_name("pandas"), extras=frozenset({"parquet"}), via=("requirements.txt:1",))],
        LOCAL,
        TARGET,
        EXTRAS_ON,
    )
    pyarrow = asked.pin("pyarrow")
    assert pyarrow is not None
    # feather is still the rule's; parquet was asked for, so that via carries no reason
    assert set(pyarrow.via) == {
        Via(source="pandas[parquet]"),
        Via(source="pandas[feather]", kind=ViaKind.INSTALLED_EXTRA, reason="extra feather of pandas, installed locally"),
    }


def test_a_dependency_already_required_is_not_added_by_the_extra() -> None:
    snap = snapshot(dist("app", "1.0", "pyarrow", "pandas[parquet]"), PANDAS, dist("numpy", "1.26.4"), dist("pyarrow", "15.0.2"))
    closure = resolve([DirectRequirement(name=dist_name("app"), via=("main.py:1",))], snap, TARGET, EXTRAS_ON)
    pyarrow = closure.pin("pyarrow")
    assert pyarrow is not None and Via(source="app") in pyarrow.via
    assert added_from_closure(closure) == ()  # it ships anyway: nothing to explain


# --- a real environment, through the CLI ---------------------------------------------------------


@pytest.fixture
def job(tmp_path: Path) -> Path:
    (tmp_path / "main.py").write_text("import tabular\n\nprint(tabular.read_parquet('t.csv'))\n", "utf-8")
    return tmp_path


def _invoke(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def test_analyze_shows_the_extra_with_its_reason(job: Path, tabular_env: Path) -> None:
    base = ("analyze", job / "main.py", "--project", job, "--python", tabular_env)
    code, out = _invoke(*base)
    assert code == 0, out
    assert "Shipped, not imported by the code (1):" in out
    assert "arrowlite==1.0.3  via tabular[parquet]  [installed-extra; extra parquet of tabular, installed locally]" in out
    assert "dist-alpha" not in out  # the test extra
    code, out = _invoke(*base, "--json")
    doc = json.loads(out)
    assert doc["schema_version"] == ANALYSIS_SCHEMA_VERSION
    assert doc["added"] == [
        {
            "name": "arrowlite",
            "display_name": "arrowlite",
            "version": "1.0.3",
            "rule": "installed-extra",
            "via": "tabular[parquet]",
            "reason": "extra parquet of tabular, installed locally",
        }
    ]
    code, out = _invoke(*base, "--explain", "arrowlite")
    assert code == 0, out
    assert out.splitlines() == [
        "arrowlite==1.0.3 ships although the code does not import it, because:",
        "  main.py is an entry point",
        "  main.py:1 imports tabular (module scope, required)",
        "  tabular[parquet] -> arrowlite (extra parquet of tabular, installed locally)",
    ]
    code, out = _invoke(*base, "--no-installed-extras")
    assert code == 0 and "Shipped, not imported" not in out and "arrowlite" not in out


def test_lock_writes_the_extra_pip_tools_style(job: Path, tabular_env: Path) -> None:
    out_dir = job / "lock"
    code, out = _invoke("lock", job / "main.py", "--project", job, "--python", tabular_env, "-o", out_dir, "--offline")
    assert code == 0, out
    assert "  added arrowlite==1.0.3 (extra parquet of tabular, installed locally)" in out
    lock = (out_dir / "requirements.lock.txt").read_text("utf-8")
    assert "tabular==2.1.0\n    # via main.py:1\n" in lock
    assert "arrowlite==1.0.3\n    # via tabular[parquet]\n" in lock
    assert "dist-alpha" not in lock
    env_doc = json.loads((out_dir / "environment.json").read_text("utf-8"))
    decisions = {(d["subject"], d["action"]) for d in env_doc["decisions"]}
    assert {("tabular", "installed-extra"), ("tabular", "skip-installed-extra")} <= decisions
    # [tool.envcapture] installed-extras = false turns the rule off for the project.
    (job / "pyproject.toml").write_text("[tool.envcapture]\ninstalled-extras = false\n", "utf-8")
    code, out = _invoke("lock", job / "main.py", "--project", job, "--python", tabular_env, "-o", out_dir, "--offline")
    assert code == 0, out
    assert "arrowlite" not in (out_dir / "requirements.lock.txt").read_text("utf-8")
