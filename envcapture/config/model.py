"""The frozen output of stage 1: `JobConfig` and the types it is made of (the job-config contract)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Literal, TypeVar

from envcapture.errors import Location

__all__ = [
    "PROJECT_HOME",
    "DockerImage",
    "EnvSpec",
    "EnvVar",
    "FileSpec",
    "GracefulShutdown",
    "JobConfig",
    "OutputDataset",
    "PipOptions",
    "PythonSpec",
    "ResourceRef",
    "Setting",
    "SparkSpec",
    "WorkingStorage",
]

#: Set in the job's environment with ``flags: [attach-project-disk]``; ``cmd`` may always name it.
PROJECT_HOME = "DS_PROJECT_HOME"

T = TypeVar("T", covariant=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting(Generic[T]):
    """One ``env.python`` parameter and where its value comes from.

    * given by the user: ``given=True``, ``value`` set, ``location`` names the key;
    * a documented default: ``given=False``, ``value`` set (only ``pip.no-deps``: false);
    * to be derived from the current environment: ``given=False``, ``value=None``.
    """

    value: T | None = None
    given: bool = False
    location: Location | None = field(default=None, compare=False)

    @property
    def must_derive(self) -> bool:
        """True when envcapture has to determine the value from the environment."""
        return not self.given and self.value is None


@dataclass(frozen=True, slots=True, kw_only=True)
class PipOptions:
    """``env.python.pip``: index options handed to pip on the target."""

    index_url: Setting[str] = field(default_factory=Setting)
    extra_index_urls: Setting[tuple[str, ...]] = field(default_factory=Setting)
    trusted_hosts: Setting[tuple[str, ...]] = field(default_factory=Setting)
    no_deps: Setting[bool] = field(default_factory=lambda: Setting(value=False))


@dataclass(frozen=True, slots=True, kw_only=True)
class PythonSpec:
    """``env.python``: how the Python environment is captured.

    ``mode`` is ``auto`` (analyse everything) or ``manual`` (the user gives some
    parameters; every parameter not given is derived). Paths are as written, relative
    to `JobConfig.project_dir`.
    """

    mode: Literal["auto", "manual"]
    version: Setting[str] = field(default_factory=Setting)
    requirements_file: Setting[str] = field(default_factory=Setting)
    root_paths: Setting[tuple[str, ...]] = field(default_factory=Setting)
    local_paths: Setting[tuple[str, ...]] = field(default_factory=Setting)
    pip: PipOptions = field(default_factory=PipOptions)

    def settings(self) -> tuple[tuple[str, Setting[object]], ...]:
        """Every parameter as ``(name, setting)``; pip ones are named ``pip.<field>``."""
        own: tuple[tuple[str, Setting[object]], ...] = (
            ("version", self.version),
            ("requirements_file", self.requirements_file),
            ("root_paths", self.root_paths),
            ("local_paths", self.local_paths),
        )
        pip: tuple[tuple[str, Setting[object]], ...] = (
            ("pip.index_url", self.pip.index_url),
            ("pip.extra_index_urls", self.pip.extra_index_urls),
            ("pip.trusted_hosts", self.pip.trusted_hosts),
            ("pip.no_deps", self.pip.no_deps),
        )
        return own + pip

    def given_fields(self) -> tuple[str, ...]:
        """Names of the parameters the user gave, in `settings` order."""
        return tuple(name for name, setting in self.settings() if setting.given)

    def fields_to_derive(self) -> tuple[str, ...]:
        """Names of the parameters envcapture must determine from the current environment."""
        return tuple(name for name, setting in self.settings() if setting.must_derive)


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerImage:
    """``env.docker``: a project image (``id``) or a registry image (``image``)."""

    image: str | None = None
    id: str | None = None
    username: str | None = None
    password_secret_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvVar:
    """One ``env.vars`` entry; ``value`` None means "copy it from the local environment"."""

    name: str
    value: str | None = None
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvSpec:
    """``env``: variables, image and Python environment (``python`` None: plain environment)."""

    vars: tuple[EnvVar, ...] = ()
    docker: DockerImage | None = None
    python: PythonSpec | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileSpec:
    """One ``inputs``/``outputs`` entry: a local path and the variable holding it, if any."""

    path: str
    var: str | None = None
    location: Location = field(default_factory=Location, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceRef:
    """One ``s3-mounts``/``datasets`` entry: a project resource id and an optional variable."""

    id: str
    var: str | None = None
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkingStorage:
    """``working-storage``: the extended working directory (binary units: 1 GB = 2**30 B)."""

    type: str = "SSD"
    size_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GracefulShutdown:
    """``graceful-shutdown``: the signal sent on cancel and the wait before SIGKILL."""

    signal: str = "SIGTERM"
    timeout_seconds: float = 15.0


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputDataset:
    """One ``output-datasets`` entry, created when the job succeeds."""

    name: str
    var: str
    description: str | None = None
    size_bytes: int
    labels: tuple[tuple[str, str], ...] = ()
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SparkSpec:
    """``spark``: the Spark Connector of a DataProc cluster."""

    connector: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobConfig:
    """A validated job configuration. Lists keep the config's order (it is a priority).

    ``graceful_shutdown`` None means the section is absent: the job gets SIGKILL on cancel.
    ``warnings`` are one-line, located messages (deprecated spellings and the like).
    """

    name: str | None = None
    desc: str | None = None
    cmd: str
    args: tuple[tuple[str, str], ...] = ()
    inputs: tuple[FileSpec, ...] = ()
    outputs: tuple[FileSpec, ...] = ()
    s3_mounts: tuple[ResourceRef, ...] = ()
    datasets: tuple[ResourceRef, ...] = ()
    env: EnvSpec = field(default_factory=EnvSpec)
    flags: tuple[str, ...] = ()
    cloud_instance_types: tuple[str, ...] = ()
    working_storage: WorkingStorage | None = None
    graceful_shutdown: GracefulShutdown | None = None
    output_datasets: tuple[OutputDataset, ...] = ()
    spark: SparkSpec | None = None
    source: str = "<config>"
    project_dir: Path = field(default_factory=Path)
    warnings: tuple[str, ...] = ()
    # Where ``cmd`` is written: the start of its value, and its text as written in the file.
    cmd_location: Location | None = field(default=None, compare=False)
    cmd_written: str | None = field(default=None, compare=False)

    def cmd_location_of(self, needle: str) -> Location:
        """The ``file:line:col`` where ``needle`` (a word of ``cmd``) is written, else the start of ``cmd``."""
        start = self.cmd_location or Location(file=self.source, key="cmd")
        written = self.cmd_written or ""
        match = re.search(rf"(?<![^\s'\"=;&|(]){re.escape(needle)}(?![^\s'\";&|)])", written) if needle else None
        if match is None or start.line is None or start.column is None:
            return start
        offset = match.start()
        newlines = written.count("\n", 0, offset)
        column = offset - written.rfind("\n", 0, offset) if newlines else start.column + offset
        return Location(file=start.file, line=start.line + newlines, column=column, key="cmd")

    def variables(self) -> frozenset[str]:
        """Every name a ``${NAME}`` in ``cmd`` may refer to."""
        names = {PROJECT_HOME}
        names.update(spec.var for spec in self.inputs + self.outputs if spec.var)
        names.update(ref.var or ref.id for ref in self.s3_mounts + self.datasets)
        names.update(ds.var for ds in self.output_datasets)
        names.update(name for name, _ in self.args)
        names.update(var.name for var in self.env.vars)
        return frozenset(names)
