"""Findings of ``envcapture check`` -> JSON document, GitHub annotations, rich text for people. Pure.

The JSON document (``schema: envcapture/check``, ``docs/schema/check.schema.json``) lists
findings sorted by rule code, file, line; paths are project-relative POSIX. Colors are
styles on rich `Text`: the console that prints them decides (none off a terminal).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.text import Text

from envcapture._fs import document_header
from envcapture.check.model import RULES, Finding

__all__ = ["SCHEMA", "SCHEMA_VERSION", "check_to_json", "render_github", "render_human", "render_json"]


def __dir__() -> list[str]:
    return list(__all__)


SCHEMA = "envcapture/check"
SCHEMA_VERSION = "1.0"


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "rule": f.rule,
        "file": f.file,
        "line": f.line,
        "column": f.column,
        "message": f.message,
        "distribution": f.distribution,
        "fix": None if f.fix is None else {"action": f.fix.action, "file": f.fix.file, "line": f.fix.line, "text": f.fix.text},
    }


def check_to_json(
    findings: Sequence[Finding],
    *,
    entry_points: Sequence[str] = (),
    declared_files: Sequence[str] = (),
    fixed: Sequence[Finding] = (),
    environment: str = "",
) -> dict[str, Any]:
    """The ``envcapture/check`` 1.0 document: ``ok``, ``counts`` per code, ``findings``, ``fixed``."""
    counts = {code: 0 for code in RULES}
    for f in findings:
        counts[f.code] = counts.get(f.code, 0) + 1
    return {
        **document_header(SCHEMA, SCHEMA_VERSION),
        "ok": not findings,
        "environment": environment,
        "entry_points": list(entry_points),
        "declared_files": list(declared_files),
        "counts": counts,
        "findings": [_finding_json(f) for f in findings],
        "fixed": [_finding_json(f) for f in fixed],
    }


def render_json(findings: Sequence[Finding], **kwargs: Any) -> str:
    """`check_to_json` as text: UTF-8, two-space indent, final newline."""
    return json.dumps(check_to_json(findings, **kwargs), indent=2, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(findings: Sequence[Finding]) -> str:
    """One ``::error file=F,line=L,title=EC001::message`` workflow command per finding."""
    out = []
    for f in findings:
        props = []
        if f.file:
            props.append(f"file={_escape_property(f.file)}")
            if f.line is not None:
                props.append(f"line={f.line}")
            if f.column is not None:
                props.append(f"col={f.column}")
        props.append(f"title={_escape_property(f.code)}")
        out.append(f"::error {','.join(props)}::{_escape_data(f'{f.rule}: {f.message}')}\n")
    return "".join(out)


def render_human(findings: Sequence[Finding], *, fixed: Sequence[Finding] = (), environment: str = "") -> Text:
    """The analysed environment (when given), findings grouped by rule, each ``file:line: message``,
    then a one-line summary."""
    text = Text()
    if environment:
        text.append(environment + "\n", style="dim")
    for f in fixed:
        where = f"{f.fix.file}" if f.fix is not None else (f.file or "")
        text.append("fixed ", style="green")
        text.append(f"{f.code} ", style="bold")
        text.append(f"{where}: {f.message}\n")
    for code, name in RULES.items():
        group = [f for f in findings if f.code == code]
        if not group:
            continue
        text.append(f"{code} {name}", style="bold red")
        text.append(f" ({len(group)})\n")
        for f in group:
            where = f.file or "(project)"
            if f.file and f.line is not None:
                where += f":{f.line}"
            text.append(f"  {where}", style="cyan")
            text.append(f": {f.message}\n")
    if findings:
        parts = [f"{sum(1 for f in findings if f.code == c)} {n}" for c, n in RULES.items() if any(f.code == c for f in findings)]
        total = len(findings)
        text.append(f"envcapture check: {total} problem{'s' if total != 1 else ''} ({', '.join(parts)})", style="bold")
    else:
        text.append("envcapture check: ok", style="bold green")
    return text
