"""``env``: the job's environment variables (``vars``), its image (``docker``) and ``python``."""

from __future__ import annotations

from envcapture.config import _yaml as y
from envcapture.config.model import DockerImage, EnvSpec, EnvVar
from envcapture.config.nodes import describe, join, quote
from envcapture.config.sections.context import Context
from envcapture.config.sections.python import read_python

__all__ = ["DOCKER_KEYS", "ENV_KEYS", "read_docker", "read_env", "read_env_vars"]

ENV_KEYS = ("vars", "docker", "python")
DOCKER_KEYS = ("image", "username", "password")


def read_env(ctx: Context, node: y.Node) -> EnvSpec:
    """``env``: a mapping of ``vars``, ``docker`` and ``python``, each optional."""
    mapping = ctx.reader.mapping(node, "env")
    if mapping is None:
        return EnvSpec()
    found = ctx.reader.fields(mapping, "env", ENV_KEYS)
    variables = read_env_vars(ctx, found["vars"].value) if "vars" in found else ()
    docker = read_docker(ctx, found["docker"].value) if "docker" in found else None
    python = read_python(ctx, found["python"].value) if "python" in found else None
    return EnvSpec(vars=variables, docker=docker, python=python)


def read_env_vars(ctx: Context, node: y.Node) -> tuple[EnvVar, ...]:
    """``env.vars``: ``NAME``/``NAME: value`` items or a ``NAME: value`` mapping; no name twice."""
    reader = ctx.reader
    pairs: list[tuple[y.Node, str, y.Node | None]] = []  # (name node, key path, value node)
    if isinstance(node, y.Mapping):
        for entry in node.entries:
            pairs.append((entry.key, join("env.vars", y.key_label(entry.key.text)), entry.value))
    elif isinstance(node, y.Sequence):
        for i, item in enumerate(node.items):
            path = f"env.vars[{i}]"
            if isinstance(item, y.Mapping) and len(item.entries) == 1:
                pairs.append((item.entries[0].key, path, item.entries[0].value))
            elif isinstance(item, y.Scalar):
                pairs.append((item, path, None))
            else:
                reader.error(item, path, f"expected NAME or NAME: value, got {describe(item)}")
    else:
        reader.error(node, "env.vars", f"expected a list or a mapping, got {describe(node)}")
    out: list[EnvVar] = []
    seen: dict[str, y.Node] = {}
    for name_node, path, value_node in pairs:
        name = reader.name(name_node, path, "environment variable name")
        if name is None:
            continue
        if name in seen:
            reader.error(
                name_node,
                path,
                f"environment variable {name!r} is set twice",
                f"first at {reader.where(seen[name], path)}",
            )
            continue
        seen[name] = name_node
        value: str | None = None
        if value_node is not None and not (isinstance(value_node, y.Scalar) and value_node.kind == "null"):
            value = reader.text_value(value_node, path)
            if value is None:
                continue
        out.append(EnvVar(name=name, value=value, location=reader.loc(name_node, path)))
    return tuple(out)


def read_docker(ctx: Context, node: y.Node) -> DockerImage | None:
    """``env.docker``: a project image id, or ``{image, username?, password: {secret-id}?}``."""
    reader = ctx.reader
    path = "env.docker"
    if isinstance(node, y.Scalar):
        text = reader.string(node, path)
        if text is None:
            return None
        if any(c in text for c in ":/@"):
            reader.error(
                node,
                path,
                f"{quote(text)} looks like a registry image, but a plain string names a project image id",
                f"write docker: {{image: {text}}}",
            )
            return None
        return DockerImage(id=text.strip())
    mapping = reader.mapping(node, path)
    if mapping is None:
        return None
    found = reader.fields(mapping, path, DOCKER_KEYS)
    image = username = secret = None
    if "image" in found:
        image = reader.string(found["image"].value, f"{path}.image")
    else:
        reader.error(mapping, f"{path}.image", "required key is missing")
    if "username" in found:
        username = reader.string(found["username"].value, f"{path}.username")
    if "password" in found:
        secret = _password(ctx, found["password"].value, f"{path}.password")
    if image is None:
        return None
    return DockerImage(image=image, username=username, password_secret_id=secret)


def _password(ctx: Context, node: y.Node, path: str) -> str | None:
    reader = ctx.reader
    if isinstance(node, y.Mapping):
        found = reader.fields(node, path, ("secret-id",))
        if "secret-id" not in found:
            if len(found) == len(node.entries):
                reader.error(node, f"{path}.secret-id", "required key is missing")
            return None
        return reader.string(found["secret-id"].value, f"{path}.secret-id")
    if isinstance(node, y.Scalar) and node.kind != "null":
        # Never echo the value: it is a secret.
        reader.error(
            node,
            path,
            "a plain-text password is refused; secrets go by secret-id",
            "store it as a project secret and write password: {secret-id: NAME}",
        )
        return None
    reader.error(node, path, f"expected {{secret-id: NAME}}, got {describe(node)}")
    return None
