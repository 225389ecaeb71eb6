"""What every job command says about the target: its first line (``Target: CPython 3.11,
linux x86_64, CUDA 13``), each accelerator swap, the sizes of a build, and the stable
command written in a lock header."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from envcapture.cli import _Ui


def regenerate(
    verb: str,
    config_file: Path | None,
    entries: Sequence[str],
    *,
    with_requirements: Sequence[str] = (),
    installed_extras: bool | None = None,
    **flags: str | None,
) -> str:
    """The header's command: stable whatever the output directory and the project's place
    (the config and entry points by name, no -o)."""
    parts = [f"envcapture {verb}"]
    if config_file is not None:
        parts.append(f"--config {config_file.name}")
    for flag, value in flags.items():
        if value:
            parts.append(f"--{flag.replace('_', '-')} {value}")
    parts.extend(f"--with {shlex.quote(text)}" for text in with_requirements)
    if installed_extras is not None:
        parts.append("--installed-extras" if installed_extras else "--no-installed-extras")
    parts.extend(Path(e).name if os.path.isabs(e) else e for e in entries)
    return " ".join(parts)


def say_target(out: Console, ui: _Ui, target: Any, closure: Any = None, installed: Iterable[tuple[str, str]] = ()) -> None:
    """The first line of every command, and how to target a GPU when the installed build is kept."""
    from envcapture.resolution.summary import local_variant_note, target_line

    out.print(target_line(target, closure), markup=False)
    note = local_variant_note(target, installed)
    if note:
        ui.note(f"note: {note}")


# Decisions about where packages come from, said as notes: pip's configuration taken or
# not, the PyTorch index added for a kept local label.
_SOURCE_ACTIONS = {"pip-config": "pip config", "pip-config-overridden": "pip config", "variant-index": None}


def say_sources(ui: _Ui, closure: Any) -> None:
    """``note: pip config: --find-links /opt/wheels from PIP_FIND_LINKS: ...`` per source
    decision; ``note: torch: ... is added as a source for it`` per variant index."""
    for decision in closure.decisions:
        if decision.action in _SOURCE_ACTIONS:
            ui.note(f"note: {_SOURCE_ACTIONS[decision.action] or decision.subject}: {decision.reason}")


def say_swaps(out: Console, closure: Any, target: Any, sizes: Any = None) -> None:
    """``swap: torch 2.13.0+cpu -> 2.13.0 (CUDA 13 build) for the GPU target, +19 packages, 2.9 GB``."""
    from envcapture.resolution.summary import swap_lines

    for line in swap_lines(closure, target, sizes):
        out.print(f"swap: {line}", markup=False)


def say_build_target(out: Console, ui: _Ui, result: Any) -> Any:
    """build's first lines: the target and each swap with its size; returns every wheel's size."""
    from envcapture.build.manifest import WHEELHOUSE
    from envcapture.build.sizes import wheel_sizes

    cap = result.capture
    closure = result.wheelhouse.closure
    say_target(out, ui, cap.target, closure, [(d.name, d.version) for d in cap.snapshot.distributions])
    say_sources(ui, closure)
    sizes = wheel_sizes(result.path / WHEELHOUSE, result.wheelhouse.wheels)
    say_swaps(out, closure, cap.target, {s.name: s.download for s in sizes})
    return sizes


def say_sizes(out: Console, ui: _Ui, sizes: Any) -> None:
    """The download and unpacked size of the largest wheels (all with -v) and of the whole
    environment, with a warning above the threshold."""
    from envcapture.build.sizes import size_warning_bytes
    from envcapture.resolution.summary import format_size

    if not sizes:
        return
    shown = sizes if ui.verbose else sizes[:10]
    for size in shown:
        out.print(
            f"  {size.name} {size.version}: {format_size(size.download)} download, {format_size(size.unpacked)} unpacked",
            markup=False,
        )
    if len(sizes) > len(shown):
        out.print(f"  ... and {len(sizes) - len(shown)} smaller (-v lists them all)", markup=False)
    download = sum(s.download for s in sizes)
    unpacked = sum(s.unpacked for s in sizes)
    out.print(f"environment: {format_size(download)} download, {format_size(unpacked)} unpacked", markup=False)
    limit = size_warning_bytes()
    if unpacked > limit:
        ui.note(
            f"warning: the environment unpacks to {format_size(unpacked)} (over {format_size(limit)}): every fresh VM "
            "downloads and installs it; ENVCAPTURE_SIZE_WARNING_GB changes the threshold"
        )


def say_added(out: Console, analysis: Any) -> None:
    """``added arrowlite==1.0.3 (extra parquet of tabular, installed locally)``: what ships
    although the code does not import it, one line per reason."""
    for added in analysis.added:
        out.print(f"  added {added.display_name}=={added.version} ({added.reason})", markup=False)
