"""``env.python``: ``auto``, or ``type: auto|manual`` with version, paths and ``pip`` index options."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from envcapture.config import _yaml as y
from envcapture.config.model import PipOptions, PythonSpec, Setting
from envcapture.config.nodes import describe, did_you_mean, join, quote
from envcapture.config.sections.context import Context
from envcapture.errors import Location

__all__ = ["MANUAL_ONLY_KEYS", "PIP_KEYS", "PYTHON_KEYS", "read_pip", "read_python"]

PYTHON_KEYS = ("type", "version", "requirements-file", "root-paths", "root-path", "local-paths", "pip")
MANUAL_ONLY_KEYS = ("version", "requirements-file", "local-paths")
PIP_KEYS = ("index-url", "extra-index-urls", "trusted-hosts", "no-deps")

_PATH = "env.python"
_VERSION_RE = re.compile(r"3(?:\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?)?\Z")
_MINOR_RANGE = (6, 20)
_HOST_RE = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::[0-9]{1,5})?\Z"
)


def read_python(ctx: Context, node: y.Node) -> PythonSpec | None:
    """``env.python``: each parameter given becomes a given `Setting`; the rest are to derive."""
    reader = ctx.reader
    path = _PATH
    if isinstance(node, y.Scalar) and node.kind == "str":
        return _short_form(ctx, node)
    mapping = reader.mapping(node, path)
    if mapping is None:
        return None
    found = reader.fields(mapping, path, PYTHON_KEYS)
    mode = _mode(ctx, mapping, found)

    def at(key: str) -> Location:
        entry = found[key]
        return reader.loc(entry.key, join(path, key))

    version: Setting[str] = Setting()
    if "version" in found:
        text = _version(ctx, found["version"].value, f"{path}.version")
        if text is not None:
            version = Setting(value=text, given=True, location=at("version"))
    requirements: Setting[str] = Setting()
    if "requirements-file" in found:
        key_path = f"{path}.requirements-file"
        text = reader.string(found["requirements-file"].value, key_path)
        if text is not None:
            text = ctx.paths.project_path(text, found["requirements-file"].value, key_path)
        if text is not None:
            requirements = Setting(value=text, given=True, location=at("requirements-file"))
    root_key = _root_key(ctx, found)
    roots: Setting[tuple[str, ...]] = Setting()
    if root_key is not None:
        values = reader.strings(found[root_key].value, f"{path}.{root_key}", ctx.paths.project_path)
        if values is not None:
            roots = Setting(value=values, given=True, location=at(root_key))
    locals_: Setting[tuple[str, ...]] = Setting()
    if "local-paths" in found:
        values = reader.strings(found["local-paths"].value, f"{path}.local-paths", ctx.paths.project_path)
        if values is not None:
            locals_ = Setting(value=values, given=True, location=at("local-paths"))
        if root_key is not None:
            reader.error(
                found["local-paths"].key,
                f"{path}.local-paths",
                f"cannot be used together with {path}.{root_key} ({reader.where(found[root_key].key, '')})",
            )
    pip = read_pip(ctx, found["pip"].value) if "pip" in found else PipOptions()
    _check_mode(ctx, mode, found)
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


def _short_form(ctx: Context, node: y.Scalar) -> PythonSpec | None:
    """``python: auto``; ``python: manual`` needs the mapping form."""
    if node.text == "auto":
        return PythonSpec(mode="auto")
    if node.text == "manual":
        ctx.reader.error(
            node,
            _PATH,
            "'manual' needs parameters",
            "write the mapping form: type: manual plus at least one of version, requirements-file, local-paths, root-paths, pip",
        )
        return None
    ctx.reader.error(
        node,
        _PATH,
        f"expected auto or a mapping, got {describe(node)}",
        did_you_mean(node.text, ["auto"]),
    )
    return None


def _mode(ctx: Context, mapping: y.Mapping, found: dict[str, y.Entry]) -> Literal["auto", "manual"] | None:
    """``type`` (required): ``auto`` or ``manual``."""
    reader = ctx.reader
    path = _PATH
    if "type" not in found:
        reader.error(mapping, f"{path}.type", "required key is missing", "type: auto or type: manual")
        return None
    type_node = found["type"].value
    text = reader.string(type_node, f"{path}.type")
    if text == "auto":
        return "auto"
    if text == "manual":
        return "manual"
    if text is not None:
        reader.error(
            type_node, f"{path}.type", f"expected auto or manual, got {quote(text)}",
            did_you_mean(text, ["auto", "manual"]),
        )  # fmt: skip
    return None


def _root_key(ctx: Context, found: dict[str, y.Entry]) -> str | None:
    """``root-paths``, or its deprecated spelling ``root-path`` (a warning); not both."""
    reader = ctx.reader
    path = _PATH
    if "root-paths" in found and "root-path" in found:
        reader.error(
            found["root-path"].key,
            f"{path}.root-path",
            f"given together with {path}.root-paths ({reader.where(found['root-paths'].key, '')})",
            "keep only root-paths",
        )
        return "root-paths"
    if "root-paths" in found:
        return "root-paths"
    if "root-path" in found:
        reader.warn(found["root-path"].key, f"{path}.root-path", "deprecated spelling of 'root-paths'")
        return "root-path"
    return None


def _check_mode(ctx: Context, mode: Literal["auto", "manual"] | None, found: dict[str, y.Entry]) -> None:
    """``type: auto`` takes no manual parameter; ``type: manual`` needs at least one."""
    reader = ctx.reader
    path = _PATH
    if mode == "auto":
        for key in MANUAL_ONLY_KEYS:
            if key in found:
                reader.error(
                    found[key].key,
                    join(path, key),
                    "only allowed with type: manual",
                    "type: auto determines it; set type: manual to give it",
                )
    if mode == "manual":
        given = [key for key in (*MANUAL_ONLY_KEYS, "root-paths", "root-path") if key in found]
        pip_node = found["pip"].value if "pip" in found else None
        if not given and not (isinstance(pip_node, y.Mapping) and pip_node.entries):
            reader.error(
                found["type"].value,
                f"{path}.type",
                "type: manual needs at least one of version, requirements-file, local-paths, root-paths or pip",
                "or write python: auto",
            )


def _version(ctx: Context, node: y.Node, path: str) -> str | None:
    reader = ctx.reader
    if isinstance(node, y.Scalar) and node.kind == "float":
        reader.error(
            node,
            path,
            f"expected a version string, got the number {node.value!r}; YAML reads 3.10 as 3.1, quote it: '{node.text}'",
        )
        return None
    if isinstance(node, y.Scalar) and node.kind == "int" and node.value == 3 and node.text == "3":
        return "3"
    text = reader.string(node, path)
    if text is None:
        return None
    match = _VERSION_RE.match(text.strip())
    if match is None or (match.group(1) is not None and not _MINOR_RANGE[0] <= int(match.group(1)) <= _MINOR_RANGE[1]):
        reader.error(
            node,
            path,
            f"{quote(text)} is not a supported Python version",
            f"expected 3, 3.MINOR or 3.MINOR.PATCH with MINOR {_MINOR_RANGE[0]}..{_MINOR_RANGE[1]}",
        )
        return None
    return text.strip()


def read_pip(ctx: Context, node: y.Node) -> PipOptions:
    """``env.python.pip``: index URL, extra index URLs, trusted hosts, ``no-deps``."""
    reader = ctx.reader
    path = f"{_PATH}.pip"
    mapping = reader.mapping(node, path)
    if mapping is None:
        return PipOptions()
    found = reader.fields(mapping, path, PIP_KEYS)

    def at(key: str) -> Location:
        return reader.loc(found[key].key, f"{path}.{key}")

    def url(text: str, node: y.Node, path: str) -> str | None:
        return _url(ctx, text, node, path)

    def host(text: str, node: y.Node, path: str) -> str | None:
        return _host(ctx, text, node, path)

    index: Setting[str] = Setting()
    if "index-url" in found:
        key_path = f"{path}.index-url"
        text = reader.string(found["index-url"].value, key_path)
        if text is not None:
            text = url(text, found["index-url"].value, key_path)
        if text is not None:
            index = Setting(value=text, given=True, location=at("index-url"))
    extra: Setting[tuple[str, ...]] = Setting()
    if "extra-index-urls" in found:
        values = reader.strings(found["extra-index-urls"].value, f"{path}.extra-index-urls", url)
        if values is not None:
            extra = Setting(value=values, given=True, location=at("extra-index-urls"))
    hosts: Setting[tuple[str, ...]] = Setting()
    if "trusted-hosts" in found:
        values = reader.strings(found["trusted-hosts"].value, f"{path}.trusted-hosts", host)
        if values is not None:
            hosts = Setting(value=values, given=True, location=at("trusted-hosts"))
    no_deps: Setting[bool] = Setting(value=False)
    if "no-deps" in found:
        flag = reader.boolean(found["no-deps"].value, f"{path}.no-deps")
        if flag is not None:
            no_deps = Setting(value=flag, given=True, location=at("no-deps"))
    return PipOptions(index_url=index, extra_index_urls=extra, trusted_hosts=hosts, no_deps=no_deps)


def _url(ctx: Context, text: str, node: y.Node, path: str) -> str | None:
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
        ctx.reader.error(node, path, f"{quote(text)} {problem}")
        return None
    return text


def _host(ctx: Context, text: str, node: y.Node, path: str) -> str | None:
    if "://" in text:
        try:
            hostname = urlsplit(text).hostname
        except ValueError:
            hostname = None
        hint = f"did you mean {hostname!r}?" if hostname else None
        ctx.reader.error(node, path, f"expected a host or host:port, not a URL: {quote(text)}", hint)
        return None
    if not _HOST_RE.match(text.strip()):
        ctx.reader.error(node, path, f"expected a host or host:port, got {quote(text)}")
        return None
    return text.strip()
