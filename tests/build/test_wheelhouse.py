"""Target-aware downloads and reproducible builds (envcapture/builders/wheelhouse.py)."""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from build_support import COMMIT_TIME, INDEX_WHEELS, BuildJob, Built, pyenv_python
from helpers import copy_fixture
from index_server import IndexServer

from envcapture.build import wheelhouse as wh
from envcapture.build.store import Store
from envcapture.build.wheelhouse import (
    WheelhouseOptions,
    WheelSource,
    build_wheelhouse,
    is_pure_wheel,
    normalize_wheel,
    write_wheelhouse,
)
from envcapture.errors import BuildError
from envcapture.model import DistName, Target
from envcapture.resolution.model import (
    Artifact,
    Closure,
    Delivery,
    Origin,
    OriginKind,
    PackageSource,
    Pin,
    ResolveOptions,
    SourceKind,
)

FAST = WheelhouseOptions(backoff=0.01)
HOST = f"cp{sys.version_info[0]}{sys.version_info[1]}"


def _index_pin(name: str, version: str) -> Pin:
    return Pin(name=DistName(name), display_name=name, version=version, origin=Origin(kind=OriginKind.INDEX))


def _dir_pin(name: str, version: str, source: Path, kind: OriginKind = OriginKind.LOCAL_DIR) -> Pin:
    return Pin(
        name=DistName(name),
        display_name=name,
        version=version,
        delivery=Delivery.WHEELHOUSE,
        origin=Origin(kind=kind, url=source.as_uri()),
        source=str(source),
    )


def _closure(index: IndexServer, *pins: Pin) -> Closure:
    return Closure(pins=tuple(sorted(pins)), options=ResolveOptions(index_url=index.url))


# --- pure parts ----------------------------------------------------------------------------------


def _zip(path: Path, entries: list[tuple[str, bytes, tuple[int, ...], int]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data, when, mode in entries:
            info = zipfile.ZipInfo(name, date_time=when)  # type: ignore[arg-type]
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return path


def test_normalize_wheel_gives_the_same_bytes_for_the_same_content(tmp_path: Path) -> None:
    record = b"pkg/__init__.py,sha256=x,1\npkg-1.dist-info/RECORD,,\npkg-1.dist-info/METADATA,sha256=y,2\n"
    a = _zip(
        tmp_path / "a.whl",
        [
            ("pkg-1.dist-info/RECORD", record, (2024, 5, 6, 7, 8, 10), 0o600),
            ("pkg/__init__.py", b"x", (2024, 5, 6, 7, 8, 10), 0o664),
            ("pkg/tool.sh", b"#!/bin/sh\n", (2024, 5, 6, 7, 8, 10), 0o775),
            ("pkg-1.dist-info/METADATA", b"Name: pkg\n", (2024, 5, 6, 7, 8, 10), 0o644),
        ],
    )
    b = _zip(
        tmp_path / "b.whl",
        [
            ("pkg-1.dist-info/METADATA", b"Name: pkg\n", (2031, 1, 1, 0, 0, 0), 0o640),
            ("pkg/tool.sh", b"#!/bin/sh\n", (2031, 1, 1, 0, 0, 0), 0o700),
            ("pkg/__init__.py", b"x", (2031, 1, 1, 0, 0, 0), 0o600),
            ("pkg-1.dist-info/RECORD", record, (2031, 1, 1, 0, 0, 0), 0o644),
        ],
    )
    normalize_wheel(a, tmp_path / "na.whl", epoch=COMMIT_TIME)
    normalize_wheel(b, tmp_path / "nb.whl", epoch=COMMIT_TIME)
    assert (tmp_path / "na.whl").read_bytes() == (tmp_path / "nb.whl").read_bytes()
    with zipfile.ZipFile(tmp_path / "na.whl") as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == [
            "pkg/__init__.py",
            "pkg/tool.sh",
            "pkg-1.dist-info/METADATA",
            "pkg-1.dist-info/RECORD",
        ]
        assert {i.date_time for i in infos} == {(2024, 1, 2, 3, 4, 4)}  # zip keeps even seconds
        assert [(i.external_attr >> 16) & 0o777 for i in infos] == [0o644, 0o755, 0o644, 0o644]
        assert archive.read("pkg-1.dist-info/RECORD").decode().splitlines() == [
            "pkg-1.dist-info/METADATA,sha256=y,2",
            "pkg/__init__.py,sha256=x,1",
            "pkg-1.dist-info/RECORD,,",
        ]


def test_is_pure_wheel(tmp_path: Path, index_dir: Path) -> None:
    assert not is_pure_wheel(index_dir / INDEX_WHEELS["psutil"])
    assert is_pure_wheel(index_dir / INDEX_WHEELS["setuptools"])
    fake = _zip(
        tmp_path / "x-1-py3-none-any.whl",
        [
            ("x/_c.cpython-311-x86_64-linux-gnu.so", b"\x7fELF", (2020, 1, 1, 0, 0, 0), 0o755),
            ("x-1.dist-info/WHEEL", b"Root-Is-Purelib: true\n", (2020, 1, 1, 0, 0, 0), 0o644),
        ],
    )
    assert not is_pure_wheel(fake)


# --- downloads ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_download_picks_the_target_wheel_and_fills_the_artifacts(index: IndexServer, tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    closure = _closure(index, _index_pin("psutil", "7.2.2"), _index_pin("markupsafe", "3.0.3"))
    house = build_wheelhouse(closure, Target(python_version="3.11"), store=store, options=FAST)
    assert [(w.filename, w.source) for w in house.wheels] == [
        (INDEX_WHEELS["markupsafe"], WheelSource.DOWNLOADED),
        (INDEX_WHEELS["psutil"], WheelSource.DOWNLOADED),
    ]
    assert (house.stats.downloads, house.stats.builds, house.stats.store_hits) == (2, 0, 0)
    assert house.stats.bytes_downloaded == sum(w.size for w in house.wheels) > 0
    pin = house.closure.pin("psutil")
    assert pin is not None and pin.artifacts == (
        Artifact(
            filename=INDEX_WHEELS["psutil"],
            hashes=(f"sha256:{house.wheels[1].sha256}",),
            size=house.wheels[1].size,
            found_on=PackageSource(kind=SourceKind.INDEX, location=index.url),  # from pip's log
        ),
    )
    # Warm: the store answers, nothing is downloaded; where each wheel was found is remembered.
    warm = build_wheelhouse(closure, Target(python_version="3.11"), store=store, options=FAST)
    assert (warm.stats.downloads, warm.stats.store_hits, warm.stats.bytes_downloaded) == (0, 2, 0)
    assert warm.closure == house.closure
    written = write_wheelhouse(warm, tmp_path / "wheelhouse", store=store)
    assert sorted(p.name for p in written) == sorted(INDEX_WHEELS[n] for n in ("markupsafe", "psutil"))


@pytest.mark.slow
def test_no_wheel_for_the_target_names_package_version_and_tags(index: IndexServer, tmp_path: Path) -> None:
    closure = _closure(index, _index_pin("markupsafe", "3.0.3"), _index_pin("psutil", "7.2.2"))
    with pytest.raises(BuildError) as err:
        build_wheelhouse(closure, Target(python_version="3.10"), store=Store(tmp_path / "store"), options=FAST)
    text = str(err.value)
    assert text.startswith(
        f"markupsafe==3.0.3: step download for CPython 3.10 on linux x86_64 (manylinux_2_28): no wheel matching the target on "
        f"{index.url} after 1 attempt (tags tried: cp310-cp310, cp3*-abi3, cp310-none, py3-none on "
        "manylinux_2_28_x86_64 .. manylinux_2_5_x86_64, manylinux2014_x86_64, manylinux2010_x86_64, "
        "manylinux1_x86_64; py3-none-any): ERROR: Could not find a version that satisfies the requirement markupsafe==3.0.3"
    )
    assert "\n" not in text
    assert type(err.value).exit_code == 3


@pytest.mark.slow
def test_transient_index_errors_are_retried(index_dir: Path, tmp_path: Path) -> None:
    server = IndexServer(index_dir).start()
    original = server._route
    failures = {"left": 2}

    def flaky(path: str, accept: str = "") -> tuple[int, bytes, str]:
        if path.startswith("/simple/psutil") and failures["left"] > 0:
            failures["left"] -= 1
            return 503, b"try later", "text/plain"
        return original(path, accept)

    server._route = flaky  # type: ignore[method-assign]
    try:
        closure = _closure(server, _index_pin("psutil", "7.2.2"))
        house = build_wheelhouse(closure, Target(python_version="3.11"), store=Store(tmp_path / "s"), options=FAST)
        assert house.stats.downloads == 1
        assert failures["left"] == 0
        assert sum(1 for p in server.requests if p.startswith("/simple/psutil")) == 3
        # Still failing after 2 retries: a BuildError saying how many attempts were made.
        failures["left"] = 10
        with pytest.raises(BuildError, match=r"^psutil==7\.2\.2: step download .* after 3 attempts "):
            build_wheelhouse(closure, Target(python_version="3.10"), store=Store(tmp_path / "s2"), options=FAST)
    finally:
        server.stop()


@pytest.mark.slow
def test_a_damaged_store_entry_is_fetched_again(index: IndexServer, tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    closure = _closure(index, _index_pin("psutil", "7.2.2"))
    first = build_wheelhouse(closure, Target(python_version="3.11"), store=store, options=FAST)
    obj = store.object_path(first.wheels[0].sha256)
    obj.write_bytes(obj.read_bytes()[:1000])  # a half-written file
    again = build_wheelhouse(closure, Target(python_version="3.11"), store=store, options=FAST)
    assert (again.stats.downloads, again.stats.corrupted) == (1, 1)
    assert again.wheels[0].sha256 == first.wheels[0].sha256


@pytest.mark.slow
def test_published_hash_mismatch_is_refused(index: IndexServer, tmp_path: Path) -> None:
    pin = _index_pin("psutil", "7.2.2")
    pin = Pin(
        **{
            **{f: getattr(pin, f) for f in pin.__slots__},
            "artifacts": (  # type: ignore[arg-type]
                Artifact(filename=INDEX_WHEELS["psutil"], hashes=("sha256:" + "0" * 64,)),
            ),
        }
    )
    with pytest.raises(
        BuildError, match=r"^psutil==7\.2\.2: step download .* has sha256 [0-9a-f]{64}, the index published 0{64}$"
    ):
        build_wheelhouse(_closure(index, pin), Target(python_version="3.11"), store=Store(tmp_path / "s"), options=FAST)


# --- builds ------------------------------------------------------------------------------------


def test_built_wheels_carry_the_source_date(cold_build: Built) -> None:
    """Wheels built from a VCS commit carry the commit time, from a directory 1980-01-01
    (both cold builds comparing equal byte for byte is in test_build.py)."""
    stamps = {}
    for wheel in (cold_build.bundle / "wheelhouse").glob("build_*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            stamps[wheel.name] = {i.date_time for i in archive.infolist()}
            names = archive.namelist()
        assert names == sorted(names, key=lambda n: (n.split("/")[0].endswith(".dist-info"), n.endswith("/RECORD"), n))
    assert stamps == {
        "build_editdep-0.3.0-py3-none-any.whl": {(1980, 1, 1, 0, 0, 0)},
        "build_vcsdep-1.2.0-py3-none-any.whl": {(2024, 1, 2, 3, 4, 4)},  # COMMIT_TIME, even seconds
    }


def test_changed_source_is_built_again_and_version_drift_is_reported(
    index: IndexServer, tmp_path: Path, cold_build: Built, buildjob: BuildJob
) -> None:
    """The store key of a directory build is its content: an unchanged copy of the editable
    source hits the cold build's entry (wherever it lives); a changed one is built again,
    and a source whose version no longer matches the installed one is an error."""
    store = Store(tmp_path / "store")
    shutil.copytree(cold_build.store_root, store.root)
    local = tmp_path / "editdep"
    shutil.copytree(buildjob.editable, local, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    closure = _closure(index, _dir_pin("build-editdep", "0.3.0", local, OriginKind.EDITABLE))
    house = build_wheelhouse(closure, Target(python_version="3.11"), store=store, options=FAST)
    assert (house.stats.builds, house.stats.store_hits) == (0, 1)
    pyproject = local / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.3.0"', 'version = "0.4.0"'))
    with pytest.raises(
        BuildError,
        match=r"^build-editdep==0\.3\.0: step wheel-check .*: the source now gives version 0\.4\.0 but 0\.3\.0 is installed",
    ):
        build_wheelhouse(closure, Target(python_version="3.11"), store=store, options=FAST)


def test_build_backend_missing_from_the_index(index_dir: Path, tmp_path: Path, buildjob: BuildJob) -> None:
    """An isolated build gets its backend from the job's indexes only: an index without
    setuptools fails the build with pip's reason, in one line (a 404 is not retried)."""
    empty = tmp_path / "empty-index"
    empty.mkdir()
    server = IndexServer(empty).start()
    events = []
    try:
        pin = _dir_pin("build-editdep", "0.3.0", buildjob.editable, OriginKind.EDITABLE)
        with pytest.raises(BuildError) as err:
            build_wheelhouse(
                _closure(server, pin),
                Target(python_version="3.11"),
                store=Store(tmp_path / "s"),
                options=FAST,
                progress=events.append,
            )
    finally:
        server.stop()
    assert str(err.value) == (
        "build-editdep==0.3.0: step build-wheel for CPython 3.11 on linux x86_64 (manylinux_2_28): cannot install the "
        "build requirements (editable install): ERROR: Could not find a version that satisfies the requirement setuptools>=68 "
        "(from versions: none) ERROR: No matching distribution found for setuptools>=68"
    )
    # the build started, no wheel was counted
    assert [(e.action, e.done, e.total) for e in events] == [("start", 0, 1), ("building", 0, 1)]


def test_missing_source_directory(index: IndexServer, tmp_path: Path) -> None:
    pin = _dir_pin("gone", "1.0", tmp_path / "gone")
    with pytest.raises(
        BuildError,
        match=r"^gone==1\.0: step build-wheel for CPython 3\.11 on linux x86_64 \(manylinux_2_28\): the source directory gone of the local-dir install is gone",
    ):
        build_wheelhouse(_closure(index, pin), Target(python_version="3.11"), store=Store(tmp_path / "s"), options=FAST)


@pytest.mark.slow
def test_compiled_package_needs_an_interpreter_of_the_target_version(
    index: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    if pyenv_python("3.12") is None:
        pytest.skip("no CPython 3.12 under /root/.pyenv")
    source = copy_fixture("build-cext", tmp_path)
    pin = _dir_pin("build-cext", "0.1.0", source)
    closure = _closure(index, pin)
    # Target 3.12: built by /root/.pyenv/versions/3.12.*/bin/python, for cp312 on Linux x86_64.
    house = build_wheelhouse(closure, Target(python_version="3.12"), store=Store(tmp_path / "s"), options=FAST)
    assert house.wheels[0].filename == "build_cext-0.1.0-cp312-cp312-linux_x86_64.whl"
    # No CPython 3.12 here: a pure-Python fallback cannot build it; never a wheel for the host.
    monkeypatch.setattr(wh, "find_interpreter", lambda *a, **k: None)
    with pytest.raises(BuildError) as err:
        build_wheelhouse(closure, Target(python_version="3.12"), store=Store(tmp_path / "s2"), options=FAST)
    assert str(err.value) == (
        f"build-cext==0.1.0: step build-wheel for CPython 3.12 on linux x86_64 (manylinux_2_28): the wheel has compiled code "
        f"(build_cext-0.1.0-{HOST}-{HOST}-linux_x86_64.whl) and no CPython 3.12 on a Linux x86_64 machine is available "
        "to build it for the target (install Python 3.12 here (pyenv install 3.12) or set ENVCAPTURE_PYTHON_3_12, "
        "build on Linux x86_64, or publish a manylinux wheel of build-cext to an index and install it from there)"
    )
