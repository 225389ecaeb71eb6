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
  partial elsewhere, and the next run removes it (`Store.sweep`).
* Wheelhouse pins (VCS commits on this machine, local directories, editable installs,
  local archives) are built with ``pip wheel --no-deps`` and build isolation (the build
  backend comes from the job's indexes), from a clean copy of the source, with
  ``SOURCE_DATE_EPOCH`` (the commit time for VCS, else 1980-01-01) and
  ``PYTHONHASHSEED=0``; the wheel is then normalized (sorted entries, fixed timestamps and
  permissions, sorted RECORD) so the same source gives the same bytes. A wheel with
  compiled code is only accepted when built by a CPython of the target version on Linux
  x86_64; otherwise a `BuildError` names the package and the ways out.

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
import tempfile
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from envcapture._fs import sha256_file, temp_prefix
from envcapture._urls import mask_url
from envcapture.build._pip import found_on, index_args, pip_environ, raw_progress, run_pip
from envcapture.build._wheels import (
    DEFAULT_SOURCE_DATE_EPOCH,
    copy_tree,
    is_pure_wheel,
    normalize_wheel,
    tag_key,
    tags_tried,
    tree_digest,
)
from envcapture.build.store import Store, StoreEntry, StoreKind
from envcapture.environment.interpreters import find_interpreter, host_matches
from envcapture.errors import BuildError
from envcapture.model import DistName, Target
from envcapture.resolution.model import Artifact, Closure, Delivery, OriginKind, PackageSource, Pin, SourceKind
from envcapture.resolution.sources import configured_indexes

# pip's words for a disk that cannot take the download: full, read-only, over quota, failing.
_DISK_ERROR_RE = re.compile(r"\[Errno (?:5|28|30|122)\] ([A-Za-z][A-Za-z ,-]+)")

__all__ = [
    "DEFAULT_SOURCE_DATE_EPOCH",
    "WheelEvent",
    "WheelFile",
    "WheelSource",
    "Wheelhouse",
    "WheelhouseOptions",
    "WheelhouseStats",
    "build_wheelhouse",
    "is_pure_wheel",
    "normalize_wheel",
    "write_wheelhouse",
]


def __dir__() -> list[str]:
    return __all__


log = logging.getLogger(__name__)

# Bumped when the way wheels are built or normalized changes: older store entries miss.
_BUILD_FORMAT = "pip-wheel-isolated/1"
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
    found_on: PackageSource | None = None  # the index or find-links location of a download


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
                raise BuildError(
                    f"{pin.name}=={pin.version}: step download for {self.where}: no wheel matching the target "
                    f"on {where} after {run.attempts} attempt{'s' if run.attempts > 1 else ''} "
                    f"(tags tried: {tags_tried(self.target)})" + (f": {mask_url(detail)}" if detail else "")
                )
            wheel = wheels[0]
            self._check_tags(pin, wheel, built_here=False)
            size = wheel.stat().st_size
            extra = [pin.origin.index_url] if pin.origin.index_url else []
            source = found_on(run.log, wheel.name, self.closure.options, extra_indexes=extra, environ=self.environ)
            entry = self.store.put_file(wheel, kind=StoreKind.DOWNLOADED)
        self._check_known_hashes(pin, entry)
        self.store.record(key, entry, meta={"found_on": source.location, "found_on_kind": source.kind.value} if source else None)
        made = self._wheel(pin, entry, WheelSource.DOWNLOADED, from_store=False, downloaded=size, found=source)
        return self._event("downloaded", made)

    def _check_known_hashes(self, pin: Pin, entry: StoreEntry) -> None:
        known = [a for a in pin.artifacts if a.filename == entry.filename and a.hashes]
        if not known:
            return
        wanted = {h.partition(":")[2] for a in known for h in a.hashes if h.startswith("sha256:")}
        if wanted and entry.sha256 not in wanted:
            raise BuildError(
                f"{pin.name}=={pin.version}: step download for {self.where}: {entry.filename} has "
                f"sha256 {entry.sha256}, the index published {min(wanted)}"
            )

    def _check_tags(self, pin: Pin, wheel: Path, *, built_here: bool) -> None:
        try:
            name, version, _, tags = parse_wheel_filename(wheel.name)
        except InvalidWheelFilename as exc:
            raise BuildError(f"{pin.name}=={pin.version}: step wheel-check for {self.where}: {exc}") from exc
        if str(canonicalize_name(name)) != str(pin.name):
            raise BuildError(f"{pin.name}=={pin.version}: step wheel-check for {self.where}: got {wheel.name}, a wheel of {name}")
        try:
            same = version == Version(pin.version)
        except InvalidVersion:
            same = str(version) == pin.version
        if not same:
            raise BuildError(
                f"{pin.name}=={pin.version}: step wheel-check for {self.where}: the source now gives "
                f"version {version} but {pin.installed_version or pin.version} is installed "
                "(reinstall it, or revert the version change, then build again)"
            )
        if not tags & set(self.target.wheel_tags(built_here=built_here)):
            raise BuildError(
                f"{pin.name}=={pin.version}: step wheel-check for {self.where}: {wheel.name} does not "
                f"install on the target (tags tried: {tags_tried(self.target)})"
            )

    def _tmp_root(self) -> str:
        path = self.store.tmp_dir
        path.mkdir(parents=True, exist_ok=True)
        self.store.sweep()  # what killed builds left: staged objects, download and build directories
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
    ) -> WheelFile:
        if found is None and from_store:
            meta = dict(entry.meta)
            if meta.get("found_on") and meta.get("found_on_kind") in {k.value for k in SourceKind}:
                found = PackageSource(kind=SourceKind(meta["found_on_kind"]), location=meta["found_on"])
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
        )

    # -- builds

    def _build_lookup(self, base: dict[str, Any]) -> StoreEntry | None:
        for tags in ("any", tag_key(self.target)):
            entry = self.store.lookup({**base, "tags": tags})
            if entry is not None:
                return entry
        return None

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
        with tempfile.TemporaryDirectory(prefix=temp_prefix("build"), dir=self._tmp_root()) as tmp:
            staged = Path(tmp, "src", project.name or "project")
            copy_tree(project, staged)
            entry = self._build(pin, staged, Path(tmp), base, DEFAULT_SOURCE_DATE_EPOCH)
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
        with tempfile.TemporaryDirectory(prefix=temp_prefix("build"), dir=self._tmp_root()) as tmp:
            checkout = Path(tmp, "src", pin.name)
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
            entry = self._build(pin, project, Path(tmp), base, epoch)
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
        with tempfile.TemporaryDirectory(prefix=temp_prefix("build"), dir=self._tmp_root()) as tmp:
            staged = Path(tmp, "src", path.name)
            staged.parent.mkdir(parents=True)
            shutil.copyfile(path, staged)
            entry = self._build(pin, staged, Path(tmp), base, DEFAULT_SOURCE_DATE_EPOCH)
        return self._event("built", self._wheel(pin, entry, WheelSource.BUILT, from_store=False))

    def _build(self, pin: Pin, project: Path, tmp: Path, base: dict[str, Any], epoch: int) -> StoreEntry:
        self._on_the_way(pin, "building")
        python, exact = self.builder()
        out = tmp / "wheels"
        out.mkdir()
        args = ["--python", python or sys.executable] if python else []
        args += ["wheel", "--no-deps", "--no-cache-dir", "--progress-bar", "off", "--wheel-dir", str(out)]
        args += index_args(self.closure.options, self.environ)
        args.append(str(project))
        env = pip_environ(self.environ, transport=self.closure.options.transport, SOURCE_DATE_EPOCH=str(epoch))
        # setuptools-scm / hatch-vcs derive the version from .git, which a clean copy of a
        # directory does not have: pretend the version that is installed (for this one
        # distribution only), so the wheel matches the pin.
        scm_name = re.sub(r"[^A-Z0-9]+", "_", pin.name.upper())
        env[f"SETUPTOOLS_SCM_PRETEND_VERSION_FOR_{scm_name}"] = pin.installed_version or pin.version
        run = run_pip(
            args, env=env, retries=self.options.retries, backoff=self.options.backoff, timeout=self.options.timeout, cwd=tmp
        )
        wheels = sorted(out.glob("*.whl"))
        if run.returncode != 0 or len(wheels) != 1:
            raise BuildError(
                f"{pin.name}=={pin.version}: step build-wheel for {self.where}: pip wheel failed "
                f"({pin.origin.kind.value} install): {mask_url(run.last_error())}"
            )
        built = wheels[0]
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
        normalized = tmp / built.name
        normalize_wheel(built, normalized, epoch=epoch)
        entry = self.store.put_file(normalized, kind=StoreKind.BUILT)
        self.store.record({**base, "tags": "any" if pure else tag_key(self.target)}, entry)
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
        artifact = Artifact(
            filename=wheel.filename, hashes=(f"sha256:{wheel.sha256}",), url=None, size=wheel.size, found_on=wheel.found_on
        )
        pins.append(replace(pin, artifacts=(artifact,)))
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
