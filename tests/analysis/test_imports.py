"""Tests for envcapture.analysis.imports: source text -> SourceFacts."""

from __future__ import annotations

import pathlib
import textwrap

import libcst as cst
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from libcst.metadata import MetadataWrapper, PositionProvider

from envcapture.analysis._positions import starts
from envcapture.analysis._statements import KnownStatements
from envcapture.analysis.imports import (
    decode_source,
    evaluate_condition,
    extract_source_facts,
    import_is_active,
    parse_module,
)
from envcapture.analysis.model import Condition, DynamicKind, ImportSite, PathAddition, Scope, SourceFacts
from envcapture.errors import InputError
from envcapture.model import Diagnostic, ModuleName, Severity, Target

LINUX_310 = Target(python_version="3.10")
LINUX_312 = Target(python_version="3.12")
FUNCTION, CLASS = Scope.FUNCTION, Scope.CLASS
IM, DUNDER, SPEC = DynamicKind.IMPORT_MODULE, DynamicKind.DUNDER_IMPORT, DynamicKind.FIND_SPEC


def site(
    line: int,
    column: int,
    module: str,
    names: tuple[str, ...] = (),
    *,
    level: int = 0,
    scope: Scope = Scope.MODULE,
    optional: bool = False,
    type_only: bool = False,
    conditions: tuple[Condition, ...] = (),
    dynamic: DynamicKind | None = None,
    group: int | None = None,
    fallback: bool = False,
) -> ImportSite:
    return ImportSite(
        line=line,
        column=column,
        module=ModuleName(module),
        names=names,
        level=level,
        scope=scope,
        optional=optional,
        type_only=type_only,
        conditions=conditions,
        dynamic=dynamic,
        alternative_group=group,
        fallback=fallback,
    )


def cond(expression: str, negated: bool = False) -> Condition:
    return Condition(expression=expression, negated=negated)


def facts(
    source: str | bytes, module: str = "pkg.mod", *, is_package: bool = False, path: str | None = "pkg/mod.py"
) -> SourceFacts:
    if isinstance(source, str):
        source = textwrap.dedent(source).lstrip("\n")
    return extract_source_facts(source, module=module, is_package=is_package, path=path)


# --- static imports: where, what, scope ------------------------------------------------------

STATIC = [
    ("plain", "import numpy\n", [site(1, 1, "numpy")]),
    ("two-modules", "import a, b\n", [site(1, 1, "a"), site(1, 1, "b")]),
    ("dotted-as", "import a.b.c as d\n", [site(1, 1, "a.b.c")]),
    ("constant-only", "from cfg import BATCH\n", [site(1, 1, "cfg", ("BATCH",))]),
    ("from-many", "from a import (b as c,\n    d)\n", [site(1, 1, "a", ("b", "d"))]),
    ("from-star", "from a.b import *\n", [site(1, 1, "a.b", ("*",))]),
    ("future", "from __future__ import annotations\n", [site(1, 1, "__future__", ("annotations",))]),
    ("after-semicolon", "x = 1; import os\n", [site(1, 8, "os")]),
    ("one-line-suite", "if x: import os\n", [site(1, 7, "os")]),
    ("indented-tab", "if x:\n\timport os\n", [site(2, 2, "os")]),
    ("crlf", "import a\r\nimport b\r\n", [site(1, 1, "a"), site(2, 1, "b")]),
    ("function", "def f():\n    import numpy\n", [site(2, 5, "numpy", scope=FUNCTION)]),
    (
        "async-nested",
        "async def f():\n    def g():\n        import a\n",
        [site(3, 9, "a", scope=FUNCTION)],
    ),
    (
        "class-and-method",
        """
        class C:
            import json
            def m(self):
                from os import path
            class D:
                import csv
        """,
        [
            site(2, 5, "json", scope=CLASS),
            site(4, 9, "os", ("path",), scope=FUNCTION),
            site(6, 9, "csv", scope=CLASS),
        ],
    ),
    (
        "loops-and-with",
        "for x in y:\n    with open(x):\n        import a\nwhile 1:\n    import b\n",
        [site(3, 9, "a"), site(5, 5, "b")],
    ),
    ("lazy-import", "lazy import a.b\nlazy from c import d\n", [site(1, 1, "a.b"), site(2, 1, "c", ("d",))]),
    ("match", "match x:\n    case 1:\n        import a\n", [site(3, 9, "a")]),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in STATIC], ids=[c[0] for c in STATIC])
def test_static_imports(source: str, expected: list[ImportSite]) -> None:
    assert facts(source) == SourceFacts(imports=tuple(expected))


# --- relative imports ----------------------------------------------------------------------------

RELATIVE = [
    ("sibling", "from . import x\n", "pkg.sub.mod", False, site(1, 1, "pkg.sub", ("x",), level=1)),
    ("parent", "from .. import x\n", "pkg.sub.mod", False, site(1, 1, "pkg", ("x",), level=2)),
    ("parent-pkg", "from ..pkg import y\n", "pkg.sub.mod", False, site(1, 1, "pkg.pkg", ("y",), level=2)),
    ("init", "from . import x\n", "pkg", True, site(1, 1, "pkg", ("x",), level=1)),
    ("init-sub", "from .sub import x\n", "pkg.sub", True, site(1, 1, "pkg.sub.sub", ("x",), level=1)),
    ("star", "from .mod import *\n", "pkg.other", False, site(1, 1, "pkg.mod", ("*",), level=1)),
    ("three-levels", "from ...a.b import c\n", "p.q.r.s", False, site(1, 1, "p.a.b", ("c",), level=3)),
    ("three-levels-pkg", "from ...a import c\n", "p.q.r", True, site(1, 1, "p.a", ("c",), level=3)),
]


@pytest.mark.parametrize(("source", "module", "is_package", "expected"), [c[1:] for c in RELATIVE], ids=[c[0] for c in RELATIVE])
def test_relative_imports(source: str, module: str, is_package: bool, expected: ImportSite) -> None:
    assert facts(source, module, is_package=is_package) == SourceFacts(imports=(expected,))


BEYOND_TOP = [
    (
        "climbs-above",
        "import os\nfrom ... import x\n",
        "pkg.mod",
        site(2, 1, "...", ("x",), level=3),
        "relative import '...' goes beyond the top-level package of 'pkg.mod'",
    ),
    (
        "script",
        "from .helpers import x\n",
        "__main__",
        site(1, 1, ".helpers", ("x",), level=1),
        "relative import '.helpers' in '__main__', which has no parent package",
    ),
    (
        "top-level-module",
        "from . import x\n",
        "mod",
        site(1, 1, ".", ("x",), level=1),
        "relative import '.' in 'mod', which has no parent package",
    ),
]


@pytest.mark.parametrize(("source", "module", "expected", "message"), [c[1:] for c in BEYOND_TOP], ids=[c[0] for c in BEYOND_TOP])
def test_relative_import_beyond_top(source: str, module: str, expected: ImportSite, message: str) -> None:
    result = facts(source, module, path="a/b.py")
    assert result.imports[-1] == expected
    assert result.diagnostics == (
        Diagnostic(file="a/b.py", line=expected.line, code="relative-import-beyond-top", message=message),
    )
    assert result.error is None


# --- optional imports ------------------------------------------------------------------------------

OPTIONAL = [
    ("import-error", "try:\n    import a\nexcept ImportError:\n    pass\n", [site(2, 5, "a", optional=True)]),
    (
        "module-not-found",
        "try:\n    import a\nexcept ModuleNotFoundError as e:\n    pass\n",
        [site(2, 5, "a", optional=True)],
    ),
    ("exception", "try:\n    import a\nexcept Exception:\n    pass\n", [site(2, 5, "a", optional=True)]),
    (
        "base-exception",
        "try:\n    import a\nexcept BaseException:\n    pass\n",
        [site(2, 5, "a", optional=True)],
    ),
    (
        "builtins",
        "try:\n    import a\nexcept builtins.ImportError:\n    pass\n",
        [site(2, 5, "a", optional=True)],
    ),
    (
        "tuple",
        "try:\n    import a\nexcept (ValueError, ImportError):\n    pass\n",
        [site(2, 5, "a", optional=True)],
    ),
    ("bare", "try:\n    import a\nexcept:\n    pass\n", [site(2, 5, "a", optional=True)]),
    (
        "second-handler",
        "try:\n    import a\nexcept KeyError:\n    pass\nexcept ImportError:\n    pass\n",
        [site(2, 5, "a", optional=True)],
    ),
    ("other-error", "try:\n    import a\nexcept OSError:\n    pass\n", [site(2, 5, "a")]),
    (
        "fallback",
        "try:\n    import ujson as json\nexcept ImportError:\n    import json\n",
        [site(2, 5, "ujson", optional=True, group=1), site(4, 5, "json", optional=True, group=1, fallback=True)],
    ),
    (
        "fallback-only-in-catching-handler",
        "try:\n    import a\nexcept ImportError:\n    import b\nexcept OSError:\n    import c\n",
        [site(2, 5, "a", optional=True, group=1), site(4, 5, "b", optional=True, group=1, fallback=True), site(6, 5, "c")],
    ),
    (
        "else-and-finally",
        "try:\n    import a\nexcept ImportError:\n    pass\nelse:\n    import b\nfinally:\n    import c\n",
        [site(2, 5, "a", optional=True), site(6, 5, "b", optional=True), site(8, 5, "c")],
    ),
    ("try-star", "try:\n    import a\nexcept* ImportError:\n    pass\n", [site(2, 5, "a", optional=True)]),
    (
        "suppress",
        "import contextlib\nwith contextlib.suppress(ImportError):\n    import a\n",
        [site(1, 1, "contextlib"), site(3, 5, "a", optional=True)],
    ),
    (
        "suppress-from",
        "from contextlib import suppress\nwith suppress(KeyError, ModuleNotFoundError):\n    import a\n",
        [site(1, 1, "contextlib", ("suppress",)), site(3, 5, "a", optional=True)],
    ),
    (
        "suppress-other",
        "import contextlib\nwith contextlib.suppress(KeyError):\n    import a\n",
        [site(1, 1, "contextlib"), site(3, 5, "a")],
    ),
    (
        "def-in-try-runs-later",
        "try:\n    def f():\n        import a\n    class C:\n        import b\nexcept ImportError:\n    pass\n",
        [site(3, 9, "a", scope=FUNCTION), site(5, 9, "b", scope=CLASS, optional=True)],
    ),
    (
        "try-in-function",
        "def f():\n    try:\n        import a\n    except ImportError:\n        a = None\n",
        [site(3, 9, "a", scope=FUNCTION, optional=True)],
    ),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in OPTIONAL], ids=[c[0] for c in OPTIONAL])
def test_optional_imports(source: str, expected: list[ImportSite]) -> None:
    assert facts(source) == SourceFacts(imports=tuple(expected))


# --- try/except ImportError alternatives ---------------------------------------------------------

ALTERNATIVES = [
    (
        # the group is named by the line of its try; the try's imports (several) and the fallback's
        "two-preferred",
        "import os\ntry:\n    import torch\n    import torchvision\nexcept ModuleNotFoundError:\n    import numpy\n",
        [
            site(1, 1, "os"),
            site(3, 5, "torch", optional=True, group=2),
            site(4, 5, "torchvision", optional=True, group=2),
            site(6, 5, "numpy", optional=True, group=2, fallback=True),
        ],
    ),
    (
        "no-import-in-the-handler",
        "try:\n    import a\nexcept ImportError:\n    a = None\n",
        [site(2, 5, "a", optional=True)],
    ),
    (
        "handler-without-try-import",
        "try:\n    x = 1\nexcept ImportError:\n    import b\n",
        [site(4, 5, "b", optional=True)],
    ),
    (
        # the else block runs only when the try's imports worked: no alternative of them
        "else-block",
        "try:\n    import a\nexcept ImportError:\n    import b\nelse:\n    import c\n",
        [
            site(2, 5, "a", optional=True, group=1),
            site(4, 5, "b", optional=True, group=1, fallback=True),
            site(6, 5, "c", optional=True),
        ],
    ),
    (
        # nested: the inner try's imports are optional twice over, so they form no group;
        # the outer try's import has no plain fallback left
        "nested-in-handler",
        "try:\n    import a\nexcept ImportError:\n    try:\n        import b\n    except ImportError:\n        import c\n",
        [site(2, 5, "a", optional=True), site(5, 9, "b", optional=True), site(7, 9, "c", optional=True)],
    ),
    (
        "in-a-function-with-dynamic",
        "import importlib\ndef f():\n    try:\n        importlib.import_module('a')\n    except ImportError:\n        from b import c\n",
        [
            site(1, 1, "importlib"),
            site(4, 9, "a", scope=FUNCTION, optional=True, dynamic=IM, group=3),
            site(6, 9, "b", ("c",), scope=FUNCTION, optional=True, group=3, fallback=True),
        ],
    ),
    (
        # find_spec imports nothing: it is no side of a group
        "find-spec-is-no-alternative",
        "import importlib.util\ntry:\n    importlib.util.find_spec('a')\nexcept ImportError:\n    import b\n",
        [site(1, 1, "importlib.util"), site(3, 5, "a", optional=True, dynamic=SPEC), site(5, 5, "b", optional=True)],
    ),
    (
        "outer-guard-too",
        "import contextlib\nwith contextlib.suppress(ImportError):\n    try:\n        import a\n    except ImportError:\n        import b\n",
        [site(1, 1, "contextlib"), site(4, 9, "a", optional=True), site(6, 9, "b", optional=True)],
    ),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in ALTERNATIVES], ids=[c[0] for c in ALTERNATIVES])
def test_alternative_imports(source: str, expected: list[ImportSite]) -> None:
    assert facts(source) == SourceFacts(imports=tuple(expected))


# --- TYPE_CHECKING -----------------------------------------------------------------------------------

TC_IMPORT = site(1, 1, "typing", ("TYPE_CHECKING",))
TYPE_ONLY = [
    (
        "bare",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\n",
        [TC_IMPORT, site(3, 5, "a", type_only=True)],
    ),
    (
        "qualified",
        "import typing\nif typing.TYPE_CHECKING:\n    import a\n",
        [site(1, 1, "typing"), site(3, 5, "a", type_only=True)],
    ),
    (
        "aliased-module",
        "import typing as t\nif t.TYPE_CHECKING:\n    import a\n",
        [site(1, 1, "typing"), site(3, 5, "a", type_only=True)],
    ),
    (
        "aliased-name",
        "from typing_extensions import TYPE_CHECKING as TC\nif TC:\n    import a\n",
        [site(1, 1, "typing_extensions", ("TYPE_CHECKING",)), site(3, 5, "a", type_only=True)],
    ),
    (
        "local-constant",
        "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    import a\n",
        [site(3, 5, "a", type_only=True)],
    ),
    (
        "else-runs",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nelse:\n    import b\n",
        [TC_IMPORT, site(3, 5, "a", type_only=True), site(5, 5, "b")],
    ),
    (
        "not-type-checking",
        "from typing import TYPE_CHECKING\nif not TYPE_CHECKING:\n    import a\nelse:\n    import b\n",
        [TC_IMPORT, site(3, 5, "a"), site(5, 5, "b", type_only=True)],
    ),
    (
        "and-with-version",
        "import sys\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING and sys.version_info >= (3, 11):\n    import a\n",
        [
            site(1, 1, "sys"),
            site(2, 1, "typing", ("TYPE_CHECKING",)),
            site(4, 5, "a", type_only=True, conditions=(cond("sys.version_info >= (3, 11)"),)),
        ],
    ),
    (
        "function-under-type-checking",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    def f():\n        import a\n",
        [TC_IMPORT, site(4, 9, "a", scope=FUNCTION, type_only=True)],
    ),
    ("if-false-is-not", "if False:\n    import a\n", [site(2, 5, "a")]),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in TYPE_ONLY], ids=[c[0] for c in TYPE_ONLY])
def test_type_checking(source: str, expected: list[ImportSite]) -> None:
    assert facts(source) == SourceFacts(imports=tuple(expected))


# --- conditions ---------------------------------------------------------------------------------------

WIN = 'sys.platform == "win32"'
PY311 = "sys.version_info >= (3, 11)"
CONDITIONS = [
    ("win32-branch", f"if {WIN}:\n    import winreg\n", [site(2, 5, "winreg", conditions=(cond(WIN),))]),
    (
        "normalized",
        "if sys.platform=='win32' :\n    import winreg\n",
        [site(2, 5, "winreg", conditions=(cond(WIN),))],
    ),
    (
        "reversed-operands",
        "if 'win32' != sys.platform:\n    import a\n",
        [site(2, 5, "a", conditions=(cond('"win32" != sys.platform'),))],
    ),
    (
        "if-elif-else",
        f"if {WIN}:\n    import a\nelif {PY311}:\n    import b\nelse:\n    import c\n",
        [
            site(2, 5, "a", conditions=(cond(WIN),)),
            site(4, 5, "b", conditions=(cond(WIN, True), cond(PY311))),
            site(6, 5, "c", conditions=(cond(WIN, True), cond(PY311, True))),
        ],
    ),
    (
        "elif-after-non-literal",
        f"if args.gpu:\n    import a\nelif {PY311}:\n    import b\nelse:\n    import c\n",
        [
            site(2, 5, "a"),
            site(4, 5, "b", conditions=(cond(PY311),)),
            site(6, 5, "c", conditions=(cond(PY311, True),)),
        ],
    ),
    ("non-literal", "if args.use_gpu:\n    import cupy\n", [site(2, 5, "cupy")]),
    ("py2-name", "if PY2:\n    import a\n", [site(2, 5, "a")]),
    ("six", "if six.PY3:\n    import a\n", [site(2, 5, "a")]),
    (
        "version-forms",
        """
        if sys.version_info < (3, 8):
            import a
        if sys.version_info[:2] >= (3, 9):
            import b
        if sys.version_info.major == 3:
            import c
        if sys.version_info.minor >= 9:
            import d
        if (3, 8) <= sys.version_info < (3, 12):
            import e
        """,
        [
            site(2, 5, "a", conditions=(cond("sys.version_info < (3, 8)"),)),
            site(4, 5, "b", conditions=(cond("sys.version_info[:2] >= (3, 9)"),)),
            site(6, 5, "c", conditions=(cond("sys.version_info.major == 3"),)),
            site(8, 5, "d", conditions=(cond("sys.version_info.minor >= 9"),)),
            site(10, 5, "e", conditions=(cond("(3, 8) <= sys.version_info < (3, 12)"),)),
        ],
    ),
    (
        "platform-forms",
        """
        if sys.platform.startswith(("linux", "darwin")):
            import a
        if os.name == "nt":
            import b
        if platform.system() == "Windows":
            import c
        if not sys.platform.startswith('win'):
            import d
        if sys.platform in ("win32", "cygwin"):
            import e
        """,
        [
            site(2, 5, "a", conditions=(cond('sys.platform.startswith(("linux", "darwin"))'),)),
            site(4, 5, "b", conditions=(cond('os.name == "nt"'),)),
            site(6, 5, "c", conditions=(cond('platform.system() == "Windows"'),)),
            site(8, 5, "d", conditions=(cond('not sys.platform.startswith("win")'),)),
            site(10, 5, "e", conditions=(cond('sys.platform in ("win32", "cygwin")'),)),
        ],
    ),
    (
        "boolean",
        f"if {WIN} or ({PY311} and os.name == 'posix'):\n    import a\n",
        [site(2, 5, "a", conditions=(cond(f'{WIN} or ({PY311} and os.name == "posix")'),))],
    ),
    (
        "boolean-parens-kept",
        f"if ({WIN} or os.name == 'nt') and {PY311}:\n    import a\n",
        [site(2, 5, "a", conditions=(cond(f'({WIN} or os.name == "nt") and {PY311}'),))],
    ),
    (
        "literal-conjuncts",
        f"if {WIN} and use_gui:\n    import a\nelse:\n    import b\n",
        [site(2, 5, "a", conditions=(cond(WIN),)), site(4, 5, "b")],
    ),
    (
        "literal-disjuncts-in-else",
        f"if {WIN} or force:\n    import a\nelse:\n    import b\n",
        [site(2, 5, "a"), site(4, 5, "b", conditions=(cond(WIN, True),))],
    ),
    (
        "aliases",
        "import sys as _sys\nfrom platform import system\nif _sys.platform == 'darwin' and system() == 'Darwin':\n    import a\n",
        [
            site(1, 1, "sys"),
            site(2, 1, "platform", ("system",)),
            site(4, 5, "a", conditions=(cond('sys.platform == "darwin" and platform.system() == "Darwin"'),)),
        ],
    ),
    (
        "from-sys-import",
        "from sys import platform, version_info\nif platform == 'win32' or version_info < (3, 9):\n    import a\n",
        [
            site(1, 1, "sys", ("platform", "version_info")),
            site(3, 5, "a", conditions=(cond('sys.platform == "win32" or sys.version_info < (3, 9)'),)),
        ],
    ),
    (
        "nested-and-into-def",
        f"if {WIN}:\n    if {PY311}:\n        def f():\n            import a\n",
        [site(4, 13, "a", scope=FUNCTION, conditions=(cond(WIN), cond(PY311)))],
    ),
    (
        "conditional-expression-ignored",
        "mod = 'a' if sys.platform == 'win32' else 'b'\nimport c\n",
        [site(2, 1, "c")],
    ),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in CONDITIONS], ids=[c[0] for c in CONDITIONS])
def test_conditions(source: str, expected: list[ImportSite]) -> None:
    assert facts(source) == SourceFacts(imports=tuple(expected))


# --- evaluate_condition -------------------------------------------------------------------------------

EVALUATE = [
    # expression, Linux 3.10, Linux 3.12
    ('sys.platform == "win32"', False, False),
    ('sys.platform != "win32"', True, True),
    ('"linux" == sys.platform', True, True),
    ('sys.platform.startswith("win")', False, False),
    ('sys.platform.startswith("linux")', True, True),
    ('sys.platform.startswith(("linux", "darwin"))', True, True),
    ('sys.platform in ("win32", "cygwin")', False, False),
    ('sys.platform not in ("win32", "cygwin")', True, True),
    ('os.name == "nt"', False, False),
    ('os.name == "posix"', True, True),
    ('platform.system() == "Windows"', False, False),
    ('platform.system() == "Linux"', True, True),
    ('platform.machine() == "x86_64"', True, True),
    ('sys.implementation.name == "cpython"', True, True),
    ("sys.version_info >= (3, 11)", False, True),
    ("sys.version_info < (3, 8)", False, False),
    ("sys.version_info >= (3, 10)", True, True),
    ("sys.version_info > (3, 10)", True, True),
    ("sys.version_info < (3, 10)", False, False),
    ("sys.version_info == (3, 10)", False, False),
    ("sys.version_info >= (3,)", True, True),
    ("sys.version_info < (4,)", True, True),
    ("sys.version_info >= (3, 10, 2)", None, True),
    ("sys.version_info < (3, 12, 1)", True, None),
    ("sys.version_info[:2] >= (3, 9)", True, True),
    ("sys.version_info[:2] == (3, 10)", True, False),
    ("sys.version_info[:3] >= (3, 10, 0)", None, None),
    ("sys.version_info[0] == 2", False, False),
    ("sys.version_info[1] < 12", True, False),
    ("sys.version_info.major == 3", True, True),
    ("sys.version_info.minor >= 9", True, True),
    ("sys.version_info.minor >= 11", False, True),
    ("sys.version_info.micro >= 5", None, None),
    ("(3, 8) <= sys.version_info < (3, 11)", True, False),
    (f"{WIN} or {PY311}", False, True),
    ('sys.platform == "linux" and sys.version_info < (3, 11)', True, False),
    (f"not {WIN}", True, True),
    (f"not ({WIN} or {PY311})", True, False),
    ('sys.platform == "linux" or sys.version_info >= (3, 10, 2)', True, True),
    ('sys.platform == "win32" and sys.version_info >= (3, 10, 2)', False, False),
    ("sys.version_info >= (3, 10, 2) and sys.version_info < (3, 12)", None, False),
    ("PY2", None, None),
    ("six.PY3", None, None),
    ("IS_WINDOWS and sys.platform == 'win32'", None, None),
    ("sys.platform is 'linux'", None, None),
    ("1 == 1", None, None),
    ("sys.platform ==", None, None),
    ("sys.version_info >= (3, 10, 0, 0)", None, None),
]


@pytest.mark.parametrize(("expression", "on_310", "on_312"), EVALUATE, ids=[e[0] for e in EVALUATE])
def test_evaluate_condition(expression: str, on_310: bool | None, on_312: bool | None) -> None:
    assert evaluate_condition(cond(expression), LINUX_310) is on_310
    assert evaluate_condition(cond(expression), LINUX_312) is on_312
    negated = [None if r is None else not r for r in (on_310, on_312)]
    assert [evaluate_condition(cond(expression, True), t) for t in (LINUX_310, LINUX_312)] == negated


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("sys.version_info.micro >= 5", True),
        ("sys.version_info >= (3, 10, 14)", False),
        ("sys.version_info[:3] >= (3, 10, 0)", True),
        ("sys.version_info == (3, 10, 13)", False),
        ("sys.version_info[:3] == (3, 10, 13)", True),
    ],
)
def test_evaluate_condition_with_micro(expression: str, expected: bool) -> None:
    assert evaluate_condition(cond(expression), Target(python_version="3.10.13")) is expected


def test_evaluate_condition_other_platform() -> None:
    windows = Target(python_version="3.11", sys_platform="win32", platform_system="Windows", os_name="nt")
    assert evaluate_condition(cond(WIN), windows) is True
    assert evaluate_condition(cond('sys.platform.startswith("win")'), windows) is True
    assert evaluate_condition(cond('os.name == "nt"'), windows) is True


ACTIVE = [
    ("no-conditions", (), True),
    ("all-true", (cond(WIN, True), cond("sys.version_info >= (3, 9)")), True),
    ("one-false", (cond(WIN), cond("PY2")), False),
    ("undecidable", (cond("PY2"), cond(WIN, True)), None),
    ("micro", (cond("sys.version_info >= (3, 10, 2)"),), None),
]


@pytest.mark.parametrize(("conditions", "expected"), [a[1:] for a in ACTIVE], ids=[a[0] for a in ACTIVE])
def test_import_is_active(conditions: tuple[Condition, ...], expected: bool | None) -> None:
    assert import_is_active(site(1, 1, "a", conditions=conditions), LINUX_310) is expected


def test_extracted_conditions_evaluate() -> None:
    result = facts(f"if {WIN}:\n    import a\nelif {PY311}:\n    import b\nelse:\n    import c\n")
    assert [import_is_active(s, LINUX_310) for s in result.imports] == [False, False, True]
    assert [import_is_active(s, LINUX_312) for s in result.imports] == [False, True, False]


# --- dynamic imports -------------------------------------------------------------------------------

DYNAMIC = [
    (
        "import-module-in-function",
        "import importlib\ndef load():\n    return importlib.import_module('a.b')\n",
        [site(1, 1, "importlib"), site(3, 12, "a.b", scope=FUNCTION, dynamic=IM)],
    ),
    (
        "relative-name",
        "import importlib\nm = importlib.import_module('.sub', package=__name__)\n",
        [site(1, 1, "importlib"), site(2, 5, "pkg.mod.sub", level=1, dynamic=IM)],
    ),
    (
        "relative-package",
        "import importlib\nm = importlib.import_module('.x', __package__)\n",
        [site(1, 1, "importlib"), site(2, 5, "pkg.x", level=1, dynamic=IM)],
    ),
    (
        "relative-literal",
        "import importlib\nm = importlib.import_module('.plugins', 'tool')\n",
        [site(1, 1, "importlib"), site(2, 5, "tool.plugins", level=1, dynamic=IM)],
    ),
    (
        "from-import",
        "from importlib import import_module\nimport_module('torch.cuda')\n",
        [site(1, 1, "importlib", ("import_module",)), site(2, 1, "torch.cuda", dynamic=IM)],
    ),
    (
        "from-import-as",
        "from importlib import import_module as im\ntry:\n    im('yaml')\nexcept ImportError:\n    pass\n",
        [site(1, 1, "importlib", ("import_module",)), site(3, 5, "yaml", optional=True, dynamic=IM)],
    ),
    (
        "module-alias",
        "import importlib as il\nil.import_module('x')\n",
        [site(1, 1, "importlib"), site(2, 1, "x", dynamic=IM)],
    ),
    (
        "lambda",
        "import importlib\nload = lambda: importlib.import_module('x')\n",
        [site(1, 1, "importlib"), site(2, 16, "x", scope=FUNCTION, dynamic=IM)],
    ),
    (
        "concatenated-literal",
        "import importlib\nimportlib.import_module('a' '.b')\n",
        [site(1, 1, "importlib"), site(2, 1, "a.b", dynamic=IM)],
    ),
    ("dunder-import", "m = __import__('a.b')\n", [site(1, 5, "a.b", dynamic=DUNDER)]),
    (
        "dunder-import-fromlist",
        "m = __import__('a.b', fromlist=['c', 'd'])\n",
        [site(1, 5, "a.b", ("c", "d"), dynamic=DUNDER)],
    ),
    (
        "dunder-import-level",
        "m = __import__('x', globals(), locals(), ['y'], 1)\n",
        [site(1, 5, "pkg.x", ("y",), level=1, dynamic=DUNDER)],
    ),
    (
        "find-spec",
        "import importlib.util\nif importlib.util.find_spec('torch') is not None:\n    import torch\n",
        [site(1, 1, "importlib.util"), site(2, 4, "torch", optional=True, dynamic=SPEC), site(3, 5, "torch", optional=True)],
    ),
    (
        "find-spec-from",
        "from importlib.util import find_spec\nHAS_APEX = find_spec('apex') is not None\n",
        [site(1, 1, "importlib.util", ("find_spec",)), site(2, 12, "apex", optional=True, dynamic=SPEC)],
    ),
    (
        "under-condition",
        f"import importlib\nif {WIN}:\n    importlib.import_module('winreg')\n",
        [site(1, 1, "importlib"), site(3, 5, "winreg", conditions=(cond(WIN),), dynamic=IM)],
    ),
    (
        "in-comprehension",
        "import importlib\nmods = [importlib.import_module('a') for _ in range(1)]\n",
        [site(1, 1, "importlib"), site(2, 9, "a", dynamic=IM)],
    ),
    # computed names (a literal prefix, or none): tests/analysis/test_dynamic_prefix.py
    ("not-importlib", "def import_module(x): pass\nimport_module('a')\nimport os\n", [site(3, 1, "os")]),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in DYNAMIC], ids=[c[0] for c in DYNAMIC])
def test_dynamic_imports(source: str, expected: list[ImportSite]) -> None:
    assert facts(source) == SourceFacts(imports=tuple(expected))


def test_dynamic_relative_with_unknown_package() -> None:
    result = facts("import importlib\nimportlib.import_module('.x', package=pkg_name)\n")
    assert result.imports[1] == site(2, 1, ".x", level=1, dynamic=IM)
    assert result.diagnostics == (
        Diagnostic(
            file="pkg/mod.py",
            line=2,
            code="relative-import-unresolved",
            message="relative import '.x' with a package that is not a literal",
        ),
    )


def test_dynamic_relative_in_script() -> None:
    result = facts("import importlib\nimportlib.import_module('.x', package=__name__)\n", "__main__")
    assert result.imports[1] == site(2, 1, ".x", level=1, dynamic=IM)
    assert [d.code for d in result.diagnostics] == ["relative-import-beyond-top"]


# --- sys.path additions ----------------------------------------------------------------------------

HEADER = "import os, sys\nfrom pathlib import Path\nimport pathlib\n"
PATHS = [
    ("literal", "sys.path.insert(0, 'src')", PathAddition(line=4, path="src", cwd_relative=True)),
    ("literal-up", "sys.path.insert(0, '../lib')", PathAddition(line=4, path="../lib", cwd_relative=True)),
    ("literal-dot", "sys.path.insert(0, './src/')", PathAddition(line=4, path="src", cwd_relative=True)),
    ("empty-is-cwd", "sys.path.insert(0, '')", PathAddition(line=4, path=".", cwd_relative=True)),
    ("absolute", "sys.path.append('/opt/lib')", PathAddition(line=4, path="/opt/lib", prepend=False)),
    ("insert-1", "sys.path.insert(1, 'src')", PathAddition(line=4, path="src", cwd_relative=True)),
    ("dirname", "sys.path.insert(0, os.path.dirname(__file__))", PathAddition(line=4, path=".")),
    (
        "dirname-abspath",
        "sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))",
        PathAddition(line=4, path="."),
    ),
    (
        "two-dirnames",
        "sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))",
        PathAddition(line=4, path=".."),
    ),
    (
        "join-lib",
        "sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))",
        PathAddition(line=4, path="lib"),
    ),
    (
        "join-up",
        "sys.path.append(os.path.join(os.path.dirname(__file__), '..'))",
        PathAddition(line=4, path="..", prepend=False),
    ),
    (
        "join-pardir",
        "sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, 'src')))",
        PathAddition(line=4, path="../src"),
    ),
    ("path-parent", "sys.path.insert(0, str(Path(__file__).parent))", PathAddition(line=4, path=".")),
    (
        "path-resolve-parent",
        "sys.path.insert(0, str(Path(__file__).resolve().parent))",
        PathAddition(line=4, path="."),
    ),
    (
        "parent-parent",
        "sys.path.insert(0, str(Path(__file__).parent.parent))",
        PathAddition(line=4, path=".."),
    ),
    ("path-lib", "sys.path.insert(0, str(Path(__file__).parent / 'lib'))", PathAddition(line=4, path="lib")),
    ("parents-1", "sys.path.insert(0, str(Path(__file__).parents[1]))", PathAddition(line=4, path="..")),
    (
        "pathlib-path",
        "sys.path.append(str(pathlib.Path(__file__).absolute().parent))",
        PathAddition(line=4, path=".", prepend=False),
    ),
    (
        "joinpath",
        "sys.path.insert(0, str(Path(__file__).parent.joinpath('a', 'b')))",
        PathAddition(line=4, path="a/b"),
    ),
    ("getcwd", "sys.path.insert(0, os.getcwd())", PathAddition(line=4, path=".", cwd_relative=True)),
    (
        "cwd-join",
        "sys.path.insert(0, os.path.join(os.getcwd(), 'src'))",
        PathAddition(line=4, path="src", cwd_relative=True),
    ),
    ("slice", "sys.path[:0] = [os.path.dirname(__file__)]", PathAddition(line=4, path=".")),
    (
        "augmented",
        "sys.path += ['vendor']",
        PathAddition(line=4, path="vendor", cwd_relative=True, prepend=False),
    ),
    ("extend", "sys.path.extend(['a'])", PathAddition(line=4, path="a", cwd_relative=True, prepend=False)),
]


@pytest.mark.parametrize(("statement", "expected"), [p[1:] for p in PATHS], ids=[p[0] for p in PATHS])
def test_path_additions(statement: str, expected: PathAddition) -> None:
    assert facts(HEADER + statement + "\n").path_additions == (expected,)


@pytest.mark.parametrize(
    "statement",
    [
        "sys.path.insert(0, some_dir)",
        "sys.path.insert(0, f'{root}/src')",
        "sys.path.insert(0, __file__)",
        "sys.path.insert(0, os.path.join(__file__, 'x'))",
        "sys.path.insert(0, os.environ['X'])",
        "sys.path.insert(0, 'C:\\\\lib')",
        "other.path.insert(0, 'src')",
        "sys.path[1:2] = ['src']",
    ],
)
def test_path_additions_undecidable(statement: str) -> None:
    assert facts(HEADER + statement + "\n").path_additions == ()


def test_path_addition_aliases_and_order() -> None:
    source = "import sys as _s\nfrom sys import path as p\ndef f():\n    p.append('b')\n_s.path.insert(0, 'a')\n"
    assert facts(source).path_additions == (
        PathAddition(line=4, path="b", cwd_relative=True, prepend=False),
        PathAddition(line=5, path="a", cwd_relative=True),
    )


# --- main guard ------------------------------------------------------------------------------------

MAIN_GUARDS = [
    ('if __name__ == "__main__":\n    main()\n', True),
    ("if __name__ == '__main__':\n    main()\n", True),
    ("if '__main__' == __name__:\n    main()\n", True),
    ("def f():\n    if __name__ == '__main__':\n        main()\n", False),
    ("if __name__ != '__main__':\n    pass\n", False),
    ("if __name__ == '__main__' and x:\n    pass\n", False),
    ("print('__main__')\n", False),
]


@pytest.mark.parametrize(("source", "expected"), MAIN_GUARDS)
def test_main_guard(source: str, expected: bool) -> None:
    assert facts(source).has_main_guard is expected


# --- what cannot be read ---------------------------------------------------------------------------


def error(code: str, line: int | None, message: str, file: str | None = "pkg/mod.py") -> SourceFacts:
    return SourceFacts(error=Diagnostic(file=file, line=line, code=code, message=message, severity=Severity.ERROR))


def test_python2_file() -> None:
    source = b"import os\n\nprint 'hello'\n"
    assert facts(source) == error(
        "parse-error", 3, "Missing parentheses in call to 'print'. Did you mean print(...)? (Python 2 code?)"
    )


def test_syntax_error_line() -> None:
    result = facts("import os\n\ndef f(:\n    pass\n")
    assert result.error is not None
    assert (result.error.code, result.error.line, result.error.severity) == ("parse-error", 3, Severity.ERROR)
    assert result.error.message and "\n" not in result.error.message
    assert result.imports == ()


def test_merge_conflict_marker() -> None:
    source = "import os\n<<<<<<< HEAD\nimport a\n=======\nimport b\n>>>>>>> branch\n"
    assert facts(source) == error("parse-error", 2, "unresolved merge conflict marker")


def test_latin1_cookie_decodes() -> None:
    source = "# -*- coding: latin-1 -*-\nimport os\nname = 'café'\n".encode("latin-1")
    assert facts(source) == SourceFacts(imports=(site(2, 1, "os"),))
    assert decode_source(source).endswith("'café'\n")


def test_invalid_bytes_without_cookie() -> None:
    source = "import os\nname = 'café'\n".encode("latin-1")
    assert facts(source) == error("decode-error", 2, "cannot decode as utf-8: byte 0xe9 at line 2 (invalid continuation byte)")


def test_invalid_bytes_in_first_line() -> None:
    assert facts(b"x = '\xff'\nimport os\n") == error(
        "decode-error", 1, "cannot decode as utf-8: byte 0xff at line 1 (invalid start byte)"
    )


def test_unknown_cookie() -> None:
    result = facts(b"#!/usr/bin/env python\n# coding: klingon\nimport os\n")
    assert result.error is not None
    assert (result.error.code, result.error.line) == ("decode-error", 2)
    with pytest.raises(InputError):
        decode_source(b"# coding: klingon\n")


def test_binary_file() -> None:
    assert facts(b"import os\n\x7fELF\x00\x01") == error("binary-file", 2, "binary file (contains NUL bytes)")
    assert facts("import os\x00") == error("binary-file", 1, "binary file (contains NUL characters)")


def test_bom() -> None:
    source = b"\xef\xbb\xbfimport os\n"
    assert decode_source(source) == "import os\n"
    assert facts(source) == SourceFacts(imports=(site(1, 1, "os"),))
    assert facts("\ufeffimport os\n") == SourceFacts(imports=(site(1, 1, "os"),))


def test_python312_syntax() -> None:
    source = textwrap.dedent(
        """\
        type Vector = list[float]
        def first[T](xs: list[T]) -> T:
            import numpy
            return xs[0]
        class Box[T]:
            pass
        name = f"{'a' + f"{'b'}"}"
        label = f"{x["key"]}"
        import torch
        """
    )
    assert facts(source) == SourceFacts(imports=(site(3, 5, "numpy", scope=FUNCTION), site(9, 1, "torch")))


def test_empty_file() -> None:
    assert facts("") == SourceFacts()
    assert facts(b"") == SourceFacts()


def test_no_import_text_skips_the_parse() -> None:
    # Nothing to find, so the file is not parsed and its syntax error goes unreported.
    assert facts("def broken(:\n") == SourceFacts()


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("import a\nx = " + "(" * 300 + "1" + ")" * 300 + "\n", 2, "brackets nested deeper than 200 levels"),
        ("import a\nx = " + "+".join(["1"] * 5000) + "\n", 2, "expression deeper than 1000 levels"),
        ("import a\nx = (" + "\n+ ".join(["1"] * 5000) + ")\n", 1002, "expression deeper than 1000 levels"),
        ("import a\nx = " + " or ".join(["a"] * 5000) + "\n", 2, "expression deeper than 1000 levels"),
    ],
    ids=["brackets", "chain", "multiline-chain", "or-chain"],
)
def test_too_deeply_nested(source: str, line: int, message: str) -> None:
    # libcst's native parser would crash the process (stack overflow) on these
    assert facts(source) == error("too-deeply-nested", line, message)


def test_recursion_error_is_a_diagnostic() -> None:
    # deep enough for Python's recursion limit in the walk, under the pre-parse limit
    source = "import importlib\nimportlib.import_module('a' + " + " + ".join(["'b'"] * 900) + ")\n"
    result = facts(source)
    assert result.error is not None and result.error.code == "too-deeply-nested"


def test_huge_dunder_import_level_is_beyond_the_top() -> None:
    # was OverflowError (an internal-error) or a string of that many dots
    result = facts("m = __import__('x', None, None, [], 99999999999999999999)\n")
    message = "relative import 'x' with a level above 2048 goes beyond the top-level package of 'pkg.mod'"
    assert result == SourceFacts(
        diagnostics=(Diagnostic(file="pkg/mod.py", line=1, code="relative-import-beyond-top", message=message),)
    )


@pytest.mark.parametrize("index", ["99999999999999999999", "9" * 5000])
def test_huge_parents_index_adds_nothing(index: str) -> None:
    # was a loop of that many iterations (or int()'s digit limit: an internal-error)
    source = f"import sys\nfrom pathlib import Path\nsys.path.insert(0, str(Path(__file__).parents[{index}]))\n"
    assert facts(source).path_additions == ()


def test_long_flat_literal_is_fine() -> None:
    source = "import a\nDATA = [" + ", ".join(["-1.5"] * 3000) + "]\n"
    assert facts(source) == SourceFacts(imports=(site(1, 1, "a"),))


# --- positions ---------------------------------------------------------------------------------------


class _Collect(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[cst.CSTNode] = []

    def visit_Import(self, node: cst.Import) -> None:
        self.nodes.append(node)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self.nodes.append(node)

    def visit_Call(self, node: cst.Call) -> None:
        self.nodes.append(node)


@pytest.mark.slow  # parses a tenth of libcst's sources twice
def test_fast_positions_match_position_provider() -> None:
    # starts leans on libcst's private CodegenState; PositionProvider is the reference.
    root = pathlib.Path(cst.__file__).parent
    files = sorted(root.rglob("*.py"))[::10]
    checked = 0
    for file in files:
        tree = cst.parse_module(file.read_bytes())
        collect = _Collect()
        tree.visit(collect)
        nodes = collect.nodes
        if not nodes:
            continue
        fast = starts(tree, nodes)
        positions = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)
        assert fast == {id(n): (positions[n].start.line, positions[n].start.column) for n in nodes}, file
        checked += len(nodes)
    assert checked > 1000


# --- never raises ------------------------------------------------------------------------------------


def assert_no_internal_error(result: SourceFacts) -> None:
    # extraction turns any exception into an internal-error diagnostic: the fuzz tests would
    # pass on an extraction bug unless they refuse that code.
    found = [d for d in (result.error, *result.diagnostics) if d is not None and d.code == "internal-error"]
    assert found == []


PYTHONISH = st.lists(
    st.sampled_from(
        [
            "import ",
            "from ",
            " . ",
            "..",
            "a",
            "b.c",
            " as ",
            ",",
            "(",
            ")",
            "[",
            "]",
            ":",
            "\n",
            "    ",
            "try:",
            "except ImportError:",
            "if ",
            "sys.platform == 'win32'",
            "TYPE_CHECKING",
            "else:",
            "def f():",
            "class C:",
            "importlib.import_module(",
            "'x'",
            "__import__(",
            "sys.path.insert(0, ",
            "__file__",
            "Path(",
            ").parent",
            "__name__ == '__main__'",
            "lambda: ",
            "\\",
            "'''",
            '"',
            "#",
            "\t",
            "\r",
            "\x00",
            "é",
            "f'{",
            "}'",
            "*",
            "=",
            "not ",
            " and ",
            " or ",
            "lazy ",
            ".parents[",
            "99999999999999999999",
            "__import__('a', None, None, [], ",
            "sys.path[:0] = [",
        ]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.one_of(st.text(max_size=300), PYTHONISH), module=st.sampled_from(["__main__", "a", "a.b.c"]))
@example(source="__import__('a', None, None, [], 99999999999999999999)\n", module="a.b.c")
@example(source="import sys\nsys.path.insert(0, Path(__file__).parents[99999999999999999999])\n", module="a")
@example(source="import sys\nsys.path[:" + "9" * 5000 + "] = ['a']\n", module="a")
def test_never_raises_on_text(source: str, module: str) -> None:
    result = extract_source_facts(source, module=module, is_package=False, path="x.py")
    assert isinstance(result, SourceFacts)
    assert_no_internal_error(result)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.one_of(st.binary(max_size=300), PYTHONISH.map(lambda s: s.encode("utf-8"))))
def test_never_raises_on_bytes(source: bytes) -> None:
    result = extract_source_facts(source, module="pkg", is_package=True)
    assert isinstance(result, SourceFacts)
    assert_no_internal_error(result)


def test_parse_module_gives_libcsts_tree_and_leaves_validation_on() -> None:
    """The extractor's parse skips libcst's re-check of its own parser's nodes: the tree is
    the one `libcst.parse_module` gives, and a node built by hand is still checked after."""
    source = textwrap.dedent(
        """\
        import os, sys as system  # comment
        from .a import (b, c as d)
        if TYPE_CHECKING:
            from x import *
        try:
            import numpy
        except ImportError:
            numpy = None
        def f(x: int = 1, *a, **k) -> str:
            return importlib.import_module(f"p.{x}")
        """
    )
    assert parse_module(source).deep_equals(cst.parse_module(source))
    assert parse_module(source).code == source
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")
    with pytest.raises(cst.ParserSyntaxError):
        parse_module("import (\n")
    with pytest.raises(cst.CSTValidationError):  # still on after a failed parse
        cst.Name("1x")


def test_a_tree_libcsts_own_checks_refuse_gives_facts_or_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """libcst issue 1061: its parser builds a node its own checks refuse (``else(lambda: ...)``).
    Parsed without them, the file gives its facts; with them (a libcst whose node checks do
    more), the file is one internal-error, never an exception out of the extraction."""
    import envcapture.analysis.imports as imports_module

    source = b'import os\nm = () if 0 else(lambda:__import__("json"))\n'
    facts = extract_source_facts(source, module="m", is_package=False, path="m.py")
    assert [(s.module, s.dynamic) for s in facts.imports] == [("os", None), ("json", DUNDER)]
    monkeypatch.setattr(imports_module, "_VALIDATION_ONLY", False)
    monkeypatch.setattr(imports_module, "KNOWN_STATEMENTS", KnownStatements())  # another libcst: another process
    checked = extract_source_facts(source, module="m", is_package=False, path="m.py")
    assert checked.imports == () and checked.error is not None
    assert checked.error.code == "internal-error" and checked.error.message.startswith("libcst cannot parse this file: ")
