"""envcapture.resolution.closure: exact identity, the closure for the target, manual-mode helpers, uv (EDGE)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import FIXTURE_DISTS, FixtureEnv, make_venv, pip_install, run
from index_server import index_dirs, index_server  # noqa: F401 - pytest fixtures

from envcapture.environment.model import DistributionInfo, EnvSnapshot
from envcapture.environment.pipconfig import read_pip_config
from envcapture.errors import ConfigError, RequirementsError, ResolutionError
from envcapture.model import Target, dist_name
from envcapture.resolution.closure import origin_from_direct_url, resolve
from envcapture.resolution.manual import (
    complete_manual,
    merge_file_options,
    requirements_to_direct,
)
from envcapture.resolution.model import (
    Closure,
    Decision,
    Delivery,
    DirectRequirement,
    Origin,
    OriginKind,
    ResolveOptions,
    Unresolved,
    Via,
    ViaKind,
)
from envcapture.resolution.requirements import parse_requirements_text
from envcapture.resolution.sources import with_pip_config
from envcapture.resolution.target import complete_for_target

LINUX_311 = Target(python_version="3.11")
CUDA_LINUX_311 = Target(python_version="3.11", accelerator="cuda")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def dist(name: str, version: str, *requires: str, **kwargs: object) -> DistributionInfo:
    return DistributionInfo(
        name=dist_name(name),
        display_name=name,
        version=version,
        requires=requires,
        **kwargs,  # type: ignore[arg-type]
    )


def snapshot(*dists: DistributionInfo, platform: str = "linux", python: str = "3.11.7", machine: str = "x86_64") -> EnvSnapshot:
    return EnvSnapshot(
        executable="/venv/bin/python",
        python_version=python,
        sys_platform=platform,
        platform_machine=machine,
        distributions=tuple(sorted(dists)),
    )


def direct(name: str, *via: str, **kwargs: object) -> DirectRequirement:
    return DirectRequirement(name=dist_name(name), via=via or ("train.py:1",), **kwargs)  # type: ignore[arg-type]


def decision(closure: Closure, subject: str, action: str) -> Decision:
    found = [d for d in closure.decisions if d.subject == subject and d.action == action]
    assert len(found) == 1, closure.decisions
    return found[0]


# --- 1. exact identity (PEP 610) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, Origin(kind=OriginKind.INDEX)),
        (
            json.dumps(
                {
                    "url": "https://github.com/o/r.git",
                    "vcs_info": {"vcs": "git", "commit_id": COMMIT, "requested_revision": "main"},
                    "subdirectory": "pkg",
                }
            ),
            Origin(
                kind=OriginKind.VCS,
                url="https://github.com/o/r.git",
                vcs="git",
                commit_id=COMMIT,
                requested_revision="main",
                subdirectory="pkg",
            ),
        ),
        (
            json.dumps({"url": "https://h.example/x-1.0.whl", "archive_info": {"hashes": {"sha256": "ab" * 32}}}),
            Origin(kind=OriginKind.URL, url="https://h.example/x-1.0.whl", archive_hash="sha256=" + "ab" * 32),
        ),
        (
            json.dumps({"url": "https://h.example/x-1.0.tar.gz", "archive_info": {"hash": "sha256=cd"}}),
            Origin(kind=OriginKind.URL, url="https://h.example/x-1.0.tar.gz", archive_hash="sha256=cd"),
        ),
        (json.dumps({"url": "file:///src/x", "dir_info": {}}), Origin(kind=OriginKind.LOCAL_DIR, url="file:///src/x")),
        (
            json.dumps({"url": "file:///src/x", "dir_info": {"editable": True}}),
            Origin(kind=OriginKind.EDITABLE, url="file:///src/x"),
        ),
    ],
)
def test_origin_from_direct_url(text: str | None, expected: Origin) -> None:
    assert origin_from_direct_url(text) == expected


def test_legacy_editable_without_direct_url() -> None:
    assert origin_from_direct_url(None, editable_roots=("/src/x",)).kind is OriginKind.EDITABLE


def test_bad_direct_url_is_a_resolution_error_naming_the_distribution() -> None:
    snap = snapshot(dist("broken", "1.0", direct_url="{not json"))
    with pytest.raises(ResolutionError, match=r"^broken 1.0: direct_url.json is not PEP 610 JSON"):
        resolve([direct("broken")], snap, LINUX_311, ResolveOptions())


def test_vcs_install_is_pinned_to_its_commit_not_an_index_release() -> None:
    url = json.dumps(
        {"url": "https://github.com/o/gitpkg.git", "vcs_info": {"vcs": "git", "commit_id": COMMIT, "requested_revision": "v1"}}
    )
    closure = resolve([direct("gitpkg")], snapshot(dist("gitpkg", "1.0", direct_url=url)), LINUX_311, ResolveOptions())
    pin = closure.pins[0]
    assert pin.delivery is Delivery.DIRECT
    assert pin.origin.direct_reference() == f"git+https://github.com/o/gitpkg.git@{COMMIT}"
    assert COMMIT in decision(closure, "gitpkg", "pin-commit").reason


def test_local_origins_are_built_into_wheels_and_say_so() -> None:
    snap = snapshot(
        dist(
            "edit",
            "0.1",
            direct_url=json.dumps({"url": "file:///home/u/edit", "dir_info": {"editable": True}}),
            editable_roots=("/home/u/edit",),
        ),
        dist("localdir", "0.2", direct_url=json.dumps({"url": "file:///home/u/localdir", "dir_info": {}})),
        dist(
            "localgit",
            "0.3",
            direct_url=json.dumps({"url": "file:///home/u/repo", "vcs_info": {"vcs": "git", "commit_id": COMMIT}}),
        ),
        dist(
            "localwhl",
            "0.4",
            direct_url=json.dumps(
                {"url": "file:///home/u/localwhl-0.4-py3-none-any.whl", "archive_info": {"hashes": {"sha256": "ee" * 32}}}
            ),
        ),
    )
    closure = resolve([direct(n) for n in ("edit", "localdir", "localgit", "localwhl")], snap, LINUX_311, ResolveOptions())
    assert {p.name: (p.origin.kind, p.delivery) for p in closure.pins} == {
        "edit": (OriginKind.EDITABLE, Delivery.WHEELHOUSE),
        "localdir": (OriginKind.LOCAL_DIR, Delivery.WHEELHOUSE),
        "localgit": (OriginKind.VCS, Delivery.WHEELHOUSE),
        "localwhl": (OriginKind.URL, Delivery.WHEELHOUSE),
    }
    assert closure.pin("edit").source == "/home/u/edit"  # type: ignore[union-attr]
    assert closure.pin("localwhl").hashes == ("sha256:" + "ee" * 32,)  # type: ignore[union-attr]
    assert "editable install of edit: a wheel is built from its source" in decision(closure, "edit", "build-wheel").reason
    assert "the target cannot reach it" in decision(closure, "localgit", "build-wheel").reason
    for d in closure.decisions:
        assert "/home/u" not in d.reason  # no absolute paths (usernames) in reasons


def test_other_local_labels_ship_as_wheels() -> None:
    closure = resolve([direct("acme-lib")], snapshot(dist("acme-lib", "1.0+acme")), LINUX_311, ResolveOptions())
    pin = closure.pins[0]
    assert (pin.version, pin.local_label, pin.delivery) == ("1.0+acme", "acme", Delivery.WHEELHOUSE)
    assert "local version label '+acme'" in decision(closure, "acme-lib", "ship-wheel").reason


@pytest.mark.parametrize(
    ("torch_cuda", "version", "index"),
    [
        (None, "2.13.0", None),
        ("12.1", "2.13.0+cu121", "https://download.pytorch.org/whl/cu121"),
        ("cpu", "2.13.0+cpu", "https://download.pytorch.org/whl/cpu"),
    ],
)
def test_torch_local_label_maps_to_the_target_variant(torch_cuda: str | None, version: str, index: str | None) -> None:
    snap = snapshot(dist("torch", "2.13.0+cpu", "filelock"), dist("filelock", "3.13.1"), dist("torchvision", "0.28.0"))
    closure = resolve([direct("torch"), direct("torchvision")], snap, CUDA_LINUX_311, ResolveOptions(torch_cuda=torch_cuda))
    torch = closure.pin("torch")
    assert torch is not None and torch.version == version and torch.local_label == "cpu"
    assert torch.origin.index_url == index and torch.delivery is Delivery.INDEX
    reason = decision(closure, "torch", "map-local-version").reason
    assert reason.startswith(f"torch 2.13.0+cpu -> torch=={version}")
    assert closure.options.extra_index_urls == ((index,) if index else ())
    vision = closure.pin("torchvision")
    assert vision is not None
    # with a variant index, torchvision follows torch; without one, a plain release stays as is
    assert vision.version == ("0.28.0" if torch_cuda is None else f"0.28.0+{version.split('+')[1]}")


# --- 2. the closure for the target ------------------------------------------------------------


def test_closure_walks_requires_dist_with_target_markers_and_extras() -> None:
    snap = snapshot(
        dist("app", "1.0", 'linuxdep>=1; sys_platform == "linux"', 'colorama; sys_platform == "win32"',
             "req[socks]>=2", 'exceptiongroup; python_version < "3.11"', "appnope"),
        dist("req", "2.0", 'pysocks; extra == "socks"', 'chardet; extra == "chardet"', "app", provides_extras=("socks", "chardet")),
        dist("pysocks", "1.7"), dist("chardet", "5.0"), dist("colorama", "0.4.6"), dist("appnope", "0.1"),
        platform="darwin", machine="arm64",
    )  # fmt: skip
    closure = resolve([direct("app", "train.py:3")], snap, Target(python_version="3.10"), ResolveOptions())
    assert [(p.name, p.version) for p in closure.pins] == [("app", "1.0"), ("pysocks", "1.7"), ("req", "2.0")]
    assert [str(v) for v in closure.pin("app").via] == ["req", "train.py:3"]  # type: ignore[union-attr]  # a cycle is fine
    assert closure.pin("pysocks").via == (Via(source="req[socks]"),)  # type: ignore[union-attr]
    assert "true for the target" in (closure.pin("pysocks").marker_reason or "")  # type: ignore[union-attr]
    assert closure.pin("req").extras == frozenset({"socks"})  # type: ignore[union-attr]
    assert [(d.name, d.reason.split(";")[0]) for d in closure.dropped] == [("appnope", "macOS only (App Nap)")]
    assert closure.pin("colorama") is None  # marker false for both: silently not needed
    # needed on the Linux / Python 3.10 target, absent from the macOS / 3.11 environment
    assert [(u.name, u.specifier) for u in closure.unresolved_for_target] == [("exceptiongroup", ""), ("linuxdep", ">=1")]
    assert "needed only on the target" in closure.unresolved_for_target[1].reason


def test_local_only_dependency_is_dropped_with_its_reason() -> None:
    snap = snapshot(
        dist("app", "1.0", 'colorama; sys_platform == "win32"'), dist("colorama", "0.4.6"), platform="win32", machine="AMD64"
    )
    closure = resolve([direct("app"), direct("pywin32", markers=None)], snap, LINUX_311, ResolveOptions())
    assert [d.name for d in closure.dropped] == ["colorama", "pywin32"]
    assert closure.dropped[0].reason.startswith('app requires it only when sys_platform == "win32": false for the target')
    assert closure.dropped[1].reason.startswith("Windows only")


def test_direct_requirement_marker_false_for_target_is_dropped() -> None:
    snap = snapshot(dist("pyobjc-core", "10.0"), platform="darwin")
    closure = resolve([direct("pyobjc-core", markers='sys_platform == "darwin"')], snap, LINUX_311, ResolveOptions())
    assert closure.pins == () and closure.dropped[0].reason.startswith("marker 'sys_platform == \"darwin\"' is false")


def test_a_package_needed_by_another_parent_is_not_dropped() -> None:
    snap = snapshot(
        dist("a", "1", 'colorama; sys_platform == "win32"'),
        dist("b", "1", "colorama"),
        dist("colorama", "0.4.6"),
        platform="win32",
    )
    closure = resolve([direct("a"), direct("b")], snap, LINUX_311, ResolveOptions())
    assert closure.pin("colorama") is not None and closure.dropped == ()


def test_no_deps_turns_the_closure_off() -> None:
    snap = snapshot(dist("app", "1.0", "dep"), dist("dep", "2.0"))
    closure = resolve([direct("app")], snap, LINUX_311, ResolveOptions(no_deps=True))
    assert [p.name for p in closure.pins] == ["app"]
    assert "--no-deps" in decision(closure, "no-deps", "skip-dependencies").reason


def test_installed_version_is_pinned_and_reported() -> None:
    snap = snapshot(dist("numpy", "1.26.4"), dist("attrs", "23.1.0"), dist("idna", "3.6"))
    reqs = [
        direct("numpy", "requirements.txt:1", specifier=">=1.20", declared=True),
        direct("attrs", "requirements.txt:2", declared=True),
        direct("idna", "requirements.txt:3", specifier="<3", declared=True),
        direct("missing", "requirements.txt:4", specifier="==1.0", declared=True),
    ]
    closure = resolve(reqs, snap, LINUX_311, ResolveOptions())
    assert [(p.name, p.version) for p in closure.pins] == [("attrs", "23.1.0"), ("idna", "3.6"), ("numpy", "1.26.4")]
    assert (
        decision(closure, "numpy", "pinned-to-installed").reason
        == "requirements.txt:1 asks '>=1.20'; pinned to the installed numpy==1.26.4"
    )
    assert "asks no version" in decision(closure, "attrs", "pinned-to-installed").reason
    assert "the installed version is the source of truth" in decision(closure, "idna", "installed-violates-requirement").reason
    assert closure.unresolved_for_target == (
        Unresolved(
            name=dist_name("missing"),
            specifier="==1.0",
            required_by=(Via(source="requirements.txt:4", kind=ViaKind.REQUIREMENT),),
            reason="not installed in the analysed environment",
        ),
    )


def test_requires_python_mismatch_and_invalid_metadata_are_decisions() -> None:
    snap = snapshot(dist("new", "1.0", "not a requirement!!", requires_python=">=3.12"))
    closure = resolve([direct("new")], snap, LINUX_311, ResolveOptions())
    assert decision(closure, "new", "requires-python-mismatch").reason.endswith("the target runs 3.11")
    assert decision(closure, "new", "skip-invalid-requirement")


def test_resolve_is_deterministic_whatever_the_input_order() -> None:
    dists = [dist("a", "1", "c", "b"), dist("b", "1", "c"), dist("c", "1", "a")]
    reqs = [direct("a", "x.py:1"), direct("b", "y.py:2"), direct("c", "z.py:3")]
    results = {resolve(list(order), snapshot(*dists), LINUX_311, ResolveOptions()) for order in itertools.permutations(reqs)}
    assert len(results) == 1


# --- 3. manual mode ---------------------------------------------------------------------------------


def test_requirements_to_direct_names_unnamed_lines_by_their_install(tmp_path: Path) -> None:
    snap = snapshot(
        dist(
            "mylib", "0.1", direct_url=json.dumps({"url": (tmp_path / "libs" / "mylib").as_uri(), "dir_info": {"editable": True}})
        ),
        dist(
            "gitpkg",
            "2.0",
            direct_url=json.dumps({"url": "https://github.com/o/gitpkg.git", "vcs_info": {"vcs": "git", "commit_id": COMMIT}}),
        ),
        dist("attrs", "23.1.0"),
    )
    parsed = parse_requirements_text(
        "-e ./libs/mylib\ngit+https://github.com/o/gitpkg.git@main\nattrs>=20\nattrs[x]<30 ; python_version > '3'\nnotinstalled==1\n",
        file="requirements.txt",
    )
    reqs = requirements_to_direct(parsed, snap, base_dir=str(tmp_path))
    assert [(r.name, r.specifier, r.editable, r.via) for r in reqs] == [
        ("attrs", "<30,>=20", False, ("requirements.txt:3", "requirements.txt:4")),
        ("gitpkg", "", False, ("requirements.txt:2",)),
        ("mylib", "", True, ("requirements.txt:1",)),
        ("notinstalled", "==1", False, ("requirements.txt:5",)),
    ]
    assert reqs[0].extras == frozenset({"x"}) and reqs[0].markers is None  # one line has no marker
    with pytest.raises(RequirementsError, match=r"^requirements.txt:1: cannot tell which distribution '\./nowhere' is"):
        requirements_to_direct(parse_requirements_text("./nowhere\n"), snap, base_dir=str(tmp_path))


def test_file_options_merge_config_first() -> None:
    parsed = parse_requirements_text(
        "--index-url https://file.example/simple\n--extra-index-url https://x.example/simple\n--trusted-host x.example\n--pre\n"
    )
    config = ResolveOptions(
        index_url="https://config.example/simple", extra_index_urls=("https://c.example/simple",), no_deps=True
    )
    merged, decisions = merge_file_options(config, parsed)
    assert merged.index_url == "https://config.example/simple"
    assert merged.extra_index_urls == ("https://c.example/simple", "https://x.example/simple")
    assert merged.trusted_hosts == ("x.example",) and merged.pre and merged.no_deps
    assert decisions == (
        Decision(subject="index-url", action="option-overridden",
                 reason="requirements.txt:1 sets --index-url https://file.example/simple; env.python.pip.index-url https://config.example/simple wins"),
    )  # fmt: skip
    alone, none = merge_file_options(ResolveOptions(), parsed)
    assert alone.index_url == "https://file.example/simple" and none == ()
    no_index, _ = merge_file_options(ResolveOptions(), parse_requirements_text("--no-index\n"))
    assert no_index.no_index


MANUAL_SNAPSHOT = snapshot(python="3.11.7")
FILE_REQS = (direct("numpy", "requirements.txt:1", declared=True),)
DETECTED_REQS = (direct("torch", "train.py:1"),)


@pytest.mark.parametrize(
    ("version", "req_file", "local_paths"), list(itertools.product([None, "3.10"], [None, "requirements.txt"], [None, ("lib/",)]))
)
def test_complete_manual_matrix(version: str | None, req_file: str | None, local_paths: tuple[str, ...] | None) -> None:
    kwargs = {
        "version": version,
        "requirements_file": req_file,
        "local_paths": local_paths,
        "snapshot": MANUAL_SNAPSHOT,
        "file_requirements": FILE_REQS if req_file else None,
        "detected_requirements": DETECTED_REQS,
        "detected_local_paths": ("utils.py", "models/"),
    }
    if version is None and req_file is None and local_paths is None:
        with pytest.raises(
            ConfigError, match=r"^env.python: type: manual needs at least one of version, requirements-file, local-paths"
        ):
            complete_manual(**kwargs)  # type: ignore[arg-type]
        return
    result = complete_manual(**kwargs)  # type: ignore[arg-type]
    expected_derived = {
        name
        for name, given in (("version", version), ("requirements-file", req_file), ("local-paths", local_paths))
        if given is None
    }
    assert result.derived == expected_derived
    assert result.version == (version or "3.11.7")
    assert result.requirements == (FILE_REQS if req_file else DETECTED_REQS)
    assert result.requirements_file == req_file
    assert result.local_paths == (local_paths or ("models/", "utils.py"))
    assert [n.action for n in result.notes] == (["version-differs"] if version else [])


def test_complete_manual_rejects_a_bad_version() -> None:
    with pytest.raises(ConfigError, match=r"^env.python.version: expected a Python version like 3.10"):
        complete_manual(version="python3", requirements_file=None, local_paths=None, snapshot=MANUAL_SNAPSHOT)


# --- real installs: snapshot_environment + resolve ------------------------------------------------


def test_real_editable_and_local_dir_installs(fixture_env: FixtureEnv) -> None:
    from envcapture.environment.snapshot import snapshot_environment

    snap = snapshot_environment(str(fixture_env.python))
    closure = resolve(
        [direct(n) for n in ("edit-me", "edit-src", "yaml-like", "dist-alpha", "dep-rich")], snap, LINUX_311, ResolveOptions()
    )
    kinds = {p.name: (p.origin.kind, p.delivery) for p in closure.pins}
    assert kinds == {
        "dep-rich": (OriginKind.INDEX, Delivery.INDEX),
        "dist-alpha": (OriginKind.INDEX, Delivery.INDEX),
        "edit-me": (OriginKind.EDITABLE, Delivery.WHEELHOUSE),
        "edit-src": (OriginKind.EDITABLE, Delivery.WHEELHOUSE),
        "yaml-like": (OriginKind.LOCAL_DIR, Delivery.WHEELHOUSE),
    }
    assert closure.pin("edit-me").source == str(fixture_env.editable_dir)  # type: ignore[union-attr]
    assert closure.pin("yaml-like").origin.url == fixture_env.local_dir.as_uri()  # type: ignore[union-attr]
    assert closure.pin("dist-alpha").via == (Via(source="dep-rich"), Via(source="train.py:1", kind=ViaKind.IMPORT))  # type: ignore[union-attr]
    assert {d.subject for d in closure.decisions if d.action == "build-wheel"} == {"edit-me", "edit-src", "yaml-like"}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_real_vcs_install_from_a_local_git_repository(tmp_path: Path, builder_python: Path) -> None:
    from envcapture.environment.snapshot import snapshot_environment

    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE_DISTS / "dist-alpha", repo)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "fixture"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    python = make_venv(tmp_path / "venv")
    pip_install(python, f"dist-alpha @ git+{repo.as_uri()}@{commit}")
    snap = snapshot_environment(str(python))
    closure = resolve([direct("dist-alpha")], snap, LINUX_311, ResolveOptions())
    pin = closure.pins[0]
    assert pin.origin == Origin(kind=OriginKind.VCS, url=repo.as_uri(), vcs="git", commit_id=commit, requested_revision=commit)
    # a repository on this machine cannot be reached from the VM: built into a wheel
    assert pin.delivery is Delivery.WHEELHOUSE and pin.source == str(repo)
    assert commit in decision(closure, "dist-alpha", "build-wheel").reason


TORCH_WHEEL = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")


@pytest.mark.slow
@pytest.mark.skipif(not TORCH_WHEEL.exists(), reason=f"{TORCH_WHEEL} is not on this machine")
@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the local torch wheel is for CPython 3.11")
def test_real_torch_cpu_install_maps_to_the_cuda_target(tmp_path: Path) -> None:
    from envcapture.environment.snapshot import snapshot_environment

    python = make_venv(tmp_path / "venv", seed=False)
    # unpack the wheel without compiling bytecode: 190 MB, no dependencies needed to read metadata
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--no-deps",
         "--no-compile", "--find-links", str(TORCH_WHEEL.parent), "--quiet", "torch==2.13.0"])  # fmt: skip
    snap = snapshot_environment(str(python))
    assert snap.distribution("torch").version == "2.13.0+cpu"  # type: ignore[union-attr]
    plain = resolve([direct("torch")], snap, CUDA_LINUX_311, ResolveOptions())
    assert decision(plain, "torch", "map-local-version").reason.startswith("torch 2.13.0+cpu -> torch==2.13.0:")
    assert plain.pin("torch").version == "2.13.0" and plain.options.extra_index_urls == ()  # type: ignore[union-attr]
    cuda = resolve([direct("torch")], snap, CUDA_LINUX_311, ResolveOptions(torch_cuda="12.1"))
    assert cuda.pin("torch").version == "2.13.0+cu121"  # type: ignore[union-attr]
    assert cuda.options.extra_index_urls == ("https://download.pytorch.org/whl/cu121",)
    assert decision(cuda, "torch", "map-local-version").reason.startswith(
        "torch 2.13.0+cpu -> torch==2.13.0+cu121 from --extra-index-url https://download.pytorch.org/whl/cu121"
    )


# --- EDGE: complete_for_target with uv --------------------------------------------------------------

UV = shutil.which("uv") or (str(Path(sys.executable).parent / "uv") if (Path(sys.executable).parent / "uv").exists() else None)


def _mac_closure(index_url: str) -> Closure:
    """lock-app installed on a Mac: its Linux-only dependency is not there."""
    snap = snapshot(
        dist("lock-app", "1.0", 'lock-linuxdep>=1.0; sys_platform == "linux"', "lock-extras[fast]>=1.0", "lock-private>=1.0",
             'lock-macdep; sys_platform == "darwin"'),
        dist("lock-extras", "1.2", 'lock-speedup>=0.5; extra == "fast"', provides_extras=("fast",)),
        dist("lock-speedup", "0.5"), dist("lock-private", "1.0"), dist("lock-macdep", "1.0"),
        platform="darwin", machine="arm64",
    )  # fmt: skip
    return resolve([direct("lock-app")], snap, LINUX_311, ResolveOptions(index_url=index_url))


@pytest.mark.slow
@pytest.mark.skipif(UV is None, reason="uv is not installed")
def test_complete_for_target_resolves_what_the_local_env_lacks(index_dirs: tuple[Path, Path], index_server) -> None:  # noqa: F811
    private = index_server(index_dirs[0])
    closure = _mac_closure(private.url)
    assert [u.name for u in closure.unresolved_for_target] == ["lock-linuxdep"]
    assert [d.name for d in closure.dropped] == ["lock-macdep"]
    done = complete_for_target(closure, LINUX_311, uv=UV, environ={})
    assert done.unresolved_for_target == ()
    linuxdep = done.pin("lock-linuxdep")
    assert linuxdep is not None and linuxdep.version == "1.0" and linuxdep.via == (Via(source="lock-app"),)
    assert "resolved for linux x86_64, CPython 3.11" in decision(done, "lock-linuxdep", "resolved-for-target").reason
    assert not [d for d in done.decisions if d.action == "unresolved-for-target"]
    assert any(p.startswith("/simple/lock-linuxdep") for p in private.requests)


@pytest.mark.slow
@pytest.mark.skipif(UV is None, reason="uv is not installed")
def test_uv_searches_the_index_named_only_in_pip_conf(
    index_dirs: tuple[Path, Path],  # noqa: F811
    index_server,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uv reads no pip.conf: the closure's options carry pip's index to it, and uv's own
    source variables do not add to them."""
    private = index_server(index_dirs[0])
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {private.url}\n", "utf-8")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path))
    options, _ = with_pip_config(ResolveOptions(), read_pip_config(sys.executable))
    assert options.index_url == private.url
    closure = replace(_mac_closure(private.url), options=options)
    unreachable = {"UV_INDEX_URL": "http://127.0.0.1:9/simple", "UV_EXTRA_INDEX_URL": "http://127.0.0.1:9/simple"}
    done = complete_for_target(closure, LINUX_311, uv=UV, environ=unreachable, timeout=120)
    assert done.unresolved_for_target == ()
    linuxdep = done.pin("lock-linuxdep")
    assert linuxdep is not None and linuxdep.version == "1.0"
    assert any(p.startswith("/simple/lock-linuxdep") for p in private.requests)


@pytest.mark.skipif(UV is None, reason="uv is not installed")
def test_complete_for_target_skips_gracefully_when_the_index_is_unreachable(index_dirs: tuple[Path, Path], index_server) -> None:  # noqa: F811
    server = index_server(index_dirs[0], credentials=("user", "s3cret"))
    url = server.url.replace("http://", "http://user:wrong@")
    done = complete_for_target(_mac_closure(url), LINUX_311, uv=UV, environ={}, timeout=60)
    skipped = decision(done, "resolution", "resolve-skipped")
    assert "lock-linuxdep stay unresolved" in skipped.reason and "wrong" not in skipped.reason
    assert [u.name for u in done.unresolved_for_target] == ["lock-linuxdep"]


def test_complete_for_target_without_uv() -> None:
    closure = _mac_closure("http://127.0.0.1:9/simple")
    done = complete_for_target(closure, LINUX_311, uv="/nonexistent/uv")
    assert decision(done, "resolution", "resolve-skipped").reason.startswith("uv is not available: lock-linuxdep stay unresolved")
    assert complete_for_target(replace(closure, unresolved_for_target=()), LINUX_311) == replace(
        closure, unresolved_for_target=()
    )
