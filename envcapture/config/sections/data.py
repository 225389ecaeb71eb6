"""The job's data: ``inputs``/``outputs`` (local paths), ``s3-mounts``/``datasets`` (resource ids), ``output-datasets``."""

from __future__ import annotations

from dataclasses import dataclass

from envcapture.config import _yaml as y
from envcapture.config.model import FileSpec, OutputDataset, ResourceRef
from envcapture.config.nodes import describe, quote
from envcapture.config.paths import has_parent_part
from envcapture.config.sections.context import Context

__all__ = ["OUTPUT_DATASET_KEYS", "read_files", "read_output_datasets", "read_resources"]

OUTPUT_DATASET_KEYS = ("name", "var", "description", "size", "labels")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Ref:
    """An item of inputs/outputs/s3-mounts/datasets, before its own checks."""

    text: str
    var: str | None
    node: y.Node  # the path or id as written
    path: str  # key path of the item


def _refs(ctx: Context, node: y.Node, path: str, what: str) -> list[_Ref]:
    """``- X``, ``- X: VAR`` or ``- X: {var: VAR}`` items; each ``VAR`` is declared."""
    reader = ctx.reader
    seq = reader.sequence(node, path)
    if seq is None:
        return []
    out: list[_Ref] = []
    for i, item in enumerate(seq.items):
        item_path = f"{path}[{i}]"
        if isinstance(item, y.Scalar):
            text = reader.string(item, item_path)
            if text is not None:
                out.append(_Ref(text=text, var=None, node=item, path=item_path))
            continue
        if not isinstance(item, y.Mapping):
            reader.error(item, item_path, f"expected a {what} or '{what}: VAR', got {describe(item)}")
            continue
        if len(item.entries) != 1:
            reader.error(
                item,
                item_path,
                f"expected one {what} per item, got {len(item.entries)} keys",
                "start each item with its own '-'",
            )
            continue
        entry = item.entries[0]
        if entry.key.kind == "null" or not entry.key.text.strip():
            reader.error(entry.key, item_path, f"expected a {what}, got {describe(entry.key)}")
            continue
        var_path = f"{item_path}.var"
        var_node: y.Node = entry.value
        if isinstance(entry.value, y.Mapping):
            sub = reader.fields(entry.value, item_path, ("var",))
            if "var" not in sub:
                if len(entry.value.entries) == len(sub):
                    reader.error(entry.value, var_path, "required key is missing")
                continue
            var_node = sub["var"].value
        var = reader.name(var_node, var_path, "variable name")
        if var is None:
            continue
        ctx.variables.declare(var, var_node, var_path)
        out.append(_Ref(text=entry.key.text, var=var, node=entry.key, path=item_path))
    return out


def read_files(ctx: Context, node: y.Node, path: str, *, outputs: bool) -> tuple[FileSpec, ...]:
    """``inputs`` (must exist) or ``outputs``: a path in a variable may be absolute, a bare one not;
    an output never has a ``..`` part (it is written inside the job's working directory)."""
    specs: list[FileSpec] = []
    for ref in _refs(ctx, node, path, "path"):
        if outputs and has_parent_part(ref.text):  # even with a variable: the job writes there
            ctx.reader.error(
                ref.node, ref.path, f"{quote(ref.text)} contains '..'",
                "an output is written inside the job's working directory (RUN_DIR/work)",
            )  # fmt: skip
            continue
        checked = ctx.paths.local_path(
            ref.text,
            ref.node,
            ref.path,
            inside=ref.var is None,
            must_exist=not outputs,
            absolute_hint=f"only a path saved in a variable may be absolute: - {ref.text}: {{var: NAME}}",
        )
        if checked is not None:
            specs.append(FileSpec(path=checked, var=ref.var, location=ctx.reader.loc(ref.node, ref.path)))
    return tuple(specs)


def read_resources(ctx: Context, node: y.Node, path: str) -> tuple[ResourceRef, ...]:
    """``s3-mounts`` or ``datasets``: resource ids; a bare id is itself the variable's name."""
    out: list[ResourceRef] = []
    for ref in _refs(ctx, node, path, "id"):
        if any(c.isspace() for c in ref.text.strip()) or "${" in ref.text:
            ctx.reader.error(ref.node, ref.path, f"{quote(ref.text)} is not a resource id")
            continue
        text = ref.text.strip()
        if ref.var is None:
            ctx.variables.declare(text, ref.node, ref.path)
        out.append(ResourceRef(id=text, var=ref.var, location=ctx.reader.loc(ref.node, ref.path)))
    return tuple(out)


def read_output_datasets(ctx: Context, node: y.Node) -> tuple[OutputDataset, ...]:
    """``output-datasets``: ``{name, var, size, description?, labels?}`` items."""
    reader = ctx.reader
    seq = reader.sequence(node, "output-datasets")
    if seq is None:
        return ()
    out: list[OutputDataset] = []
    for i, item in enumerate(seq.items):
        path = f"output-datasets[{i}]"
        mapping = reader.mapping(item, path)
        if mapping is None:
            continue
        found = reader.fields(mapping, path, OUTPUT_DATASET_KEYS)
        missing = [key for key in ("name", "var", "size") if key not in found]
        for key in missing:
            reader.error(mapping, f"{path}.{key}", "required key is missing")
        name = reader.string(found["name"].value, f"{path}.name") if "name" in found else None
        var = None
        if "var" in found:
            var = reader.name(found["var"].value, f"{path}.var", "variable name")
            if var is not None:
                ctx.variables.declare(var, found["var"].value, f"{path}.var")
        description = None
        if "description" in found:
            description = reader.string(found["description"].value, f"{path}.description", empty_ok=True)
        size = reader.size(found["size"].value, f"{path}.size") if "size" in found else None
        labels: list[tuple[str, str]] = []
        if "labels" in found:
            labels_node = reader.mapping(found["labels"].value, f"{path}.labels")
            for entry in labels_node.entries if labels_node else ():
                value = reader.text_value(entry.value, f"{path}.labels.{y.key_label(entry.key.text)}")
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
                    location=reader.loc(mapping, path),
                )
            )
    return tuple(out)
