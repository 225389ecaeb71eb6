"""EDGE: resolve what the target needs but the local environment lacks, with ``uv pip compile``."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from envcapture._urls import mask_url
from envcapture.model import Target, dist_name
from envcapture.resolution.model import Closure, Decision, Delivery, Origin, OriginKind, Pin, Via
from envcapture.resolution.platforms import describe_target, is_torch_family
from envcapture.resolution.requirements import expand_env_vars

__all__ = ["complete_for_target"]

log = logging.getLogger(__name__)


def _find_uv(uv: str | None) -> str | None:
    if uv is not None:
        return uv if Path(uv).exists() or shutil.which(uv) else None
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return None


_UV_LINE_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(?P<version>\S+)(\s+#\s*via\s+(?P<via>.*))?$")


def complete_for_target(
    closure: Closure,
    target: Target,
    *,
    uv: str | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> Closure:
    """EDGE: resolve ``closure.unresolved_for_target`` (and the dependencies of mapped
    PyTorch variants) with ``uv pip compile`` for the target platform and Python, from the
    closure's indexes, the local pins as constraints. Returns a new closure with the added
    pins, or the same pins plus a Decision saying why nothing was resolved (uv missing,
    index unreachable, conflict). Never raises for those.
    """
    remapped = [
        p
        for p in closure.pins
        if p.origin.index_url is not None or (p.local_label and is_torch_family(p.name) and p.delivery is Delivery.INDEX)
    ]
    if closure.options.no_deps or (not closure.unresolved_for_target and not remapped):
        return closure
    names = ", ".join(u.name for u in closure.unresolved_for_target) or ", ".join(p.name for p in remapped)
    uv_bin = _find_uv(uv)
    if uv_bin is None:
        return _with_decision(
            closure,
            Decision(
                subject="resolution",
                action="resolve-skipped",
                reason=f"uv is not available: {names} stay unresolved for the target (install uv to resolve them here)",
            ),
        )
    env = dict(os.environ if environ is None else environ)
    opts = closure.options
    major, minor = target.python_minor
    with tempfile.TemporaryDirectory(prefix="envcapture-resolve-") as tmp:
        req_in = Path(tmp, "requirements.in")
        cons = Path(tmp, "constraints.txt")
        lines = [u.requirement() for u in closure.unresolved_for_target]
        lines += [f"{p.name}=={p.version}" for p in remapped]
        req_in.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cons.write_text(
            "".join(f"{p.name}=={p.version}\n" for p in closure.pins if p.delivery is not Delivery.DIRECT),
            encoding="utf-8",
        )
        cmd = [
            uv_bin,
            "pip",
            "compile",
            str(req_in),
            "-c",
            str(cons),
            "--python-platform",
            f"{target.platform_machine}-manylinux_{target.manylinux}",
            "--python-version",
            f"{major}.{minor}",
            "--no-header",
            "--annotation-style",
            "line",
            "--quiet",
            "--no-config",
        ]
        if opts.no_index:
            cmd.append("--no-index")
        elif opts.index_url:
            cmd += ["--index-url", expand_env_vars(opts.index_url, env)]
        for url in opts.extra_index_urls:
            cmd += ["--extra-index-url", expand_env_vars(url, env)]
        for link in opts.find_links:
            cmd += ["--find-links", expand_env_vars(link, env)]
        for host in opts.trusted_hosts:
            cmd += ["--allow-insecure-host", host]
        if opts.pre:
            cmd += ["--prerelease", "allow"]
        env.update({"UV_NO_CONFIG": "1", "UV_HTTP_TIMEOUT": str(int(min(timeout, 60)))})
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return _with_decision(
                closure,
                Decision(
                    subject="resolution",
                    action="resolve-skipped",
                    reason=f"uv pip compile did not finish ({type(exc).__name__}): {names} stay unresolved for the target",
                ),
            )
    if proc.returncode != 0:
        tail = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        detail = " ".join(tail[-3:])[:400]
        detail = re.sub(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+", lambda m: mask_url(m.group(0)), detail)
        return _with_decision(
            closure,
            Decision(
                subject="resolution",
                action="resolve-skipped",
                reason=f"uv pip compile failed for the target (index unreachable or no solution): {detail}; "
                f"{names} stay unresolved",
            ),
        )
    return _merge_compiled(closure, proc.stdout, target)


def _merge_compiled(closure: Closure, output: str, target: Target) -> Closure:
    known = {p.name: p for p in closure.pins}
    wanted = {u.name: u for u in closure.unresolved_for_target}
    added: list[Pin] = []
    decisions = list(closure.decisions)
    for raw in output.splitlines():
        match = _UV_LINE_RE.match(raw.strip())
        if match is None:
            continue
        name = dist_name(match.group("name"))
        if name in known:
            continue
        vias: list[Via] = []
        for item in (match.group("via") or "").split(","):
            item = item.strip()
            if not item:
                continue
            if item.startswith("-r ") or item.startswith("-c "):
                vias.extend(wanted[name].required_by if name in wanted else ())
            else:
                vias.append(Via(source=dist_name(item.split("[")[0])))
        version = match.group("version")
        added.append(
            Pin(
                name=name,
                display_name=match.group("name"),
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


def _with_decision(closure: Closure, decision: Decision) -> Closure:
    return replace(closure, decisions=tuple(sorted({*closure.decisions, decision})))
