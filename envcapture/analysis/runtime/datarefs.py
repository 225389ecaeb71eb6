"""Data file text -> dotted names it hands to code (``target: models.autoencoder.AutoencoderKL``). Pure.

Config-driven code (latent-diffusion's ``instantiate_from_config``, Hydra's ``_target_``,
LightningCLI's ``class_path``) imports classes named in YAML/JSON/TOML files; no import
statement names them. This stage reads the text line by line, without a YAML parser (so
a file with templates or tabs still yields its names, each with its line), and finds
``key: a.b.C`` / ``"key": "a.b.C"`` / ``key = "a.b.C"`` pairs whose key is one of
`KEYS` and whose value is a dotted Python name. `resolve_data_refs` then keeps the ones
that name a local module or an installed distribution (and, for the keys that always
name code, the unknown ones too). They are candidates for the report, never added to
what the job requires: a config file may be unused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace

from envcapture.analysis.runtime.model import DataRef
from envcapture.model import DistName

__all__ = ["DATA_SUFFIXES", "KEYS", "STRONG_KEYS", "find_data_refs", "resolve_data_refs"]

STRONG_KEYS = frozenset({"_target_", "target", "class_path"})
"""Keys whose value always names code: kept even when the name resolves to nothing."""

KEYS = STRONG_KEYS | frozenset(
    {"class", "_class_", "cls", "class_name", "classname", "module", "callable", "factory", "function", "func"}
)
"""Keys whose dotted values are looked up (lower-cased)."""

DATA_SUFFIXES = (".yaml", ".yml", ".json", ".toml")

# key (bare or quoted) then ':' or '=' then a dotted name (bare or quoted), then the end of
# the value: end of line, a comment, or the next item of a flow mapping / JSON object.
_PAIR = re.compile(
    r"""(?:^|(?<=[\s{,\[-]))(?P<q>["']?)(?P<key>[A-Za-z_][\w-]*)(?P=q)\s*[:=]\s*"""
    r"""(?P<vq>["']?)(?P<value>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?P=vq)\s*(?=$|[,}\]#])"""
)


def find_data_refs(text: str, *, path: str) -> tuple[DataRef, ...]:
    """Every ``key: dotted.name`` pair of ``text`` whose key is in `KEYS`, unresolved.

    :param path: the project-relative POSIX path reported with each line.
    """
    found: list[DataRef] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if ":" not in line and "=" not in line:
            continue
        for match in _PAIR.finditer(line):
            key = match.group("key")
            if key.lower() not in KEYS:
                continue
            found.append(DataRef(file=path, line=number, key=key, value=match.group("value")))
    return tuple(found)


def _prefixes(value: str) -> list[str]:
    parts = value.split(".")
    return [".".join(parts[:depth]) for depth in range(len(parts), 0, -1)]


def resolve_data_refs(
    refs: Iterable[DataRef],
    *,
    is_local: Callable[[str], bool],
    owners: Callable[[str], tuple[DistName, ...]],
    is_stdlib: Callable[[str], bool],
) -> tuple[DataRef, ...]:
    """Decide what each name points at, as ``python`` would from the project: local first.

    :param is_local: whether a dotted module name is a module or package of the project.
    :param owners: the installed distributions that own a dotted module name (longest prefix).
    :param is_stdlib: whether a dotted module name is the target's standard library.
    :returns: the candidates worth reporting, sorted: local and distribution names, and
        unknown names under `STRONG_KEYS`; standard-library names are dropped.
    """
    kept: list[DataRef] = []
    for ref in refs:
        resolved = _resolve(ref, is_local=is_local, owners=owners, is_stdlib=is_stdlib)
        if resolved.kind in ("local", "distribution") or (resolved.kind == "unknown" and ref.key.lower() in STRONG_KEYS):
            kept.append(resolved)
    return tuple(sorted(set(kept), key=lambda r: (r.file, r.line, r.key, r.value)))


def _resolve(
    ref: DataRef,
    *,
    is_local: Callable[[str], bool],
    owners: Callable[[str], tuple[DistName, ...]],
    is_stdlib: Callable[[str], bool],
) -> DataRef:
    for prefix in _prefixes(ref.value):
        if is_local(prefix):
            return replace(ref, module=prefix, kind="local")
    if is_stdlib(ref.value):
        return replace(ref, module=ref.value.split(".")[0], kind="stdlib")
    dists = owners(ref.value)
    if dists:
        # owners() answers for the longest prefix a distribution claims; report the
        # longest prefix that is a module name (not the class), for the reader.
        module = next((p for p in _prefixes(ref.value) if owners(p) == dists and p != ref.value), ref.value)
        return replace(ref, module=module, kind="distribution", distribution=dists[0])
    return replace(ref, kind="unknown")


def __dir__() -> list[str]:
    return list(__all__)
