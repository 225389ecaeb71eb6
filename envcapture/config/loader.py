"""config.yaml (text, file or parsed mapping) -> a validated, frozen `JobConfig`.

Every problem is collected and raised at once as one `ConfigError`; each is one line
naming ``file:line:col: key.path``. The rules are documented in ``docs/config.md``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Generic, Literal, TypeVar
from urllib.parse import urlsplit

from envcapture.config import _yaml as y
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

T = TypeVar("T", covariant=True)

# --- the model -------------------------------------------------------------------------------


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

    def variables(self) -> frozenset[str]:
        """Every name a ``${NAME}`` in ``cmd`` may refer to."""
        names = {PROJECT_HOME}
        names.update(spec.var for spec in self.inputs + self.outputs if spec.var)
        names.update(ref.var or ref.id for ref in self.s3_mounts + self.datasets)
        names.update(ds.var for ds in self.output_datasets)
        names.update(name for name, _ in self.args)
        names.update(var.name for var in self.env.vars)
        return frozenset(names)


# --- public functions --------------------------------------------------------------------------

PROJECT_HOME = "DS_PROJECT_HOME"
SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2")
FLAGS = ("attach-project-disk",)
GiB = 2**30
TiB = 2**40
WORKING_STORAGE_RANGE = (100 * GiB, 10 * TiB)


def load_config(path: str | os.PathLike[str], *, project_dir: Path | None = None) -> JobConfig:
    """Read and validate the job config at ``path``.

    The project directory (against which local paths are checked, and which must
    contain them) defaults to the config file's directory; paths are checked on disk.

    :raises ConfigError: the file cannot be read, is not YAML, or breaks any rule;
        ``problems`` holds every problem found.
    """
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
    base = project_dir if project_dir is not None else file.parent
    return _parse(y.compose(text, source=source), source, _absolute(base), check_disk=True)


def parse_config(
    mapping_or_text: str | AbcMapping[str, object],
    *,
    source: str = "<config>",
    project_dir: Path | None = None,
) -> JobConfig:
    """Validate a config given as YAML text or as an already parsed mapping.

    A mapping has no line numbers: messages name the key path only. Paths are checked
    on disk only when ``project_dir`` is given; otherwise the project directory is the
    current directory and only the lexical rules apply.

    :raises ConfigError: with every problem found.
    """
    check_disk = project_dir is not None
    base = _absolute(project_dir) if project_dir is not None else _absolute(Path())
    if isinstance(mapping_or_text, str):
        document = y.compose(mapping_or_text, source=source)
    else:
        try:
            root = y.from_python(mapping_or_text)
        except RecursionError as exc:
            raise ConfigError("nested too deeply", location=Location(file=source)) from exc
        document = y.Document(root=root, text=None)
    return _parse(document, source, base, check_disk=check_disk)


def parse_size(text: str) -> int:
    """``150Gb``, ``100GB``, ``1Tb``, ``10 TB``, ``512Mi`` -> bytes, in binary units (1 GB = 2**30).

    :raises ValueError: not a size with a unit.
    """
    match = _SIZE_RE.match(text.strip())
    if match is None:
        raise ValueError(text)
    number, unit = match.groups()
    return int(Decimal(number) * _UNITS[unit.upper()])


def parse_duration(text: str) -> float:
    """``15s``, ``1m``, ``2h``, ``1d2h3m``, ``1m30s``, ``1.5s`` or whole seconds ``90`` -> seconds.

    :raises ValueError: not a duration.
    """
    text = text.strip()
    if text.isdigit():
        return float(int(text))
    match = _DURATION_RE.match(text)
    if match is None or not any(match.groups()):
        raise ValueError(text)
    days, hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def mask_url(url: str) -> str:
    """``https://user:secret@host/x`` -> ``https://user:****@host/x``; a bare token is masked."""
    return _CREDENTIAL_RE.sub(_mask_match, url)


# --- rules and helpers ---------------------------------------------------------------------------

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_VERSION_RE = re.compile(r"3(?:\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?)?\Z")
_SIZE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([KMGTkmgt])(?:i?[Bb])?\Z")
_UNITS = {"K": 2**10, "M": 2**20, "G": GiB, "T": TiB}
_DURATION_RE = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+(?:\.[0-9]+)?)s)?\Z")
_REF_RE = re.compile(r"\$\{([^}]*)\}")
_HOST_RE = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::[0-9]{1,5})?\Z"
)
_CREDENTIAL_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)([^/\s@?#]*)@")
_MINOR_RANGE = (6, 20)

_TOP = (
    "name", "desc", "cmd", "args", "inputs", "outputs", "s3-mounts", "datasets", "env",
    "flags", "cloud-instance-types", "cloud-instance-type", "working-storage",
    "graceful-shutdown", "output-datasets", "spark",
)  # fmt: skip
_ENV = ("vars", "docker", "python")
_PYTHON = ("type", "version", "requirements-file", "root-paths", "root-path", "local-paths", "pip")
_MANUAL_ONLY = ("version", "requirements-file", "local-paths")
_PIP = ("index-url", "extra-index-urls", "trusted-hosts", "no-deps")
_DOCKER = ("image", "username", "password")
_OUTPUT_DATASET = ("name", "var", "description", "size", "labels")
# keys written one level off: where they belong
_ELSEWHERE = {
    **{key: "env" for key in _ENV},
    **{key: "env.python" for key in _PYTHON if key not in ("type",)},
    **{key: "env.python.pip" for key in _PIP},
    "description": "desc",
}


def _mask_match(match: re.Match[str]) -> str:
    scheme, userinfo = match.group(1), match.group(2)
    if ":" in userinfo:
        return f"{scheme}{userinfo.split(':', 1)[0]}:****@"
    return f"{scheme}****@"


def _clean(text: str) -> str:
    """One line, credentials masked: every message goes through here."""
    return mask_url(" ".join(text.split()) if "\n" in text or "\r" in text else text)


def _masked_location(location: Location | None) -> Location | None:
    if location is None or not location.key:
        return location
    return replace(location, key=mask_url(location.key))


def _absolute(path: Path) -> Path:
    try:
        return path.absolute()
    except OSError:  # the current directory was removed
        return path


def _quote(text: str, limit: int = 60) -> str:
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text)


def _describe(node: y.Node) -> str:
    if isinstance(node, y.Mapping):
        return "a mapping"
    if isinstance(node, y.Sequence):
        return "a list"
    if node.kind == "str":
        return _quote(node.text)
    if node.kind in ("int", "float"):
        return f"the number {_quote(node.text, 30)[1:-1]}"
    if node.kind == "bool":
        return f"the boolean {node.text}"
    if node.kind == "null":
        return "nothing (null)"
    if node.tag.startswith("tag:yaml.org,2002:"):
        return f"{_quote(node.text)} (a YAML {node.tag.rsplit(':', 1)[-1]}; quote it)"
    return f"{_quote(node.text)} ({node.tag or 'an unsupported value'})"


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not matches:
        folded = {choice.lower(): choice for choice in choices}
        if word.lower() in folded:
            matches = [folded[word.lower()]]
    return f"did you mean {matches[0]!r}?" if matches else None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_absolute(text: str) -> bool:
    return PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() or text.startswith("~")


def _has_parent_part(text: str) -> bool:
    return ".." in re.split(r"[/\\]", text)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Ref:
    """An item of inputs/outputs/s3-mounts/datasets, before its own checks."""

    text: str
    var: str | None
    node: y.Node  # the path or id as written
    path: str  # key path of the item


class _Checker:
    """Walks the node tree once, collecting problems and warnings."""

    def __init__(self, document: y.Document, source: str, project_dir: Path, check_disk: bool) -> None:
        self.document = document
        self.source = source
        self.project_dir = project_dir
        self.check_disk = check_disk
        self.problems: list[InputError] = [
            InputError(
                _clean(problem.message),
                location=_masked_location(problem.location),
                hint=_clean(problem.hint) if problem.hint else None,
            )
            for problem in document.problems
        ]
        self.warnings: list[str] = []
        self._project_root: Path | None = None
        self._variables: list[tuple[str, y.Node, str]] = []  # (name, node, key path)

    # locations and reporting -----------------------------------------------------------

    def loc(self, node: y.Node | None, path: str) -> Location:
        line = node.line if node is not None else None
        column = node.column if node is not None else None
        return Location(file=self.source, line=line, column=column, key=mask_url(path) or None)

    def where(self, node: y.Node, path: str) -> str:
        """``file:line:col`` of a node, for naming a second place in one message."""
        return str(self.loc(node, "")) or path

    def error(self, node: y.Node | None, path: str, message: str, hint: str | None = None) -> None:
        self.problems.append(
            InputError(
                _clean(message),
                location=self.loc(node, path),
                hint=_clean(hint) if hint else None,
            )
        )

    def warn(self, node: y.Node, path: str, message: str) -> None:
        self.warnings.append(f"{self.loc(node, path)}: {_clean(message)}")

    # shapes ----------------------------------------------------------------------------

    def fields(self, node: y.Mapping, path: str, allowed: tuple[str, ...]) -> dict[str, y.Entry]:
        found: dict[str, y.Entry] = {}
        for entry in node.entries:
            name = entry.key.text
            if name in allowed:
                found[name] = entry
                continue
            hint = _did_you_mean(name, allowed)
            home = _ELSEWHERE.get(name)
            if home == "desc" and "desc" in allowed:
                hint = "did you mean 'desc'?"
            elif hint is None and home is not None and home != "desc" and home != path:
                hint = f"it belongs under {home!r}"
            self.error(entry.key, _join(path, y.key_label(name)), "unknown key", hint)
        return found

    def mapping(self, node: y.Node, path: str) -> y.Mapping | None:
        if isinstance(node, y.Mapping):
            return node
        self.error(node, path, f"expected a mapping, got {_describe(node)}")
        return None

    def sequence(self, node: y.Node, path: str) -> y.Sequence | None:
        if isinstance(node, y.Sequence):
            return node
        hint = "write it as a list: [value] or '- value' lines" if isinstance(node, y.Scalar) else None
        self.error(node, path, f"expected a list, got {_describe(node)}", hint)
        return None

    def string(self, node: y.Node, path: str, *, empty_ok: bool = False) -> str | None:
        if isinstance(node, y.Scalar) and node.kind == "str":
            if not empty_ok and not node.text.strip():
                self.error(node, path, "must not be empty")
                return None
            return node.text
        hint = None
        if isinstance(node, y.Scalar) and node.kind in ("int", "float", "bool"):
            hint = f"quote it: '{node.text}'"
        self.error(node, path, f"expected a string, got {_describe(node)}", hint)
        return None

    def boolean(self, node: y.Node, path: str) -> bool | None:
        if isinstance(node, y.Scalar) and node.kind == "bool" and isinstance(node.value, bool):
            return node.value
        hint = None
        if isinstance(node, y.Scalar) and node.quoted and node.text.lower() in (
            "true", "false", "yes", "no", "on", "off",
        ):  # fmt: skip
            hint = "a quoted value is a string: remove the quotes"
        self.error(node, path, f"expected true or false, got {_describe(node)}", hint)
        return None

    def text_value(self, node: y.Node, path: str) -> str | None:
        """A scalar as text, verbatim as written (env values, args, labels)."""
        if isinstance(node, y.Scalar) and node.kind != "null":
            return node.text
        self.error(node, path, f"expected a value (string or number), got {_describe(node)}")
        return None

    def name(self, node: y.Node, path: str, what: str) -> str | None:
        """A variable name; a key such as ``ON`` or ``8`` is read as the text written."""
        if isinstance(node, y.Scalar) and node.kind in ("int", "float", "bool"):
            text: str | None = node.text
        else:
            text = self.string(node, path)
        if text is None:
            return None
        if not _NAME_RE.match(text):
            self.error(
                node,
                path,
                f"{_quote(text)} is not a valid {what}",
                "letters, digits and '_', not starting with a digit",
            )
            return None
        return text

    def strings(
        self, node: y.Node, path: str, check: Callable[[str, y.Node, str], str | None] | None = None
    ) -> tuple[str, ...] | None:
        seq = self.sequence(node, path)
        if seq is None:
            return None
        values: list[str] = []
        ok = True
        for i, item in enumerate(seq.items):
            item_path = f"{path}[{i}]"
            text = self.string(item, item_path)
            if text is not None and check is not None:
                text = check(text, item, item_path)
            if text is None:
                ok = False
            else:
                values.append(text)
        return tuple(values) if ok else None

    # paths -----------------------------------------------------------------------------

    def project_root(self) -> Path | None:
        if self._project_root is None:
            try:
                self._project_root = self.project_dir.resolve()
            except (OSError, RuntimeError, ValueError):
                return None
        return self._project_root

    def local_path(
        self,
        text: str,
        node: y.Node,
        path: str,
        *,
        inside: bool,
        must_exist: bool,
        absolute_hint: str | None = None,
    ) -> str | None:
        """Check a local path; ``inside``: relative, no '..', inside the project after symlinks."""
        if not text.strip():
            self.error(node, path, "empty path")
            return None
        if "\0" in text:
            self.error(node, path, "the path contains a NUL character")
            return None
        if inside and _is_absolute(text):
            self.error(node, path, f"{_quote(text)} is an absolute path", absolute_hint)
            return None
        if inside and _has_parent_part(text):
            self.error(
                node,
                path,
                f"{_quote(text)} contains '..'",
                "paths must stay inside the project directory",
            )
            return None
        if not self.check_disk:
            return text
        full = Path(os.path.expanduser(text)) if _is_absolute(text) else self.project_dir / text
        try:
            if inside:
                root = self.project_root()
                resolved = full.resolve()
                if root is not None and not resolved.is_relative_to(root):
                    self.error(
                        node,
                        path,
                        f"{_quote(text)} resolves to {resolved}, outside the project directory {root}",
                        "a symlink must not lead out of the project",
                    )
                    return None
            if must_exist and not full.exists():
                self.error(node, path, f"{_quote(text)} does not exist", f"looked in {self.project_dir}")
                return None
        except (OSError, RuntimeError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            self.error(node, path, f"{_quote(text)} cannot be checked: {reason}")
            return None
        return text

    def project_path(self, text: str, node: y.Node, path: str) -> str | None:
        return self.local_path(
            text, node, path, inside=True, must_exist=True,
            absolute_hint="give it relative to the project directory",
        )  # fmt: skip

    # variables -------------------------------------------------------------------------

    def declare(self, name: str, node: y.Node, path: str) -> None:
        for other, other_node, other_path in self._variables:
            if other == name:
                self.error(
                    node,
                    path,
                    f"variable {name!r} is already used by {other_path} ({self.where(other_node, other_path)})",
                )
                return
        self._variables.append((name, node, path))

    # sections --------------------------------------------------------------------------

    def refs(self, node: y.Node, path: str, what: str) -> list[_Ref]:
        """``- X``, ``- X: VAR`` or ``- X: {var: VAR}`` items."""
        seq = self.sequence(node, path)
        if seq is None:
            return []
        out: list[_Ref] = []
        for i, item in enumerate(seq.items):
            item_path = f"{path}[{i}]"
            if isinstance(item, y.Scalar):
                text = self.string(item, item_path)
                if text is not None:
                    out.append(_Ref(text=text, var=None, node=item, path=item_path))
                continue
            if not isinstance(item, y.Mapping):
                self.error(item, item_path, f"expected a {what} or '{what}: VAR', got {_describe(item)}")
                continue
            if len(item.entries) != 1:
                self.error(
                    item,
                    item_path,
                    f"expected one {what} per item, got {len(item.entries)} keys",
                    "start each item with its own '-'",
                )
                continue
            entry = item.entries[0]
            if entry.key.kind == "null" or not entry.key.text.strip():
                self.error(entry.key, item_path, f"expected a {what}, got {_describe(entry.key)}")
                continue
            var_path = f"{item_path}.var"
            var_node: y.Node = entry.value
            if isinstance(entry.value, y.Mapping):
                sub = self.fields(entry.value, item_path, ("var",))
                if "var" not in sub:
                    if len(entry.value.entries) == len(sub):
                        self.error(entry.value, var_path, "required key is missing")
                    continue
                var_node = sub["var"].value
            var = self.name(var_node, var_path, "variable name")
            if var is None:
                continue
            self.declare(var, var_node, var_path)
            out.append(_Ref(text=entry.key.text, var=var, node=entry.key, path=item_path))
        return out

    def files(self, node: y.Node, path: str, *, outputs: bool) -> tuple[FileSpec, ...]:
        specs: list[FileSpec] = []
        for ref in self.refs(node, path, "path"):
            checked = self.local_path(
                ref.text,
                ref.node,
                ref.path,
                inside=ref.var is None,
                must_exist=not outputs,
                absolute_hint=f"only a path saved in a variable may be absolute: - {ref.text}: {{var: NAME}}",
            )
            if checked is not None:
                specs.append(FileSpec(path=checked, var=ref.var, location=self.loc(ref.node, ref.path)))
        return tuple(specs)

    def resources(self, node: y.Node, path: str) -> tuple[ResourceRef, ...]:
        out: list[ResourceRef] = []
        for ref in self.refs(node, path, "id"):
            if any(c.isspace() for c in ref.text.strip()) or "${" in ref.text:
                self.error(ref.node, ref.path, f"{_quote(ref.text)} is not a resource id")
                continue
            text = ref.text.strip()
            if ref.var is None:
                self.declare(text, ref.node, ref.path)
            out.append(ResourceRef(id=text, var=ref.var, location=self.loc(ref.node, ref.path)))
        return tuple(out)

    def args(self, node: y.Node) -> tuple[tuple[str, str], ...]:
        mapping = self.mapping(node, "args")
        if mapping is None:
            return ()
        out: list[tuple[str, str]] = []
        for entry in mapping.entries:
            path = _join("args", y.key_label(entry.key.text))
            if not _NAME_RE.match(entry.key.text):
                self.error(entry.key, path, f"{_quote(entry.key.text)} is not a valid parameter name")
                continue
            value = self.text_value(entry.value, path)
            if value is not None:
                self.declare(entry.key.text, entry.key, path)
                out.append((entry.key.text, value))
        return tuple(out)

    def env(self, node: y.Node) -> EnvSpec:
        mapping = self.mapping(node, "env")
        if mapping is None:
            return EnvSpec()
        found = self.fields(mapping, "env", _ENV)
        variables = self.env_vars(found["vars"].value) if "vars" in found else ()
        docker = self.docker(found["docker"].value) if "docker" in found else None
        python = self.python(found["python"].value) if "python" in found else None
        return EnvSpec(vars=variables, docker=docker, python=python)

    def env_vars(self, node: y.Node) -> tuple[EnvVar, ...]:
        pairs: list[tuple[y.Node, str, y.Node | None]] = []  # (name node, key path, value node)
        if isinstance(node, y.Mapping):
            for entry in node.entries:
                pairs.append((entry.key, _join("env.vars", y.key_label(entry.key.text)), entry.value))
        elif isinstance(node, y.Sequence):
            for i, item in enumerate(node.items):
                path = f"env.vars[{i}]"
                if isinstance(item, y.Mapping) and len(item.entries) == 1:
                    pairs.append((item.entries[0].key, path, item.entries[0].value))
                elif isinstance(item, y.Scalar):
                    pairs.append((item, path, None))
                else:
                    self.error(item, path, f"expected NAME or NAME: value, got {_describe(item)}")
        else:
            self.error(node, "env.vars", f"expected a list or a mapping, got {_describe(node)}")
        out: list[EnvVar] = []
        seen: dict[str, y.Node] = {}
        for name_node, path, value_node in pairs:
            name = self.name(name_node, path, "environment variable name")
            if name is None:
                continue
            if name in seen:
                self.error(
                    name_node,
                    path,
                    f"environment variable {name!r} is set twice",
                    f"first at {self.where(seen[name], path)}",
                )
                continue
            seen[name] = name_node
            value: str | None = None
            if value_node is not None and not (isinstance(value_node, y.Scalar) and value_node.kind == "null"):
                value = self.text_value(value_node, path)
                if value is None:
                    continue
            out.append(EnvVar(name=name, value=value, location=self.loc(name_node, path)))
        return tuple(out)

    def docker(self, node: y.Node) -> DockerImage | None:
        path = "env.docker"
        if isinstance(node, y.Scalar):
            text = self.string(node, path)
            if text is None:
                return None
            if any(c in text for c in ":/@"):
                self.error(
                    node,
                    path,
                    f"{_quote(text)} looks like a registry image, but a plain string names a project image id",
                    f"write docker: {{image: {text}}}",
                )
                return None
            return DockerImage(id=text.strip())
        mapping = self.mapping(node, path)
        if mapping is None:
            return None
        found = self.fields(mapping, path, _DOCKER)
        image = username = secret = None
        if "image" in found:
            image = self.string(found["image"].value, f"{path}.image")
        else:
            self.error(mapping, f"{path}.image", "required key is missing")
        if "username" in found:
            username = self.string(found["username"].value, f"{path}.username")
        if "password" in found:
            secret = self.password(found["password"].value, f"{path}.password")
        if image is None:
            return None
        return DockerImage(image=image, username=username, password_secret_id=secret)

    def password(self, node: y.Node, path: str) -> str | None:
        if isinstance(node, y.Mapping):
            found = self.fields(node, path, ("secret-id",))
            if "secret-id" not in found:
                if len(found) == len(node.entries):
                    self.error(node, f"{path}.secret-id", "required key is missing")
                return None
            return self.string(found["secret-id"].value, f"{path}.secret-id")
        if isinstance(node, y.Scalar) and node.kind != "null":
            # Never echo the value: it is a secret.
            self.error(
                node,
                path,
                "a plain-text password is refused; secrets go by secret-id",
                "store it as a project secret and write password: {secret-id: NAME}",
            )
            return None
        self.error(node, path, f"expected {{secret-id: NAME}}, got {_describe(node)}")
        return None

    # env.python --------------------------------------------------------------------------

    def python(self, node: y.Node) -> PythonSpec | None:
        path = "env.python"
        if isinstance(node, y.Scalar) and node.kind == "str":
            if node.text == "auto":
                return PythonSpec(mode="auto")
            if node.text == "manual":
                self.error(
                    node,
                    path,
                    "'manual' needs parameters",
                    "write the mapping form: type: manual plus at least one of "
                    "version, requirements-file, local-paths, root-paths, pip",
                )
                return None
            self.error(
                node,
                path,
                f"expected auto or a mapping, got {_describe(node)}",
                _did_you_mean(node.text, ["auto"]),
            )
            return None
        mapping = self.mapping(node, path)
        if mapping is None:
            return None
        found = self.fields(mapping, path, _PYTHON)
        mode: Literal["auto", "manual"] | None = None
        if "type" in found:
            type_node = found["type"].value
            text = self.string(type_node, f"{path}.type")
            if text == "auto":
                mode = "auto"
            elif text == "manual":
                mode = "manual"
            elif text is not None:
                self.error(
                    type_node, f"{path}.type", f"expected auto or manual, got {_quote(text)}",
                    _did_you_mean(text, ["auto", "manual"]),
                )  # fmt: skip
        else:
            self.error(mapping, f"{path}.type", "required key is missing", "type: auto or type: manual")

        def at(key: str) -> Location:
            entry = found[key]
            return self.loc(entry.key, _join(path, key))

        version: Setting[str] = Setting()
        if "version" in found:
            text = self.version(found["version"].value, f"{path}.version")
            if text is not None:
                version = Setting(value=text, given=True, location=at("version"))
        requirements: Setting[str] = Setting()
        if "requirements-file" in found:
            key_path = f"{path}.requirements-file"
            text = self.string(found["requirements-file"].value, key_path)
            if text is not None:
                text = self.project_path(text, found["requirements-file"].value, key_path)
            if text is not None:
                requirements = Setting(value=text, given=True, location=at("requirements-file"))
        root_key = None
        if "root-paths" in found and "root-path" in found:
            self.error(
                found["root-path"].key,
                f"{path}.root-path",
                f"given together with {path}.root-paths ({self.where(found['root-paths'].key, '')})",
                "keep only root-paths",
            )
            root_key = "root-paths"
        elif "root-paths" in found:
            root_key = "root-paths"
        elif "root-path" in found:
            root_key = "root-path"
            self.warn(found["root-path"].key, f"{path}.root-path", "deprecated spelling of 'root-paths'")
        roots: Setting[tuple[str, ...]] = Setting()
        if root_key is not None:
            values = self.strings(found[root_key].value, f"{path}.{root_key}", self.project_path)
            if values is not None:
                roots = Setting(value=values, given=True, location=at(root_key))
        locals_: Setting[tuple[str, ...]] = Setting()
        if "local-paths" in found:
            values = self.strings(found["local-paths"].value, f"{path}.local-paths", self.project_path)
            if values is not None:
                locals_ = Setting(value=values, given=True, location=at("local-paths"))
            if root_key is not None:
                self.error(
                    found["local-paths"].key,
                    f"{path}.local-paths",
                    f"cannot be used together with {path}.{root_key} ({self.where(found[root_key].key, '')})",
                )
        pip = self.pip(found["pip"].value) if "pip" in found else PipOptions()
        if mode == "auto":
            for key in _MANUAL_ONLY:
                if key in found:
                    self.error(
                        found[key].key,
                        _join(path, key),
                        "only allowed with type: manual",
                        "type: auto determines it; set type: manual to give it",
                    )
        if mode == "manual":
            given = [key for key in (*_MANUAL_ONLY, "root-paths", "root-path") if key in found]
            pip_node = found["pip"].value if "pip" in found else None
            if not given and not (isinstance(pip_node, y.Mapping) and pip_node.entries):
                self.error(
                    found["type"].value,
                    f"{path}.type",
                    "type: manual needs at least one of version, requirements-file, local-paths, root-paths or pip",
                    "or write python: auto",
                )
        if mode is None:
            return None
        return PythonSpec(
            mode=mode,
            version=version,
            requirements_file=requirements,
            root_paths=roots,
            local_paths=locals_,
            pip=pip,
        )

    def version(self, node: y.Node, path: str) -> str | None:
        if isinstance(node, y.Scalar) and node.kind == "float":
            self.error(
                node,
                path,
                f"expected a version string, got the number {node.value!r}; YAML reads 3.10 as 3.1, quote it: '{node.text}'",
            )
            return None
        if isinstance(node, y.Scalar) and node.kind == "int" and node.value == 3 and node.text == "3":
            return "3"
        text = self.string(node, path)
        if text is None:
            return None
        match = _VERSION_RE.match(text.strip())
        if match is None or (match.group(1) is not None and not _MINOR_RANGE[0] <= int(match.group(1)) <= _MINOR_RANGE[1]):
            self.error(
                node,
                path,
                f"{_quote(text)} is not a supported Python version",
                f"expected 3, 3.MINOR or 3.MINOR.PATCH with MINOR {_MINOR_RANGE[0]}..{_MINOR_RANGE[1]}",
            )
            return None
        return text.strip()

    def pip(self, node: y.Node) -> PipOptions:
        path = "env.python.pip"
        mapping = self.mapping(node, path)
        if mapping is None:
            return PipOptions()
        found = self.fields(mapping, path, _PIP)

        def at(key: str) -> Location:
            return self.loc(found[key].key, f"{path}.{key}")

        index: Setting[str] = Setting()
        if "index-url" in found:
            key_path = f"{path}.index-url"
            text = self.string(found["index-url"].value, key_path)
            if text is not None:
                text = self.url(text, found["index-url"].value, key_path)
            if text is not None:
                index = Setting(value=text, given=True, location=at("index-url"))
        extra: Setting[tuple[str, ...]] = Setting()
        if "extra-index-urls" in found:
            values = self.strings(found["extra-index-urls"].value, f"{path}.extra-index-urls", self.url)
            if values is not None:
                extra = Setting(value=values, given=True, location=at("extra-index-urls"))
        hosts: Setting[tuple[str, ...]] = Setting()
        if "trusted-hosts" in found:
            values = self.strings(found["trusted-hosts"].value, f"{path}.trusted-hosts", self.host)
            if values is not None:
                hosts = Setting(value=values, given=True, location=at("trusted-hosts"))
        no_deps: Setting[bool] = Setting(value=False)
        if "no-deps" in found:
            flag = self.boolean(found["no-deps"].value, f"{path}.no-deps")
            if flag is not None:
                no_deps = Setting(value=flag, given=True, location=at("no-deps"))
        return PipOptions(index_url=index, extra_index_urls=extra, trusted_hosts=hosts, no_deps=no_deps)

    def url(self, text: str, node: y.Node, path: str) -> str | None:
        problem = None
        try:
            parts = urlsplit(text)
            scheme = parts.scheme.lower()
            if any(c.isspace() for c in text):
                problem = "contains whitespace"
            elif scheme not in ("http", "https", "file"):
                problem = "is not an http(s) or file URL"
            elif scheme != "file" and not parts.hostname:
                problem = "has no host"
            else:
                _ = parts.port  # raises ValueError on a bad port
        except ValueError:
            problem = "is not a valid URL"
        if problem is not None:
            self.error(node, path, f"{_quote(text)} {problem}")
            return None
        return text

    def host(self, text: str, node: y.Node, path: str) -> str | None:
        if "://" in text:
            try:
                hostname = urlsplit(text).hostname
            except ValueError:
                hostname = None
            hint = f"did you mean {hostname!r}?" if hostname else None
            self.error(node, path, f"expected a host or host:port, not a URL: {_quote(text)}", hint)
            return None
        if not _HOST_RE.match(text.strip()):
            self.error(node, path, f"expected a host or host:port, got {_quote(text)}")
            return None
        return text.strip()

    # the rest ----------------------------------------------------------------------------

    def flags(self, node: y.Node) -> tuple[str, ...]:
        def known(text: str, item: y.Node, path: str) -> str | None:
            if text in FLAGS:
                return text
            self.error(item, path, f"unknown flag {_quote(text)}", _did_you_mean(text, FLAGS))
            return None

        return self.strings(node, "flags", known) or ()

    def instance_types(self, found: dict[str, y.Entry]) -> tuple[str, ...]:
        def plain(text: str, item: y.Node, path: str) -> str | None:
            if any(c.isspace() for c in text.strip()):
                self.error(item, path, f"{_quote(text)} is not an instance type")
                return None
            return text.strip()

        types: tuple[str, ...] = ()
        if "cloud-instance-types" in found:
            node = found["cloud-instance-types"].value
            types = self.strings(node, "cloud-instance-types", plain) or ()
            if isinstance(node, y.Sequence) and not node.items:
                self.error(node, "cloud-instance-types", "must list at least one instance type")
        if "cloud-instance-type" in found:
            entry = found["cloud-instance-type"]
            if "cloud-instance-types" in found:
                self.error(
                    entry.key,
                    "cloud-instance-type",
                    f"cannot be used together with cloud-instance-types ({self.where(found['cloud-instance-types'].key, '')})",
                    "keep only cloud-instance-types",
                )
            else:
                text = self.string(entry.value, "cloud-instance-type")
                if text is not None and plain(text, entry.value, "cloud-instance-type") is not None:
                    types = (text.strip(),)
        return types

    def size(self, node: y.Node, path: str) -> int | None:
        if isinstance(node, y.Scalar) and node.kind in ("int", "float"):
            self.error(
                node,
                path,
                f"the size {node.text} has no unit",
                f"write e.g. {node.text}Gb; 1 Gb = 2**30 bytes",
            )
            return None
        text = self.string(node, path)
        if text is None:
            return None
        try:
            size = parse_size(text)
        except ValueError:
            self.error(node, path, f"expected a size such as 150Gb or 1Tb, got {_quote(text)}")
            return None
        if size <= 0:
            self.error(node, path, "the size must be more than 0")
            return None
        return size

    def working_storage(self, node: y.Node) -> WorkingStorage | None:
        path = "working-storage"
        mapping = self.mapping(node, path)
        if mapping is None:
            return None
        found = self.fields(mapping, path, ("type", "size"))
        kind: str | None = "SSD"
        if "type" in found:
            kind = self.string(found["type"].value, f"{path}.type")
            if kind is not None and kind != "SSD":
                self.error(
                    found["type"].value,
                    f"{path}.type",
                    f"unknown disk type {_quote(kind)}; the only type is SSD",
                    _did_you_mean(kind, ["SSD"]),
                )
                kind = None
        size = None
        if "size" in found:
            size = self.size(found["size"].value, f"{path}.size")
            low, high = WORKING_STORAGE_RANGE
            if size is not None and not low <= size <= high:
                self.error(
                    found["size"].value,
                    f"{path}.size",
                    f"{_quote(_text(found['size'].value))} is outside the allowed 100Gb..10Tb",
                )
                size = None
        else:
            self.error(mapping, f"{path}.size", "required key is missing")
        if kind is None or size is None:
            return None
        return WorkingStorage(type=kind, size_bytes=size)

    def graceful_shutdown(self, node: y.Node) -> GracefulShutdown | None:
        path = "graceful-shutdown"
        mapping = self.mapping(node, path)
        if mapping is None:
            return None
        found = self.fields(mapping, path, ("signal", "timeout"))
        signal: str | None = "SIGTERM"
        if "signal" in found:
            signal = self.string(found["signal"].value, f"{path}.signal")
            if signal is not None and signal not in SIGNALS:
                guess = signal.upper() if signal.upper() in SIGNALS else None
                if guess is None and f"SIG{signal.upper()}" in SIGNALS:
                    guess = f"SIG{signal.upper()}"
                hint = f"did you mean {guess!r}?" if guess else _did_you_mean(signal, SIGNALS)
                self.error(
                    found["signal"].value,
                    f"{path}.signal",
                    f"unknown signal {_quote(signal)}; expected one of {', '.join(SIGNALS)}",
                    hint,
                )
                signal = None
        timeout: float | None = 15.0
        if "timeout" in found:
            timeout = self.duration(found["timeout"].value, f"{path}.timeout")
        if signal is None or timeout is None:
            return None
        return GracefulShutdown(signal=signal, timeout_seconds=timeout)

    def duration(self, node: y.Node, path: str) -> float | None:
        if isinstance(node, y.Scalar) and node.kind in ("int", "str", "float"):
            try:
                seconds = parse_duration(node.text)
            except ValueError:
                pass
            else:
                if seconds <= 0:
                    self.error(node, path, "the duration must be more than 0")
                    return None
                return seconds
        hint = None
        if isinstance(node, y.Scalar) and node.kind in ("int", "float") and ":" in node.text:
            hint = f"YAML reads {node.text} as a base-60 number; write it as 1m30s"
        self.error(
            node,
            path,
            f"expected a duration such as 15s, 1m30s, 2h or whole seconds, got {_describe(node)}",
            hint,
        )
        return None

    def output_datasets(self, node: y.Node) -> tuple[OutputDataset, ...]:
        seq = self.sequence(node, "output-datasets")
        if seq is None:
            return ()
        out: list[OutputDataset] = []
        for i, item in enumerate(seq.items):
            path = f"output-datasets[{i}]"
            mapping = self.mapping(item, path)
            if mapping is None:
                continue
            found = self.fields(mapping, path, _OUTPUT_DATASET)
            missing = [key for key in ("name", "var", "size") if key not in found]
            for key in missing:
                self.error(mapping, f"{path}.{key}", "required key is missing")
            name = self.string(found["name"].value, f"{path}.name") if "name" in found else None
            var = None
            if "var" in found:
                var = self.name(found["var"].value, f"{path}.var", "variable name")
                if var is not None:
                    self.declare(var, found["var"].value, f"{path}.var")
            description = None
            if "description" in found:
                description = self.string(found["description"].value, f"{path}.description", empty_ok=True)
            size = self.size(found["size"].value, f"{path}.size") if "size" in found else None
            labels: list[tuple[str, str]] = []
            if "labels" in found:
                labels_node = self.mapping(found["labels"].value, f"{path}.labels")
                for entry in labels_node.entries if labels_node else ():
                    value = self.text_value(entry.value, f"{path}.labels.{y.key_label(entry.key.text)}")
                    if value is not None:
                        labels.append((entry.key.text, value))
            if name is not None and var is not None and size is not None:
                out.append(
                    OutputDataset(
                        name=name,
                        var=var,
                        description=description,
                        size_bytes=size,
                        labels=tuple(labels),
                        location=self.loc(mapping, path),
                    )
                )
        return tuple(out)

    def spark(self, node: y.Node) -> SparkSpec | None:
        mapping = self.mapping(node, "spark")
        if mapping is None:
            return None
        found = self.fields(mapping, "spark", ("connector",))
        if "connector" not in found:
            self.error(mapping, "spark.connector", "required key is missing")
            return None
        connector = self.string(found["connector"].value, "spark.connector")
        return SparkSpec(connector=connector.strip()) if connector is not None else None

    def references(self, cmd_node: y.Scalar, cmd: str, declared: frozenset[str], flags: tuple[str, ...]) -> None:
        """Each ``${NAME}`` in ``cmd`` must be declared; ``$NAME`` is left to the shell."""
        seen: set[str] = set()
        for match in _REF_RE.finditer(cmd):
            name = match.group(1)
            if name in seen:
                continue
            seen.add(name)
            node = self.at_text(cmd_node, match.group(0))
            if name == PROJECT_HOME and "attach-project-disk" not in flags:
                self.warn(node, "cmd", f"${{{name}}} is set only with flags: [attach-project-disk]")
            if name in declared:
                continue
            if not name.strip():
                self.error(node, "cmd", "empty variable reference ${}")
                continue
            self.error(
                node,
                "cmd",
                f"undeclared variable ${{{name}}}",
                _did_you_mean(name, sorted(declared)) or "declare it in inputs, outputs, datasets, s3-mounts, args or env.vars",
            )

    def at_text(self, node: y.Scalar, needle: str) -> y.Scalar:
        """A stand-in node placed where ``needle`` is written inside ``node``."""
        position = y.position_of(self.document, node, needle)
        if position is None:
            return node
        return y.Scalar(value=needle, kind="str", text=needle, line=position[0], column=position[1])

    # the whole file ------------------------------------------------------------------------

    def job(self, root: y.Node | None) -> JobConfig | None:
        if root is None:
            self.error(None, "", "the file is empty; a job config needs at least 'cmd'")
            return None
        if not isinstance(root, y.Mapping):
            self.error(root, "", f"expected a mapping of keys at the top level, got {_describe(root)}")
            return None
        found = self.fields(root, "", _TOP)
        name = self.string(found["name"].value, "name") if "name" in found else None
        desc = self.string(found["desc"].value, "desc", empty_ok=True) if "desc" in found else None
        cmd = None
        if "cmd" in found:
            cmd = self.string(found["cmd"].value, "cmd")
            if cmd is not None:
                cmd = cmd.rstrip("\n")
        else:
            self.error(root, "cmd", "required key is missing", "cmd is the command that runs the job")
        args = self.args(found["args"].value) if "args" in found else ()
        inputs = self.files(found["inputs"].value, "inputs", outputs=False) if "inputs" in found else ()
        outputs = self.files(found["outputs"].value, "outputs", outputs=True) if "outputs" in found else ()
        s3_mounts = self.resources(found["s3-mounts"].value, "s3-mounts") if "s3-mounts" in found else ()
        datasets = self.resources(found["datasets"].value, "datasets") if "datasets" in found else ()
        env = self.env(found["env"].value) if "env" in found else EnvSpec()
        flags = self.flags(found["flags"].value) if "flags" in found else ()
        types = self.instance_types(found)
        storage = self.working_storage(found["working-storage"].value) if "working-storage" in found else None
        shutdown = self.graceful_shutdown(found["graceful-shutdown"].value) if "graceful-shutdown" in found else None
        out_ds = self.output_datasets(found["output-datasets"].value) if "output-datasets" in found else ()
        spark = self.spark(found["spark"].value) if "spark" in found else None
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
            source=self.source,
            project_dir=self.project_dir,
        )
        declared = frozenset(name for name, _, _ in self._variables) | config.variables()
        cmd_node = found["cmd"].value
        assert isinstance(cmd_node, y.Scalar)  # string() accepted it
        self.references(cmd_node, cmd, declared, flags)
        opened = _unclosed_quote(cmd)
        if opened is not None:  # located in the file, not inside cmd
            node = self.at_text(cmd_node, cmd[opened:].split("\n", 1)[0])
            near = " ".join(cmd[opened : opened + 24].split())
            self.error(node, "cmd", f"unbalanced quote: the {cmd[opened]} is never closed (near {near!r})")
        return config


def _unclosed_quote(cmd: str) -> int | None:
    """The offset of a quote in ``cmd`` that is never closed, read as sh reads it
    (backslash escapes, ``'...'`` without escapes, ``#`` comments at a word's start)."""
    quote, opened, i, word_start = "", 0, 0, True
    while i < len(cmd):
        ch = cmd[i]
        if quote == "'":
            quote = "" if ch == "'" else quote
        elif ch == "\\":
            i += 2
            word_start = False
            continue
        elif quote == '"':
            quote = "" if ch == '"' else quote
        elif ch in "'\"":
            quote, opened = ch, i
        elif ch == "#" and word_start:
            while i < len(cmd) and cmd[i] != "\n":
                i += 1
            continue
        word_start = not quote and ch in " \t\r\n;&|()"
        i += 1
    return opened if quote else None


def _text(node: y.Node) -> str:
    return node.text if isinstance(node, y.Scalar) else _describe(node)


def _sort_key(problem: InputError) -> tuple[int, int]:
    location = problem.location
    if location is None or location.line is None:
        return (0, 0)
    return (location.line, location.column or 0)


def _parse(document: y.Document, source: str, project_dir: Path, *, check_disk: bool) -> JobConfig:
    checker = _Checker(document, source, project_dir, check_disk)
    try:
        config = checker.job(document.root)
    except RecursionError as exc:  # pragma: no cover - guarded by the YAML composer first
        raise ConfigError("nested too deeply", location=Location(file=source)) from exc
    if checker.problems or config is None:
        problems = sorted(checker.problems, key=_sort_key)
        if not problems:  # pragma: no cover - job() returns None only after an error
            problems = [InputError("invalid config", location=Location(file=source))]
        raise ConfigError.from_problems(problems)
    return replace(config, warnings=tuple(checker.warnings))
