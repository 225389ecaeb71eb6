"""`Closure` + `Target` -> `Wheelhouse`: one wheel per pin the target installs from here. EDGE: pip, git, store.

* Index pins (``Delivery.INDEX``, and local-label builds of an index project) are
  downloaded with ``pip download --no-deps --only-binary=:all:`` for the target's tags:
  CPython X.Y with its ABI (``cp3X``, ``abi3``, ``none``) on ``manylinux_2_28_x86_64`` and
  every older manylinux level (never ``linux_x86_64``: an index's plain-Linux wheel is
  not portable), plus pure-Python wheels. pip, not a client of our own: it is the proven
  implementation of indexes, find-links, trusted hosts, ``.netrc`` and proxies, and the
  target installs with pip too. The sources are the closure's options (``env.python.pip``
  over pip's configuration of the analysed environment), given on pip's command line with
  its configuration files off, and the source each file was found on (pip's debug log) is
  recorded with the wheel (`WheelFile.found_on`) and in the store. pip's temporary files go
  to the download's own directory in the store's ``tmp/``: a killed build leaves nothing
  partial elsewhere, and the next run removes it (`Store.sweep`). An index pin whose
  version has no wheel for the target but an sdist is built from that sdist (``pip
  download --no-binary=<name>`` with the same sources, then as below); the wheel ships
  with the sdist's hash beside its own, and the sdist's source is recorded.
* Wheelhouse pins (VCS commits on this machine, local directories, editable installs,
  local archives) are built with ``pip wheel --no-deps`` in a build environment of their
  own (the build backend comes from the job's indexes), from a clean copy of the source
  in a directory named after its content (`envcapture.build._isolated`: the same source
  builds at the same path, compiler paths mapped), with ``SOURCE_DATE_EPOCH`` (the
  commit time for VCS, else 1980-01-01) and ``PYTHONHASHSEED=0``; the wheel is then
  normalized (sorted entries, fixed timestamps and permissions, sorted RECORD) so the
  same source gives the same bytes, compiled or not. A wheel with compiled code is only
  accepted when built by a CPython of the target version on Linux x86_64; otherwise a
  `BuildError` names the package and the ways out.

Every file goes through the `Store`; a warm run downloads and builds nothing. Pins run in
a thread pool; transient pip failures are retried twice with backoff. With a ``progress``
callback, each download reports its bytes as pip receives them (pip's ``raw`` progress).
"""

from __future__ import annotations

import enum
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from envcapture._fs import key_id, sha256_file, temp_prefix
from envcapture._urls import mask_url
from envcapture.build._isolated import BuildDir, IsolatedBuildError, build_directory, build_in, sweep_build_dirs
from envcapture.build._pip import found_in_meta, found_meta, found_on, index_args, pip_environ, raw_progress, run_pip
from envcapture.build._wheels import (
    DEFAULT_SOURCE_DATE_EPOCH,
    copy_tree,
    is_pure_wheel,
    normalize_wheel,
    tag_key,
    tags_tried,
    tree_digest,
    unpack_sdist,
    wheel_problem,
)
from envcapture.build.store import Store, StoreEntry, StoreKind
from envcapture.environment.interpreters import find_interpreter, host_matches
from envcapture.errors import BuildError
from envcapture.model import DistName, Target
from envcapture.resolution.model import Artifact, Closure, Delivery, OriginKind, PackageSource, Pin, ResolveOptions
from envcapture.resolution.sources import configured_indexes

# pip's words for a disk that cannot take the download: full, read-only, over quota, failing.
_DISK_ERROR_RE = re.compile(r"\[Errno (?:5|28|30|122)\] ([A-Za-z][A-Za-z ,-]+)")
# pip's words when the index has no file of the pinned version that it may use.
_NO_MATCH = "No matching distribution found"
_STEP_WORDS = {
    "build-env": "cannot create the build environment",
    "build-requirements": "cannot install the build requirements",
    "build-wheel": "pip wheel failed",
}

__all__ = [
    "DEFAULT_SOURCE_DATE_EPOCH",
    "SdistFile",
    "WheelEvent",
    "WheelFile",
    "WheelSource",
    "Wheelhouse",
    "WheelhouseOptions",
    "WheelhouseStats",
    "build_local_wheels",
    "build_wheelhouse",
    "is_pure_wheel",
    "normalize_wheel",
    "write_wheelhouse",
]


def __dir__() -> list[str]:
    return __all__


log = logging.getLogger(__name__)

# Bumped when the way wheels are built or normalized changes: older store entries miss.
_BUILD_FORMAT = "pip-wheel-fixed-path/2"
# Bumped when what a download's entry records changes (2: where it was found, in meta).
_DOWNLOAD_FORMAT = "pip-download/2"


class WheelSource(str, enum.Enum):
    DOWNLOADED = "downloaded"  # from an index or find-links
    BUILT = "built"  # built here
    COPIED = "copied"  # a local wheel file, shipped as is


@dataclass(frozen=True, slots=True, kw_only=True)
class WheelhouseOptions:
    """How to fetch and build. ``build_python`` forces the interpreter that builds wheels
    (default: a CPython of the target version found on this machine, see
    `find_interpreter`); ``analysed_python`` is a hint for it. ``environ`` expands
    ``${VAR}`` in index URLs (default ``os.environ``)."""

    jobs: int | None = None
    retries: int = 2
    backoff: float = 1.0
    timeout: float = 900.0
    build_python: str | None = None
    analysed_python: str | None = None
    environ: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class WheelFile:
    """The wheel chosen for one pin. ``from_store``: no download or build was needed."""

    name: DistName
    version: str
    filename: str
    sha256: str
    size: int
    source: WheelSource
    from_store: bool
    downloaded_bytes: int = 0
    found_on: PackageSource | None = None  # the index or find-links location of a download (or of its sdist)
    sdist: SdistFile | None = None  # the index's sdist it was built from


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class SdistFile:
    """The sdist a wheel was built from (an index version without a wheel for the target)."""

    filename: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WheelhouseStats:
    """Counters of one run: what was really done, and what the store served."""

    downloads: int = 0
    builds: int = 0
    copies: int = 0
    store_hits: int = 0
    bytes_downloaded: int = 0
    corrupted: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class WheelEvent:
    """Progress: ``action`` is ``start`` (once, ``done`` 0), then per pin ``cached``,
    ``downloaded``, ``built`` or ``copied`` when its wheel is there (``done`` counts them;
    ``version``, ``filename``, ``size`` and ``found_on`` say which). On the way, without
    counting: ``downloading`` as bytes arrive (``bytes_done`` of ``bytes_total``, 0 when the
    server sent no length) and ``building`` when a build starts."""

    name: str
    action: str
    done: int
    total: int
    version: str = ""
    filename: str = ""
    size: int = 0
    found_on: PackageSource | None = None
    bytes_done: int = 0
    bytes_total: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Wheelhouse:
    """The wheels, and ``closure`` with each wheelhouse pin's `Artifact` set to the file
    chosen (its sha256 and size), ready to render the lock with ``--hash`` lines."""

    closure: Closure
    wheels: tuple[WheelFile, ...]
    stats: WheelhouseStats
    direct: tuple[DistName, ...] = ()  # pins the target fetches itself (remote VCS / URL)


# --- the run ----------------------------------------------------------------------------------


class _Run:
    def __init__(
        self,
        closure: Closure,
        target: Target,
        store: Store,
        options: WheelhouseOptions,
        progress: Callable[[WheelEvent], None] | None,
    ) -> None:
        self.closure = closure
        self.target = target
        self.store = store
        self.options = options
        self.progress = progress
        self.environ = dict(os.environ if options.environ is None else options.environ)
        self.where = target.describe()
        self.lock = threading.Lock()
        self.done = 0
        self.total = 0
        self._builder: tuple[str | None, bool] | None = None
        self._swept_builds = False

    # -- helpers

    def _event(self, action: str, wheel: WheelFile) -> WheelFile:
        """A pin's wheel is there: count it and tell the caller; returns ``wheel``."""
        with self.lock:
            self.done += 1
            done = self.done
        if self.progress is not None:
            self.progress(
                WheelEvent(
                    name=wheel.name,
                    action=action,
                    done=done,
                    total=self.total,
                    version=wheel.version,
                    filename=wheel.filename,
                    size=wheel.size,
                    found_on=wheel.found_on,
                )
            )
        return wheel

    def _on_the_way(self, pin: Pin, action: str, bytes_done: int = 0, bytes_total: int = 0) -> None:
        if self.progress is not None:
            self.progress(
                WheelEvent(
                    name=pin.name,
                    action=action,
                    done=self.done,
                    total=self.total,
                    version=pin.version,
                    bytes_done=bytes_done,
                    bytes_total=bytes_total,
                )
            )

    def _indexes(self) -> list[str]:
        return [mask_url(u) for u in configured_indexes(self.closure.options)]

    def _index_key(self) -> dict[str, Any]:
        opts = self.closure.options
        return {
            "indexes": self._indexes(),
            "find_links": [mask_url(u) for u in opts.find_links],
            "pre": opts.pre,
        }

    def builder(self) -> tuple[str | None, bool]:
        """(interpreter, exact): a CPython of the target version on a Linux x86_64 host
        (exact), else some interpreter that can only build pure-Python wheels."""
        with self.lock:
            if self._builder is None:
                forced = self.options.build_python
                exact: str | None = None
                if forced:
                    exact = forced
                elif host_matches(self.target.sys_platform, self.target.platform_machine):
                    exact = find_interpreter(
                        self.target.python_version, hints=(self.options.analysed_python,), environ=self.environ
                    )
                if exact is not None:
                    self._builder = (exact, True)
                else:
                    self._builder = (self.options.analysed_python or sys.executable, False)
            return self._builder

    # -- per pin

    def handle(self, pin: Pin) -> WheelFile:
        origin = pin.origin
        if pin.delivery is Delivery.INDEX or (pin.delivery is Delivery.WHEELHOUSE and origin.kind is OriginKind.INDEX):
            return self.download(pin)
        if origin.kind is OriginKind.URL:
            return self.local_archive(pin)
        if origin.kind is OriginKind.VCS:
            return self.build_vcs(pin)
        return self.build_directory(pin)

    def download(self, pin: Pin) -> WheelFile:
        key = {
            "op": "download",
            "format": _DOWNLOAD_FORMAT,
            "name": pin.name,
            "version": pin.version,
            "tags": tag_key(self.target),
            **self._index_key(),
        }
        if pin.origin.index_url:
            key["pin_index"] = mask_url(pin.origin.index_url)
        entry = self.store.lookup(key)
        if entry is not None:
            self._check_known_hashes(pin, entry)
            return self._event("cached", self._wheel(pin, entry, WheelSource.DOWNLOADED, from_store=True))
        cached = self.cached_sdist_build(pin)
        if cached is not None:
            return cached
        major, minor = self.target.python_minor
        bar, on_line = raw_progress(
            (lambda got, size: self._on_the_way(pin, "downloading", got, size)) if self.progress else None
        )
        with tempfile.TemporaryDirectory(prefix=temp_prefix("dl"), dir=self._tmp_root()) as tmp:
            pip_tmp = Path(tmp, "pip")  # pip's partial downloads, removed with the directory
            pip_tmp.mkdir()
            args = [
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--no-cache-dir",
                *bar,
                "--retries",
                "0",
                "--timeout",
                "30",
                "--implementation",
                "cp",
                "--python-version",
                f"{major}.{minor}",
                "--abi",
                f"cp{major}{minor}",
            ]
            for plat in self.target.platform_tags():
                args += ["--platform", plat]
            opts = self.closure.options
            if pin.origin.index_url:
                opts = replace(opts, extra_index_urls=tuple(dict.fromkeys([*opts.extra_index_urls, pin.origin.index_url])))
            args += index_args(opts, self.environ)
            # a swapped variant by '===': '==2.13.0' also matches '2.13.0+cpu' (PEP 440 ignores the label)
            swapped = pin.installed_version not in ("", pin.version) and "+" not in pin.version
            args += ["-d", tmp, f"{pin.name}{'===' if swapped else '=='}{pin.version}"]
            run = run_pip(
                args,
                env=pip_environ(self.environ, transport=opts.transport, TMPDIR=str(pip_tmp)),
                retries=self.options.retries,
                backoff=self.options.backoff,
                timeout=self.options.timeout,
                keep_log=True,
                on_line=on_line,
            )
            wheels = sorted(Path(tmp).glob("*.whl"))
            if run.returncode != 0 and (disk := _DISK_ERROR_RE.search(f"{run.stderr}\n{run.stdout}\n{run.log}")):
                raise BuildError(  # a full or read-only store, not a missing wheel
                    f"{tmp}: cannot download {pin.name}=={pin.version} into the store's temporary directory: "
                    f"{disk.group(1).strip()}"
                )
            if run.returncode != 0 or len(wheels) != 1:
                where = ", ".join(self._indexes() + [mask_url(u) for u in opts.find_links]) or "no index (--no-index)"
                detail = run.last_error()
                no_wheel = (
                    f"{pin.name}=={pin.version}: step download for {self.where}: no wheel matching the target "
                    f"on {where} after {run.attempts} attempt{'s' if run.attempts > 1 else ''} "
                    f"(tags tried: {tags_tried(self.target)})" + (f": {mask_url(detail)}" if detail else "")
                )
                if run.returncode != 0 and _NO_MATCH in f"{run.stderr}\n{run.stdout}":
                    return self.build_sdist(pin, opts, no_wheel)  # an sdist, maybe: built here
                raise BuildError(no_wheel)
            wheel = wheels[0]
            self._check_tags(pin, wheel, built_here=False)
            size = wheel.stat().st_size
            extra = [pin.origin.index_url] if pin.origin.index_url else []
            source = found_on(run.log, wheel.name, self.closure.options, extra_indexes=extra, environ=self.environ)
            entry = self.store.put_file(wheel, kind=StoreKind.DOWNLOADED)
        self._check_known_hashes(pin, entry)
        self.store.record(key, entry, meta=found_meta(source))
        made = self._wheel(pin, entry, WheelSource.DOWNLOADED, from_store=False, downloaded=size, found=source)
        return self._event("downloaded", made)

    def _check_known_hashes(self, pin: Pin, entry: StoreEntry, *, step: str = "download") -> None:
        known = [a for a in pin.artifacts if a.filename == entry.filename and a.hashes]
        if not known:
            return
        wanted = {h.partition(":")[2] for a in known for h in a.hashes if h.startswith("sha256:")}
        if wanted and entry.sha256 not in wanted:
            raise BuildError(
                f"{pin.name}=={pin.version}: step {step} for {self.where}: {entry.filename} has "
                f"sha256 {entry.sha256}, the index published {min(wanted)}"
            )

    def _check_tags(self, pin: Pin, wheel: Path, *, built_here: bool) -> None:
        problem = wheel_problem(wheel.name, pin.name, pin.version, pin.installed_version, self.target, built_here=built_here)
        if problem is not None:
            raise BuildError(f"{pin.name}=={pin.version}: step wheel-check for {self.where}: {problem}")

    def _tmp_root(self) -> str:
        path = self.store.tmp_dir
        path.mkdir(parents=True, exist_ok=True)
        self.store.sweep()  # what killed builds left: staged objects, download and build directories
        with self.lock:
            sweep, self._swept_builds = not self._swept_builds, True
        if sweep:  # the fixed build directories of killed builds
            sweep_build_dirs()
        return str(path)

    def _wheel(
        self,
        pin: Pin,
        entry: StoreEntry,
        source: WheelSource,
        *,
        from_store: bool,
        downloaded: int = 0,
        found: PackageSource | None = None,
        sdist: StoreEntry | None = None,
    ) -> WheelFile:
        if found is None and from_store:
            found = found_in_meta((sdist or entry).meta)
        return WheelFile(
            name=pin.name,
            version=pin.version,
            filename=entry.filename,
            sha256=entry.sha256,
            size=entry.size,
            source=source,
            from_store=from_store,
            downloaded_bytes=downloaded,
            found_on=found,
            sdist=SdistFile(filename=sdist.filename, sha256=sdist.sha256, size=sdist.size) if sdist else None,
        )

    # -- builds

    def _build_lookup(self, base: dict[str, Any]) -> StoreEntry | None:
        for tags in ("any", tag_key(self.target)):
            entry = self.store.lookup({**base, "tags": tags})
            if entry is not None:
                return entry
        return None

    @contextmanager
    def _build_dir(self, base: Mapping[str, Any]) -> Iterator[BuildDir]:
        """The fixed build directory of the source ``base`` names (see `_isolated`)."""
        with build_directory(key_id(base), Path(self._tmp_root()), temp_prefix("build")) as bd:
            yield bd

    def build_directory(self, pin: Pin) -> WheelFile:
        source = Path(pin.source or "")
        if not pin.source or not source.is_dir():
            raise BuildError(
                f"{pin.name}=={pin.version}: step build-wheel for {self.where}: the source directory "
                f"{source.name or '(unknown)'} of the {pin.origin.kind.value} install is gone"
                + (f" ({pin.source})" if pin.source else "")
            )
        sub = pin.origin.subdirectory
        project = source / sub if sub else source
        base = {
            "op": "build",
            "format": _BUILD_FORMAT,
            "name": pin.name,
            "version": pin.version,
            "origin": pin.origin.kind.value,
            "tree": tree_digest(project),
            **self._index_key(),
        }
        entry = self._build_lookup(base)
        if entry is not None:
            return self._event("cached", self._wheel(pin, entry, WheelSource.BUILT, from_store=True))
        with self._build_dir(base) as bd:
            copy_tree(project, bd.src)
            entry = self._build(pin, bd, bd.src, base, DEFAULT_SOURCE_DATE_EPOCH)
        return self._event("built", self._wheel(pin, entry, WheelSource.BUILT, from_store=False))

    def build_vcs(self, pin: Pin) -> WheelFile:
        origin = pin.origin
        repo = pin.source or ""
        if origin.vcs not in (None, "git"):
            raise BuildError(
                f"{pin.name}=={pin.version}: step build-wheel for {self.where}: only git repositories "
                f"on this machine can be built, not {origin.vcs}"
            )
        if not origin.commit_id:
            raise BuildError(
                f"{pin.name}=={pin.version}: step build-wheel for {self.where}: no commit recorded for the VCS install"
            )
        base = {
            "op": "build",
            "format": _BUILD_FORMAT,
            "name": pin.name,
            "version": pin.version,
            "origin": "vcs",
            "url": mask_url(origin.url or ""),
            "commit": origin.commit_id,
            "subdirectory": origin.subdirectory or "",
            **self._index_key(),
        }
        entry = self._build_lookup(base)
        if entry is not None:
            return self._event("cached", self._wheel(pin, entry, WheelSource.BUILT, from_store=True))
        git = shutil.which("git")
        if git is None:
            raise BuildError(f"{pin.name}=={pin.version}: step checkout for {self.where}: git is not installed")
        with self._build_dir(base) as bd:
            checkout = bd.src  # the clone is the source: a subdirectory project keeps its .git above it
            env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}
            try:
                for cmd in (
                    [git, "clone", "--quiet", "--no-checkout", repo, str(checkout)],
                    [git, "-C", str(checkout), "-c", "advice.detachedHead=false", "checkout", "--quiet", origin.commit_id],
                ):
                    subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, timeout=600)
                when = subprocess.run(
                    [git, "-C", str(checkout), "show", "-s", "--format=%ct", origin.commit_id],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                    timeout=60,
                ).stdout.strip()
            except subprocess.CalledProcessError as exc:
                detail = (exc.stderr or "").strip().splitlines()
                raise BuildError(
                    f"{pin.name}=={pin.version}: step checkout for {self.where}: cannot check out commit "
                    f"{origin.commit_id} of {mask_url(origin.url or repo)}" + (f": {detail[-1]}" if detail else "")
                ) from exc
            project = checkout / origin.subdirectory if origin.subdirectory else checkout
            epoch = int(when) if when.isdigit() else DEFAULT_SOURCE_DATE_EPOCH
            entry = self._build(pin, bd, project, base, epoch)
        return self._event("built", self._wheel(pin, entry, WheelSource.BUILT, from_store=False))

    def local_archive(self, pin: Pin) -> WheelFile:
        path = Path(pin.source or "")
        if not pin.source or not path.is_file():
            raise BuildError(
                f"{pin.name}=={pin.version}: step copy for {self.where}: the local file {path.name or '(unknown)'} "
                "it was installed from is gone"
            )
        if path.name.endswith(".whl"):
            key = {"op": "copy", "name": pin.name, "version": pin.version, "file_sha256": sha256_file(path)}
            entry = self.store.lookup(key)
            if entry is None:
                self._check_tags(pin, path, built_here=True)
                entry = self.store.put_file(path, kind=StoreKind.DOWNLOADED)
                self.store.record(key, entry)
                return self._event("copied", self._wheel(pin, entry, WheelSource.COPIED, from_store=False))
            return self._event("cached", self._wheel(pin, entry, WheelSource.COPIED, from_store=True))
        base = {
            "op": "build",
            "format": _BUILD_FORMAT,
            "name": pin.name,
            "version": pin.version,
            "origin": "url",
            "file_sha256": sha256_file(path),
            **self._index_key(),
        }
        entry = self._build_lookup(base)
        if entry is not None:
            return self._event("cached", self._wheel(pin, entry, WheelSource.BUILT, from_store=True))
        with self._build_dir(base) as bd:
            self._unpack(pin, path, bd.src)
            entry = self._build(pin, bd, bd.src, base, DEFAULT_SOURCE_DATE_EPOCH)
        return self._event("built", self._wheel(pin, entry, WheelSource.BUILT, from_store=False))

    def _unpack(self, pin: Pin, archive: Path, dest: Path) -> None:
        try:
            unpack_sdist(archive, dest)
        except (OSError, ValueError, tarfile.TarError, zipfile.BadZipFile) as exc:
            raise BuildError(f"{pin.name}=={pin.version}: step unpack for {self.where}: {archive.name}: {exc}") from exc

    def _sdist_key(self, pin: Pin) -> dict[str, Any]:
        # Always the target's tags, even for a pure result: whether the index has a wheel
        # depends on the target, and an index wheel must win wherever there is one.
        key = {"op": "build-sdist", "format": _BUILD_FORMAT, "name": pin.name, "version": pin.version,
               "tags": tag_key(self.target), **self._index_key()}  # fmt: skip
        if pin.origin.index_url:
            key["pin_index"] = mask_url(pin.origin.index_url)
        return key

    def cached_sdist_build(self, pin: Pin) -> WheelFile | None:
        key = self._sdist_key(pin)
        built = self.store.lookup(key)
        sdist = self.store.lookup({**key, "op": "sdist"}) if built is not None else None
        if built is None or sdist is None:
            return None
        return self._event("cached", self._wheel(pin, built, WheelSource.BUILT, from_store=True, sdist=sdist))

    def build_sdist(self, pin: Pin, options: ResolveOptions, no_wheel: str) -> WheelFile:
        """The index has no wheel of ``pin`` for the target: fetch its sdist with pip (the
        same sources, transport settings and progress as a wheel's download, into the
        store's temporary directory) and build it in the fixed directory, as for a local
        project. ``no_wheel`` is the download error, raised as is when there is no sdist either."""
        key = self._sdist_key(pin)
        python, _ = self.builder()
        bar, on_line = raw_progress(
            (lambda got, size: self._on_the_way(pin, "downloading", got, size)) if self.progress else None
        )
        with tempfile.TemporaryDirectory(prefix=temp_prefix("dl"), dir=self._tmp_root()) as tmp:
            fetched = Path(tmp, "sdist")
            pip_tmp = Path(tmp, "pip")  # pip's partial downloads and metadata builds, removed with the directory
            for sub in (fetched, pip_tmp):
                sub.mkdir()
            args = ["--python", python] if python else []
            # --no-binary for this name only: the build requirements that pip installs to
            # read the sdist's metadata may still be wheels
            args += ["download", "--no-deps", f"--no-binary={pin.name}", "--no-cache-dir", *bar]
            args += ["--retries", "0", "--timeout", "30", *index_args(options, self.environ)]
            args += ["-d", str(fetched), f"{pin.name}=={pin.version}"]
            run = run_pip(args, env=pip_environ(self.environ, transport=options.transport, TMPDIR=str(pip_tmp)),
                          retries=self.options.retries, backoff=self.options.backoff, timeout=self.options.timeout,
                          cwd=Path(tmp), keep_log=True, on_line=on_line)  # fmt: skip
            files = sorted(fetched.iterdir())
            if run.returncode != 0 or len(files) != 1 or files[0].name.endswith(".whl"):
                detail = run.last_error()
                if _NO_MATCH in f"{run.stderr}\n{run.stdout}" or not detail:
                    raise BuildError(no_wheel)
                raise BuildError(
                    f"{pin.name}=={pin.version}: step build-sdist for {self.where}: the index has no wheel for the "
                    f"target and its sdist could not be prepared: {mask_url(detail)}"
                )
            source = found_on(run.log, files[0].name, options, environ=self.environ)  # options has the pin's index
            sdist = self.store.put_file(files[0], kind=StoreKind.SDIST)
            self._check_known_hashes(pin, sdist, step="build-sdist")
            with self._build_dir(key) as bd:
                self._unpack(pin, files[0], bd.src)
                entry = self._build(pin, bd, bd.src, key, DEFAULT_SOURCE_DATE_EPOCH, tags=tag_key(self.target))
        self.store.record({**key, "op": "sdist"}, sdist, meta=found_meta(source))
        made = self._wheel(pin, entry, WheelSource.BUILT, from_store=False, downloaded=sdist.size, found=source, sdist=sdist)
        return self._event("built", made)

    def _build(
        self, pin: Pin, bd: BuildDir, project: Path, base: dict[str, Any], epoch: int, *, tags: str | None = None
    ) -> StoreEntry:
        self._on_the_way(pin, "building")
        python, exact = self.builder()
        env = pip_environ(self.environ, transport=self.closure.options.transport, SOURCE_DATE_EPOCH=str(epoch))
        # setuptools-scm / hatch-vcs derive the version from .git, which a clean copy of a
        # directory does not have: pretend the version that is installed (for this one
        # distribution only), so the wheel matches the pin.
        scm_name = re.sub(r"[^A-Z0-9]+", "_", pin.name.upper())
        env[f"SETUPTOOLS_SCM_PRETEND_VERSION_FOR_{scm_name}"] = pin.installed_version or pin.version
        what = "sdist" if base["op"] == "build-sdist" else f"{pin.origin.kind.value} install"
        try:
            built = build_in(bd, project, python=python or sys.executable, index_args=index_args(self.closure.options, self.environ),
                             env=env, retries=self.options.retries, backoff=self.options.backoff,
                             timeout=self.options.timeout)  # fmt: skip
        except IsolatedBuildError as exc:
            doing = _STEP_WORDS.get(exc.step, exc.step)
            raise BuildError(
                f"{pin.name}=={pin.version}: step build-wheel for {self.where}: {doing} ({what}): {mask_url(exc.detail)}"
            ) from exc
        pure = is_pure_wheel(built)
        if not pure and not exact:
            major, minor = self.target.python_minor
            raise BuildError(
                f"{pin.name}=={pin.version}: step build-wheel for {self.where}: the wheel has compiled code "
                f"({built.name}) and no CPython {major}.{minor} on a Linux {self.target.platform_machine} machine "
                "is available to build it for the target",
                hint=f"install Python {major}.{minor} here (pyenv install {major}.{minor}) or set "
                f"ENVCAPTURE_PYTHON_{major}_{minor}, build on Linux {self.target.platform_machine}, or publish "
                f"a manylinux wheel of {pin.name} to an index and install it from there",
            )
        self._check_tags(pin, built, built_here=True)
        normalized = bd.root / built.name
        normalize_wheel(built, normalized, epoch=epoch)
        entry = self.store.put_file(normalized, kind=StoreKind.BUILT)
        self.store.record({**base, "tags": tags or ("any" if pure else tag_key(self.target))}, entry)
        return entry


def build_wheelhouse(
    closure: Closure,
    target: Target,
    *,
    store: Store | None = None,
    options: WheelhouseOptions | None = None,
    progress: Callable[[WheelEvent], None] | None = None,
) -> Wheelhouse:
    """Fetch or build a wheel for every pin the target installs from the wheelhouse or an
    index (``Delivery.DIRECT`` pins are fetched by the target and left out).

    :raises BuildError: a wheel cannot be downloaded or built for ``target``; the message
        names the package, version, target and step (the first failing pin by name; the
        others are counted).
    """
    store = store or Store()
    options = options or WheelhouseOptions()
    run = _Run(closure, target, store, options, progress)
    todo = [p for p in closure.pins if p.delivery is not Delivery.DIRECT]
    run.total = len(todo)
    corrupted_before = store.corrupted
    jobs = options.jobs or min(8, (os.cpu_count() or 1) + 2)
    results: dict[DistName, WheelFile] = {}
    errors: list[tuple[str, BaseException]] = []
    if progress is not None:
        progress(WheelEvent(name="", action="start", done=0, total=len(todo)))
    if todo:
        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(todo))), thread_name_prefix="wheelhouse") as pool:
            futures = {pool.submit(run.handle, pin): pin for pin in todo}
            for future, pin in futures.items():
                try:
                    results[pin.name] = future.result()
                except BaseException as exc:  # noqa: BLE001 - collected, the first one re-raised below
                    errors.append((pin.name, exc))
    if errors:
        errors.sort(key=lambda item: item[0])
        first = errors[0][1]
        if not isinstance(first, BuildError):
            raise first
        if len(errors) > 1:
            raise BuildError(
                f"{first.message} [and {len(errors) - 1} more failing package{'s' if len(errors) > 2 else ''}]", hint=first.hint
            ) from first
        raise first
    pins = []
    for pin in closure.pins:
        wheel = results.get(pin.name)
        if wheel is None:
            pins.append(pin)
            continue
        sdist = wheel.sdist  # what it was built from: pip accepts either file, the lock says which
        found = wheel.found_on if sdist is None else None  # a built wheel was found nowhere: its sdist was
        artifacts = [Artifact(filename=wheel.filename, hashes=(f"sha256:{wheel.sha256}",), size=wheel.size, found_on=found)]
        if sdist is not None:
            sha = f"sha256:{sdist.sha256}"
            artifacts.append(Artifact(filename=sdist.filename, hashes=(sha,), size=sdist.size, found_on=wheel.found_on))
        pins.append(replace(pin, artifacts=tuple(artifacts)))
    wheels = tuple(sorted(results.values()))
    stats = WheelhouseStats(
        downloads=sum(1 for w in wheels if w.source is WheelSource.DOWNLOADED and not w.from_store),
        builds=sum(1 for w in wheels if w.source is WheelSource.BUILT and not w.from_store),
        copies=sum(1 for w in wheels if w.source is WheelSource.COPIED and not w.from_store),
        store_hits=sum(1 for w in wheels if w.from_store),
        bytes_downloaded=sum(w.downloaded_bytes for w in wheels),
        corrupted=store.corrupted - corrupted_before,
    )
    return Wheelhouse(
        closure=replace(closure, pins=tuple(pins)),
        wheels=wheels,
        stats=stats,
        direct=tuple(sorted(p.name for p in closure.pins if p.delivery is Delivery.DIRECT)),
    )


def build_local_wheels(
    closure: Closure,
    target: Target,
    *,
    store: Store | None = None,
    options: WheelhouseOptions | None = None,
    progress: Callable[[WheelEvent], None] | None = None,
) -> Wheelhouse:
    """`build_wheelhouse` for the pins built here from local sources only (directories,
    editable installs, VCS commits and archives on this machine); the other pins of
    ``closure`` are kept as they are. This is what ``envcapture lock`` hashes: the wheels
    the bundle will ship, built reproducibly and kept in the store for the build.

    :raises BuildError: as `build_wheelhouse`.
    """
    local = tuple(p for p in closure.pins if p.delivery is Delivery.WHEELHOUSE and p.origin.kind is not OriginKind.INDEX)
    if not local:
        return Wheelhouse(closure=closure, wheels=(), stats=WheelhouseStats())
    house = build_wheelhouse(replace(closure, pins=local), target, store=store, options=options, progress=progress)
    built = {p.name: p for p in house.closure.pins}
    return replace(house, closure=replace(closure, pins=tuple(built.get(p.name, p) for p in closure.pins)))


def write_wheelhouse(wheelhouse: Wheelhouse, directory: Path, *, store: Store | None = None) -> list[Path]:
    """Copy the wheels of ``wheelhouse`` from the store into ``directory``; return their
    paths. Each copy is checked against its sha256.

    :raises BuildError: a wheel left the store (pruned meanwhile) or its copy is damaged.
    """
    store = store or Store()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for wheel in wheelhouse.wheels:
        dest = directory / wheel.filename
        if not store.export(wheel.sha256, dest):
            raise BuildError(
                f"{wheel.name}=={wheel.version}: step write-wheelhouse: {wheel.filename} is no longer "
                "in the store or is damaged there (pruned meanwhile?); build again"
            )
        written.append(dest)
    return written
