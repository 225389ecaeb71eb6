"""`JobConfig` -> the manifest's ``job`` section and ``inputs.tar.gz``. EDGE: reads the input files, writes one archive.

What the runtime needs to run the job without the config or the build machine:

* ``inputs``: every ``inputs`` entry is packed into the deterministic ``inputs.tar.gz``
  (the same writer as ``local-code.tar.gz``: sorted entries, fixed mtimes and owners,
  modes 0644/0755). A relative input without a variable keeps its relative path; an
  input saved in a variable (``path: VAR``, and every absolute input, which the config
  only allows with a variable) is placed at ``inputs/<VAR>/<basename>`` and ``${VAR}``
  names that place. A directory is packed whole (its regular files) by the local code's
  walker (`envcapture.build.localcode.select_input`): secrets, VCS metadata, keys and
  bytecode are left out and reported (``inputs_archive.excluded``); an input that is
  itself one of these (``.env``, ``.git/``, ``id_rsa``, ``secrets.yaml``) is refused, and
  so is a symlink that leads out of the project (or out of an input outside the project).
  An input missing at build time is an `InputError` naming it.
* ``outputs``: the relative path the job writes (an absolute output is given
  ``outputs/<VAR>/<basename>`` in the job's working directory) and its variable.
* ``env``: each ``env.vars`` entry with its value; an entry without a value is copied
  from the build machine's environment now (``source: build-environment``), or recorded
  as ``source: missing`` (value null) so that the runtime refuses to start with a line
  naming it. The values are stored in the manifest as plain text.
* ``cmd``, ``args``, ``datasets``, ``s3_mounts``, ``output_datasets``, ``flags``,
  ``graceful_shutdown`` (signal and timeout, or null: SIGKILL at once on cancel) and
  ``plain`` (no ``env.python``: nothing is installed, only the inputs travel).

Paths in the section are relative POSIX paths; nothing absolute from the build machine
is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from envcapture.build.localcode import Excluded, LocalBundle, Selection, select_input, write_local_bundle
from envcapture.build.manifest import INPUTS
from envcapture.config.model import JobConfig
from envcapture.errors import InputError, Location

__all__ = [
    "INPUTS",
    "JobInputs",
    "collect_inputs",
    "job_json",
    "output_path",
    "write_inputs",
]


def __dir__() -> list[str]:
    return __all__


@dataclass(frozen=True, slots=True, kw_only=True)
class JobInputs:
    """The inputs laid out for the run: (config path, variable, run-relative path, kind)
    per entry, the (run-relative path, real file) pairs that go into the archive, and the
    run-relative paths the exclusion rules left out (with the rule)."""

    entries: tuple[tuple[str, str | None, str, str], ...]
    files: tuple[tuple[str, Path], ...]
    excluded: tuple[Excluded, ...] = ()


def _placed(path: str, var: str | None, *, prefix: str) -> str:
    """Where an input (``prefix`` ``inputs``) or output (``outputs``) lives in the job's
    working directory."""
    text = path.replace("\\", "/")
    if var is not None:
        name = PurePosixPath(text.rstrip("/")).name or var
        return f"{prefix}/{var}/{name}"
    norm = os.path.normpath(text).replace(os.sep, "/")
    return "" if norm == "." else norm


def output_path(path: str, var: str | None) -> str:
    """Where the job writes an output, relative to its working directory: the path as
    given, or ``outputs/<VAR>/<basename>`` for an absolute one (the build machine's
    absolute paths mean nothing on the target)."""
    if os.path.isabs(os.path.expanduser(path)):
        return _placed(path, var or "OUTPUT", prefix="outputs")
    placed = _placed(path, None, prefix="outputs")
    if not placed or placed == ".." or placed.startswith("../"):  # the config refuses it too
        raise InputError(f"outputs: {path!r} leads outside the job's working directory; refused")
    return placed


def collect_inputs(config: JobConfig) -> JobInputs:
    """Lay out ``config.inputs`` (checked on disk, relative to ``config.project_dir``).

    :raises InputError: an input is missing, unreadable or not a file or directory; two
        inputs land on the same path.
    """
    project = Path(os.path.abspath(config.project_dir))
    entries: list[tuple[str, str | None, str, str]] = []
    files: dict[str, Path] = {}
    excluded: dict[str, str] = {}
    for index, spec in enumerate(config.inputs):
        where = spec.location if spec.location.key else spec.location.child(f"inputs[{index}]")
        source = Path(os.path.expanduser(spec.path))
        if not source.is_absolute():
            source = project / spec.path
        rel = _placed(spec.path, spec.var, prefix="inputs")
        if not rel or rel == ".." or rel.startswith("../") or PurePosixPath(rel).is_absolute():
            raise InputError(f"{spec.path!r} is not a path inside the job's directory", location=where)
        if not os.path.lexists(source):
            raise InputError(f"{spec.path!r} does not exist at build time (looked in {project})", location=where)
        lexical = Path(os.path.normpath(os.path.abspath(source)))
        if lexical == project or project in lexical.parents:  # walked from the project: links stay inside it
            root, raw = project, lexical.relative_to(project).as_posix()
        elif lexical.is_dir():  # an input outside the project (with a variable) is its own root
            root, raw = lexical, ""
        else:
            root, raw = lexical.parent, lexical.name
        try:
            chosen = select_input(root, raw, key="input")
        except InputError as exc:
            raise InputError(exc.message, location=where, hint=exc.hint) from exc
        kind = "directory" if os.path.isdir(source) else "file"
        entries.append((spec.path, spec.var, rel, kind))
        prefix = raw.rstrip("/")
        for sub_path, real in chosen.files:
            sub = sub_path[len(prefix) :].lstrip("/") if prefix else sub_path
            _add(files, f"{rel}/{sub}" if sub else rel, real, spec.path, where)
        for item in chosen.excluded:
            sub = item.path[len(prefix) :].lstrip("/") if prefix else item.path
            excluded[f"{rel}/{sub}" if sub else rel] = item.rule
        if kind == "directory" and not chosen.files:
            raise InputError(f"{spec.path!r} is an empty directory; nothing to send", location=where)
    return JobInputs(
        entries=tuple(entries),
        files=tuple(sorted(files.items())),
        excluded=tuple(sorted(Excluded(path=p, rule=r) for p, r in excluded.items() if p not in files)),
    )


def _add(files: dict[str, Path], rel: str, real: Path, raw: str, where: Location) -> None:
    if rel in files and files[rel] != real:
        raise InputError(f"{raw!r} lands on {rel}, where another input already is", location=where)
    files[rel] = real


def write_inputs(inputs: JobInputs, dest: Path) -> LocalBundle | None:
    """Write ``inputs.tar.gz`` at ``dest`` (deterministic); ``None`` when there are no inputs.

    :raises InputError: an input changed while being archived.
    """
    if not inputs.files:
        return None
    return write_local_bundle(dest.parent, dest, selection=Selection(files=inputs.files, excluded=inputs.excluded))


def _env_json(config: JobConfig, environ: Mapping[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for var in config.env.vars:
        if var.value is not None:
            out.append({"name": var.name, "value": var.value, "source": "config"})
        elif var.name in environ:
            out.append({"name": var.name, "value": environ[var.name], "source": "build-environment"})
        else:
            out.append({"name": var.name, "value": None, "source": "missing"})
    return out


def job_json(
    config: JobConfig,
    inputs: JobInputs,
    archive: LocalBundle | None,
    *,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The manifest's ``job`` section (pure but for reading ``environ``, default ``os.environ``)."""
    env = os.environ if environ is None else environ
    shutdown = config.graceful_shutdown
    return {
        "cmd": config.cmd,
        "plain": config.env.python is None,
        "inputs": [{"path": rel, "var": var, "type": kind} for _, var, rel, kind in inputs.entries],
        "inputs_archive": None
        if archive is None
        else {
            "path": INPUTS,
            "files": [{"path": f.path, "size": f.size, "mode": f"{f.mode:04o}", "sha256": f.sha256} for f in archive.files],
            "excluded": [{"path": e.path, "rule": e.rule} for e in archive.excluded],
        },
        "outputs": [{"path": output_path(spec.path, spec.var), "var": spec.var} for spec in config.outputs],
        "env": _env_json(config, env),
        "args": [{"name": name, "value": value} for name, value in config.args],
        "datasets": [{"id": r.id, "var": r.var} for r in config.datasets],
        "s3_mounts": [{"id": r.id, "var": r.var} for r in config.s3_mounts],
        "output_datasets": [{"name": d.name, "var": d.var} for d in config.output_datasets],
        "flags": list(config.flags),
        "graceful_shutdown": None
        if shutdown is None
        else {"signal": shutdown.signal, "timeout_seconds": shutdown.timeout_seconds},
    }
