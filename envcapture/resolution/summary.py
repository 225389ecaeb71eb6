"""What the resolution decided about the target's accelerator, as lines for people. Pure.

* `target_line`: ``Target: CPython 3.11, linux x86_64, CUDA 13`` (every command's first line);
* `swap_lines`: ``torch 2.13.0+cpu -> 2.13.0 (CUDA 13 build) for the GPU target, +19 packages, 2.9 GB``;
* `local_variant_note`: when the target keeps the installed build, how to target a GPU;
* `planned_swaps`: the swaps a target implies, before anything is resolved (``analyze``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from envcapture.model import DistName, Target
from envcapture.resolution.closure import variant_for_target
from envcapture.resolution.model import Closure, ResolveOptions

__all__ = ["format_size", "local_variant_note", "planned_swaps", "swap_lines", "target_line"]


def __dir__() -> list[str]:
    return list(__all__)


def format_size(size: int) -> str:
    """``2.9 GB``, ``527.1 MB``, ``12 kB`` (decimal units, as pip prints them)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in ("B", "kB") else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns at GB


def _accelerator(target: Target, closure: Closure | None) -> str:
    if target.gpu and target.cuda is None and closure is not None:
        for swap in closure.swaps:
            if swap.build.startswith("CUDA ") and swap.build != "CUDA build":
                return swap.build.removesuffix(" build")
    return target.accelerator_text()


def target_line(target: Target, closure: Closure | None = None) -> str:
    """``Target: CPython 3.11, linux x86_64, CUDA 13``; the CUDA line of the index's default
    build is read from the resolved swaps when ``closure`` has them."""
    major, minor = target.python_minor
    return f"Target: CPython {major}.{minor}, {target.sys_platform} {target.platform_machine}, {_accelerator(target, closure)}"


def _for_what(target: Target) -> str:
    return "the GPU target" if target.gpu else "the CPU target" if target.accelerator == "cpu" else "the target"


def swap_lines(closure: Closure, target: Target, sizes: Mapping[DistName, int] | None = None) -> list[str]:
    """One line per swapped variant; ``sizes`` (download bytes per package, when known)
    adds the size of the variant and what it brings."""
    lines = []
    for swap in closure.swaps:
        text = f"{swap.name} {swap.installed_version} -> {swap.version} ({swap.build}) for {_for_what(target)}"
        text += f", +{len(swap.added)} package{'s' if len(swap.added) != 1 else ''}"
        if swap.removed:
            text += f", -{len(swap.removed)} of the local build"
        if sizes:
            names = [swap.name, *swap.added]
            if all(n in sizes for n in names):
                text += f", {format_size(sum(sizes[n] for n in names))}"
        lines.append(text)
    return lines


def local_variant_note(target: Target, installed: Iterable[tuple[str, str]]) -> str | None:
    """When the target keeps the installed accelerator build of a PyTorch package: which,
    and how to target a GPU (or a CPU)."""
    if target.gpu or target.accelerator == "cpu":
        return None
    for name, version in installed:
        if name != "torch":
            continue
        label = version.partition("+")[2]
        build = "a CPU build" if label == "cpu" else f"a CUDA build ({label})" if label.startswith("cu") else "the index's build"
        return (
            f"the target keeps the installed torch {version} ({build}); to target a GPU pass --accelerator cuda "
            "(or cu126, cu128, cu130), set ENVCAPTURE_ACCELERATOR, or list a GPU instance type (g1.1) first in "
            "cloud-instance-types; --accelerator cpu for a CPU machine"
        )
    return None


def planned_swaps(target: Target, installed: Iterable[tuple[str, str]], options: ResolveOptions | None = None) -> list[str]:
    """``torch 2.13.0+cpu -> 2.13.0 for the GPU target`` per installed package whose target
    build differs (before its requirements are resolved)."""
    lines = []
    for name, version in installed:
        wanted = variant_for_target(name, version, target, options or ResolveOptions())
        if wanted is not None:
            lines.append(
                f"{name} {version} -> {wanted} for {_for_what(target)} (resolved with its requirements by lock and build)"
            )
    return lines
