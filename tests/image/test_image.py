"""``envcapture image``: the OCI image of the ``buildjob`` bundle (envcapture/builders/image.py,
layers.py, staging.py, engine.py, registry.py).

Real tools prove the output: Debian's ``umoci`` and ``skopeo`` read the layout, the job runs
from ``umoci unpack`` in a chroot without network, a Docker engine loads and runs it with
``--network none``, and Debian's ``docker-registry`` takes a push that ``skopeo`` pulls back
by digest. Each skips with its reason when the tool cannot run here.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from build_support import BuildJob, Built, pyenv_python
from click.testing import CliRunner
from image_support import (
    Registry,
    Unavailable,
    dockerd,
    make_python_rootfs,
    registry_server,
)

from envcapture.build.bundle import build_bundle
from envcapture.build.store import Store
from envcapture.cli import cli
from envcapture.config.loader import parse_config
from envcapture.errors import BuildError, InputError
from envcapture.image.layers import source_date_epoch
from envcapture.image.oci import (
    HEAVY_LAYER_BYTES,
    ImageOptions,
    ImageResult,
    build_image,
    config_env,
    default_base,
    default_repo_tag,
    parse_base,
)
from envcapture.image.registry import docker_credentials, parse_reference
from envcapture.image.staging import CheckedWheel, install_wheel, venv_entries

EXPECTED_OUTPUT = "buildjob ok hello-vm 42 vcs-1.2.0 editable-0.3.0 cores=True"
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "schema" / "image.schema.json"
PREFIX = "opt/envcapture/venv"
# The init runs the job's cmd (envcapture/image/command.py); the virtualenv's Python runs the init.
VENV_CMD = ["/opt/envcapture/venv/bin/python", "-I", "-S", "/opt/envcapture/init.py", "/bin/sh", "-c", "exec python main.py"]
JOBINIT = Path(__file__).resolve().parents[2] / "envcapture" / "image" / "jobinit.py"


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def python_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base root file system (tar) with CPython 3.11 at /usr/local, like python:3.11-slim."""
    python = pyenv_python("3.11")
    if python is None:
        pytest.skip("no pyenv CPython 3.11 to make a base root file system from")
    try:
        return make_python_rootfs(python, tmp_path_factory.mktemp("rootfs") / "python311-rootfs.tar")
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def engine() -> Iterator[tuple[Any, str | None]]:
    try:
        with dockerd() as found:
            yield found
    except Unavailable as exc:
        pytest.skip(f"no Docker engine: {exc}")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    try:
        with registry_server(tmp_path_factory.mktemp("registry")) as found:
            yield found
    except Unavailable as exc:
        pytest.skip(str(exc))


def _tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install {' '.join(missing)})")


def _image(bundle: Path, out: Path, **options: Any) -> ImageResult:
    options.setdefault("repo_tag", "envcapture/buildjob:latest")
    return build_image(bundle, out, options=ImageOptions(**options))


def _validate(doc: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


def _blobs(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((path / "blobs" / "sha256").iterdir())}


def _layer_members(path: Path, digest: str) -> list[tarfile.TarInfo]:
    with tarfile.open(path / "blobs" / "sha256" / digest.split(":")[1], "r:gz") as tar:
        return tar.getmembers()


def _layer_file(path: Path, digest: str, name: str) -> bytes:
    with tarfile.open(path / "blobs" / "sha256" / digest.split(":")[1], "r:gz") as tar:
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read()


# --- pure parts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("python:3.11-slim", ("python:3.11-slim", None)),
        ("nvcr.io/nvidia/pytorch:24.01-py3@sha256:" + "a" * 64, ("nvcr.io/nvidia/pytorch:24.01-py3", "sha256:" + "a" * 64)),
    ],
)
def test_parse_base(text: str, expected: tuple[str, str | None]) -> None:
    assert parse_base(text) == expected


def test_parse_base_rejects_a_bad_digest() -> None:
    with pytest.raises(InputError, match=r"--base 'python@sha256:xyz': the digest must be sha256"):
        parse_base("python@sha256:xyz")


def test_defaults_follow_the_config() -> None:
    assert default_base("3.11") == "python:3.11-slim"
    assert default_base("3.10.13") == "python:3.10-slim"
    assert default_base("3.11", "registry.example/team/cuda:12") == "registry.example/team/cuda:12"
    assert default_repo_tag("My Job_1") == "envcapture/my-job_1:latest"
    assert default_repo_tag(None) == "envcapture/job:latest"


def test_config_env_copies_named_variables_from_the_local_environment() -> None:
    config = parse_config(
        "cmd: python main.py\nenv:\n  vars:\n    - DEVICE_COUNT: 8\n    - FROM_HERE\n    - NOT_SET_HERE\n", source="config.yaml"
    )
    pairs, missing = config_env(config, {"FROM_HERE": "x y"})
    assert pairs == (("DEVICE_COUNT", "8"), ("FROM_HERE", "x y"))
    assert missing == ("NOT_SET_HERE",)


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag"),
    [
        ("127.0.0.1:5000/team/job:v1", "127.0.0.1:5000", "team/job", "v1"),
        ("localhost/job", "localhost", "job", "latest"),
        ("ghcr.io/org/job:1.0", "ghcr.io", "org/job", "1.0"),
    ],
)
def test_parse_reference(text: str, registry: str, repository: str, tag: str) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag) == (registry, repository, tag)


@pytest.mark.parametrize("text", ["team/job:v1", "127.0.0.1:5000/Team/job", "127.0.0.1:5000/job@sha256:" + "a" * 64])
def test_parse_reference_refusals(text: str) -> None:
    with pytest.raises(InputError, match=r"^--push "):
        parse_reference(text)


def test_docker_credentials(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    "127.0.0.1:5000": {"auth": base64.b64encode(b"me:s3cret:with-colon").decode()},
                    "https://ghcr.io": {"username": "bot", "password": "tok"},
                }
            }
        )
    )
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert docker_credentials("127.0.0.1:5000", env) == ("me", "s3cret:with-colon")
    assert docker_credentials("ghcr.io", env) == ("bot", "tok")
    assert docker_credentials("other.example", env) is None
    assert docker_credentials("x.example", {"DOCKER_CONFIG": str(tmp_path / "none")}) is None


def test_source_date_epoch() -> None:
    assert source_date_epoch({}) == 0
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "1700000000"}) == 1700000000
    with pytest.raises(InputError, match="SOURCE_DATE_EPOCH 'yesterday'"):
        source_date_epoch({"SOURCE_DATE_EPOCH": "yesterday"})


def test_venv_skeleton_links_to_the_base_python() -> None:
    entries = {
        e.path: e for e in venv_entries(prefix="/opt/envcapture/venv", base_python="/usr/bin/python3", python_version="3.10")
    }
    assert entries[f"{PREFIX}/bin/python"].linkname == "/usr/bin/python3"
    assert entries[f"{PREFIX}/bin/python3.10"].linkname == "python"
    assert entries[f"{PREFIX}/pyvenv.cfg"].data == (
        b"home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.10\nexecutable = /usr/bin/python3\n"
    )
    assert entries[f"{PREFIX}/lib/python3.10/site-packages"].kind == "dir"
    with pytest.raises(InputError, match="--base-python 'python3': expected an absolute path"):
        venv_entries(prefix="/opt/envcapture/venv", base_python="python3", python_version="3.10")


def _demo_wheel(path: Path) -> Path:
    files = {
        "demo/__init__.py": b"def main():\n    print('demo')\n",
        "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
        "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "demo-1.0.dist-info/entry_points.txt": b"[console_scripts]\ndemo = demo:main\n",
        "demo-1.0.data/scripts/demo-sh": b"#!python\nprint('script')\n",
    }
    import hashlib

    record = (
        "".join(
            f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
            for name, data in files.items()
        )
        + "demo-1.0.dist-info/RECORD,,\n"
    )
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("demo-1.0.dist-info/RECORD", record)
    return path


def test_install_wheel_writes_target_shebangs_and_no_bytecode(tmp_path: Path) -> None:
    wheel = _demo_wheel(tmp_path / "demo-1.0-py3-none-any.whl")
    root = tmp_path / "stage"
    staged = install_wheel(
        CheckedWheel(name="demo", version="1.0", path=wheel, sha256=""),
        root,
        prefix="/opt/envcapture/venv",
        python_version="3.11",
    )
    venv = root / PREFIX
    assert (venv / "bin/demo").read_text().startswith("#!/opt/envcapture/venv/bin/python\n")
    assert (venv / "bin/demo-sh").read_text().startswith("#!/opt/envcapture/venv/bin/python\n")
    assert (venv / "lib/python3.11/site-packages/demo/__init__.py").is_file()
    assert (venv / "lib/python3.11/site-packages/demo-1.0.dist-info/INSTALLER").read_text() == "envcapture\n"
    assert not list(root.rglob("*.pyc"))
    assert staged.files == 8 and staged.installed_size > 0


# --- images of the buildjob bundle ---------------------------------------------------------------


def test_layout_layers_and_config(cold_build: Built, tmp_path: Path) -> None:
    out = tmp_path / "image"
    result = _image(cold_build.bundle, out, env=(("DEVICE_COUNT", "8"),), stop_signal="SIGINT")
    assert [layer.name for layer in result.layers] == ["venv", "distributions", "local-code"]
    assert result.rebase_required and result.base.name == "python:3.11-slim"
    assert "rebased" in result.notes[0]
    assert sorted(p.name for p in out.iterdir()) == [
        ".dockerignore",
        "Dockerfile",
        "blobs",
        "image.json",
        "image.tar",
        "index.json",
        "oci-layout",
    ]
    index = json.loads((out / "index.json").read_text())
    (entry,) = index["manifests"]
    assert entry["digest"] == result.digest
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    manifest = json.loads((out / "blobs/sha256" / result.digest.split(":")[1]).read_bytes())
    config = json.loads((out / "blobs/sha256" / manifest["config"]["digest"].split(":")[1]).read_bytes())
    assert config["config"]["Env"] == [
        "PATH=/opt/envcapture/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "VIRTUAL_ENV=/opt/envcapture/venv",
        "DEVICE_COUNT=8",
    ]
    assert config["config"]["Cmd"] == VENV_CMD
    assert config["config"]["WorkingDir"] == "/job"
    assert config["config"]["StopSignal"] == "SIGINT"
    assert config["config"]["Labels"]["org.opencontainers.image.base.name"] == "python:3.11-slim"
    assert config["config"]["Labels"]["io.envcapture.rebase-required"] == "true"
    assert config["created"] == "1970-01-01T00:00:00Z"
    assert config["rootfs"]["diff_ids"] == [layer.diff_id for layer in result.layers]
    assert len(config["history"]) == 3
    doc = json.loads((out / "image.json").read_text())
    assert list(doc)[:3] == ["schema", "schema_version", "generator"]
    assert doc["schema"] == "envcapture/image" and doc["digest"] == result.digest
    _validate(doc)

    # The docker-save archive: manifest.json naming the same blobs, plus the OCI layout.
    with tarfile.open(out / "image.tar") as tar:
        names = tar.getnames()
        docker_manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert {"oci-layout", "index.json", "manifest.json"} <= set(names)
    assert docker_manifest == [
        {
            "Config": f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}",
            "RepoTags": ["envcapture/buildjob:latest"],
            "Layers": [f"blobs/sha256/{layer.hex}" for layer in result.layers],
        }
    ]

    # The virtualenv and the code, as laid out in the image.
    venv = {m.name: m for m in _layer_members(out, result.layers[0].digest)}
    assert venv[f"{PREFIX}/bin/python"].linkname == "/usr/local/bin/python3"
    assert venv["opt/envcapture/init.py"].mode == 0o755
    assert _layer_file(out, result.layers[0].digest, "opt/envcapture/init.py") == JOBINIT.read_bytes()
    cfg = _layer_file(out, result.layers[0].digest, f"{PREFIX}/pyvenv.cfg").decode()
    assert "home = /usr/local/bin\n" in cfg and "version = 3.11\n" in cfg
    dists = [m.name for m in _layer_members(out, result.layers[1].digest)]
    assert f"{PREFIX}/lib/python3.11/site-packages/psutil/__init__.py" in dists
    assert f"{PREFIX}/lib/python3.11/site-packages/vcsdep.py" in dists or any("vcsdep" in n for n in dists)
    assert not [n for n in dists if n.endswith(".pyc")]
    code = [m.name for m in _layer_members(out, result.layers[2].digest)]
    assert code == ["job", "job/localpkg", "job/localpkg/__init__.py", "job/localpkg/helpers.py", "job/main.py"]

    dockerfile = (out / "Dockerfile").read_text()
    assert dockerfile.splitlines()[2] == "FROM python:3.11-slim"
    assert dockerfile.count("ADD blobs/sha256/") == 3
    assert 'ENV DEVICE_COUNT="8"' in dockerfile and "STOPSIGNAL SIGINT" in dockerfile
    assert dockerfile.endswith("WORKDIR /job\nENTRYPOINT []\nCMD " + json.dumps(VENV_CMD) + "\n")


def test_job_section_gives_variables_inputs_and_stop_signal(cold_build: Built, buildjob: BuildJob, tmp_path: Path) -> None:
    """What ``envcapture run`` exports, the image exports: input and output variables at
    the working directory, env.vars (copied ones included), the graceful-shutdown signal."""
    project = buildjob.copy_project(tmp_path / "project")
    (project / "params.json").write_text('{"lr": 0.1}\n')
    config = project / "config.yaml"
    text = config.read_text().replace(
        "env:\n",
        "inputs:\n  - params.json:\n      var: PARAMS\noutputs:\n  - out/model.bin: MODEL\n"
        "graceful-shutdown:\n  signal: SIGINT\n  timeout: 5s\n"
        "env:\n  vars:\n    - DEVICE_COUNT: 8\n    - ECTEST_FROM_HERE\n    - ECTEST_NOT_SET\n",
    )
    config.write_text(text)
    environ = {k: v for k, v in os.environ.items() if k != "ECTEST_NOT_SET"} | {"ECTEST_FROM_HERE": "from here"}
    built = build_bundle(
        config=config,
        python=str(buildjob.python),
        output=tmp_path / "bundle",
        store=Store(cold_build.store_root),
        environ=environ,
    )
    result = _image(built.path, tmp_path / "image", workdir="/work")
    assert [layer.name for layer in result.layers] == ["venv", "distributions", "inputs", "local-code"]
    assert result.env == (
        "PATH=/opt/envcapture/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "VIRTUAL_ENV=/opt/envcapture/venv",
        "PARAMS=/work/inputs/PARAMS/params.json",
        "MODEL=/work/out/model.bin",
        "DEVICE_COUNT=8",
        "ECTEST_FROM_HERE=from here",
    )
    assert any("ECTEST_NOT_SET has no value" in note for note in result.notes)
    inputs = [m.name for m in _layer_members(tmp_path / "image", result.layers[2].digest)]
    assert inputs == ["work", "work/inputs", "work/inputs/PARAMS", "work/inputs/PARAMS/params.json"]
    code = {m.name: m for m in _layer_members(tmp_path / "image", result.layers[3].digest)}
    assert code["work/out"].isdir() and "work/main.py" in code
    config_doc = json.loads(
        (
            tmp_path
            / "image/blobs/sha256"
            / json.loads((tmp_path / "image/blobs/sha256" / result.digest.split(":")[1]).read_bytes())["config"]["digest"].split(
                ":"
            )[1]
        ).read_bytes()
    )
    assert config_doc["config"]["StopSignal"] == "SIGINT"
    assert config_doc["config"]["WorkingDir"] == "/work"


@pytest.mark.slow
def test_plain_job_gets_no_virtualenv(cold_build: Built, buildjob: BuildJob, python_rootfs: Path, tmp_path: Path) -> None:
    """A plain job (no env.python): only its inputs travel; no venv, no PATH change."""
    project = tmp_path / "plain"
    project.mkdir()
    (project / "data.txt").write_text("plain-input-ok\n")
    (project / "config.yaml").write_text(
        'name: plainjob\ncmd: read line < ${DATA}; echo "$line"\ninputs:\n  - data.txt:\n      var: DATA\n'
    )
    built = build_bundle(config=project / "config.yaml", python=str(buildjob.python), output=tmp_path / "bundle")
    result = _image(built.path, tmp_path / "image", base_rootfs=python_rootfs)
    assert [layer.name for layer in result.layers] == ["base:0", "inputs", "local-code"]
    assert result.env == ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DATA=/job/inputs/DATA/data.txt")
    assert "ENV PATH" not in (tmp_path / "image" / "Dockerfile").read_text()
    assert list(result.cmd[3:]) == [
        "envcapture-init",
        "/usr/local/bin/python3",
        "/bin/sh",
        "-c",
        'read line < ${DATA}; echo "$line"',
    ]
    assert "opt/envcapture/init.py" in [m.name for m in _layer_members(tmp_path / "image", result.layers[-1].digest)]
    prefix = _offline_chroot_prefix()
    _tools("umoci")
    unpacked = tmp_path / "unpacked"
    subprocess.run(["umoci", "unpack", "--image", f"{tmp_path / 'image'}:latest", str(unpacked)], capture_output=True, check=True)
    process = json.loads((unpacked / "config.json").read_text())["process"]
    env = dict(item.split("=", 1) for item in process["env"])
    run = subprocess.run(
        [*prefix, str(unpacked / "rootfs"), "/bin/sh", "-c", 'cd "$0" && exec "$@"', process["cwd"], *process["args"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (run.returncode, run.stdout) == (0, "plain-input-ok\n"), run.stderr


def _layout_config(out: Path) -> dict[str, Any]:
    """The image config as the OCI layout holds it: index.json -> manifest -> config blob."""
    (entry,) = json.loads((out / "index.json").read_text())["manifests"]
    manifest = json.loads((out / "blobs/sha256" / entry["digest"].split(":")[1]).read_bytes())
    return dict(json.loads((out / "blobs/sha256" / manifest["config"]["digest"].split(":")[1]).read_bytes()))


def test_a_compound_cmd_runs_under_the_init(tmp_path: Path) -> None:
    """Issue 16: a multi-line (``sh -e``) or compound cmd is not PID 1 as ``sh``: the image's
    Cmd starts envcapture's init (shipped in the image), which forwards the stop signal."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "prep.sh").write_text("echo prep\n")
    (project / "config.yaml").write_text(
        "name: multi\ncmd: |\n  sh prep.sh\n  sh prep.sh && echo done\ninputs:\n  - prep.sh\n"
        "graceful-shutdown:\n  signal: SIGUSR1\n  timeout: 5s\n"
    )
    bundle = build_bundle(config=project / "config.yaml", output=tmp_path / "bundle").path
    result = _image(bundle, tmp_path / "image")
    config = _layout_config(tmp_path / "image")["config"]
    launcher = 'py=$1; shift; if [ -x "$py" ]; then exec "$py" -I -S /opt/envcapture/init.py "$@"; fi; exec "$@"'
    assert config["Cmd"] == list(result.cmd) == [
        "/bin/sh", "-c", launcher, "envcapture-init", "/usr/local/bin/python3",
        "/bin/sh", "-e", "-c", "sh prep.sh\nsh prep.sh && echo done",
    ]  # fmt: skip
    assert config["StopSignal"] == "SIGUSR1"
    assert "Entrypoint" not in config
    assert result.to_json()["init"] == "/opt/envcapture/init.py"
    (init,) = [m for m in _layer_members(tmp_path / "image", result.layers[-1].digest) if m.name == "opt/envcapture/init.py"]
    assert init.mode == 0o755
    assert _layer_file(tmp_path / "image", result.layers[-1].digest, init.name) == JOBINIT.read_bytes()


def test_layer_tars_are_normalized(cold_build: Built, tmp_path: Path) -> None:
    out = tmp_path / "image"
    result = _image(cold_build.bundle, out, source_date_epoch=1700000000)
    for layer in result.layers:
        raw = (out / "blobs/sha256" / layer.hex).read_bytes()
        assert raw[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no FNAME/FEXTRA/FCOMMENT flags
        assert raw[4:8] == b"\x00\x00\x00\x00"  # no timestamp
        members = _layer_members(out, layer.digest)
        assert [m.name for m in members] == sorted((m.name for m in members), key=lambda n: n.split("/"))
        for member in members:
            assert (member.uid, member.gid, member.uname, member.gname, member.mtime) == (0, 0, "", "", 1700000000)
            assert member.type in (tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE)
            expected = {tarfile.DIRTYPE: {0o755}, tarfile.SYMTYPE: {0o777}, tarfile.REGTYPE: {0o644, 0o755}}
            assert member.mode in expected[member.type], member.name
    with gzip.open(out / "blobs/sha256" / result.layers[-1].hex) as gz:
        import hashlib

        assert f"sha256:{hashlib.sha256(gz.read()).hexdigest()}" == result.layers[-1].diff_id


@pytest.mark.slow
def test_same_digest_across_mtimes_and_cache_state(buildjob: BuildJob, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty then a warm ENVCAPTURE_CACHE_DIR, every project file touched in between:
    the same bundle, the same image bytes, the same digest."""
    monkeypatch.setenv("ENVCAPTURE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    cold = build_bundle(config=buildjob.config, python=str(buildjob.python), output=tmp_path / "bundle-cold")
    assert cold.stats.store_hits == 0
    first = _image(cold.path, tmp_path / "image-1")
    for i, path in enumerate(sorted(buildjob.project.rglob("*"))):
        os.utime(path, (1_000_000_000 + i, 1_000_000_000 + i))
    warm = build_bundle(config=buildjob.config, python=str(buildjob.python), output=tmp_path / "bundle-warm")
    assert warm.stats.downloads == 0 and warm.stats.builds == 0
    second = _image(warm.path, tmp_path / "image-2")
    assert second.digest == first.digest
    assert _blobs(tmp_path / "image-2") == _blobs(tmp_path / "image-1")
    for name in ("image.tar", "index.json", "Dockerfile", "image.json"):
        assert (tmp_path / "image-2" / name).read_bytes() == (tmp_path / "image-1" / name).read_bytes(), name
    # The same image again, into the same directory: replaced in place, same bytes.
    again = _image(warm.path, tmp_path / "image-2")
    assert again.digest == first.digest


def test_editing_a_local_file_changes_only_the_last_layer(cold_build: Built, buildjob: BuildJob, tmp_path: Path) -> None:
    project = buildjob.copy_project(tmp_path / "project")
    store = Store(cold_build.store_root)
    before = build_bundle(config=project / "config.yaml", python=str(buildjob.python), output=tmp_path / "b1", store=store)
    image1 = _image(before.path, tmp_path / "i1")
    helpers = project / "localpkg" / "helpers.py"
    helpers.write_text(helpers.read_text() + "\n# edited\n")
    after = build_bundle(config=project / "config.yaml", python=str(buildjob.python), output=tmp_path / "b2", store=store)
    image2 = _image(after.path, tmp_path / "i2")
    assert [layer.digest for layer in image1.layers[:-1]] == [layer.digest for layer in image2.layers[:-1]]
    assert image1.layers[-1].digest != image2.layers[-1].digest
    assert image1.digest != image2.digest


def test_heavy_distributions_get_their_own_layer(cold_build: Built, tmp_path: Path) -> None:
    assert HEAVY_LAYER_BYTES == 50_000_000
    result = _image(cold_build.bundle, tmp_path / "image", heavy_layer_bytes=100_000)  # psutil installs ~0.5 MB
    assert [layer.name for layer in result.layers] == ["venv", "dist:psutil", "distributions", "local-code"]
    psutil = [m.name for m in _layer_members(tmp_path / "image", result.layers[1].digest)]
    rest = [m.name for m in _layer_members(tmp_path / "image", result.layers[2].digest)]
    assert all("psutil" in n for n in psutil if n.count("/") > 5)
    assert not [n for n in rest if "psutil" in n]


def test_a_wheel_that_fails_its_hash_stops_the_image(cold_build: Built, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(cold_build.bundle, bundle)
    wheel = next(bundle.glob("wheelhouse/psutil-*.whl"))
    data = bytearray(wheel.read_bytes())
    data[-1] ^= 1
    wheel.write_bytes(bytes(data))
    with pytest.raises(
        BuildError,
        match=r"^psutil==7\.2\.2: step image: wheelhouse/psutil-.* has sha256 [0-9a-f]{64}, not a hash the lock allows",
    ):
        _image(bundle, tmp_path / "image")
    assert not (tmp_path / "image").exists()


def test_refuses_to_replace_other_files(cold_build: Built, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="is not an envcapture image directory; refusing to replace it"):
        _image(cold_build.bundle, out)
    assert (out / "notes.txt").read_text() == "keep me"


def test_cli_image_json_and_refusals(cold_build: Built, tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["image", str(cold_build.bundle), "-o", str(tmp_path / "img"), "--json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["schema"] == "envcapture/image" and doc["rebase_required"] is True
    assert doc["repo_tag"] == "envcapture/job:latest"
    # Loading or running needs the base's layers: refused before any daemon is asked.
    done = runner.invoke(cli, ["image", str(cold_build.bundle), "-o", str(tmp_path / "img"), "--run"])
    assert done.exit_code == 2
    assert "--load, --run and --push need the base's layers in the image: give --base-oci or --base-rootfs" in done.stderr
    other = tmp_path / "other.yaml"
    other.write_text("cmd: python other.py\n")
    done = runner.invoke(cli, ["image", str(cold_build.bundle), "-o", str(tmp_path / "img"), "-c", str(other)])
    assert done.exit_code == 2 and "its cmd differs from the bundle's" in done.stderr


# --- real tools ---------------------------------------------------------------------------------


def test_umoci_and_skopeo_read_the_layout(cold_build: Built, tmp_path: Path) -> None:
    _tools("umoci", "skopeo")
    out = tmp_path / "image"
    result = _image(cold_build.bundle, out, env=(("DEVICE_COUNT", "8"),))
    # umoci checks every blob's digest and every layer's diff_id while unpacking.
    done = subprocess.run(
        ["umoci", "unpack", *([] if os.geteuid() == 0 else ["--rootless"]), "--image", f"{out}:latest", str(tmp_path / "bundle")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rootfs = tmp_path / "bundle" / "rootfs"
    assert (rootfs / "job/main.py").read_text().startswith('"""Fixture job of tests/builders')
    assert os.readlink(rootfs / PREFIX / "bin/python") == "/usr/local/bin/python3"
    inspect = json.loads(
        subprocess.run(["skopeo", "inspect", f"oci:{out}:latest"], capture_output=True, text=True, check=True).stdout
    )
    assert inspect["Digest"] == result.digest
    assert inspect["Layers"] == [layer.digest for layer in result.layers]
    config = json.loads(
        subprocess.run(["skopeo", "inspect", "--config", f"oci:{out}:latest"], capture_output=True, text=True, check=True).stdout
    )
    assert config["config"]["Env"][0].startswith("PATH=/opt/envcapture/venv/bin:")
    assert "VIRTUAL_ENV=/opt/envcapture/venv" in config["config"]["Env"]
    assert "DEVICE_COUNT=8" in config["config"]["Env"]
    assert config["config"]["WorkingDir"] == "/job"
    assert config["config"]["Cmd"] == VENV_CMD
    # skopeo also reads the docker-save archive.
    inspect = json.loads(
        subprocess.run(
            ["skopeo", "inspect", f"docker-archive:{out / 'image.tar'}"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert inspect["Layers"] == [layer.diff_id for layer in result.layers]  # skopeo names a docker archive's layers by diff_id


def _offline_chroot_prefix() -> list[str]:
    if os.geteuid() != 0:
        pytest.skip("running the unpacked image in a chroot needs root")
    _tools("unshare", "chroot")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"unshare -n does not work here: {probe.stderr.decode(errors='replace').strip()}")
    return [str(shutil.which("unshare")), "-n", str(shutil.which("chroot"))]  # absolute: env is the image's


@pytest.mark.slow
def test_job_runs_offline_from_the_unpacked_image_without_a_daemon(
    cold_build: Built, python_rootfs: Path, tmp_path: Path
) -> None:
    _tools("umoci")
    prefix = _offline_chroot_prefix()
    out = tmp_path / "image"
    runner = CliRunner()
    done = runner.invoke(
        cli,
        [
            "image",
            str(cold_build.bundle),
            "-o",
            str(out),
            "--base-rootfs",
            str(python_rootfs),
            "--base",
            "local/python:3.11",
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["rebase_required"] is False
    assert [layer["name"] for layer in doc["layers"]] == ["base:0", "venv", "distributions", "local-code"]
    bundle = tmp_path / "oci-bundle"
    unpack = subprocess.run(
        ["umoci", "unpack", "--image", f"{out}:latest", str(bundle)], capture_output=True, text=True, check=False
    )
    assert unpack.returncode == 0, unpack.stderr
    process = json.loads((bundle / "config.json").read_text())["process"]
    assert process["args"] == VENV_CMD and process["cwd"] == "/job"
    env = dict(item.split("=", 1) for item in process["env"])
    run = subprocess.run(
        [*prefix, str(bundle / "rootfs"), "/bin/sh", "-c", 'cd "$0" && exec "$@"', process["cwd"], *process["args"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == EXPECTED_OUTPUT
    # The same namespace has no route out: the job ran offline.
    probe = subprocess.run(
        [
            *prefix,
            str(bundle / "rootfs"),
            "/opt/envcapture/venv/bin/python",
            "-c",
            "import socket\ntry:\n socket.create_connection(('192.0.2.1', 80), timeout=3)\nexcept OSError as e:\n print('offline', e.errno)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.stdout.startswith("offline"), probe.stdout + probe.stderr


@pytest.mark.slow
def test_base_from_an_oci_layout_made_by_umoci(cold_build: Built, python_rootfs: Path, tmp_path: Path) -> None:
    """A base image written by another tool: its layers are prepended byte for byte, its
    Env kept (PATH gets the venv first), its Entrypoint dropped, its history kept; the job runs."""
    _tools("umoci")
    layout = tmp_path / "base-layout"
    for args in (
        ["init", "--layout", str(layout)],
        ["new", "--image", f"{layout}:base"],
        ["raw", "add-layer", "--image", f"{layout}:base", str(python_rootfs)],
        [
            "config",
            "--image",
            f"{layout}:base",
            "--config.env",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "--config.env",
            "LANG=C.UTF-8",
            "--config.entrypoint",
            "/bin/false",
        ],
    ):
        subprocess.run(["umoci", *args], capture_output=True, text=True, check=True)
    (base_entry,) = json.loads((layout / "index.json").read_text())["manifests"]
    base_manifest = json.loads((layout / "blobs/sha256" / base_entry["digest"].split(":")[1]).read_bytes())
    out = tmp_path / "image"
    result = _image(cold_build.bundle, out, base_oci=f"{layout}:base", base="local/python:3.11")
    assert [layer.name for layer in result.layers] == ["base:0", "venv", "distributions", "local-code"]
    assert result.layers[0].digest == base_manifest["layers"][0]["digest"]
    assert (out / "blobs/sha256" / result.layers[0].hex).read_bytes() == (
        layout / "blobs/sha256" / result.layers[0].hex
    ).read_bytes()
    assert result.base.digest == base_entry["digest"] and not result.rebase_required
    assert result.env[:3] == (
        "PATH=/opt/envcapture/venv/bin:/usr/local/bin:/usr/bin:/bin",
        "LANG=C.UTF-8",
        "VIRTUAL_ENV=/opt/envcapture/venv",
    )
    manifest = json.loads((out / "blobs/sha256" / result.digest.split(":")[1]).read_bytes())
    assert manifest["annotations"] == {
        "org.opencontainers.image.base.digest": base_entry["digest"],
        "org.opencontainers.image.base.name": "local/python:3.11",
    }
    config = json.loads((out / "blobs/sha256" / manifest["config"]["digest"].split(":")[1]).read_bytes())
    assert "Entrypoint" not in config["config"]
    assert [h["created_by"] for h in config["history"]] == [
        "umoci raw add-layer",
        "umoci config",
        "envcapture image: venv",
        "envcapture image: distributions",
        "envcapture image: local-code",
    ]
    dockerfile = (out / "Dockerfile").read_text()
    assert f"FROM local/python:3.11@{base_entry['digest']}" in dockerfile and dockerfile.count("ADD ") == 3

    prefix = _offline_chroot_prefix()
    unpacked = tmp_path / "unpacked"
    subprocess.run(["umoci", "unpack", "--image", f"{out}:latest", str(unpacked)], capture_output=True, check=True)
    process = json.loads((unpacked / "config.json").read_text())["process"]
    env = dict(item.split("=", 1) for item in process["env"])
    run = subprocess.run(
        [*prefix, str(unpacked / "rootfs"), "/bin/sh", "-c", 'cd "$0" && exec "$@"', process["cwd"], *process["args"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (run.returncode, run.stdout.strip()) == (0, EXPECTED_OUTPUT), run.stderr


@pytest.mark.slow
def test_docker_engine_loads_and_runs_the_job_offline(
    cold_build: Built, python_rootfs: Path, engine: tuple[Any, str | None], tmp_path: Path
) -> None:
    client, host = engine
    base_tag = "envcapture-tests/python:3.11"
    client.api.import_image_from_file(str(python_rootfs), repository="envcapture-tests/python", tag="3.11")
    base = client.images.get(base_tag)
    out = tmp_path / "image"
    env = {"DOCKER_HOST": host} if host else {}
    runner = CliRunner(env=env)
    done = runner.invoke(
        cli,
        [
            "image",
            str(cold_build.bundle),
            "-o",
            str(out),
            "--base",
            base_tag,
            "--base-rootfs",
            str(python_rootfs),
            "--tag",
            "envcapture-tests/buildjob:e2e",
            "--run",
        ],
    )
    assert done.exit_code == 0, done.output + done.stderr
    assert EXPECTED_OUTPUT in done.stdout
    assert "exited with status 0 (network: none)" in done.stderr
    done = runner.invoke(
        cli,
        [
            "image",
            str(cold_build.bundle),
            "-o",
            str(out),
            "--base",
            base_tag,
            "--base-rootfs",
            str(python_rootfs),
            "--tag",
            "envcapture-tests/buildjob:e2e",
            "--run",
            "--json",
        ],
    )
    ran = json.loads(done.stdout)
    _validate(ran)
    assert (ran["run"]["status"], ran["run"]["output"].strip()) == (0, EXPECTED_OUTPUT)
    loaded = client.images.get("envcapture-tests/buildjob:e2e")
    assert loaded.attrs["Config"]["WorkingDir"] == "/job"
    assert loaded.attrs["Config"]["Cmd"] == VENV_CMD
    doc = json.loads((out / "image.json").read_text())
    # docker import of the same tar made the same layer: the daemon shares it.
    assert loaded.attrs["RootFS"]["Layers"][0] == base.attrs["RootFS"]["Layers"][0] == doc["layers"][0]["diff_id"]
    assert loaded.attrs["RootFS"]["Layers"] == [layer["diff_id"] for layer in doc["layers"]]

    # The Dockerfile, for users of other engines, gives a runnable image on the imported base.
    built, _logs = client.images.build(path=str(out), tag="envcapture-tests/buildjob:dockerfile", network_mode="none", rm=True)
    container = client.containers.run(built.id, network_mode="none", detach=True)
    try:
        assert container.wait(timeout=120)["StatusCode"] == 0
        assert container.logs().decode().strip() == EXPECTED_OUTPUT
    finally:
        container.remove(force=True)
    for tag in ("envcapture-tests/buildjob:dockerfile", "envcapture-tests/buildjob:e2e", base_tag):
        client.images.remove(tag, force=True)


@pytest.mark.slow
def test_push_to_a_local_registry_and_pull_back_by_digest(
    cold_build: Built, python_rootfs: Path, registry: Registry, tmp_path: Path
) -> None:
    _tools("skopeo")
    out = tmp_path / "image"
    result = _image(cold_build.bundle, out, base="local/python:3.11", base_rootfs=python_rootfs)
    target = f"{registry.host}/envcapture/buildjob:v1"
    runner = CliRunner(env={"DOCKER_CONFIG": str(registry.docker_config)})
    args = ["image", str(cold_build.bundle), "-o", str(out), "--base", "local/python:3.11", "--base-rootfs", str(python_rootfs)]
    done = runner.invoke(cli, [*args, "--push", target, "--json"])
    assert done.exit_code == 0, done.output + done.stderr
    _validate(json.loads(done.stdout))
    pushed = json.loads(done.stdout)["push"]
    assert pushed["digest"] == result.digest
    assert pushed["pull"] == f"{registry.host}/envcapture/buildjob@{result.digest}"
    assert (pushed["uploaded"], pushed["existing"]) == (5, 0)  # 4 layers and the config
    again = json.loads(runner.invoke(cli, [*args, "--push", target, "--json"]).stdout)["push"]
    assert (again["uploaded"], again["existing"]) == (0, 5)

    pulled = tmp_path / "pulled"
    copy = subprocess.run(
        [
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            f"{registry.username}:{registry.password}",
            f"docker://{pushed['pull']}",
            f"oci:{pulled}:pulled",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert copy.returncode == 0, copy.stderr
    (entry,) = json.loads((pulled / "index.json").read_text())["manifests"]
    assert entry["digest"] == result.digest
    assert _blobs(pulled) == _blobs(out)

    # Without credentials the registry says no: one line, exit 3.
    anonymous = CliRunner(env={"DOCKER_CONFIG": str(tmp_path / "no-config")})
    done = anonymous.invoke(cli, [*args, "--push", target])
    assert done.exit_code == 3
    assert f"envcapture: error: step push: HEAD http://{registry.host}/v2/envcapture/buildjob/blobs/sha256:" in done.stderr
    assert f"HTTP 401 unauthorized with no credentials for {registry.host} (docker login, or add auths" in done.stderr


_STOP_JOB = """\
import signal, sys, time
def stop(signum, frame):
    print("job got", signal.Signals(signum).name, flush=True)
    time.sleep(1)  # cleaning up: the init waits for the job, not only for the sh that started it
    print("cleaned", flush=True)
    sys.exit(0)
if "--no-handler" not in sys.argv:
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize(
    ("cmd", "stop_signal", "status", "logs"),
    [
        # One command: sh execs the job, the init forwards SIGINT to it, it cleans up and exits 0.
        ("python job.py", "SIGINT", 0, "ready job got SIGINT cleaned"),
        # Compound: the signal reaches the job behind sh; sh dies of it (128 + 15), the init
        # waits for the job's clean-up before it exits.
        ("python prep.py && python job.py", "SIGTERM", 143, "prep ready job got SIGTERM cleaned"),
        # No handler: as PID 1 the job would ignore SIGTERM (the kernel's rule); under the init it dies of it.
        ("python job.py --no-handler", "SIGTERM", 143, "ready"),
    ],
    ids=["single", "compound", "no-handler"],
)
def test_docker_stop_delivers_the_graceful_shutdown_signal_to_the_job(
    python_rootfs: Path, engine: tuple[Any, str | None], tmp_path: Path, cmd: str, stop_signal: str, status: int, logs: str
) -> None:
    """Issue 16: ``docker stop`` reaches the job with the configured signal through the init
    (PID 1), also behind ``sh`` for a compound cmd, well before the engine's SIGKILL."""
    client, host = engine
    project = tmp_path / "project"
    project.mkdir()
    (project / "job.py").write_text(_STOP_JOB)
    (project / "prep.py").write_text('print("prep", flush=True)\n')
    (project / "config.yaml").write_text(
        f"name: stopjob\ncmd: {cmd}\ninputs:\n  - job.py\n  - prep.py\n"
        f"graceful-shutdown:\n  signal: {stop_signal}\n  timeout: 30s\n"
    )
    bundle = build_bundle(config=project / "config.yaml", output=tmp_path / "bundle").path
    out = tmp_path / "image"
    env = {"DOCKER_HOST": host} if host else {}
    tag = "envcapture-tests/stopjob:latest"
    done = CliRunner(env=env).invoke(cli, ["image", str(bundle), "-o", str(out), "--base-rootfs", str(python_rootfs),
                                           "--base-python", "/usr/local/bin/python3", "--tag", tag, "--load"])  # fmt: skip
    assert done.exit_code == 0, done.output + done.stderr
    image = client.images.get(tag)
    assert image.attrs["Config"]["Cmd"][3:] == ["envcapture-init", "/usr/local/bin/python3", "/bin/sh", "-c",
                                                 cmd if "&&" in cmd else f"exec {cmd}"]  # fmt: skip
    assert image.attrs["Config"]["StopSignal"] == stop_signal
    container = client.containers.run(tag, network_mode="none", detach=True, environment={"PATH": "/usr/local/bin:/usr/bin:/bin"})
    try:
        deadline = time.monotonic() + 60
        while b"ready" not in container.logs() and time.monotonic() < deadline:
            time.sleep(0.2)
        began = time.monotonic()
        container.stop(timeout=20)
        assert time.monotonic() - began < 10  # not the engine's SIGKILL after the timeout
        assert container.wait(timeout=30)["StatusCode"] == status
        assert container.logs().decode().split() == logs.split()
    finally:
        container.remove(force=True)
        client.images.remove(tag, force=True)
