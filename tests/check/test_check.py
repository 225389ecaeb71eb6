"""``envcapture check``: the rules on fixture projects, the settings, --fix, the outputs, the pre-commit hook.

Fixture projects live under ``tests/fixtures/check/<name>/`` and are analysed against
`fixture_env` (dist-alpha -> alpha_mod, Yaml-Like -> yamlish, ns-one/ns-two -> nsroot.*,
dep-rich -> dep_rich requiring dist-alpha, editable edit-me/edit-src). Each test copies
its project to a temporary directory, so nothing is written into the tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import FIXTURE_DISTS, pip_env, venv_python
from hypothesis import given, settings
from hypothesis import strategies as st
from index_server import build_fixture_wheel, index_server  # noqa: F401 - pytest fixture

from envcapture.check.fix import rewrite_requirements, split_lines
from envcapture.check.job import CheckOptions, run_check
from envcapture.check.model import (
    CheckSettings,
    Declared,
    DeclaredRequirement,
    Finding,
    rule_code,
)
from envcapture.check.rules import check
from envcapture.cli import cli
from envcapture.errors import InputError

CHECK = Path(__file__).resolve().parents[1] / "fixtures" / "check"
REPO = Path(__file__).resolve().parents[2]


def _project(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(CHECK / name, dest)
    return dest


def _run(project: Path, snapshot: Any, **kwargs: Any) -> list[Finding]:
    options = CheckOptions(project=project, cache_dir=project.parent / "cache", **kwargs)
    return list(run_check(options, snapshot=snapshot).findings)


def _summary(findings: list[Finding]) -> list[tuple[str, str | None, int | None, str | None]]:
    return [(f.code, f.file, f.line, f.distribution) for f in findings]


# --- the rules, one fixture project each -------------------------------------------------------


def test_missing(tmp_path: Path, fixture_snapshot: Any) -> None:
    project = _project("missing", tmp_path)
    findings = _run(project, fixture_snapshot, entry_points=("main.py",))
    assert _summary(findings) == [
        ("EC001", "main.py", 4, "dist-alpha"),
        ("EC001", "main.py", 6, "scikit-learn"),
        ("EC001", "main.py", 16, "edit-me"),
    ]
    alpha, sklearn, editme = findings
    assert alpha.rule == "missing"
    assert alpha.message == "alpha_mod is imported but dist-alpha is not declared: add dist-alpha==1.0.0 (imported at main.py:4)"
    assert alpha.fix is not None and (alpha.fix.action, alpha.fix.file, alpha.fix.text) == (
        "add",
        "requirements.txt",
        "dist-alpha==1.0.0",
    )
    assert sklearn.message == (
        "sklearn is imported but not declared, and not installed in the analysed environment: "
        "declare scikit-learn (imported at main.py:6)"
    )
    assert sklearn.fix is None  # no version to pin it to
    # an editable install is declared by path, never pinned to an index release of its name
    assert editme.message == (
        "editme is imported but edit-me is not declared: it is an editable install here, "
        "declare it by path or URL (imported at main.py:16)"
    )
    assert editme.fix is None
    # yamlish is ignored inline (ignore[missing]); editsrc is an optional import; ns-one is declared


def test_unused_keeps_dependencies_of_what_is_used(tmp_path: Path, fixture_snapshot: Any) -> None:
    project = _project("unused", tmp_path)
    findings = _run(project, fixture_snapshot)  # entry points from [tool.envcapture]
    assert _summary(findings) == [("EC002", "requirements.txt", 3, "yaml-like")]
    assert findings[0].rule == "unused"
    assert findings[0].message == "Yaml-Like is declared but no code the entry points reach imports it"
    assert findings[0].fix is not None and (findings[0].fix.action, findings[0].fix.line) == ("remove", 3)
    # dist-alpha: a dependency of dep-rich (the closure says so); ns-two: ignored inline;
    # black: ignored by [tool.envcapture] ignore = {EC002 = ["black"]}


def test_unused_not_judged_when_a_needed_distribution_is_not_installed(tmp_path: Path, fixture_snapshot: Any) -> None:
    """Yaml-Like may be a requirement of ghost-dist, which the job needs and which is not
    installed: a note, not an EC002. black, declared and not installed, takes no part in the
    analysed environment: it leaves Yaml-Like to the closure."""
    project = _project("unused", tmp_path)
    (project / "main.py").write_text("import dep_rich\nimport ghost_dist\n")
    result = run_check(CheckOptions(project=project, cache_dir=tmp_path / "cache"), snapshot=fixture_snapshot)
    assert _summary(list(result.findings)) == [("EC001", "main.py", 2, "ghost-dist")]
    assert [n for n in result.notes if n.startswith("EC002")] == [
        "EC002 not judged for Yaml-Like (requirements.txt:3): no code imports it, but it may be required by "
        "ghost-dist, whose requirements are unknown (not installed in the analysed environment); install it, or "
        "analyse an environment where it is (--python, a .venv/), to judge"
    ]


def test_one_declared_alternative_is_enough(tmp_path: Path, fixture_snapshot: Any) -> None:
    """`try: import alpha_mod` / `except ImportError: import yamlish`: alpha_mod is installed, so
    the job takes it; declaring either distribution is enough."""
    project = tmp_path / "alt"
    project.mkdir()
    (project / "main.py").write_text("try:\n    import alpha_mod\nexcept ImportError:\n    import yamlish\n")
    (project / "requirements.txt").write_text("")
    findings = _run(project, fixture_snapshot, entry_points=("main.py",))
    assert [f.message for f in findings] == [
        "alpha_mod is imported but dist-alpha is not declared: add dist-alpha==1.0.0 (imported at main.py:2), "
        "or its alternative Yaml-Like (try/except ImportError)"
    ]
    assert findings[0].fix is not None and findings[0].fix.text == "dist-alpha==1.0.0"
    for declared in ("dist-alpha==1.0.0\n", "Yaml-Like==2.1\n"):
        (project / "requirements.txt").write_text(declared)
        assert _run(project, fixture_snapshot, entry_points=("main.py",)) == [], declared


def test_wrong_name(tmp_path: Path, fixture_snapshot: Any) -> None:
    project = _project("wrong_name", tmp_path)
    findings = _run(project, fixture_snapshot)
    assert _summary(findings) == [
        ("EC003", "requirements.txt", 1, "yamlish"),
        ("EC003", "requirements.txt", 2, "sklearn"),
    ]
    yamlish, sklearn = findings
    assert yamlish.rule == "wrong-name"
    assert yamlish.message == "yamlish is an import name, not a distribution: declare Yaml-Like (from installed metadata)"
    assert sklearn.message == "sklearn is an import name, not a distribution: declare scikit-learn (from the import-name mapping)"
    assert sklearn.fix is not None and (sklearn.fix.action, sklearn.fix.text) == ("rename", "scikit-learn")
    # mymod -> my-dist comes from [tool.envcapture] mapping: declared right, no finding


def test_transitive(tmp_path: Path, fixture_snapshot: Any) -> None:
    project = _project("transitive", tmp_path)
    findings = _run(project, fixture_snapshot, entry_points=("main.py",))
    assert _summary(findings) == [("EC004", "main.py", 3, "dist-alpha")]
    assert findings[0].rule == "transitive"
    assert findings[0].message == (
        "alpha_mod is imported but dist-alpha is only installed as a dependency of dep-rich: "
        "declare dist-alpha==1.0.0 (imported at main.py:3)"
    )


def test_unpinned_in_pyproject(tmp_path: Path, fixture_snapshot: Any) -> None:
    project = _project("unpinned", tmp_path)
    findings = _run(project, fixture_snapshot)  # no requirements.txt: pyproject.toml is the source
    assert _summary(findings) == [
        ("EC005", "pyproject.toml", 5, "dist-alpha"),
        ("EC005", "pyproject.toml", 7, "yaml-like"),
        ("EC005", "pyproject.toml", 11, "pytest"),
    ]
    assert [f.message for f in findings] == [
        "dist-alpha is loosely pinned (>=1.0): pin it, dist-alpha==1.0.0 is installed",
        "Yaml-Like is not pinned: pin it, Yaml-Like==2.1 is installed",
        "pytest is loosely pinned (>=8): pin it with ==",
    ]
    assert all(f.rule == "unpinned" for f in findings)
    # pytest (an optional dependency nobody imports) is not EC002: ignore = {unused = ["pytest"]}


def test_unpinned_only_when_asked(tmp_path: Path, fixture_snapshot: Any) -> None:
    project = _project("unpinned", tmp_path)
    text = (project / "pyproject.toml").read_text().replace("require-pins = true\n", "")
    (project / "pyproject.toml").write_text(text)
    assert _run(project, fixture_snapshot) == []
    assert [f.code for f in _run(project, fixture_snapshot, require_pins=True)] == ["EC005"] * 3


def test_not_installable(tmp_path: Path, fixture_snapshot: Any, index_server: Any) -> None:  # noqa: F811
    wheels = tmp_path / "index"
    build_fixture_wheel(FIXTURE_DISTS / "dist-alpha", wheels)
    built = build_fixture_wheel(FIXTURE_DISTS / "dep-rich", wheels)
    built.rename(wheels / "dep_rich-0.3.0-py3-none-win_amd64.whl")  # a Windows-only release
    server = index_server(wheels)
    project = _project("not_installable", tmp_path)
    template = (project / "requirements.txt.in").read_text()
    (project / "requirements.txt").write_text(template.format(index_url=server.url))
    assert _run(project, fixture_snapshot, entry_points=("main.py",)) == []  # off by default: no network
    assert server.requests == []
    findings = _run(project, fixture_snapshot, entry_points=("main.py",), check_index=True, target_python="3.11")
    assert _summary(findings) == [("EC006", "requirements.txt", 2, "dep-rich")]
    assert findings[0].rule == "not-installable"
    assert findings[0].message == (
        "dep-rich==0.3.0 is not installable on the target: dep-rich==0.3.0 has no file for "
        "CPython 3.11 on linux x86_64 (manylinux_2_28) (only dep_rich-0.3.0-py3-none-win_amd64.whl)"
    )


def test_requirements_file_from_config(tmp_path: Path, fixture_snapshot: Any) -> None:
    project = _project("config", tmp_path)
    options = CheckOptions(config=project / "config.yaml", cache_dir=tmp_path / "cache")
    result = run_check(options, snapshot=fixture_snapshot)
    assert result.declared.files == ("reqs/job.txt",)
    assert result.entry_points == ("train.py",)
    assert _summary(list(result.findings)) == [("EC001", "train.py", 3, "ns-two")]


# --- settings and bad input --------------------------------------------------------------------


def test_unknown_setting_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("import os\n")
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.envcapture]\nentry_points = ["main.py"]\n')
    result = CliRunner().invoke(cli, ["check", "--project", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "envcapture: error: pyproject.toml:5: tool.envcapture.entry_points: unknown key (did you mean 'entry-points'?)"
    )


@pytest.mark.parametrize(
    "body,message",
    [
        (
            'ignore = {EC009 = ["x"]}',
            "pyproject.toml:2: tool.envcapture.ignore.EC009: unknown rule 'EC009' (rules are EC001..EC006 or their names)",
        ),
        ('require-pins = "yes"', "pyproject.toml:2: tool.envcapture.require-pins: expected true or false, got 'yes'"),
        (
            'mapping = ["x"]',
            'pyproject.toml:2: tool.envcapture.mapping: expected a table of import name -> distribution (mapping = {mymod = "my-dist"})',
        ),
    ],
)
def test_bad_settings(tmp_path: Path, body: str, message: str) -> None:
    from envcapture.check.declared import read_settings

    (tmp_path / "pyproject.toml").write_text(f"[tool.envcapture]\n{body}\n")
    with pytest.raises(InputError) as info:
        read_settings(tmp_path / "pyproject.toml", root=tmp_path)
    assert str(info.value) == message


def test_nothing_to_check_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("")
    result = CliRunner().invoke(cli, ["check", "--project", str(tmp_path)])
    assert result.exit_code == 2
    assert "nothing to check" in result.output


def test_rule_names() -> None:
    assert [rule_code(x) for x in ("missing", "EC002", "ec003", "transitive", "unpinned", "not-installable", "nope")] == [
        "EC001", "EC002", "EC003", "EC004", "EC005", "EC006", None,
    ]  # fmt: skip


def test_pyproject_lines(tmp_path: Path) -> None:
    from envcapture.check.declared import read_pyproject_requirements

    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "Demo_Job"\ndependencies = ["a>=1", \'b\']\n\n'
        "[project.optional-dependencies]\n"
        'dev = [\n  "a[x]==2",  # a again\n]\ndocs = ["c; python_version < \\"3.12\\""]\n'
    )
    reqs, own = read_pyproject_requirements(tmp_path / "pyproject.toml", root=tmp_path)
    assert own == "demo-job"
    assert [(r.name, r.line, r.group) for r in reqs] == [("a", 3, None), ("b", 3, None), ("a", 7, "dev"), ("c", 9, "docs")]


# --- the pure core on in-memory input ----------------------------------------------------------


def test_check_without_closure_reports_every_undeclared_import(tmp_path: Path, fixture_snapshot: Any) -> None:
    from envcapture.analysis.api import AnalysisOptions, analyze

    project = _project("transitive", tmp_path)
    analysis = analyze(
        ("main.py",), project=project, options=AnalysisOptions(cache_dir=tmp_path / "c"), snapshot=fixture_snapshot
    )
    declared = Declared(
        requirements=(DeclaredRequirement(name="dep-rich", written_name="dep-rich", text="dep-rich", file="r.txt", line=1),),  # type: ignore[arg-type]
        files=("r.txt",),
        fix_file="r.txt",
    )
    assert [(f.code, f.distribution) for f in check(analysis, declared)] == [("EC001", "dist-alpha")]
    ignored = CheckSettings(ignore=frozenset({("EC001", "alpha_mod")}))
    assert check(analysis, declared, settings=ignored) == ()


# --- --fix --------------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_fix_is_byte_identical_outside_changed_lines(tmp_path: Path, fixture_snapshot: Any, newline: str) -> None:
    project = _project("fix", tmp_path)
    shutil.rmtree(project / "expected")
    for name in ("requirements.txt", "other.txt"):
        data = (CHECK / "fix" / name).read_bytes().replace(b"\n", newline.encode())
        (project / name).write_bytes(data)
    before = _run(project, fixture_snapshot)
    assert _summary(before) == [
        ("EC001", "main.py", 3, "dep-rich"),
        ("EC002", "other.txt", 2, "ns-two"),
        ("EC002", "requirements.txt", 9, "yaml-like"),
    ]
    result = run_check(CheckOptions(project=project, fix=True, cache_dir=tmp_path / "cache"), snapshot=fixture_snapshot)
    assert result.findings == ()
    assert sorted(f.code for f in result.fixed) == ["EC001", "EC002", "EC002"]
    assert result.written == ("other.txt", "requirements.txt")
    assert any("--hash" in note for note in result.notes)
    for name in ("requirements.txt", "other.txt"):
        golden = (CHECK / "fix" / "expected" / name).read_bytes().replace(b"\n", newline.encode())
        assert (project / name).read_bytes() == golden, name
    assert _run(project, fixture_snapshot) == []


def test_no_fix_without_the_flag(tmp_path: Path, fixture_snapshot: Any) -> None:
    project = _project("fix", tmp_path)
    result = CliRunner().invoke(cli, ["check", "--project", str(project), "--python", fixture_snapshot.executable])
    assert result.exit_code == 1
    assert (project / "requirements.txt").read_bytes() == (CHECK / "fix" / "requirements.txt").read_bytes()


@pytest.mark.parametrize(
    "text,kwargs,expected",
    [
        ("a==1\nb==2", {"add": ["c==3"]}, "a==1\nb==2\nc==3\n"),
        ("a==1\rb==2\r", {"remove": [1], "add": ["c==3"]}, "b==2\rc==3\r"),
        ("a==1 \\\n  --hash=sha256:00\nb==2\n", {"remove": [1]}, "b==2\n"),
        ("# x \\\nb==2\n", {"remove": [1]}, "b==2\n"),  # a comment never continues
        (
            "  sklearn>=1.0 ; python_version > '3'  # ml\n",
            {"rename": {1: "scikit-learn"}},
            "  scikit-learn>=1.0 ; python_version > '3'  # ml\n",
        ),
        ("", {"add": ["a==1"]}, "a==1\n"),
        ("a==1\n", {"remove": [7]}, "a==1\n"),
    ],
)
def test_rewrite_requirements(text: str, kwargs: dict[str, Any], expected: str) -> None:
    assert rewrite_requirements(text, **kwargs) == expected
    assert "".join(split_lines(text)) == text


# --- outputs ------------------------------------------------------------------------------------


def test_json_and_github_outputs(tmp_path: Path, fixture_snapshot: Any) -> None:
    project = _project("transitive", tmp_path)
    runner = CliRunner()
    base = ["check", "--project", str(project), "--python", fixture_snapshot.executable, str(project / "main.py")]
    result = runner.invoke(cli, [*base, "--format", "json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert list(doc)[:3] == ["schema", "schema_version", "generator"]
    assert (doc["schema"], doc["schema_version"], doc["ok"]) == ("envcapture/check", "1.0", False)
    assert doc["counts"]["EC004"] == 1
    try:
        import jsonschema
    except ImportError:
        pass
    else:
        jsonschema.validate(doc, json.loads((REPO / "docs" / "schema" / "check.schema.json").read_text()))
    assert doc["findings"][0] | {"message": None} == {
        "code": "EC004", "rule": "transitive", "file": "main.py", "line": 3, "column": 1, "message": None,
        "distribution": "dist-alpha",
        "fix": {"action": "add", "file": "requirements.txt", "line": None, "text": "dist-alpha==1.0.0"},
    }  # fmt: skip
    result = runner.invoke(cli, [*base, "--format", "github"])
    assert result.exit_code == 1
    assert result.stdout == (
        "::error file=main.py,line=3,col=1,title=EC004::transitive: alpha_mod is imported but dist-alpha is only "
        "installed as a dependency of dep-rich: declare dist-alpha==1.0.0 (imported at main.py:3)\n"
    )
    result = runner.invoke(cli, [*base])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "Target: CPython 3.11, linux x86_64, accelerator as installed"
    # The second line names the analysed environment and why it was chosen.
    second = result.stdout.splitlines()[1]
    assert second.startswith("Environment: ") and second.endswith(" (from --python)"), second
    assert result.stdout.splitlines()[2:] == [
        "EC004 transitive (1)",
        (
            "  main.py:3: alpha_mod is imported but dist-alpha is only installed as a dependency of dep-rich: "
            "declare dist-alpha==1.0.0 (imported at main.py:3)"
        ),
        "envcapture check: 1 problem (1 transitive)",
    ]
    (project / "requirements.txt").write_text("dep-rich==0.3.0\ndist-alpha==1.0.0\n")
    result = runner.invoke(cli, [*base])
    assert (result.exit_code, result.stdout.strip().splitlines()[-1]) == (0, "envcapture check: ok")


# --- pre-commit ---------------------------------------------------------------------------------


def _dependencies() -> list[str]:
    """envcapture's own [project.dependencies] (names only)."""
    from packaging.requirements import Requirement

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    return [Requirement(text).name for text in project["dependencies"]]


def _repack(dist: Any, out: Path) -> Path:
    """A wheel of the installed distribution ``dist`` (importlib.metadata), from its RECORD.

    Files outside site-packages (console scripts) are left out: pip writes them again from
    ``entry_points.txt``. The tag is the one in the dist-info ``WHEEL`` file.
    """
    import base64
    import hashlib
    import zipfile

    from packaging.utils import canonicalize_name

    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")] or ["py3-none-any"]
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    tag = tags[0]
    if len(tags) > 1:
        parts = [t.split("-") for t in tags]
        tag = "-".join(".".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))
    target = out / f"{name}-{dist.version}-{tag}.whl"
    base = Path(dist.locate_file(""))
    info_dir = None
    record_lines = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in dist.files or ():
            rel = file.as_posix()
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
                continue
            if rel.endswith(".dist-info/RECORD"):
                info_dir = rel.rsplit("/", 1)[0]
                continue
            path = base / rel
            if not path.is_file():
                continue
            data = path.read_bytes()
            archive.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record_lines.append(f"{rel},sha256={digest},{len(data)}")
        assert info_dir is not None, dist.metadata["Name"]
        record_lines.append(f"{info_dir}/RECORD,,")
        archive.writestr(f"{info_dir}/RECORD", "\n".join(record_lines) + "\n")
    return target


def _wheelhouse(out: Path) -> Path:
    """Wheels of envcapture's dependencies (their own dependencies too) and of its build backend,
    repacked from this interpreter's environment: what pre-commit's pip installs, offline."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    out.mkdir(parents=True, exist_ok=True)
    # setuptools >= 68 (the build backend) from virtualenv's embedded seed wheels: the dev
    # venv's own setuptools may be older.
    from virtualenv.seed.wheels import embed

    for seed in Path(embed.__file__).parent.glob("setuptools-*.whl"):
        shutil.copy2(seed, out / seed.name)
    seen: set[str] = {"setuptools"}
    todo = [*_dependencies(), "wheel"]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        _repack(dist, out)
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return out


def _git(*args: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout.strip()


def _pre_commit_env(tmp_path: Path) -> dict[str, str]:
    """pre-commit offline: hooks install from a local wheelhouse; git needs no user config."""
    env = pip_env()
    env.update({
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(_wheelhouse(tmp_path / "wheelhouse")),
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
        "ENVCAPTURE_CACHE_DIR": str(tmp_path / "cache"),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    })  # fmt: skip
    return env


def _hook_repo(tmp_path: Path, env: dict[str, str]) -> tuple[Path, str]:
    """The hook's repository: a copy of this source tree, committed (the hook must be at a rev)."""
    hook_repo = tmp_path / "envcapture-repo"
    hook_repo.mkdir()
    for item in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(REPO / item, hook_repo / item)
    shutil.copytree(REPO / "envcapture", hook_repo / "envcapture", ignore=shutil.ignore_patterns("__pycache__"))
    _git("init", "-q", "-b", "main", cwd=hook_repo, env=env)
    _git("add", ".", cwd=hook_repo, env=env)
    _git("commit", "-q", "-m", "envcapture", cwd=hook_repo, env=env)
    rev = _git("rev-parse", "HEAD", cwd=hook_repo, env=env)
    return hook_repo, rev


@pytest.mark.slow
def test_pre_commit_hook(tmp_path: Path, fixture_env: Any) -> None:
    pytest.importorskip("pre_commit", reason="pre-commit is not installed (pip install pre-commit)")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = _pre_commit_env(tmp_path)
    hook_repo, rev = _hook_repo(tmp_path, env)
    # The user's project.
    project = tmp_path / "job"
    project.mkdir()
    (project / "train.py").write_text("import nsroot.one\n")
    (project / "requirements.txt").write_text("ns-one==0.1.0\n")
    (project / "pyproject.toml").write_text('[tool.envcapture]\nentry-points = ["train.py"]\n')
    (project / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {hook_repo}\n"
        f"    rev: {rev}\n"
        "    hooks:\n"
        "      - id: envcapture-check\n"
        f"        args: [--python, {fixture_env.python}]\n"
    )
    _git("init", "-q", "-b", "main", cwd=project, env=env)
    _git("add", ".", cwd=project, env=env)
    _git("commit", "-q", "-m", "start", cwd=project, env=env)
    pre_commit = [sys.executable, "-m", "pre_commit"]
    done = subprocess.run(
        [*pre_commit, "install"], cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # An undeclared import: the commit is refused with envcapture's message.
    (project / "train.py").write_text("import nsroot.one\nimport alpha_mod\n")
    _git("add", "train.py", cwd=project, env=env)
    done = subprocess.run(
        ["git", "commit", "-m", "use alpha"], cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "envcapture check" in output and "Failed" in output, output
    assert "train.py:2: alpha_mod is imported but dist-alpha is not declared: add dist-alpha==1.0.0" in output, output
    # Declared: the commit goes through.
    (project / "requirements.txt").write_text("ns-one==0.1.0\ndist-alpha==1.0.0\n")
    _git("add", "requirements.txt", cwd=project, env=env)
    done = subprocess.run(
        ["git", "commit", "-m", "use alpha"], cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "envcapture check" in output and "Passed" in output, output


def _commit(project: Path, env: dict[str, str], *files: str) -> tuple[int, str]:
    _git("add", *files, cwd=project, env=env)
    done = subprocess.run(
        ["git", "commit", "-m", "change"], cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.slow
def test_pre_commit_hook_finds_the_project_environment(tmp_path: Path, fixture_env: Any) -> None:
    """The hook runs in pre-commit's own virtualenv (VIRTUAL_ENV is set to it): with no --python it
    analyses the project's .venv/, else works in bare mode with guessed names."""
    pytest.importorskip("pre_commit", reason="pre-commit is not installed (pip install pre-commit)")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = _pre_commit_env(tmp_path)
    env.pop("VIRTUAL_ENV", None)
    hook_repo, rev = _hook_repo(tmp_path, env)
    project = tmp_path / "job"
    project.mkdir()
    (project / ".venv").symlink_to(fixture_env.venv)
    (project / ".gitignore").write_text(".venv\n")
    (project / "train.py").write_text("import yaml\nimport alpha_mod\n")
    (project / "requirements.txt").write_text("PyYAML\ndist-alpha==1.0.0\n")
    (project / "pyproject.toml").write_text('[tool.envcapture]\nentry-points = ["train.py"]\n')
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n    hooks:\n      - id: envcapture-check\n"
    )
    _git("init", "-q", "-b", "main", cwd=project, env=env)
    _git("add", ".", cwd=project, env=env)
    _git("commit", "-q", "-m", "start", "--no-verify", cwd=project, env=env)
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"], cwd=project, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # With the project's .venv: alpha_mod is dist-alpha's (installed metadata); fire is not installed.
    (project / "train.py").write_text("import yaml\nimport alpha_mod\nimport fire\n")
    code, output = _commit(project, env, "train.py")
    assert code != 0, output
    assert "(from .venv/ in the project)" in output, output
    assert "train.py:3: fire is imported but not declared" in output and "declare fire" in output, output
    assert "PyYAML" not in output and "dist-alpha" not in output, output
    (project / "requirements.txt").write_text("PyYAML\ndist-alpha==1.0.0\nfire\n")
    code, output = _commit(project, env, "requirements.txt")
    assert code == 0 and "Passed" in output, output
    # Bare mode: no environment anywhere; names come from the table, declarations match through it.
    (project / ".venv").unlink()
    (project / "train.py").write_text("import yaml\nimport fire\nfrom rouge_score import rouge_scorer\n")
    (project / "requirements.txt").write_text("PyYAML\nfire\n")
    code, output = _commit(project, env, "train.py", "requirements.txt")
    assert code != 0, output
    assert "bare mode" in output, output
    assert "train.py:3: rouge_score is imported but not declared" in output and "declare rouge-score" in output, output
    assert "EC002" not in output and "EC003" not in output, output
    (project / "requirements.txt").write_text("PyYAML\nfire\nrouge-score\n")
    code, output = _commit(project, env, "requirements.txt")
    assert code == 0 and "Passed" in output, output


# --- Python 3.10 ---------------------------------------------------------------------------------


def _python310() -> Path | None:
    found = sorted(Path.home().glob(".pyenv/versions/3.10.*/bin/python"))
    return found[-1] if found else None


@pytest.mark.slow
def test_check_runs_on_python_3_10(tmp_path: Path) -> None:
    """``envcapture check`` installed for real with pip into a Python 3.10 venv: 3.10 has no
    tomllib, so reading pyproject.toml needs tomli, which pip must install as a dependency."""
    python = _python310()
    if python is None:
        pytest.skip("no Python 3.10 under ~/.pyenv/versions (pyenv install 3.10)")
    env = pip_env()
    env["ENVCAPTURE_CACHE_DIR"] = str(tmp_path / "cache")
    # A copy of this checkout: pip would otherwise write build/ and *.egg-info into it.
    source = tmp_path / "envcapture-src"
    source.mkdir()
    for item in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / item, source / item)
    shutil.copytree(REPO / "envcapture", source / "envcapture", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    done = subprocess.run(
        [str(python), "-m", "venv", str(venv)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    py = venv_python(venv)
    done = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", str(source)], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    project = tmp_path / "job"
    project.mkdir()
    (project / "train.py").write_text("import yaml\nimport click\n")
    pyproject = (
        '[project]\nname = "job"\nversion = "0"\ndependencies = [{deps}]\n\n[tool.envcapture]\nentry-points = ["train.py"]\n'
    )
    (project / "pyproject.toml").write_text(pyproject.format(deps='"PyYAML"'))
    command = [str(venv / "bin" / "envcapture"), "check", "--project", str(project), "--python", str(py)]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "train.py:2: click is imported but click is not declared: add click==" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    (project / "pyproject.toml").write_text(pyproject.format(deps='"PyYAML", "click"'))
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert (done.returncode, done.stdout.strip().splitlines()[-1]) == (0, "envcapture check: ok"), done.stdout + done.stderr
    assert done.stdout.startswith("Target: CPython 3.10, linux x86_64, "), done.stdout


# --- robustness ---------------------------------------------------------------------------------

_REQ_TEXT = st.lists(
    st.sampled_from(["a==1", "# c", "", "b>=2 \\", "  --hash=sha256:00", "-r x.txt", "c  # d", "\\", "é==1"]),
    max_size=12,
).flatmap(lambda lines: st.sampled_from(["\n", "\r\n", "\r"]).map(lambda nl: nl.join(lines)))


@settings(max_examples=200, deadline=None)
@given(_REQ_TEXT, st.lists(st.integers(min_value=-1, max_value=14), max_size=4))
def test_rewrite_touches_only_the_removed_lines(text: str, remove: list[int]) -> None:
    assert rewrite_requirements(text) == text
    out = split_lines(rewrite_requirements(text, remove=remove))
    lines = split_lines(text)
    # what is left is the original lines, in order (a subsequence)
    it = iter(lines)
    assert all(any(line == other for other in it) for line in out)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_bad_pyproject_is_an_input_error(tmp_path_factory: Any, text: str) -> None:
    from envcapture.check.declared import read_pyproject_requirements, read_settings

    root = tmp_path_factory.mktemp("fuzz")
    (root / "pyproject.toml").write_text("[tool.envcapture]\n" + text, encoding="utf-8")
    for read in (read_settings, read_pyproject_requirements):
        try:
            read(root / "pyproject.toml", root=root)
        except InputError as exc:
            assert "\n" not in str(exc)


def test_toml_error_names_the_line(tmp_path: Path) -> None:
    from envcapture.check.declared import read_settings

    (tmp_path / "pyproject.toml").write_text("[tool.envcapture]\nrequire-pins = yes\n")
    with pytest.raises(InputError) as info:
        read_settings(tmp_path / "pyproject.toml", root=tmp_path)
    assert str(info.value) == "pyproject.toml:2: not valid TOML: Invalid value"
