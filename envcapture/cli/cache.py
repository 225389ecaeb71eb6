"""The command line: `envcapture cache info` and `cache prune`."""

from __future__ import annotations

import json

import click

from envcapture._fs import document_header
from envcapture.cli import (
    _console,
    _guarded,
    _json_option,
    _ui_options,
)


@click.group("cache")
def cache_group() -> None:
    """Inspect and prune the store of wheels and bundles."""


@cache_group.command("info")
@_json_option("cache info", "Print the result as JSON.")
@_ui_options
@_guarded
def cache_info(as_json: bool) -> None:
    """Entries and bytes in the store, per kind."""
    from envcapture.build.store import Store

    info = Store().info()
    if as_json:
        doc = {
            **document_header("envcapture/cache-info", "1.0"),
            "root": str(info.root),
            "objects": info.objects,
            "bytes": info.bytes,
            "index_entries": info.index_entries,
            "temporary": info.temporary,
            "per_kind": [{"kind": k, "objects": n, "bytes": b} for k, n, b in info.per_kind],
        }
        click.echo(json.dumps(doc, indent=2))
        return
    out = _console(highlight=False, soft_wrap=True, emoji=False, markup=False)
    out.print(f"store: {info.root}", markup=False)
    out.print(f"  {info.objects} objects, {info.bytes} bytes, {info.index_entries} index entries", markup=False)
    for kind, count, size in info.per_kind:
        out.print(f"  {kind}: {count} objects, {size} bytes", markup=False)
    if info.temporary:
        out.print(f"  {info.temporary} temporary files (left by interrupted runs; prune removes old ones)", markup=False)


@cache_group.command("prune")
@click.option("--older-than", metavar="DURATION", help="Remove what was not used for DURATION (30d, 12h, 90m).")
@click.option("--all", "everything", is_flag=True, help="Remove everything.")
@_ui_options
@_guarded
def cache_prune(older_than: str | None, everything: bool) -> None:
    """Remove unused objects from the store (default: --older-than 30d)."""
    from envcapture.build.store import Store
    from envcapture.config.scalars import parse_duration
    from envcapture.errors import InputError

    if everything and older_than:
        raise InputError("--all and --older-than cannot be used together")
    seconds: float | None = None
    if not everything:
        try:
            seconds = parse_duration(older_than or "30d")
        except ValueError:
            raise InputError(f"--older-than: expected a duration like 30d, 12h or 90m, got {older_than!r}") from None
    result = Store().prune(older_than=seconds, everything=everything)
    _console(highlight=False, soft_wrap=True, emoji=False, markup=False).print(
        f"removed {result.objects} objects ({result.bytes} bytes) and {result.index_entries} index entries", markup=False
    )
