"""Private file helpers: atomic writes, hashing, paths that must stay inside a directory, the
rules of the files that never ship (`exclusion_rule`), and the JSON documents envcapture
writes (their schema header and the reader with the schema-major check).

Every JSON document opens with ``schema`` (``envcapture/<kind>``), ``schema_version``
(``MAJOR.MINOR``) and ``generator``. A reader accepts the major version it knows (a newer minor
only adds fields) and refuses anything else with an `InputError` naming the file and both
versions. (One module with the file helpers rather than its own: the target side loads it
anyway, and ``envcapture run`` keeps to 15 envcapture modules.)
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import json
import math
import os
import stat
import sys
from _thread import allocate_lock
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Literal, overload

from envcapture._version import __version__
from envcapture.errors import InputError

__all__ = [
    "GENERATOR",
    "USER_FILE_LIMIT",
    "StagedFile",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_writer",
    "compiled_dataclasses",
    "data_file",
    "default_cache_dir",
    "document_header",
    "exclusion_rule",
    "json_text",
    "live_members",
    "pid_alive",
    "read_document",
    "read_user_file",
    "remove_debris",
    "replace_directory",
    "sha256_bytes",
    "sha256_file",
    "temp_prefix",
]


# --- files that never leave the machine ----------------------------------------------------
# The rules of the one walker that selects the local code and the inputs (build/localcode.py);
# here, below the stages, so that the analysis reports a file the code reads but that never ships.

# (rule, what it matches): directory names, file names, file globs. Matched per path
# component, case-sensitively except the globs of keys and certificates.
_DIR_RULES: tuple[tuple[str, frozenset[str]], ...] = (
    ("vcs-metadata", frozenset({".git", ".hg", ".svn", ".bzr"})),
    ("bytecode-cache", frozenset({"__pycache__"})),
    ("credentials", frozenset({".aws", ".ssh", ".gnupg", ".docker"})),
)
_FILE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("vcs-metadata", (".git", ".gitmodules-credentials")),
    ("bytecode", ("*.pyc", "*.pyo")),
    ("dotenv", (".env", ".env.*", ".envrc")),
    ("private-key", ("id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.pem", "*.key", "*.ppk")),
    (
        "credentials",
        (".netrc", "_netrc", ".pypirc", "credentials.json", ".git-credentials", "*.p12", "*.pfx", "*.jks", "*.keystore"),
    ),
    (
        "secrets",
        ("secrets.yaml", "secrets.yml", "secrets.json", "secrets.toml", "secrets.env", ".secrets", "*.secret", "*.secrets"),
    ),
)


def exclusion_rule(rel: str, *, is_dir: bool = False) -> str | None:
    """The rule that leaves ``rel`` (a project-relative POSIX path) out, or ``None``."""
    parts = PurePosixPath(rel).parts
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if not last or is_dir:
            for rule, names in _DIR_RULES:
                if part in names:
                    return rule
        if last and not is_dir:
            lowered = part.lower()
            for rule, patterns in _FILE_RULES:
                if any(fnmatch.fnmatchcase(part, p) or fnmatch.fnmatchcase(lowered, p) for p in patterns):
                    return rule
    return None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


USER_FILE_LIMIT = 16 << 20
"""The most bytes `read_user_file` reads by default (16 MiB): more than any config,
requirements or pyproject file, far less than ``/dev/zero``."""

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def read_user_file(path: str | os.PathLike[str], *, limit: int = USER_FILE_LIMIT) -> bytes:
    """The bytes of a file named by the user (a config, a requirements file and its
    includes, a pyproject, a source file): a regular file of at most ``limit`` bytes.

    It is opened without blocking (``O_NONBLOCK``: a FIFO with no writer does not hang
    the open) and checked with ``fstat`` before anything is read, so ``/dev/stdin``, a
    FIFO, ``/dev/zero`` or a directory are refused at once instead of blocking or reading
    without end.

    :raises OSError: the file cannot be opened or read; ``EINVAL`` with a ``strerror``
        naming its type ("not a regular file (a FIFO)") when it is not a regular file;
        ``EFBIG`` when it is larger than ``limit``; ``EINVAL`` for a NUL byte in
        ``path``. ``filename`` is ``path``.
    """
    if "\x00" in os.fspath(path):  # open() would raise ValueError
        raise OSError(errno.EINVAL, "a NUL byte in the file name", os.fspath(path).replace("\x00", "\\x00"))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "a special file")
            raise OSError(errno.EINVAL, f"not a regular file ({kind})", os.fspath(path))
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes", os.fspath(path))
        chunks: list[bytes] = []
        size = 0
        while block := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(block)
            size += len(block)
            if size > limit:  # it grew while being read
                raise OSError(errno.EFBIG, f"larger than {limit} bytes", os.fspath(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


@dataclass(slots=True)
class StagedFile:
    """The temporary file of an `atomic_writer` block.

    ``file`` is open for writing; ``path`` is its name (readable once ``file`` is flushed).
    ``dest`` is where it goes when the block ends: a content-addressed store sets it once the
    digest is known (same directory or file system), ``None`` drops the file (the object
    was already there).
    """

    file: BinaryIO
    path: Path
    dest: Path | None


@contextmanager
def atomic_writer(dest: Path, *, mode: int = 0o644, durable: bool = True, prefix: str | None = None) -> Iterator[StagedFile]:
    """Write a file so that a reader sees the old ``dest`` or the whole new one, never a part.

    The block writes to a temporary file in ``dest``'s directory (named ``prefix...tmp``,
    default ``.<name>.``: a `temp_prefix` lets `remove_debris` clear it once its writer
    was killed); when it ends without an exception the file is flushed (and fsynced unless
    ``durable=False``, for caches whose entries are verified on read anyway: an fsync
    costs milliseconds), given ``mode`` and renamed over ``staged.dest`` (``os.replace``
    is atomic on POSIX and Windows), whose directory is then fsynced so the rename
    survives a crash too. When it raises, the temporary file is removed: an interrupted
    write leaves at most a stray temporary file that nothing trusts.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    import tempfile  # here: a warm analysis writes nothing, and tempfile brings shutil, random

    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=prefix or f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            staged = StagedFile(file=fh, path=Path(tmp), dest=dest)
            yield staged
            fh.flush()
            if durable and staged.dest is not None:
                os.fsync(fh.fileno())
        if staged.dest is None:
            os.unlink(tmp)
            return
        os.chmod(tmp, mode)
        os.replace(tmp, staged.dest)
        if durable:
            _fsync_directory(staged.dest.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _fsync_directory(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (see `atomic_writer`)."""
    with atomic_writer(path, mode=mode, durable=durable) as staged:
        staged.file.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8, LF line endings, written atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs: a temporary directory named after a live writer
    is in use; one named after a dead writer is debris of an interrupted run."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_prefix(kind: str) -> str:
    """``envcapture-<kind>-<pid>-``: a temporary name that says who owns it, so that
    `remove_debris` can tell the debris of an interrupted build from a live one."""
    return f"envcapture-{kind}-{os.getpid()}-"


def remove_debris(directory: Path | str, kind: str) -> int:
    """Remove the ``envcapture-<kind>-<pid>-*`` files and directories in ``directory``
    whose process is gone (left by a build that was killed); return how many."""
    prefix = f"envcapture-{kind}-"
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        if not name.startswith(prefix):
            continue
        pid_text = name[len(prefix) :].partition("-")[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or pid_alive(int(pid_text)):
            continue
        path = os.path.join(directory, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                import shutil

                shutil.rmtree(path)
            else:
                os.unlink(path)
            removed += 1
        except OSError:
            continue
    return removed


def data_file(name: str) -> Path:
    """``envcapture/data/<name>``, a file of the installed package. Read by path rather than
    through ``importlib.resources``, which imports ``tempfile`` (and ``shutil``, ``random``):
    a warm analysis reads these tables' digests and needs none of that."""
    return Path(__file__).parent / "data" / name


def default_cache_dir() -> Path:
    """``$ENVCAPTURE_CACHE_DIR``, else the platform's user cache directory."""
    env = os.environ.get("ENVCAPTURE_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("envcapture", appauthor=False))


def replace_directory(new: Path, target: Path) -> None:
    """Put the complete directory ``new`` at ``target``, replacing what is there.

    Two renames (the old directory aside, the new one in place) with a rollback, so a reader
    sees the old directory or the new one, never a half-written one; the old one is removed
    last. ``new`` and ``target`` must be on one file system (build ``new`` beside ``target``).
    """
    import secrets
    import shutil

    if not target.exists():
        os.rename(new, target)
        return
    old = target.with_name(f"{target.name}.old-{secrets.token_hex(4)}")
    os.rename(target, old)
    try:
        os.rename(new, target)
    except OSError:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def key_id(key: Mapping[str, Any]) -> str:
    """The SHA-256 of ``key`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(dict(key), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- JSON documents ---------------------------------------------------------------------------


GENERATOR = f"envcapture {__version__}"
"""The ``generator`` of every document, and the name in the lock file's header."""


def document_header(schema: str, version: str) -> dict[str, str]:
    """``{"schema": ..., "schema_version": ..., "generator": ...}``: spread it first into a document."""
    return {"schema": schema, "schema_version": version, "generator": GENERATOR}


# json.dumps writes indented JSON with its pure-Python encoder (the C one only writes it
# compact): 100 M instructions, 3/4 of a warm analysis's own work, for a 1,000-site report.
# `json_text` writes the same bytes from the same C string escaper, several times faster.
_escape = json.encoder.encode_basestring  # the C escaper when available, as ensure_ascii=False uses


def _json_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _json_value(value: Any, pad: str) -> str:
    """``value`` as json.dumps(indent=2) writes it at the depth whose line prefix is ``pad``."""
    kind = type(value)
    if kind is str:
        return _escape(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    inner = pad + "  "
    if kind is dict:
        if not value:
            return "{}"
        sep = "," + inner
        return "{" + inner + sep.join([_json_key(k) + ": " + _json_value(v, inner) for k, v in value.items()]) + pad + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        sep = "," + inner
        return "[" + inner + sep.join([_json_value(v, inner) for v in value]) + pad + "]"
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, (dict, list, tuple)):
        return _json_value(dict(value) if isinstance(value, dict) else list(value), pad)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _json_key(key: object) -> str:
    if isinstance(key, str):
        return _escape(key)
    raise TypeError(f"keys must be str, not {type(key).__name__}")


def json_text(document: Any) -> str:
    """``json.dumps(document, indent=2, ensure_ascii=False)``, byte for byte (for documents
    of dicts with str keys, lists, tuples, str, int, float, bool and None), faster."""
    try:
        return _json_value(document, "\n")
    except (TypeError, RecursionError):
        return json.dumps(document, indent=2, ensure_ascii=False)  # its own error, or another key type


def _major(version: str) -> str:
    return version.split(".")[0]


@overload
def read_document(
    path: Path, *, schema: str, version: str, what: str, missing_hint: str, foreign_ok: Literal[False] = False
) -> dict[str, Any]: ...
@overload
def read_document(
    path: Path, *, schema: str, version: str, what: str, missing_hint: str, foreign_ok: bool
) -> dict[str, Any] | None: ...
def read_document(
    path: Path, *, schema: str, version: str, what: str, missing_hint: str, foreign_ok: bool = False
) -> dict[str, Any] | None:
    """The JSON document at ``path``, checked for its ``schema`` and major ``version``.

    ``what`` names the document in messages (``manifest``); ``missing_hint`` ends the message
    for a missing file (``is BUNDLE an envcapture bundle?``). ``foreign_ok``: a missing file
    or another document is ``None`` rather than an error.

    :raises InputError: missing, not JSON, another schema, or another major version.
    """
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        if foreign_ok:
            return None
        raise InputError(f"{path}: no such file; {missing_hint}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("schema") != schema:
        if foreign_ok:
            return None
        found = doc.get("schema") if isinstance(doc, dict) else None
        raise InputError(f"{path}: not an envcapture {what} (schema {found!r})")
    found_version = str(doc.get("schema_version", ""))
    if _major(found_version) != _major(version):
        raise InputError(
            f"{path}: {what} schema_version {found_version!r}; this envcapture reads {version} (major {_major(version)})"
        )
    return doc


# --- processes, read from /proc ---------------------------------------------------------------


def live_members(*, pgid: int | None = None, sid: int | None = None) -> list[int]:
    """Pids of live (not zombie) processes in process group ``pgid`` and/or session ``sid``.

    Read from ``/proc/<pid>/stat`` (Linux; empty elsewhere). The ``comm`` field may hold
    spaces and parentheses, so fields are counted from the last ``)``: state ppid pgrp session.
    """
    members: list[int] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return members
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) < 4 or fields[0] == b"Z":
            continue
        if pgid is not None and int(fields[2]) != pgid:
            continue
        if sid is not None and int(fields[3]) != sid:
            continue
        members.append(int(name))
    return members


# --- the methods dataclasses writes, compiled once ----------------------------------------------
# ``dataclasses`` writes each class's __init__, __repr__, __eq__... as source text and compiles
# it with exec(): importing libcst compiles ~1,000 such functions, over half of its import
# time (~0.1 s of every analysis that parses). The code objects are kept next to envcapture's
# bytecode, as Python keeps .pyc files there (and not where PYTHONDONTWRITEBYTECODE says not
# to), by the source text they come from: the same text compiles to the same code.


@contextmanager
def compiled_dataclasses(path: Path | None = None) -> Iterator[None]:
    """While the block runs, ``dataclasses`` takes the methods it writes from the cache file
    ``path`` (default: beside envcapture's bytecode) instead of compiling them; what it
    compiled is added at the end. Nested, in another thread while one runs, or with a
    ``dataclasses`` of another shape, the block runs without it."""
    import dataclasses
    import marshal
    from types import CodeType

    if "exec" in vars(dataclasses) or not (hasattr(dataclasses, "_create_fn") or hasattr(dataclasses, "_FuncBuilder")):
        yield
        return
    path = path if path is not None else _dataclass_code_path()
    try:
        if path.stat().st_size > _DATACLASS_CODE_BYTES:
            raise ValueError("another version's left over: started again")
        known = marshal.loads(path.read_bytes())  # noqa: S302 - written by envcapture beside its bytecode: as trusted as its .pyc
    except (OSError, ValueError, EOFError, TypeError):  # none yet, or unreadable: compiled again
        known = {}
    if not isinstance(known, dict) or len(known) > _DATACLASS_CODE_LIMIT:
        known = {}
    compiled = 0

    def exec_compiled(source: Any, globals: Any = None, locals: Any = None) -> None:  # noqa: A002 - exec's own names
        nonlocal compiled
        if type(source) is str:
            code = known.get(source)
            if type(code) is not CodeType:  # not known, or a file of another shape: compiled again
                # dont_inherit: exec() in dataclasses.py compiles with its flags, none (no
                # ``from __future__ import annotations`` of this module's).
                code = known[source] = compile(source, "<string>", "exec", dont_inherit=True)
                compiled += 1
            source = code
        exec(source, globals, locals)  # noqa: S102 - what dataclasses itself runs

    # Checked and set under the lock: two threads that both saw no patch (an analysis in
    # each, reading the file meanwhile) would each set theirs, and the second to end found
    # none to remove (AttributeError).
    with _dataclasses_patch_lock:
        installed = "exec" not in vars(dataclasses)
        if installed:
            dataclasses.exec = exec_compiled  # type: ignore[attr-defined]  # a module global shadows the builtin
    if not installed:
        yield
        return
    try:
        yield
    finally:
        with _dataclasses_patch_lock:
            del dataclasses.exec  # type: ignore[attr-defined]
        if compiled and not sys.dont_write_bytecode:
            try:
                atomic_write_bytes(path, marshal.dumps(known), durable=False)
            except (OSError, ValueError):  # a read-only installation: compiled each time, as before
                pass


_DATACLASS_CODE_LIMIT = 20_000  # functions; more means another version's left over: started again
_DATACLASS_CODE_BYTES = 8 << 20  # the same, told by the file's size before it is read (today ~1.5 MB)
_dataclasses_patch_lock = allocate_lock()


def _dataclass_code_path() -> Path:
    import importlib.util

    tag = f"{sys.implementation.cache_tag}-{importlib.util.MAGIC_NUMBER.hex()}"
    return Path(__file__).parent / "__pycache__" / f"dataclass-methods.{tag}.marshal"
