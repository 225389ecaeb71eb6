"""Which environment to analyse for a project, when the caller did not hand one over. EDGE: reads files and the environ.

In order: ``--python``; the ``python`` key of ``[tool.envcapture]`` in the project's
``pyproject.toml`` (relative paths are relative to the project); ``VIRTUAL_ENV``, then
``CONDA_PREFIX`` (an activated environment, unless it is the pre-commit hook's own); a ``.venv/`` or ``venv/`` in the project;
else *bare* mode: the interpreter running envcapture for the standard library only, none of
its installed distributions (a pre-commit hook runs in an environment of its own, which
holds envcapture's dependencies and not the job's), and every third-party import is named
by a guess.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from envcapture.environment.model import EnvSnapshot
from envcapture.environment.snapshot import snapshot_environment, start_probe

__all__ = ["EnvironmentChoice", "bare_snapshot", "find_environment", "snapshot_for_project", "start_reading"]


def __dir__() -> list[str]:
    return list(__all__)


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvironmentChoice:
    """The interpreter to analyse (``None``: bare mode) and why it was chosen."""

    python: str | None
    source: str  # "--python", "[tool.envcapture] python", "VIRTUAL_ENV", "CONDA_PREFIX", ".venv", "venv", "bare"

    @property
    def bare(self) -> bool:
        return self.python is None

    def describe(self) -> str:
        """One line for the top of a report."""
        if self.python is None:
            return (
                "Environment: none found (no --python, [tool.envcapture] python, VIRTUAL_ENV or .venv/): "
                "bare mode, distributions are guessed from import names"
            )
        return f"Environment: {self.python} (from {self.source})"


def _venv_python(directory: Path) -> Path | None:
    for candidate in (directory / "bin" / "python", directory / "Scripts" / "python.exe"):
        if candidate.is_file():
            return candidate
    return None


def _settings_python(project: Path) -> str | None:
    path = project / "pyproject.toml"
    if not path.is_file():
        return None
    if sys.version_info >= (3, 11):
        import tomllib as toml
    else:  # pragma: no cover - Python 3.10
        import tomli as toml
    try:
        data = toml.loads(path.read_text("utf-8-sig"))
    except (OSError, UnicodeDecodeError, toml.TOMLDecodeError):
        return None  # the check stage reports a broken pyproject.toml with its line
    tool = data.get("tool")
    section = tool.get("envcapture") if isinstance(tool, dict) else None
    value = section.get("python") if isinstance(section, dict) else None
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if "/" in value or "\\" in value or value.startswith("."):
        candidate = Path(value).expanduser()
        return str(candidate if candidate.is_absolute() else project / candidate)
    return value  # a version ("3.11") or a name on PATH


def _same_dir(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normpath(a) == os.path.normpath(b)


def find_environment(
    project: Path, python: str | None = None, environ: Mapping[str, str] | None = None, *, own_prefix: str | None = None
) -> EnvironmentChoice:
    """The environment to analyse for ``project``, in the documented order.

    A pre-commit hook runs with ``VIRTUAL_ENV`` set to the hook's own environment (where
    envcapture is installed, ``own_prefix``, default ``sys.prefix``) and ``PRE_COMMIT=1``:
    that ``VIRTUAL_ENV`` is not the project's and is passed over.
    """
    env = os.environ if environ is None else environ
    own = sys.prefix if own_prefix is None else own_prefix
    if python:
        return EnvironmentChoice(python=python, source="--python")
    configured = _settings_python(project)
    if configured:
        return EnvironmentChoice(python=configured, source="[tool.envcapture] python")
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        value = env.get(variable)
        if value and env.get("PRE_COMMIT") and _same_dir(value, own):
            continue  # pre-commit's environment of the hook itself
        if value:
            found = _venv_python(Path(value))
            if found is None and (Path(value) / "python.exe").is_file():
                found = Path(value) / "python.exe"
            if found is not None:
                return EnvironmentChoice(python=str(found), source=variable)
    for name in (".venv", "venv"):
        found = _venv_python(project / name)
        if found is not None:
            return EnvironmentChoice(python=str(found), source=f"{name}/ in the project")
    return EnvironmentChoice(python=None, source="bare")


def start_reading(project: Path, python: str | None = None) -> None:
    """`start_probe` of the interpreter `snapshot_for_project` will read for ``project``:
    the CLI calls it before it imports the analysis, so that the probe runs meanwhile."""
    try:
        choice = find_environment(project, python)
    except OSError:
        return  # `snapshot_for_project` meets it again and reports it
    start_probe(_interpreter(choice))


def bare_snapshot(snapshot: EnvSnapshot) -> EnvSnapshot:
    """``snapshot`` without anything installed: its interpreter is used for the standard library only."""
    site = set(snapshot.site_packages)
    return replace(
        snapshot,
        sys_path=tuple(p for p in snapshot.sys_path if p in snapshot.stdlib_dirs or (p not in site and p.endswith(".zip"))),
        site_packages=(),
        distributions=(),
        editable_mappings=(),
        shadowed=(),
        identity="",
    )


def snapshot_for_project(
    project: Path, python: str | None = None, *, while_probing: Callable[[Callable[[], bool]], object] | None = None
) -> tuple[EnvSnapshot, EnvironmentChoice]:
    """The snapshot of the environment `find_environment` chooses (bare: stdlib only), and the choice.

    :param while_probing: what to do while the probe subprocess runs (see `snapshot_environment`).
    :raises InterpreterError: the chosen interpreter is missing or unusable.
    """
    choice = find_environment(project, python)
    snapshot = snapshot_environment(_interpreter(choice), while_probing=while_probing)
    return (bare_snapshot(snapshot) if choice.python is None else snapshot), choice


def _interpreter(choice: EnvironmentChoice) -> str:
    """The interpreter probed for ``choice``: its own, or envcapture's in bare mode (for the
    standard library only)."""
    return choice.python if choice.python is not None else sys.executable
