#!/usr/bin/env python3
"""Regenerate ``envcapture/data/stdlib_modules.json`` from real interpreters.

Usage::

    python scripts/gen_stdlib.py                 # finds pyenv / PATH interpreters
    python scripts/gen_stdlib.py --python 3.12=/usr/bin/python3.12 --check

For 3.10 to 3.13 the table is ``sys.stdlib_module_names`` of a CPython of that minor
version (every interpreter is required: the output must not depend on which happen to be
installed). 3.8 and 3.9 have no ``sys.stdlib_module_names`` and 3.14 may not be
installed, so they are derived from a neighbour with the documented changes below. When
a 3.8/3.9 interpreter is present the derivation is cross-checked against what it can
import (platform-specific modules of other platforms excepted).

``--check`` compares with the committed file instead of writing it (exit 1 on a change).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "envcapture" / "data" / "stdlib_modules.json"
MEASURED = ("3.10", "3.11", "3.12", "3.13")
VERSIONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")

# 3.9 = 3.10 + what 3.10 removed (bpo-40939 parser/symbol, bpo-42299 formatter,
# bpo-42208 _bootlocale, the 3.9-only PEG-parser bridge).
REMOVED_IN_3_10 = frozenset({"_bootlocale", "_peg_parser", "formatter", "parser", "symbol"})
# 3.8 = 3.9 - what 3.9 added + what 3.9 removed (dummy_threading, bpo-37312).
ADDED_IN_3_9 = frozenset({"_aix_support", "_bootsubprocess", "_peg_parser", "_zoneinfo", "graphlib", "zoneinfo"})
REMOVED_IN_3_9 = frozenset({"_dummy_thread", "dummy_threading"})
# 3.14 = 3.13 + its additions (PEP 749 annotationlib, PEP 784 compression/_zstd, the
# HACL* _hmac, _py_warnings, _remote_debugging, _types, _apple_support) - _compression
# (moved to compression._common._streams).
ADDED_IN_3_14 = frozenset(
    {
        "_apple_support",
        "_hmac",
        "_py_warnings",
        "_remote_debugging",
        "_types",
        "_zstd",
        "annotationlib",
        "compression",
    }
)
REMOVED_IN_3_14 = frozenset({"_compression"})
# Names a later bugfix release of a minor version added to its list (the table is the
# union over the releases of a minor version): _wmi (3.12, Windows), _apple_support
# (3.13.2, backport of gh-126925).
PATCH_ADDITIONS: dict[str, frozenset[str]] = {
    "3.12": frozenset({"_wmi"}),
    "3.13": frozenset({"_apple_support"}),
}
# Not in sys.stdlib_module_names (it is the running script, not a module on disk), but
# `import __main__` is the standard library's in every version.
ALWAYS = frozenset({"__main__"})
# Modules of other platforms or optional build features that a given interpreter may lack.
PLATFORM_SPECIFIC = frozenset(
    {
        "_dbm", "_gdbm", "_msi", "_overlapped", "_scproxy", "_winapi", "_tkinter",
        "msilib", "msvcrt", "nt", "winreg", "winsound", "_curses", "_curses_panel",
        "_lzma", "_sqlite3", "_ssl", "_hashlib", "_bz2", "_ctypes", "_uuid", "readline",
        "nis", "spwd", "ossaudiodev", "_crypt", "_posixshmem", "_osx_support",
    }
)  # fmt: skip
# In an interpreter's lib dir but excluded by sys.stdlib_module_names (test modules).
TEST_MODULES_PREFIXES = ("_test", "_xx", "xx", "test", "_ctypes_test", "_sysconfigdata")


def find_interpreter(minor: str) -> str | None:
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(
        glob.glob(os.path.join(pyenv_root, "versions", f"{minor}.*", "bin", "python")),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parts[-3].split(".")],
    )
    if candidates:
        return candidates[-1]
    return shutil.which(f"python{minor}")


def run(python: str, code: str) -> object:
    out = subprocess.run([python, "-I", "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def measure(python: str) -> tuple[str, list[str]]:
    result = run(
        python,
        "import sys, json, platform; print(json.dumps([platform.python_version(), sorted(sys.stdlib_module_names)]))",
    )
    assert isinstance(result, list)
    return str(result[0]), [str(name) for name in result[1]]


def importable(python: str) -> set[str]:
    """Top-level names a pre-3.10 interpreter has outside site-packages."""
    code = (
        "import sys, os, json, pkgutil, sysconfig\n"
        "std = sysconfig.get_paths()['stdlib']\n"
        "names = set(sys.builtin_module_names)\n"
        "names.update(m.name for m in pkgutil.iter_modules([std, os.path.join(std, 'lib-dynload')]))\n"
        "import importlib.util\n"
        "for name in ('_frozen_importlib', '_frozen_importlib_external', 'zipimport'):\n"
        "    if importlib.util.find_spec(name) is not None:  # frozen, not builtin\n"
        "        names.add(name)\n"
        "print(json.dumps(sorted(names)))\n"
    )
    result = run(python, code)
    assert isinstance(result, list)
    return {str(name) for name in result if not str(name).startswith(TEST_MODULES_PREFIXES)}


def build(interpreters: dict[str, str]) -> dict[str, object]:
    tables: dict[str, set[str]] = {}
    sources: dict[str, str] = {}
    for minor in MEASURED:
        python = interpreters.get(minor) or find_interpreter(minor)
        if python is None:
            sys.exit(f"gen_stdlib: no Python {minor} found (pass --python {minor}=PATH)")
        version, names = measure(python)
        if not version.startswith(minor + "."):
            sys.exit(f"gen_stdlib: {python} is Python {version}, expected {minor}")
        tables[minor] = set(names)
        sources[minor] = f"sys.stdlib_module_names of CPython {version}"
    tables["3.9"] = tables["3.10"] | REMOVED_IN_3_10
    tables["3.8"] = (tables["3.9"] - ADDED_IN_3_9) | REMOVED_IN_3_9
    tables["3.14"] = (tables["3.13"] - REMOVED_IN_3_14) | ADDED_IN_3_14
    for minor, extra in PATCH_ADDITIONS.items():
        tables[minor] |= extra
    for minor in ("3.8", "3.9"):
        python = interpreters.get(minor) or find_interpreter(minor)
        if python is None:
            continue
        actual = importable(python)
        missing = sorted(tables[minor] - actual - PLATFORM_SPECIFIC - ALWAYS)
        unexpected = sorted(actual - tables[minor])
        if missing or unexpected:
            sys.exit(
                f"gen_stdlib: derived {minor} table disagrees with {python}: not importable {missing}, not listed {unexpected}"
            )
    header = {
        "description": (
            "Top-level standard-library module names per CPython minor version, private "
            "_names included, plus __main__. A name counts for a minor version when some "
            "release of it ships the module on some platform (winreg is stdlib for a "
            "Linux target too: importing it there fails the same way on the target)."
        ),
        "sources": sources,
        "derivation": {
            "3.9": f"3.10 plus the modules 3.10 removed: {sorted(REMOVED_IN_3_10)}",
            "3.8": (
                f"3.9 minus the modules 3.9 added {sorted(ADDED_IN_3_9)}, plus the modules 3.9 removed {sorted(REMOVED_IN_3_9)}"
            ),
            "3.14": (
                f"3.13 plus the modules 3.14 added {sorted(ADDED_IN_3_14)}, minus the "
                f"modules 3.14 removed {sorted(REMOVED_IN_3_14)}"
            ),
            "patch_releases": {minor: sorted(names) for minor, names in PATCH_ADDITIONS.items()},
            "always": sorted(ALWAYS),
        },
        "regenerate": "python scripts/gen_stdlib.py",
    }
    return {
        "schema": "envcapture/stdlib-modules",
        "schema_version": "1.0",
        "generator": "envcapture scripts/gen_stdlib.py",
        "header": header,
        "versions": {minor: sorted(tables[minor] | ALWAYS) for minor in VERSIONS},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", default=[], metavar="MINOR=PATH")
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    interpreters = dict(item.split("=", 1) for item in args.python)
    text = json.dumps(build(interpreters), indent=1, ensure_ascii=True) + "\n"
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run scripts/gen_stdlib.py", file=sys.stderr)
            return 1
        return 0
    tmp = args.output.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    tmp.replace(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
