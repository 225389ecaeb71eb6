"""config.yaml (text, file or parsed mapping) -> a validated, frozen `JobConfig`.

Every problem is collected and raised at once as one `ConfigError`; each is one line
naming ``file:line:col: key.path``. The rules are documented in ``docs/config.md``.

This module reads the input and walks the top level; the types are in `config.model`,
the generic node getters in `config.nodes`, the path rules in `config.paths` and each
section of the contract in `config.sections`. The names of ``__all__`` stay importable
from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping as AbcMapping
from dataclasses import replace
from pathlib import Path

from envcapture._urls import mask_url
from envcapture.config import _yaml as y
from envcapture.config.model import (
    DockerImage,
    EnvSpec,
    EnvVar,
    FileSpec,
    GracefulShutdown,
    JobConfig,
    OutputDataset,
    PipOptions,
    PythonSpec,
    ResourceRef,
    Setting,
    SparkSpec,
    WorkingStorage,
)
from envcapture.config.nodes import NodeReader, describe
from envcapture.config.paths import PathRules, absolute
from envcapture.config.scalars import parse_duration, parse_size
from envcapture.config.sections.command import check_quotes, check_references, read_args, read_cmd
from envcapture.config.sections.compute import (
    read_flags,
    read_graceful_shutdown,
    read_instance_types,
    read_spark,
    read_working_storage,
)
from envcapture.config.sections.context import Context, Variables
from envcapture.config.sections.data import read_files, read_output_datasets, read_resources
from envcapture.config.sections.env import ENV_KEYS, read_env
from envcapture.config.sections.python import PIP_KEYS, PYTHON_KEYS
from envcapture.errors import ConfigError, InputError, Location

__all__ = [
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
    "load_config",
    "mask_url",
    "parse_config",
    "parse_duration",
    "parse_size",
]

_TOP = (
    "name", "desc", "cmd", "args", "inputs", "outputs", "s3-mounts", "datasets", "env",
    "flags", "cloud-instance-types", "cloud-instance-type", "working-storage",
    "graceful-shutdown", "output-datasets", "spark",
)  # fmt: skip
# an unknown key that means another key of the same mapping
_ALIASES = {"description": "desc"}
# keys written one level off: where they belong
_HOMES = {
    **{key: "env" for key in ENV_KEYS},
    **{key: "env.python" for key in PYTHON_KEYS if key not in ("type",)},
    **{key: "env.python.pip" for key in PIP_KEYS},
}


def load_config(
    path: str | os.PathLike[str] | AbcMapping[str, object],
    *,
    project_dir: str | os.PathLike[str] | None = None,
) -> JobConfig:
    """Read and validate the job config at ``path``, or an already parsed mapping.

    The project directory (against which local paths are checked, and which must
    contain them) defaults to the config file's directory, or to the current directory
    for a mapping; paths are checked on disk. A mapping has no line numbers: messages
    name ``<config>`` and the key path.

    :raises ConfigError: the file cannot be read, is not YAML, or breaks any rule;
        ``problems`` holds every problem found.
    """
    if isinstance(path, AbcMapping):
        base = Path(project_dir) if project_dir is not None else Path()
        source = "<config>"
        return _parse(_document_of(path, source), source, absolute(base), check_disk=True)
    source = os.fspath(path)
    file = Path(source)
    try:
        data = file.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError("no such file", location=Location(file=source)) from exc
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot read the file: {reason}", location=Location(file=source)) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", location=Location(file=source, line=line)) from exc
    base = Path(project_dir) if project_dir is not None else file.parent
    return _parse(y.compose(text, source=source), source, absolute(base), check_disk=True)


def parse_config(
    mapping_or_text: str | AbcMapping[str, object],
    *,
    source: str = "<config>",
    project_dir: str | os.PathLike[str] | None = None,
) -> JobConfig:
    """Validate a config given as YAML text or as an already parsed mapping.

    A mapping has no line numbers: messages name the key path only. Paths are checked
    on disk only when ``project_dir`` is given; otherwise the project directory is the
    current directory and only the lexical rules apply.

    :raises ConfigError: with every problem found.
    """
    check_disk = project_dir is not None
    base = absolute(Path(project_dir) if project_dir is not None else Path())
    if isinstance(mapping_or_text, str):
        document = y.compose(mapping_or_text, source=source)
    else:
        document = _document_of(mapping_or_text, source)
    return _parse(document, source, base, check_disk=check_disk)


def _document_of(mapping: AbcMapping[str, object], source: str) -> y.Document:
    try:
        root = y.from_python(mapping)
    except RecursionError as exc:
        raise ConfigError("nested too deeply", location=Location(file=source)) from exc
    return y.Document(root=root, text=None)


def _parse(document: y.Document, source: str, project_dir: Path, *, check_disk: bool) -> JobConfig:
    reader = NodeReader(document, source, aliases=_ALIASES, homes=_HOMES)
    ctx = Context(
        reader=reader,
        paths=PathRules(reader, project_dir, check_disk=check_disk),
        variables=Variables(reader),
    )
    try:
        config = _read_job(ctx, document.root, project_dir)
    except RecursionError as exc:  # pragma: no cover - guarded by the YAML composer first
        raise ConfigError("nested too deeply", location=Location(file=source)) from exc
    if reader.problems or config is None:
        problems = sorted(reader.problems, key=_sort_key)
        if not problems:  # pragma: no cover - _read_job() returns None only after an error
            problems = [InputError("invalid config", location=Location(file=source))]
        raise ConfigError.from_problems(problems)
    return replace(config, warnings=tuple(reader.warnings))


def _read_job(ctx: Context, root: y.Node | None, project_dir: Path) -> JobConfig | None:
    """The top level, section by section in the contract's order, then the ``cmd`` references."""
    reader = ctx.reader
    if root is None:
        reader.error(None, "", "the file is empty; a job config needs at least 'cmd'")
        return None
    if not isinstance(root, y.Mapping):
        reader.error(root, "", f"expected a mapping of keys at the top level, got {describe(root)}")
        return None
    found = reader.fields(root, "", _TOP)
    name = reader.string(found["name"].value, "name") if "name" in found else None
    desc = reader.string(found["desc"].value, "desc", empty_ok=True) if "desc" in found else None
    cmd = read_cmd(ctx, root, found)
    args = read_args(ctx, found["args"].value) if "args" in found else ()
    inputs = read_files(ctx, found["inputs"].value, "inputs", outputs=False) if "inputs" in found else ()
    outputs = read_files(ctx, found["outputs"].value, "outputs", outputs=True) if "outputs" in found else ()
    s3_mounts = read_resources(ctx, found["s3-mounts"].value, "s3-mounts") if "s3-mounts" in found else ()
    datasets = read_resources(ctx, found["datasets"].value, "datasets") if "datasets" in found else ()
    env = read_env(ctx, found["env"].value) if "env" in found else EnvSpec()
    flags = read_flags(ctx, found["flags"].value) if "flags" in found else ()
    types = read_instance_types(ctx, found)
    storage = read_working_storage(ctx, found["working-storage"].value) if "working-storage" in found else None
    shutdown = read_graceful_shutdown(ctx, found["graceful-shutdown"].value) if "graceful-shutdown" in found else None
    out_ds = read_output_datasets(ctx, found["output-datasets"].value) if "output-datasets" in found else ()
    spark = read_spark(ctx, found["spark"].value) if "spark" in found else None
    if cmd is None:
        return None
    config = JobConfig(
        name=name,
        desc=desc,
        cmd=cmd,
        args=args,
        inputs=inputs,
        outputs=outputs,
        s3_mounts=s3_mounts,
        datasets=datasets,
        env=env,
        flags=flags,
        cloud_instance_types=types,
        working_storage=storage,
        graceful_shutdown=shutdown,
        output_datasets=out_ds,
        spark=spark,
        source=reader.source,
        project_dir=project_dir,
        cmd_location=reader.loc(found["cmd"].value, "cmd"),
        cmd_written=reader.written(found["cmd"].value),
    )
    declared = ctx.variables.names() | config.variables()
    cmd_node = found["cmd"].value
    assert isinstance(cmd_node, y.Scalar)  # string() accepted it
    check_references(ctx, cmd_node, cmd, declared, flags)
    check_quotes(ctx, cmd_node, cmd)
    return config


def _sort_key(problem: InputError) -> tuple[int, int]:
    location = problem.location
    if location is None or location.line is None:
        return (0, 0)
    return (location.line, location.column or 0)
