"""EDGE: resolve what the target needs but the local environment lacks, with ``uv pip compile``.

Two things the local environment cannot answer:

* distributions the target needs that are not installed here (a Linux-only dependency
  of a job analysed on a Mac): resolved from the configured indexes, the local pins as
  constraints;
* the target's build of a package published in accelerator variants (``torch 2.13.0+cpu``
  installed, a GPU target): the variant *and everything it requires* are resolved for the
  target's platform and Python, every other index pin as installed. Where the variant
  requires another version of a local pin (a local ``triton 3.9.0``, ``triton==3.7.1``
  required), the variant's requirement wins and a decision says so; where no solution
  exists, a `ResolutionError` names both sides.

uv reads no ``pip.conf``: it gets the closure's sources (``env.python.pip`` over pip's
configuration) on its command line, with ``--no-config`` and without uv's own source
variables, so pip and uv search the same indexes and find-links.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from envcapture._urls import mask_url
from envcapture.errors import ResolutionError
from envcapture.model import DistName, Target, dist_name
from envcapture.resolution.model import (
    Closure,
    Decision,
    Delivery,
    Dropped,
    Origin,
    OriginKind,
    Pin,
    Unresolved,
    VariantSwap,
    Via,
)
from envcapture.resolution.platforms import describe_target, is_torch_family
from envcapture.resolution.requirements import expand_env_vars

__all__ = ["complete_for_target", "find_uv", "swapped_pins"]

log = logging.getLogger(__name__)


def find_uv(uv: str | None = None) -> str | None:
    """The uv executable: ``uv`` if given (and present), else uv's Python package (a
    dependency of envcapture), else ``uv`` on ``PATH``."""
    if uv is not None:
        return uv if Path(uv).exists() or shutil.which(uv) else None
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


_UV_LINE_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(?P<version>\S+)(\s+#\s*via\s+(?P<via>.*))?$")
_CU_NAME_RE = re.compile(r"-cu(?P<major>\d{2})$")


def swapped_pins(closure: Closure) -> tuple[Pin, ...]:
    """Pins whose target build differs from the installed one (a mapped PyTorch variant)."""
    return tuple(
        p for p in closure.pins if p.installed_version and p.version != p.installed_version and p.origin.kind is OriginKind.INDEX
    )


@dataclass(frozen=True, slots=True)
class _Compiled:
    pins: dict[DistName, tuple[str, str, tuple[str, ...]]]  # name -> (display, version, via)
    error: str = ""


class _Uv:
    """One target's ``uv pip compile`` runs."""

    def __init__(self, uv_bin: str, closure: Closure, target: Target, env: dict[str, str], timeout: float) -> None:
        self.uv_bin = uv_bin
        self.closure = closure
        self.target = target
        self.env = env
        self.timeout = timeout

    def compile(self, lines: Sequence[str], constraints: Sequence[str] = (), extra_indexes: Sequence[str] = ()) -> _Compiled:
        opts = self.closure.options
        major, minor = self.target.python_minor
        with tempfile.TemporaryDirectory(prefix="envcapture-resolve-") as tmp:
            req_in = Path(tmp, "requirements.in")
            req_in.write_text("\n".join(lines) + "\n", encoding="utf-8")
            cmd = [
                self.uv_bin,
                "pip",
                "compile",
                str(req_in),
                "--python-platform",
                f"{self.target.platform_machine}-manylinux_{self.target.manylinux}",
                "--python-version",
                f"{major}.{minor}",
                "--no-header",
                "--annotation-style",
                "line",
                "--quiet",
                "--no-config",
                "--index-strategy",
                "unsafe-best-match",  # pip's rule: the best version from any index
            ]
            if constraints:
                cons = Path(tmp, "constraints.txt")
                cons.write_text("".join(f"{c}\n" for c in constraints), encoding="utf-8")
                cmd += ["-c", str(cons)]
            if opts.no_index:
                cmd.append("--no-index")
            elif opts.index_url:
                cmd += ["--index-url", expand_env_vars(opts.index_url, self.env)]
            for url in dict.fromkeys([*opts.extra_index_urls, *extra_indexes]):
                cmd += ["--extra-index-url", expand_env_vars(url, self.env)]
            for link in opts.find_links:
                cmd += ["--find-links", expand_env_vars(link, self.env)]
            for host in opts.trusted_hosts:
                cmd += ["--allow-insecure-host", host]
            if opts.pre:
                cmd += ["--prerelease", "allow"]
            env = _uv_environ(self.env, opts.transport)
            env.update(UV_NO_CONFIG="1", UV_HTTP_TIMEOUT=str(int(min(self.timeout, 60))))
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=self.timeout, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return _Compiled({}, f"uv pip compile did not finish ({type(exc).__name__})")
        if proc.returncode != 0:
            return _Compiled({}, _uv_error(proc.stderr))
        pins: dict[DistName, tuple[str, str, tuple[str, ...]]] = {}
        for raw in proc.stdout.splitlines():
            match = _UV_LINE_RE.match(raw.strip())
            if match is None:
                continue
            vias = tuple(v.strip() for v in (match.group("via") or "").split(",") if v.strip())
            pins[dist_name(match.group("name"))] = (match.group("name"), match.group("version"), vias)
        return _Compiled(pins)


# uv's own source variables: the closure's sources are given on its command line, as to pip.
_UV_SOURCES = frozenset({"UV_INDEX", "UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_NO_INDEX"})
# pip's transport settings (from its configuration) as uv reads them, where not set already.
_UV_TRANSPORT = {"cert": "SSL_CERT_FILE", "keyring-provider": "UV_KEYRING_PROVIDER"}


def _uv_environ(environ: Mapping[str, str], transport: Sequence[tuple[str, str]]) -> dict[str, str]:
    """``environ`` for uv: no uv source variables (uv reads no pip.conf, and the sources it
    gets are the closure's), pip's certificate bundle and keyring provider carried over."""
    env = {k: v for k, v in environ.items() if k not in _UV_SOURCES}
    for key, value in transport:
        if key in _UV_TRANSPORT:
            env.setdefault(_UV_TRANSPORT[key], value)
    return env


def _uv_error(stderr: str) -> str:
    """uv's explanation on one line, URLs masked."""
    lines = [ln.strip().lstrip("×╰─▶ ").strip() for ln in stderr.splitlines() if ln.strip()]
    lines = [ln for ln in lines if ln and not ln.startswith("hint:")]
    text = " ".join(lines)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+", lambda m: mask_url(m.group(0)), text)
    return text[:600]


def complete_for_target(
    closure: Closure,
    target: Target,
    *,
    uv: str | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = 300.0,
) -> Closure:
    """EDGE: resolve ``closure.unresolved_for_target`` and the requirements of swapped
    accelerator variants (`swapped_pins`) with ``uv pip compile`` for the target platform
    and Python, from the closure's indexes. Returns a new closure with the added pins, the
    dropped ones, the `VariantSwap` records and a decision per choice; when uv is missing
    or an index cannot be read, the same pins plus a decision saying why (swapped variants
    then stay unresolved, so a build refuses).

    :raises ResolutionError: a variant's requirements and the local pins have no solution.
    """
    variants = swapped_pins(closure)
    if closure.options.no_deps or (not closure.unresolved_for_target and not variants):
        return closure
    names = ", ".join([*(u.name for u in closure.unresolved_for_target), *(p.name for p in variants)])
    uv_bin = find_uv(uv)
    if uv_bin is None:
        return _skipped(closure, variants, f"uv is not available: {names} stay unresolved for the target (install uv)")
    runner = _Uv(uv_bin, closure, target, dict(os.environ if environ is None else environ), timeout)
    if variants:
        return _complete_variants(closure, target, runner, variants)
    compiled = runner.compile(
        [u.requirement() for u in closure.unresolved_for_target],
        constraints=[f"{p.name}=={p.version}" for p in closure.pins if p.delivery is not Delivery.DIRECT],
    )
    if compiled.error:
        return _skipped(
            closure,
            (),
            f"uv pip compile failed for the target (index unreachable or no solution): {compiled.error}; {names} stay unresolved",
        )
    return _merge_compiled(closure, compiled, target)


def _skipped(closure: Closure, variants: Sequence[Pin], reason: str) -> Closure:
    decision = Decision(subject="resolution", action="resolve-skipped", reason=reason)
    unresolved = list(closure.unresolved_for_target)
    for pin in variants:
        unresolved.append(
            Unresolved(
                name=pin.name,
                specifier=f"=={pin.version}",
                required_by=pin.via,
                reason=f"the requirements of the target's build of {pin.name} were not resolved",
            )
        )
    return replace(
        closure,
        decisions=tuple(sorted({*closure.decisions, decision})),
        unresolved_for_target=tuple(sorted(unresolved)),
    )


def _merge_compiled(closure: Closure, compiled: _Compiled, target: Target) -> Closure:
    known = {p.name for p in closure.pins}
    wanted = {u.name: u for u in closure.unresolved_for_target}
    added: list[Pin] = []
    decisions = list(closure.decisions)
    for name, (display, version, via_items) in sorted(compiled.pins.items()):
        if name in known:
            continue
        vias: list[Via] = []
        for item in via_items:
            if item.startswith(("-r ", "-c ")):
                vias.extend(wanted[name].required_by if name in wanted else ())
            else:
                vias.append(Via(source=dist_name(item.split("[")[0])))
        added.append(
            Pin(
                name=name,
                display_name=display,
                version=version,
                installed_version="",
                origin=Origin(kind=OriginKind.INDEX),
                delivery=Delivery.INDEX,
                extras=wanted[name].extras if name in wanted else frozenset(),
                via=tuple(sorted(set(vias))),
                marker_reason=wanted[name].reason if name in wanted else None,
            )
        )
        decisions.append(
            Decision(
                subject=name,
                action="resolved-for-target",
                reason=f"{name}=={version} is not installed locally; resolved for {describe_target(target)} "
                "from the configured indexes with uv, the local pins as constraints",
            )
        )
    done = {p.name for p in added}
    left = tuple(u for u in closure.unresolved_for_target if u.name not in done)
    decisions = [d for d in decisions if not (d.action == "unresolved-for-target" and d.subject in done)]
    return replace(
        closure,
        pins=tuple(sorted([*closure.pins, *added], key=lambda p: p.name)),
        unresolved_for_target=left,
        decisions=tuple(sorted(set(decisions))),
    )


# --- accelerator variants ---------------------------------------------------------------------


def _only_through(pins: Sequence[Pin], roots: set[DistName]) -> set[DistName]:
    """Names every path to which goes through ``roots``: what only the local builds require."""
    found: set[DistName] = set()
    changed = True
    while changed:
        changed = False
        for pin in pins:
            if pin.name in roots or pin.name in found or not pin.via:
                continue
            parents = [v.parent for v in pin.via]
            if all(p is not None and (p in roots or p in found) for p in parents):
                found.add(pin.name)
                changed = True
    return found


def _pinnable(pin: Pin) -> bool:
    """An index release the resolver can ask for by ``name==version``."""
    return pin.origin.kind is OriginKind.INDEX and "+" not in pin.version and pin.delivery is not Delivery.DIRECT


def _build_name(pin: Pin, target: Target, compiled: Mapping[DistName, tuple[str, str, tuple[str, ...]]]) -> str:
    """``CUDA 13 build``, ``CUDA 12.6 build``, ``CPU build``: the target build of ``pin``."""
    label = pin.version.partition("+")[2]
    if label == "cpu":
        return "CPU build"
    if label.startswith("cu") and label[2:].isdigit():
        digits = label[2:]
        return f"CUDA {digits[:-1]}.{digits[-1]} build"
    majors = sorted({m.group("major") for n in compiled if (m := _CU_NAME_RE.search(n))})
    if not majors and "cuda-toolkit" in compiled:
        majors = [compiled[DistName("cuda-toolkit")][1].split(".")[0]]
    if majors:
        return f"CUDA {majors[-1].lstrip('0')} build"
    return "CUDA build" if target.gpu else "target build"


def _complete_variants(closure: Closure, target: Target, runner: _Uv, variants: Sequence[Pin]) -> Closure:
    roots = {p.name for p in variants}
    local_only = _only_through(closure.pins, roots)
    fixed = [p for p in closure.pins if p.name not in roots and p.name not in local_only and _pinnable(p)]
    # '===' for a plain version: '==2.13.0' would also match '2.13.0+cpu' (PEP 440 ignores the label)
    heads = [f"{p.name}{'==' if '+' in p.version else '==='}{p.version}" for p in variants]
    heads += [u.requirement() for u in closure.unresolved_for_target]
    extra = [p.origin.index_url for p in variants if p.origin.index_url]
    shown = ", ".join(f"{p.name}=={p.version}" for p in variants)
    where = describe_target(target)
    compiled = runner.compile(heads + [f"{p.name}=={p.version}" for p in fixed], extra_indexes=extra)
    overridden: list[Pin] = []
    if compiled.error:
        alone = runner.compile(heads, extra_indexes=extra)
        if alone.error:
            if _unreachable(alone.error):
                return _skipped(closure, variants, f"uv pip compile could not read the indexes: {alone.error}")
            raise ResolutionError(f"{shown} for {where}: no solution on the configured indexes: {alone.error}")
        differs = [p for p in fixed if p.name in alone.pins and alone.pins[p.name][1] != p.version]
        # first the accelerator's own companions (triton, nvidia-*, cuda-*), then anything the variant needs
        for group in ([p for p in differs if is_torch_family(p.name)], differs):
            if not group:
                continue
            names = {p.name for p in group}
            compiled = runner.compile(
                heads + [f"{p.name}=={p.version}" for p in fixed if p.name not in names], extra_indexes=extra
            )
            if not compiled.error:
                overridden = group
                break
        if compiled.error:
            raise ResolutionError(f"{shown} for {where} conflicts with the local pins: {compiled.error}")
    return _merge_variants(closure, target, variants, local_only, overridden, compiled)


def _unreachable(error: str) -> bool:
    return bool(re.search(r"(Failed to fetch|error sending request|Connection refused|timed out|dns error|401|403)", error))


def _merge_variants(
    closure: Closure,
    target: Target,
    variants: Sequence[Pin],
    local_only: set[DistName],
    overridden: Sequence[Pin],
    compiled: _Compiled,
) -> Closure:
    out = compiled.pins
    roots = {p.name for p in variants}
    decisions = list(closure.decisions)
    dropped = list(closure.dropped)
    pins: list[Pin] = []
    added: list[DistName] = []
    removed: list[DistName] = []
    by_variant = {p.name: f"{p.display_name} {p.installed_version}" for p in variants}
    builds = {p.name: _build_name(p, target, out) for p in variants}
    target_of = ", ".join(f"{p.name} {p.version} ({builds[p.name]})" for p in variants)
    overridden_names = {p.name for p in overridden}
    for pin in closure.pins:
        if pin.name in roots:
            pins.append(pin)
            continue
        if pin.name in local_only and pin.name not in out:
            removed.append(pin.name)
            local = ", ".join(sorted(by_variant[r] for r in roots if any(v.parent == r for v in pin.via))) or "the local build"
            dropped.append(
                Dropped(name=pin.name, reason=f"required only by the local build ({local}), not by {target_of} for the target")
            )
            continue
        if pin.name in out and out[pin.name][1] != pin.version:
            new_version = out[pin.name][1]
            added.append(pin.name)
            if pin.name in overridden_names:
                decisions.append(
                    Decision(
                        subject=pin.name,
                        action="variant-requirement-wins",
                        reason=f"{pin.display_name} {pin.version} is installed, but {target_of} requires "
                        f"{pin.name}=={new_version}: the target installs {new_version}",
                    )
                )
            else:
                decisions.append(
                    Decision(
                        subject=pin.name,
                        action="resolved-for-target",
                        reason=f"{pin.name}=={new_version} is what {target_of} requires for {describe_target(target)}",
                    )
                )
            pins.append(
                replace(
                    pin,
                    version=new_version,
                    artifacts=(),
                    delivery=Delivery.INDEX,
                    via=tuple(sorted({*pin.via, *(Via(source=dist_name(v)) for v in out[pin.name][2] if not v.startswith("-"))})),
                )
            )
            continue
        pins.append(pin)
    known = {p.name for p in pins}
    wanted = {u.name: u for u in closure.unresolved_for_target}
    for name, (display, version, via_items) in sorted(out.items()):
        if name in known:
            continue
        vias = {Via(source=dist_name(v.split("[")[0])) for v in via_items if not v.startswith("-")}
        if name in wanted:
            vias.update(wanted[name].required_by)
        pins.append(
            Pin(
                name=name,
                display_name=display,
                version=version,
                origin=Origin(kind=OriginKind.INDEX),
                delivery=Delivery.INDEX,
                extras=wanted[name].extras if name in wanted else frozenset(),
                via=tuple(sorted(vias)),
                marker_reason=wanted[name].reason if name in wanted else None,
            )
        )
        added.append(name)
        decisions.append(
            Decision(
                subject=name,
                action="resolved-for-target",
                reason=f"{name}=={version} is required on the target ({describe_target(target)}) and not installed "
                f"locally; resolved with uv from the configured indexes ({target_of})",
            )
        )
    swaps = []
    for pin in variants:
        swaps.append(
            VariantSwap(
                name=pin.name,
                installed_version=pin.installed_version,
                version=pin.version,
                build=builds[pin.name],
                added=tuple(sorted(n for n in added if _reaches(n, pin.name, out))),
                removed=tuple(sorted(removed)),
            )
        )
        decisions.append(
            Decision(
                subject=pin.name,
                action="variant-swap",
                reason=f"{pin.display_name} {pin.installed_version} -> {pin.version} ({builds[pin.name]}) for "
                f"{describe_target(target)}; its requirements were resolved for the target with uv: "
                f"+{len(swaps[-1].added)} packages, -{len(removed)} packages of the local build",
            )
        )
    done = {p.name for p in pins}
    left = tuple(u for u in closure.unresolved_for_target if u.name not in done)
    decisions = [d for d in decisions if not (d.action == "unresolved-for-target" and d.subject in done)]
    dropped_names = {d.name for d in dropped}
    return replace(
        closure,
        pins=tuple(sorted(pins, key=lambda p: p.name)),
        dropped=tuple(sorted({d for d in dropped if d.name not in done or d.name in dropped_names - done})),
        unresolved_for_target=left,
        decisions=tuple(sorted(set(decisions))),
        swaps=tuple(sorted([*closure.swaps, *swaps])),
    )


def _reaches(name: DistName, root: DistName, out: Mapping[DistName, tuple[str, str, tuple[str, ...]]]) -> bool:
    """``name`` is required, directly or not, by ``root`` in uv's annotations."""
    seen: set[DistName] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for via in out.get(current, ("", "", ()))[2]:
            parent = dist_name(via.split("[")[0]) if not via.startswith("-") else None
            if parent == root:
                return True
            if parent is not None:
                todo.append(parent)
    return False
