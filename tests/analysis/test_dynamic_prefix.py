"""Dynamic imports by a computed name: a literal prefix names a package that ships whole and
is analysed (local), is required (installed) or is warned about (nowhere); a name with no
literal package is a ``computed-import`` warning. Extraction, walk, classification, report,
the caches."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from envcapture.analysis.api import AnalysisOptions, analyze
from envcapture.analysis.cache import dump_facts, load_facts
from envcapture.analysis.classify import Analysis, CacheStats
from envcapture.analysis.imports import extract_source_facts
from envcapture.analysis.model import DynamicKind, ImportSite, Scope, SourceFacts
from envcapture.analysis.report import analysis_to_json, explain, explain_json, render_plain
from envcapture.analysis.walk import ModuleKind, PrefixImport
from envcapture.environment.model import EnvSnapshot
from envcapture.model import Diagnostic, ModuleName, Severity

IM, DUNDER = DynamicKind.IMPORT_MODULE, DynamicKind.DUNDER_IMPORT
RUNTIME_HINT = "`envcapture analyze --runtime` would see what it imports"


def facts(source: str, module: str = "pkg.mod", *, is_package: bool = False) -> SourceFacts:
    return extract_source_facts(textwrap.dedent(source).lstrip("\n"), module=module, is_package=is_package, path="pkg/mod.py")


def dynamic_sites(result: SourceFacts) -> list[tuple[str, str | None, int, DynamicKind | None]]:
    """(module, prefix, level, kind) of each dynamic site, in source order."""
    return [(s.module, s.prefix, s.level, s.dynamic) for s in result.imports if s.dynamic is not None]


# --- extraction: a literal head names a package ----------------------------------------------------

PREFIXED = [
    (
        "concatenation",
        "import importlib\nimportlib.import_module('pkg.plugins.' + name)\n",
        ("pkg.plugins", "pkg.plugins.", 0, IM),
    ),
    ("f-string", "from importlib import import_module\nimport_module(f'models.{arch}')\n", ("models", "models.", 0, IM)),
    ("f-string, part of a name", "import importlib\nimportlib.import_module(f'pkg.plug_{x}')\n", ("pkg", "pkg.plug_", 0, IM)),
    ("implicit concatenation", "import importlib\nimportlib.import_module('pkg.' f'{x}')\n", ("pkg", "pkg.", 0, IM)),
    ("two literal parts", "import importlib\nimportlib.import_module('a.' + 'b.' + x)\n", ("a.b", "a.b.", 0, IM)),
    ("percent", "import importlib\nimportlib.import_module('pkg.plugins.%s' % name)\n", ("pkg.plugins", "pkg.plugins.", 0, IM)),
    ("format", "import importlib\nimportlib.import_module('pkg.plugins.{}'.format(n))\n", ("pkg.plugins", "pkg.plugins.", 0, IM)),
    ("dunder", "__import__('pkg.backends.' + x)\n", ("pkg.backends", "pkg.backends.", 0, DUNDER)),
    (
        "relative, __package__",
        "import importlib\nimportlib.import_module('.' + name, package=__package__)\n",
        ("pkg", "pkg.", 1, IM),
    ),
    ("relative below", "import importlib\nimportlib.import_module('.b.' + n, __package__)\n", ("pkg.b", "pkg.b.", 1, IM)),
    ("relative, literal package", "import importlib\nimportlib.import_module('..' + n, 'tool.sub')\n", ("tool", "tool.", 2, IM)),
    (
        "chained",
        "__import__('importlib').import_module('plugins.' + n)\n",
        ("plugins", "plugins.", 0, IM),
    ),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in PREFIXED], ids=[c[0] for c in PREFIXED])
def test_a_literal_prefix_is_a_site_of_its_package(source: str, expected: tuple[str, str, int, DynamicKind]) -> None:
    result = facts(source)
    assert dynamic_sites(result)[0] == expected
    assert result.diagnostics == ()


def test_relative_prefix_with_dunder_name_in_a_package() -> None:
    result = facts("import importlib\nm = importlib.import_module(f'.{name}', __name__)\n", "pkg", is_package=True)
    assert dynamic_sites(result) == [("pkg", "pkg.", 1, IM)]


def test_prefix_site_keeps_its_place_and_context() -> None:
    source = """
        import importlib
        def load(name):
            try:
                return importlib.import_module("opt.backends." + name)
            except ImportError:
                return None
    """
    site = facts(source).imports[1]
    assert site == ImportSite(
        line=4,
        column=16,
        module=ModuleName("opt.backends"),
        scope=Scope.FUNCTION,
        optional=True,
        dynamic=IM,
        prefix="opt.backends.",
    )


def test_literal_parts_joined_are_a_plain_literal_import() -> None:
    # ("tok." + "plugins") is one literal name: a site of that module, no prefix
    assert dynamic_sites(facts("import importlib\nimportlib.import_module('tok.' + 'plugins')\n")) == [
        ("tok.plugins", None, 0, IM)
    ]


def test_chained_dunder_import_with_a_literal_name_is_the_plain_call() -> None:
    result = facts("__import__('importlib').import_module('pkg.mod')\nimportlib_util = __import__('importlib.util').util\n")
    assert dynamic_sites(result) == [
        ("pkg.mod", None, 0, IM),
        ("importlib", None, 0, DUNDER),
        ("importlib.util", None, 0, DUNDER),
    ]


# --- extraction: no literal package -> a warning, no site ---------------------------------------------

COMPUTED = [
    ("variable", "import importlib\nimportlib.import_module(name)\n", "importlib.import_module(name)", ""),
    ("dunder variable", "m = __import__(name)\n", "__import__(name)", ""),
    ("non-literal head", "import importlib\nimportlib.import_module(base + '.x')\n", "importlib.import_module(base + '.x')", ""),
    ("f-string, no head", "import importlib\nimportlib.import_module(f'{a}.{b}')\n", "importlib.import_module(f'{a}.{b}')", ""),
    (
        "head without a package",
        "import importlib\nimportlib.import_module('plugin_' + name)\n",
        "importlib.import_module('plugin_' + name)",
        " (its literal part 'plugin_' names no package)",
    ),
    ("chained", "__import__('importlib').import_module(n)\n", "__import__('importlib').import_module(n)", ""),
]


@pytest.mark.parametrize(("source", "shown", "why"), [c[1:] for c in COMPUTED], ids=[c[0] for c in COMPUTED])
def test_a_computed_name_is_a_warning(source: str, shown: str, why: str) -> None:
    result = facts(source)
    assert [s for s in result.imports if s.prefix is not None or s.module not in ("importlib",)] == []
    line = source.count("\n")
    assert result.diagnostics == (
        Diagnostic(
            file="pkg/mod.py",
            line=line,
            code="computed-import",
            message=f"{shown}: the module name is computed at run time{why}; {RUNTIME_HINT}",
            severity=Severity.WARNING,
        ),
    )


def test_a_long_computed_call_is_shortened_to_one_line() -> None:
    source = "import importlib\nimportlib.import_module(\n    registry.lookup(some_long_argument_name, another_long_argument_name)\n)\n"
    (diagnostic,) = facts(source).diagnostics
    assert "\n" not in diagnostic.message
    assert diagnostic.message.startswith("importlib.import_module( registry.lookup(some_long_argume...: the module name")


@pytest.mark.parametrize(
    "source",
    [
        "import importlib.util\nimportlib.util.find_spec(name)\n",  # an availability check
        "from typing import TYPE_CHECKING\nimport importlib\nif TYPE_CHECKING:\n    importlib.import_module(name)\n",
        "def import_module(x): pass\nimport_module(name)\n",  # not importlib's
    ],
    ids=["find_spec", "type-only", "not-importlib"],
)
def test_no_warning_where_nothing_is_imported(source: str) -> None:
    result = facts(source)
    assert result.diagnostics == ()
    assert all(s.prefix is None for s in result.imports)


def test_relative_prefix_with_a_package_that_is_not_a_literal() -> None:
    result = facts("import importlib\nimportlib.import_module('.' + n, package=pkg_name)\n")
    assert dynamic_sites(result) == []
    assert [(d.code, d.line) for d in result.diagnostics] == [("relative-import-unresolved", 2)]


def test_relative_prefix_in_a_script_goes_beyond_the_top() -> None:
    result = facts("import importlib\nimportlib.import_module('.' + n, package=__name__)\n", "__main__")
    assert dynamic_sites(result) == []
    assert [d.code for d in result.diagnostics] == ["relative-import-beyond-top"]


def test_prefix_survives_the_facts_cache() -> None:
    result = facts("import importlib\nimportlib.import_module('pkg.plugins.' + name)\nimportlib.import_module(n)\n")
    assert load_facts(dump_facts(result)) == result


# --- the walk: a local package loaded by prefix ships whole, every module analysed -------------------

EMPTY = EnvSnapshot(executable=sys.executable, python_version="3.11.7")


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    old = time.time() - 60  # older than the analysis cache's distrust of fresh stats
    for path in [root, *root.rglob("*")]:
        os.utime(path, (old, old))
    return root


PLUGINS_JOB = {
    "train.py": """
        import importlib
        import sys

        plugin = importlib.import_module("plugins." + sys.argv[1])
        print(plugin.run())
    """,
    "plugins/plain.py": "def run():\n    return 'plain'\n",
    "plugins/fancy.py": "from mathutils import scale\nimport yaml\n\ndef run():\n    return scale(2)\n",
    "plugins/sub/__init__.py": "",
    "plugins/sub/deep.py": "import json\n",
    "plugins/weights.json": "{}\n",
    "plugins/tests/test_fancy.py": "import pytest\n",
    "mathutils.py": "def scale(x):\n    return 21 * x\n",
    "unrelated.py": "import requests\n",
}


def _analyze(project: Path, snapshot: EnvSnapshot = EMPTY, cache: Path | None = None, entry: str = "train.py") -> Analysis:
    options = AnalysisOptions(use_cache=cache is not None, cache_dir=cache)
    return analyze([entry], project=project, options=options, snapshot=snapshot)


def test_local_prefix_package_is_walked_whole(tmp_path: Path) -> None:
    analysis = _analyze(_write(tmp_path, PLUGINS_JOB))
    files = {f.path: f for f in analysis.local_files}
    # every module of plugins/ (subpackages too, not its tests) and what they import
    assert sorted(files) == [
        "mathutils.py",
        "plugins/fancy.py",
        "plugins/plain.py",
        "plugins/sub/__init__.py",
        "plugins/sub/deep.py",
        "train.py",
    ]
    assert (files["plugins/fancy.py"].reached_from, files["plugins/fancy.py"].via) == (
        ("train.py", 4),
        "dynamic (prefix plugins.)",
    )
    assert (files["mathutils.py"].reached_from, files["mathutils.py"].via) == (("plugins/fancy.py", 1), None)
    assert analysis.prefix_imports == (
        PrefixImport(
            importer="train.py",
            line=4,
            prefix="plugins.",
            package="plugins",
            kind=ModuleKind.LOCAL,
            directories=("plugins",),
            files=("plugins/fancy.py", "plugins/plain.py", "plugins/sub/__init__.py", "plugins/sub/deep.py"),
        ),
    )
    # the plugins' own imports count
    assert {u.module for u in analysis.unresolved} == {"yaml"}
    assert "json" in analysis.stdlib
    assert [d.code for d in analysis.diagnostics] == ["unresolved-import"]  # yaml, not installed


def test_report_shows_the_reason(tmp_path: Path) -> None:
    analysis = _analyze(_write(tmp_path, PLUGINS_JOB))
    plain = render_plain(analysis)
    assert "plugins/plain.py  reached from train.py:4, dynamic (prefix plugins.)\n" in plain
    assert "mathutils.py  reached from plugins/fancy.py:1\n" in plain
    doc = analysis_to_json(analysis)
    assert doc["schema_version"] == "1.3"
    assert doc["dynamic_prefixes"] == [
        {
            "file": "train.py",
            "line": 4,
            "prefix": "plugins.",
            "package": "plugins",
            "kind": "local",
            "reason": "dynamic (prefix plugins.)",
            "directories": ["plugins"],
            "files": ["plugins/fancy.py", "plugins/plain.py", "plugins/sub/__init__.py", "plugins/sub/deep.py"],
            "distributions": [],
        }
    ]
    assert explain(analysis, "mathutils.py") == [
        "mathutils.py ships as local code because:",
        "  train.py is an entry point",
        "  train.py:4 imports plugins.fancy (plugins/fancy.py; dynamic (prefix plugins.))",
        "  plugins/fancy.py:1 imports mathutils (mathutils.py)",
    ]
    assert explain(analysis, "plugins")[-1] == "  train.py:4 imports plugins (local, dynamic (prefix plugins.))"
    found = explain_json(analysis, "plugins.plain")
    assert found is not None and found["chain"][-1]["detail"] == "plugins/plain.py; dynamic (prefix plugins.)"


def test_regular_package_loaded_relatively(tmp_path: Path) -> None:
    project = _write(
        tmp_path,
        {
            "main.py": "import models\nmodels.build('mlp')\n",
            "models/__init__.py": """
                import importlib

                def build(arch):
                    return importlib.import_module("." + arch, package=__package__)
            """,
            "models/mlp.py": "import csv\n",
            "models/cnn.py": "import zipfile\n",
        },
    )
    analysis = _analyze(project, entry="main.py")
    assert {f.path: f.via for f in analysis.local_files} == {
        "main.py": None,
        "models/__init__.py": None,
        "models/cnn.py": "dynamic (prefix models.)",
        "models/mlp.py": "dynamic (prefix models.)",
    }
    assert {"csv", "zipfile"} <= set(analysis.stdlib)
    ((prefix, directories),) = [(p.prefix, p.directories) for p in analysis.prefix_imports]
    assert (prefix, directories) == ("models.", ("models",))


def test_unknown_prefix_package_is_a_warning(tmp_path: Path) -> None:
    project = _write(
        tmp_path,
        {
            "job.py": "import importlib\nimport sys\nimportlib.import_module('nowhere.plugins.' + sys.argv[1])\n",
            "local/__init__.py": "",
            "other.py": "import importlib\nimport local\nimportlib.import_module('local.gone.' + 'x' + str(1))\n",
        },
    )
    analysis = _analyze(project, entry="job.py")
    problems = [(d.file, d.line, d.code, d.severity, d.message) for d in analysis.diagnostics]
    assert problems == [
        (
            "job.py",
            3,
            "dynamic-prefix-unresolved",
            Severity.WARNING,
            "dynamic import with the prefix nowhere.plugins.: nowhere.plugins is not a package of the project nor "
            "installed, so nothing it loads can ship",
        )
    ]
    assert [(u.module, u.import_sites[0].prefix) for u in analysis.unresolved] == [("nowhere", "nowhere.plugins.")]
    assert "Problems (1):\njob.py:3  warning  dynamic import with the prefix nowhere.plugins." in render_plain(analysis)
    # a package missing below a local one: the same warning, nothing ships
    other = _analyze(project, entry="other.py")
    assert [(d.code, d.line) for d in other.diagnostics] == [("dynamic-prefix-unresolved", 3)]
    assert [p.kind for p in other.prefix_imports] == [ModuleKind.UNKNOWN]


def test_a_computed_name_is_reported_with_file_and_line(tmp_path: Path) -> None:
    project = _write(tmp_path, {"job.py": "import importlib, sys\nmod = importlib.import_module(sys.argv[1])\n"})
    analysis = _analyze(project, entry="job.py")
    (diagnostic,) = analysis.diagnostics
    assert (
        str(diagnostic)
        == f"job.py:2: importlib.import_module(sys.argv[1]): the module name is computed at run time; {RUNTIME_HINT}"
    )
    assert (
        f"job.py:2  warning  importlib.import_module(sys.argv[1]): the module name is computed at run time; {RUNTIME_HINT}\n"
        in render_plain(analysis)
    )
    assert analysis.prefix_imports == () and analysis.local_files[0].path == "job.py" and len(analysis.local_files) == 1


def test_inactive_prefix_ships_nothing(tmp_path: Path) -> None:
    project = _write(
        tmp_path,
        {
            "job.py": "import importlib, sys\nif sys.platform == 'win32':\n    importlib.import_module('winplugins.' + sys.argv[1])\n",
            "winplugins/a.py": "",
        },
    )
    analysis = _analyze(project, entry="job.py")
    assert [f.path for f in analysis.local_files] == ["job.py"]
    assert analysis.prefix_imports == ()


def test_installed_prefix_package_requires_its_distribution(tmp_path: Path, fixture_snapshot: Any) -> None:
    project = _write(tmp_path, {"job.py": "import importlib, sys\nimportlib.import_module('alpha_mod.' + sys.argv[1])\n"})
    analysis = _analyze(project, fixture_snapshot, entry="job.py")
    (dist,) = analysis.distributions
    assert (dist.name, dist.status.value, dist.import_names) == ("dist-alpha", "required", ("alpha_mod",))
    assert dist.import_sites[0].prefix == "alpha_mod."
    ((kind, names),) = [(p.kind, p.distributions) for p in analysis.prefix_imports]
    assert (kind, names) == (ModuleKind.INSTALLED, ("dist-alpha",))
    assert "dist-alpha==1.0.0  job.py:2 dynamic (prefix alpha_mod.)  [required; import alpha_mod]" in render_plain(analysis)
    assert analysis_to_json(analysis)["distributions"][0]["import_sites"][0]["prefix"] == "alpha_mod."
    assert (
        explain(analysis, "dist-alpha")[-1]
        == "  job.py:2 imports alpha_mod (module scope, required, dynamic (prefix alpha_mod.))"
    )
    assert analysis.diagnostics == ()


# --- the analysis cache carries it all; a new plugin is seen --------------------------------------------


def _same(one: Analysis, two: Analysis) -> bool:
    return replace(one, stats=CacheStats()) == replace(two, stats=CacheStats())


def test_analysis_cache_keeps_prefixes_and_sees_a_new_plugin(tmp_path: Path) -> None:
    project = _write(tmp_path / "job", PLUGINS_JOB)
    cold = _analyze(project, cache=tmp_path / "c")
    warm = _analyze(project, cache=tmp_path / "c")
    assert warm.stats.parsed == 0 and _same(cold, warm)
    assert warm.prefix_imports == cold.prefix_imports and warm.prefix_imports
    assert {f.via for f in warm.local_files} == {None, "dynamic (prefix plugins.)"}
    (project / "plugins" / "extra.py").write_text("import csv\n")
    old = time.time() - 60
    os.utime(project / "plugins", (old, old))  # even with the directory's stat put back, its listing differs
    after = _analyze(project, cache=tmp_path / "c")
    assert "plugins/extra.py" in {f.path for f in after.local_files}
    assert "csv" in after.stdlib
    assert _same(after, _analyze(project))
