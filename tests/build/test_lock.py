"""envcapture.build.lock and envcapture.resolution.indexes: golden lock texts, determinism, credentials,
and the lock's pip options proven with real pip and uv against real PEP 503 indexes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import make_venv, pip_env
from index_server import IndexServer, index_dirs, index_server, loopback_alias  # noqa: F401 - fixtures

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from envcapture._fs import GENERATOR
from envcapture.build.lock import (
    RenderOptions,
    credential_env_vars,
    render_environment_json,
    render_pylock,
    render_requirements,
    write_lock,
)
from envcapture.environment.model import DistributionInfo, EnvSnapshot
from envcapture.errors import BuildError
from envcapture.model import Target, dist_name
from envcapture.resolution.closure import resolve
from envcapture.resolution.indexes import IndexClient, attach_artifacts, check_dependency_confusion, check_target_wheels
from envcapture.resolution.model import Artifact, Closure, Delivery, DirectRequirement, ResolveOptions

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden"
TARGET = Target(python_version="3.11", cuda="12.1")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SECRET = "s3cr3t-t0ken"


def _golden(name: str, text: str) -> None:
    """Compare ``text`` with its golden file, the generator's version written as ``X.Y.Z``
    (the version lives in envcapture/_version.py only: a release does not touch the goldens)."""
    text = text.replace(GENERATOR, "envcapture X.Y.Z")
    path = GOLDEN / name
    if os.environ.get("ENVCAPTURE_REGEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    assert path.exists(), f"{path} is missing: run with ENVCAPTURE_REGEN=1 to create it"
    assert text.encode("utf-8") == path.read_bytes(), f"{name} differs from its golden file (ENVCAPTURE_REGEN=1 regenerates)"


def _dist(name: str, version: str, *requires: str, **kwargs: object) -> DistributionInfo:
    return DistributionInfo(name=dist_name(name), display_name=name, version=version, requires=requires, **kwargs)  # type: ignore[arg-type]


def _snapshot(reverse: bool = False) -> EnvSnapshot:
    dists = [
        _dist("Train-App-Deps", "1.0", "numpy>=1.20", 'colorama; sys_platform == "win32"', "requests[socks]"),
        _dist("numpy", "1.26.4"),
        _dist("requests", "2.31.0", "idna<4,>=2.5", 'PySocks!=1.5.7,>=1.5.6; extra == "socks"', provides_extras=("socks",)),
        _dist("idna", "3.6"),
        _dist("PySocks", "1.7.1"),
        _dist("colorama", "0.4.6"),
        _dist("torch", "2.13.0+cpu", "filelock"),
        _dist("filelock", "3.13.1"),
        _dist("gitpkg", "0.3", direct_url=json.dumps({"url": "https://github.com/org/gitpkg.git", "vcs_info": {"vcs": "git", "commit_id": COMMIT, "requested_revision": "main"}})),
        _dist("mylib", "0.1.dev0", direct_url=json.dumps({"url": "file:///home/alice/src/mylib", "dir_info": {"editable": True}}), editable_roots=("/home/alice/src/mylib",)),
    ]  # fmt: skip
    if reverse:
        dists.reverse()
    return EnvSnapshot(executable="/home/alice/venv/bin/python", python_version="3.11.7", sys_platform="win32",
                       platform_machine="AMD64", distributions=tuple(dists))  # fmt: skip


def _direct(reverse: bool = False) -> list[DirectRequirement]:
    reqs = [
        DirectRequirement(name=dist_name("train-app-deps"), via=("train.py:3",)),
        DirectRequirement(name=dist_name("torch"), via=("train.py:1", "models/net.py:2")),
        DirectRequirement(name=dist_name("gitpkg"), via=("requirements.txt:4",), specifier=">=0.2", declared=True),
        DirectRequirement(name=dist_name("mylib"), via=("train.py:5",)),
        DirectRequirement(name=dist_name("pywin32"), via=("utils/win.py:7",)),
    ]
    return list(reversed(reqs)) if reverse else reqs


OPTIONS = ResolveOptions(
    index_url=f"https://ci:{SECRET}@pypi.corp.example/simple",
    extra_index_urls=("https://pypi.org/simple",),
    trusted_hosts=("pypi.corp.example",),
    torch_cuda="12.1",
)


def _closure(reverse: bool = False) -> Closure:
    return resolve(_direct(reverse), _snapshot(reverse), TARGET, OPTIONS)


def _with_artifacts(closure: Closure) -> Closure:
    """Every pin with a wheel and a hash, as the index (or the wheelhouse) would give them."""
    pins = []
    for i, pin in enumerate(closure.pins):
        if pin.delivery is Delivery.DIRECT:
            pins.append(pin)
            continue
        digest = f"{i:02x}" * 32
        url = None if pin.delivery is Delivery.WHEELHOUSE else f"https://files.example/{pin.name}-{pin.version}-py3-none-any.whl"
        artifact = Artifact(
            filename=f"{pin.name.replace('-', '_')}-{pin.version}-py3-none-any.whl", url=url, hashes=(f"sha256:{digest}",)
        )
        pins.append(replace(pin, artifacts=(artifact,)))
    return replace(closure, pins=tuple(pins), options=replace(closure.options, extra_index_urls=closure.options.extra_index_urls))


RENDER = RenderOptions(command="envcapture lock --config config.yaml", target=TARGET)


# --- golden files ---------------------------------------------------------------------------------


def test_requirements_lock_golden() -> None:
    _golden("requirements.lock.txt", render_requirements(_closure(), RENDER))


def test_requirements_lock_with_hashes_golden() -> None:
    closure = _with_artifacts(_closure())
    closure = replace(
        closure, pins=tuple(p for p in closure.pins if p.delivery is not Delivery.DIRECT)
    )  # pip refuses VCS in hash mode
    text = render_requirements(closure, RENDER)
    assert "--hash=sha256:" in text
    _golden("requirements-hashed.lock.txt", text)


def test_pylock_golden_and_valid() -> None:
    from packaging.pylock import Pylock

    text = render_pylock(_with_artifacts(_closure()), TARGET)
    lock = Pylock.from_dict(tomllib.loads(text))
    assert str(lock.lock_version) == "1.0" and lock.created_by == "envcapture"
    assert [str(m) for m in lock.environments or ()] == [
        'sys_platform == "linux" and platform_machine == "x86_64" and implementation_name == "cpython" and python_version == "3.11"'
    ]
    by_name = {p.name: p for p in lock.packages}
    assert by_name["gitpkg"].vcs is not None and by_name["gitpkg"].vcs.commit_id == COMMIT
    assert str(by_name["torch"].version) == "2.13.0+cu121" and by_name["torch"].index == "https://download.pytorch.org/whl/cu121"
    assert by_name["mylib"].wheels[0].path == "wheelhouse/mylib-0.1.dev0-py3-none-any.whl"  # type: ignore[index]
    _golden("pylock.toml", text)


def test_environment_json_golden() -> None:
    text = render_environment_json(_closure(), TARGET, snapshot=_snapshot())
    doc = json.loads(text)
    assert list(doc)[:3] == ["schema", "schema_version", "generator"]
    assert (doc["schema"], doc["schema_version"]) == ("envcapture/environment", "1.3")
    assert {d["name"]: d["origin"]["kind"] for d in doc["distributions"]}["mylib"] == "editable"
    assert [d["name"] for d in doc["dropped"]] == ["colorama", "pywin32"]
    _golden("environment.json", text)


# --- determinism, privacy -------------------------------------------------------------------------


def test_two_runs_are_byte_identical(tmp_path: Path) -> None:
    first = write_lock(tmp_path / "one", _with_artifacts(_closure()), TARGET, snapshot=_snapshot())
    second = write_lock(tmp_path / "two", _with_artifacts(_closure(reverse=True)), TARGET, snapshot=_snapshot(reverse=True))
    assert [p.name for p in first.paths] == ["requirements.lock.txt", "pylock.toml", "environment.json"]
    for a, b in zip(first.paths, second.paths, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert not list((tmp_path / "one").glob(".*.tmp"))  # atomic writes leave no temp file


def test_no_credentials_paths_or_usernames_in_any_output() -> None:
    closure = _with_artifacts(_closure())
    texts = {
        "requirements": render_requirements(closure, RENDER),
        "pylock": render_pylock(closure, TARGET),
        "environment": render_environment_json(closure, TARGET, snapshot=_snapshot()),
    }
    for name, text in texts.items():
        assert SECRET not in text and "alice" not in text and "/home/" not in text, name
        assert text.endswith("\n") and "\r" not in text
    assert "--index-url https://${ENVCAPTURE_INDEX_TOKEN}@pypi.corp.example/simple" in texts["requirements"]
    assert (
        "# Set ENVCAPTURE_INDEX_TOKEN to the credentials for pypi.corp.example (user:token); pip expands it."
        in texts["requirements"]
    )
    assert '"index_url": "https://***@pypi.corp.example/simple"' in texts["environment"]
    assert all(SECRET not in d.reason for d in closure.decisions)


def test_several_credentialed_hosts_get_one_variable_each() -> None:
    closure = replace(_closure(), options=replace(OPTIONS, extra_index_urls=("https://u:p@other.example:8443/simple",)))
    assert credential_env_vars(closure) == {
        "other.example:8443": "ENVCAPTURE_INDEX_TOKEN_OTHER_EXAMPLE_8443",
        "pypi.corp.example": "ENVCAPTURE_INDEX_TOKEN_PYPI_CORP_EXAMPLE",
    }


def test_pylock_needs_artifacts_and_write_lock_says_why_it_skipped(tmp_path: Path) -> None:
    with pytest.raises(
        BuildError,
        match=r"^pylock.toml for CPython 3.11 on linux x86_64 \(manylinux_2_28, CUDA 12.1\): no artifact hashes known for",
    ):
        render_pylock(_closure(), TARGET)
    written = write_lock(tmp_path, _closure(), TARGET)
    assert [p.name for p in written.paths] == ["requirements.lock.txt", "environment.json"]
    assert written.skipped[0][0] == "pylock.toml"


def test_mixed_hashes_are_left_out_since_pip_would_refuse_them() -> None:
    closure = _with_artifacts(_closure())  # gitpkg is a VCS line: pip's hash mode refuses it
    text = render_requirements(closure, RENDER)
    assert "--hash=" not in text
    assert "# No --hash lines: pip's hash-checking mode refuses VCS requirements (gitpkg)." in text


def test_no_deps_header() -> None:
    text = render_requirements(replace(_closure(), options=replace(OPTIONS, no_deps=True)), RENDER)
    assert "# Install with pip's --no-deps (env.python.pip.no-deps: true);" in text


# --- real pip and uv against real indexes ---------------------------------------------------------

UV = shutil.which("uv") or (str(Path(sys.executable).parent / "uv") if (Path(sys.executable).parent / "uv").exists() else None)
ALIAS = loopback_alias()


def _pip(
    python: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True, cwd=cwd,
                          env={**pip_env(), **(env or {})}, timeout=300, check=False)  # fmt: skip


def _dry_run(python: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> dict[str, str]:
    """What pip would install: ``pip install --dry-run --report -`` -> {name: version}."""
    done = _pip(python, "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-", *args, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    return {i["metadata"]["name"]: i["metadata"]["version"] for i in json.loads(done.stdout)["install"]}


@pytest.fixture(scope="module")
def source_env(tmp_path_factory: pytest.TempPathFactory, index_dirs: tuple[Path, Path]) -> EnvSnapshot:  # noqa: F811
    """A real venv with lock-app (and its closure) and lock-localver 1.0+acme installed from the private index."""
    from envcapture.environment.snapshot import snapshot_environment

    server = IndexServer(index_dirs[0]).start()
    try:
        python = make_venv(tmp_path_factory.mktemp("source") / "venv")
        done = _pip(python, "install", "--quiet", "--index-url", server.url, "lock-app", "lock-localver==1.0+acme")
        assert done.returncode == 0, done.stderr
    finally:
        server.stop()
    return snapshot_environment(str(python))


@pytest.fixture
def indexes(index_dirs: tuple[Path, Path], index_server) -> tuple[IndexServer, IndexServer]:  # noqa: F811
    """(private on 127.0.0.1, public on a loopback alias that pip deems insecure)."""
    if ALIAS is None:
        pytest.skip("no host name other than localhost resolves to 127.0.0.0/8 here")
    return index_server(index_dirs[0]), index_server(index_dirs[1], host_name=ALIAS)


LOCAL_TARGET = Target(python_version=f"{sys.version_info[0]}.{sys.version_info[1]}")


@pytest.mark.slow
def test_lock_options_drive_real_pip(
    source_env: EnvSnapshot, indexes: tuple[IndexServer, IndexServer], builder_python: Path, tmp_path: Path
) -> None:
    private, public = indexes
    options = ResolveOptions(index_url=private.url, extra_index_urls=(public.url,), trusted_hosts=(ALIAS,))  # type: ignore[arg-type]
    closure = resolve(
        [DirectRequirement(name=dist_name("lock-app"), via=("train.py:1",)), DirectRequirement(name=dist_name("lock-localver"), via=("train.py:2",))],
        source_env, LOCAL_TARGET, options,
    )  # fmt: skip
    assert {p.name: p.version for p in closure.pins} == {
        "lock-app": "1.0", "lock-extras": "1.2", "lock-linuxdep": "1.0", "lock-localver": "1.0+acme",
        "lock-private": "1.0", "lock-speedup": "0.5",
    }  # fmt: skip
    assert closure.pin("lock-extras").extras == frozenset({"fast"})  # type: ignore[union-attr]
    client = IndexClient(closure.options)
    closure = attach_artifacts(closure, LOCAL_TARGET, client)
    assert all(p.hashes for p in closure.pins)
    out = tmp_path / "lock"
    written = write_lock(out, closure, LOCAL_TARGET, options=RenderOptions(target=LOCAL_TARGET, wheelhouse="wheelhouse"))
    assert written.skipped == ()
    (out / "wheelhouse").mkdir()
    lock_text = (out / "requirements.lock.txt").read_text()
    assert f"--index-url {private.url}\n--extra-index-url {public.url}\n--trusted-host {ALIAS}\n" in lock_text
    assert "lock-localver==1.0+acme \\\n    --hash=sha256:" in lock_text

    # 1. pip installs exactly the lock, hashes checked, from the lock's own options: the private
    #    lock-private 1.0 although the public index has 9.0, and 1.0+acme of lock-localver
    picked = _dry_run(builder_python, "-r", "requirements.lock.txt", cwd=out)
    assert picked == {p.name: p.version for p in closure.pins}
    assert any(r.startswith("/simple/lock-app/") for r in private.requests)

    # 2. the dependency-confusion risk is real: without the lock pip takes 9.0 from the public index
    loose = _dry_run(
        builder_python, "--index-url", private.url, "--extra-index-url", public.url, "--trusted-host", ALIAS, "lock-app"
    )
    assert loose["lock-private"] == "9.0"
    warnings = check_dependency_confusion(closure, client)
    # both names the public index also serves: lock-private (9.0) and lock-localver (1.0)
    assert [(w.code, w.message.split(" is served")[0]) for w in warnings] == [
        ("dependency-confusion", "lock-localver"), ("dependency-confusion", "lock-private"),
    ]  # fmt: skip
    assert all(w.severity.value == "error" for w in warnings) and "with hashes" in warnings[1].message
    fetched = client.fetches
    check_dependency_confusion(closure, client)
    assert client.fetches == fetched  # pages are cached

    # 3. --trusted-host is what lets pip use the plain-HTTP index: without it pip ignores it
    only_public = replace(closure, pins=(replace(closure.pin("lock-private"), version="9.0", artifacts=()),))  # type: ignore[arg-type]
    for trusted, ok in (((ALIAS,), True), ((), False)):
        text = render_requirements(replace(only_public, options=replace(closure.options, trusted_hosts=trusted)))  # type: ignore[arg-type]
        (out / "only-public.txt").write_text(text)
        done = _pip(builder_python, "install", "--dry-run", "--ignore-installed", "-r", "only-public.txt", cwd=out)
        assert (done.returncode == 0) is ok, done.stderr
        if not ok:
            assert "is not a trusted or secure host and is being ignored" in done.stderr
    assert [w.code for w in check_target_wheels(only_public, LOCAL_TARGET, IndexClient(replace(closure.options, trusted_hosts=())))] == [
        "insecure-index", "version-not-on-index",  # 9.0 exists only on the ignored index
    ]  # fmt: skip

    # 4. no-deps: only the direct requirements are locked, and pip installs just them with --no-deps
    no_deps = resolve(
        [DirectRequirement(name=dist_name("lock-app"), via=("train.py:1",))],
        source_env,
        LOCAL_TARGET,
        replace(options, no_deps=True),
    )
    (out / "no-deps.txt").write_text(render_requirements(no_deps))
    assert [p.name for p in no_deps.pins] == ["lock-app"]
    assert _dry_run(builder_python, "--no-deps", "-r", "no-deps.txt", cwd=out) == {"lock-app": "1.0"}
    assert set(_dry_run(builder_python, "-r", "no-deps.txt", cwd=out)) > {"lock-app", "lock-private"}  # pip's own default


@pytest.mark.slow
def test_credentials_become_a_variable_that_pip_expands(
    index_dirs: tuple[Path, Path],  # noqa: F811 - pytest fixtures imported above
    index_server,  # noqa: F811
    builder_python: Path,
    tmp_path: Path,
) -> None:
    server = index_server(index_dirs[0], credentials=("ci", SECRET))
    url = server.url.replace("http://", f"http://ci:{SECRET}@")
    snap = EnvSnapshot(executable="/venv/bin/python", python_version="3.11.7", distributions=(_dist("lock-speedup", "0.5"),))
    closure = resolve(
        [DirectRequirement(name=dist_name("lock-speedup"), via=("train.py:1",))],
        snap,
        LOCAL_TARGET,
        ResolveOptions(index_url=url),
    )
    text = render_requirements(closure)
    assert SECRET not in text and "${ENVCAPTURE_INDEX_TOKEN}@127.0.0.1" in text
    (tmp_path / "lock.txt").write_text(text)
    assert _dry_run(builder_python, "-r", "lock.txt", cwd=tmp_path, env={"ENVCAPTURE_INDEX_TOKEN": f"ci:{SECRET}"}) == {
        "lock-speedup": "0.5"
    }
    client = IndexClient(closure.options)
    assert attach_artifacts(closure, LOCAL_TARGET, client).pins[0].hashes  # the checker authenticates too
    assert check_target_wheels(closure, LOCAL_TARGET, IndexClient(ResolveOptions(index_url=server.url)))[0].message.startswith(
        "HTTP 401 from"
    )


def test_target_wheel_check(index_dirs: tuple[Path, Path], index_server) -> None:  # noqa: F811
    private = index_server(index_dirs[0])
    snap = EnvSnapshot(executable="/venv/bin/python", python_version="3.11.7",
                       distributions=(_dist("lock-linuxdep", "1.0"), _dist("lock-speedup", "0.4"), _dist("lock-extras", "1.2")))  # fmt: skip
    reqs = [DirectRequirement(name=dist_name(n), via=("a.py:1",)) for n in ("lock-linuxdep", "lock-speedup", "lock-extras")]
    closure = resolve(reqs, snap, LOCAL_TARGET, ResolveOptions(index_url=private.url))
    client = IndexClient(closure.options)
    assert [(w.code, w.message) for w in check_target_wheels(closure, LOCAL_TARGET, client)] == [
        ("version-not-on-index", "lock-speedup==0.4 is not on the configured indexes"),
    ]
    old_glibc = Target(python_version="3.11", manylinux="2_12")  # the wheel needs glibc 2.17
    warnings = check_target_wheels(closure, old_glibc, client)
    assert [w.code for w in warnings] == ["no-target-wheel", "version-not-on-index"]
    assert warnings[0].message.startswith("lock-linuxdep==1.0 has no file for CPython 3.11 on linux x86_64 (manylinux_2_12)")
    unreachable = IndexClient(ResolveOptions(index_url="http://127.0.0.1:9/simple"), timeout=2)
    assert [w.code for w in check_target_wheels(closure, LOCAL_TARGET, unreachable)] == ["index-unreachable"]


@pytest.mark.slow
@pytest.mark.skipif(UV is None, reason="uv is not installed")
def test_pylock_is_installed_by_uv(source_env: EnvSnapshot, index_dirs: tuple[Path, Path], index_server, tmp_path: Path) -> None:  # noqa: F811
    private = index_server(index_dirs[0])
    closure = resolve([DirectRequirement(name=dist_name("lock-app"), via=("train.py:1",))], source_env, LOCAL_TARGET,
                      ResolveOptions(index_url=private.url))  # fmt: skip
    closure = attach_artifacts(closure, LOCAL_TARGET, IndexClient(closure.options))
    write_lock(tmp_path, closure, LOCAL_TARGET, snapshot=source_env)
    # the whole real pipeline again: byte-identical files
    again = resolve([DirectRequirement(name=dist_name("lock-app"), via=("train.py:1",))], source_env, LOCAL_TARGET,
                    ResolveOptions(index_url=private.url))  # fmt: skip
    again = attach_artifacts(again, LOCAL_TARGET, IndexClient(again.options))
    write_lock(tmp_path / "again", again, LOCAL_TARGET, snapshot=source_env)
    for name in ("requirements.lock.txt", "pylock.toml", "environment.json"):
        assert (tmp_path / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    python = make_venv(tmp_path / "venv", seed=False)
    env = {**pip_env(), "UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    # --no-index: every file comes from the URLs in pylock.toml, nothing from a default index
    done = subprocess.run([UV, "pip", "install", "--no-index", "--python", str(python), "-r", str(tmp_path / "pylock.toml")],  # type: ignore[list-item]
                          capture_output=True, text=True, env=env, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = subprocess.run([UV, "pip", "list", "--python", str(python), "--format", "json"],  # type: ignore[list-item]
                            capture_output=True, text=True, env=env, check=True).stdout  # fmt: skip
    assert {i["name"]: i["version"] for i in json.loads(listed)} == {p.name: p.version for p in closure.pins}
    assert any(r.startswith("/files/lock_app-1.0") for r in private.requests)


def test_pylock_of_a_job_without_distributions_is_valid() -> None:
    from packaging.pylock import Pylock

    from envcapture.build.lock import render_pylock
    from envcapture.model import Target
    from envcapture.resolution.model import Closure

    text = render_pylock(Closure(), Target(python_version="3.11"))
    import tomllib

    doc = tomllib.loads(text)
    assert doc["packages"] == []
    Pylock.from_dict(doc)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"files": null}', "application/vnd.pypi.simple.v1+json"),
        (b'{"files": 5}', "Application/VND.pypi.simple.v1+json; charset=utf-8"),
        (b"[" * 100_000, "application/vnd.pypi.simple.v1+json"),
        (b"not json", "application/vnd.pypi.simple.v1+json"),
    ],
)
def test_a_json_project_page_that_is_not_one_is_an_index_error_not_a_crash(body: bytes, content_type: str) -> None:
    """PEP 691: a page sent as JSON must be a JSON project page; anything else is said as the
    index's error (and the pin gets no hashes from it), never a traceback."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/simple"
        client = IndexClient(ResolveOptions(index_url=url))
        assert client.project_files(url, "anything") is None
        assert client.errors == {url: f"{url} sent a project page that is not valid JSON"}
    finally:
        httpd.shutdown()
        httpd.server_close()
