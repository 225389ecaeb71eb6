"""_fragment.py: only the statements that can hold a fact go to libcst, at their source lines;
the facts are those of the whole file, and their digest ignores edits elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path

import libcst as cst
import pytest
from fragment_cases import CASES, CONTINUATION_CASES

from envcapture.analysis import imports
from envcapture.analysis._fragment import NO_FACTS, fact_digest, fact_fragment
from envcapture.analysis._importparts import KNOWN_PLAIN, KnownPlainImports
from envcapture.analysis._visitor import FactsVisitor
from envcapture.analysis.imports import extract_source_facts
from envcapture.analysis.model import SourceFacts
from envcapture.analysis.nesting import nesting_problem

MODULE = '''"""A module."""

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy


class Model:
    """No fact in this docstring."""

    size = 3

    def forward(self, x):
        return [x * i for i in range(self.size)]

    @staticmethod
    def export(fmt="onnx"):
        if fmt == "onnx":
            import onnx  # lazy

            return onnx
        return None

    class Inner:
        def load(self):
            try:
                import yaml
            except ImportError:
                yaml = None
            return yaml


def helper(a,
           b):
    total = a + b
    from . import sibling
    return total, sibling


x = 1; import json
y = 2
if __name__ == "__main__":
    import importlib
    importlib.import_module("plugins." + os.environ["P"])
'''

DATA_READS = """import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parent
DATA = "data/tokens.txt"
LIMIT = 3


def load():
    with open(DATA) as f:
        return f.read()


def weights():
    scale = LIMIT * 2
    return np.load(ROOT / "assets" / "w.npy") * scale


class Cfg:
    def read(self):
        return json.load(open("cfg/a.json"))


def main():
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--cfg", default="cfg/model.yaml")
    exec(open("configurator.py").read())
"""

# Compound statements whose blocks hold a marker and much else: the clause headers stay, the
# statements without a marker go, an emptied block becomes ``pass``.
BLOCKS = """import os
import sys

try:
    import ujson as json
    FAST = True
except (ImportError,
        AttributeError):  # old builds
    import json
    FAST = False
else:
    print("fast json")
finally:
    LOADED = 1

if sys.platform == "win32":
    SEP = ";"
    for _ in range(3):
        COUNT = 3
elif sys.platform == "darwin":
    import plistlib
    SEP = ":"
else:
    # nothing here
    SEP = ":"

with open("cfg/settings.json") as fh:
    settings = json.load(fh)
    for key in list(settings):
        settings[key] = str(settings[key])

for name in ("a", "b"):
    if name:
        continue
else:
    import importlib
    importlib.import_module("plugins." + name)

while False:
    x = 1
    break


@staticmethod
def unused():
    return 1


if __name__ == "__main__":
    args = sys.argv[1:]
    total = 0
    for arg in args:
        total += len(arg)
    with open(os.path.join(os.path.dirname(__file__), "data", "x.txt")) as f:
        print(f.read(), total)
"""

DOCSTRINGS = '''"""Import helpers: they open( files and exec( them."""
import os


def f():
    """Call import_module to load a plugin."""
    return 1


# import later
if os.name:
    x = 1
    # and open( some day


class C:
    """open( is only mentioned here."""

    def g(self):
        """from x import y"""
        return 2
'''

SOURCES = {
    "module": MODULE,
    "working-directory name": (
        "import os\nimport pandas as pd\nfrom pathlib import Path\n\nBASE = Path.cwd()\nHERE = os.getcwd()\n\n\n"
        "def f():\n    return pd.read_csv(BASE / 'train.csv'), open(os.path.join(HERE, 'w.txt'))\n"
    ),
    "bound in a match": (
        "import sys\nimport pandas as pd\n\nmatch sys.argv[1]:\n    case 'a':\n        DATA = 'data/a.csv'\n\n\n"
        "def f():\n    return pd.read_csv(DATA)\n"
    ),
    "form feed on a line of its own": "\x0c\nimport os\n\x0c\n\ndef f():\n\x0c\n    import json\n    return json\n",
    "data reads": DATA_READS,
    "crlf": MODULE.replace("\n", "\r\n"),
    "cr": MODULE.replace("\n", "\r"),
    "no final newline": MODULE.rstrip("\n"),
    "marker in a comment only": "def f():\n    x = 1\n    # import later\n    return x\n\n\nimport os\n",
    "header with a marker": "class A(__import__('abc').ABC):\n    def f(self):\n        return 1\n",
    "one-line def": "def f(): import os; return os\n\n\ndef g():\n    return 2\n",
    "decorated": "import functools\n\n\n@functools.cache\ndef f():\n    import json\n    return json\n",
    "sys.path alias": "from sys import path as p\nimport os\n\n\ndef setup():\n    p.insert(0, os.path.dirname(__file__))\n",
    "form feed": "import os\n\x0c\ndef f():\n    import json\n",
    "blocks cut": BLOCKS,
    "markers in docstrings only": DOCSTRINGS,
    "blocks cut, crlf": BLOCKS.replace("\n", "\r\n"),
    "same-line suites": (
        "import os\nif os.name:  x = 1\nelse:\n    import json\ntry: import yaml\nexcept ImportError: yaml = None\n"
        "for p in (1,\n        2): import sys\nwhile (os and\n       1):  x = 2\n"
    ),
    "tabs": "class A:\n\tdef f(self):\n\t\timport json\n\tdef g(self):\n\t\treturn 1\n",
    "non-ASCII before an import": "café = 'naïve'; import os\nif café:  # ünïcode\n    from . import ü; import json\n",
    "dynamic and sys.path": "import sys, importlib\nsys.path.insert(0, 'lib')\n\n\ndef f():\n    return importlib.import_module('x')\n",
}


def _whole(source: bytes, monkeypatch: pytest.MonkeyPatch, path: str = "pkg/mod.py") -> SourceFacts:
    """The facts libcst reads from the whole file (the fragment turned off)."""
    with monkeypatch.context() as patch:
        patch.setattr(imports, "fact_fragment", lambda text, leave_out=None: None)
        return extract_source_facts(source, module="pkg.mod", is_package=False, path=path)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_fragment_gives_the_facts_of_the_whole_file(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    source = SOURCES[name]
    facts = extract_source_facts(source.encode(), module="pkg.mod", is_package=False, path="pkg/mod.py")
    assert facts == _whole(source.encode(), monkeypatch)
    assert facts.imports or facts.path_additions
    assert facts.fact_digest == fact_digest(source.encode()) is not None


def test_positions_map_back_to_the_source() -> None:
    facts = extract_source_facts(MODULE.encode(), module="pkg.mod", is_package=False, path="pkg/mod.py")
    where = {s.module: (s.line, s.column) for s in facts.imports}
    assert where["onnx"] == (21, 13) and where["yaml"] == (29, 17) and where["pkg"] == (38, 5)
    assert where["json"] == (42, 8) and where["plugins"] == (46, 5)
    assert facts.has_main_guard


def test_only_statements_with_a_marker_are_kept() -> None:
    fragment = fact_fragment(MODULE)
    assert fragment is not None
    assert "def forward" not in fragment.text and "size = 3" not in fragment.text
    # A cut def or class: a stand-in header at its def line (its scope is all that matters).
    assert "class Model" not in fragment.text and "def export" not in fragment.text and "def helper" not in fragment.text
    assert "class _:\n    def _():\n        if fmt" in fragment.text and "x = 1; import json" in fragment.text
    assert [fragment.source_line(n) for n in (1, 2)] == [3, 4]
    # A module-level name holding a string may hold a path: where it is bound stays.
    reads = fact_fragment(
        'import os\nD = "a"\nN = 3\n\n\ndef f():\n    D = "d"\n    return open(D)\n\n\ndef g():\n    return N\n'
    )
    assert reads is not None and 'D = "a"' in reads.text and '    D = "d"' in reads.text
    assert "N = 3" not in reads.text and "def g" not in reads.text


def test_blocks_keep_their_headers_and_only_the_statements_with_a_marker() -> None:
    fragment = fact_fragment(BLOCKS)
    assert fragment is not None
    text = fragment.text
    for header in ("try:", "except (ImportError,", "        AttributeError):", "else:", "finally:", "elif sys.platform"):
        assert header in text, header
    assert 'if __name__ == "__main__":' in text and 'with open("cfg/settings.json") as fh:' in text
    assert "settings = json.load(fh)" in text  # a reader: kept
    for gone in ("FAST = True", 'print("fast json")', "COUNT = 3", "settings[key] = str", "total += len", "while False"):
        assert gone not in text, gone
    assert text.count("pass\n") >= 3  # else:, finally:, if win32: and the for's body emptied
    compiled = compile(text, "fragment", "exec", dont_inherit=True)  # still Python
    assert compiled is not None
    facts = extract_source_facts(BLOCKS.encode(), module="pkg.mod", is_package=False, path="pkg/mod.py")
    where = {s.module: s.line for s in facts.imports}
    assert where["json"] == 9 and where["plistlib"] == 21 and where["importlib"] == 36
    assert {r.path for r in facts.file_refs} == {"cfg/settings.json", "data/x.txt"}


def test_what_only_a_docstring_or_a_comment_mentions_is_not_kept() -> None:
    fragment = fact_fragment(DOCSTRINGS)
    assert fragment is not None and fragment.text == "import os\n"


def test_the_digest_ignores_edits_away_from_the_facts() -> None:
    before = fact_digest(MODULE.encode())
    assert before is not None
    # A cut def's signature and decorators: its header stands in as ``def _():``.
    signature = MODULE.replace(
        '    @staticmethod\n    def export(fmt="onnx"):', "    @classmethod\n    def export(cls, fmt: str = 'onnx'):"
    )
    assert signature != MODULE and fact_digest(signature.encode()) == before
    assert fact_digest(MODULE.replace("def helper(a,\n           b):", "def helper(a, b,\n           c=1):").encode()) == before
    assert fact_digest(MODULE.replace("class Model:", "class Model(Base):").encode()) == before
    assert fact_digest(MODULE.replace("    def export(", "    async def export(").encode()) != before
    body_edit = MODULE.replace("return [x * i for i in range(self.size)]", "return [x + i for i in range(self.size)]")
    assert fact_digest(body_edit.encode()) == before
    assert fact_digest((MODULE + "\n\ndef later():\n    return 1\n").encode()) == before
    assert fact_digest(MODULE.replace("import onnx  # lazy", "import onnx  # lazy!").encode()) != before
    assert fact_digest(("# a first line\n" + MODULE).encode()) != before  # every line moved
    assert fact_digest(b"x = 1\n") == NO_FACTS


@pytest.mark.parametrize(
    "source",
    [
        b"import os\ndef f(:\n    pass\n",  # a syntax error: parsed whole, reported as before
        b"import os\nprint 'python 2'\n",
        b"import os\x00\n",
        b"# -*- coding: no-such-codec -*-\nimport os\n",
    ],
)
def test_what_cpython_rejects_is_not_cut(source: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = extract_source_facts(source, module="pkg.mod", is_package=False, path="pkg/mod.py")
    assert facts.error is not None and facts.fact_digest is None and fact_digest(source) is None
    assert facts == _whole(source, monkeypatch)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="PEP 695 syntax parses on 3.12+")
def test_syntax_newer_than_this_python_is_parsed_whole_by_libcst() -> None:
    source = b"import os\n\n\ndef first[T](x: T) -> T:\n    import json\n    return x\n"
    facts = extract_source_facts(source, module="m", is_package=False, path="m.py")
    assert facts.error is None and facts.fact_digest is None
    assert [s.module for s in facts.imports] == ["os", "json"]


def test_the_fixture_projects_facts_are_the_whole_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Python file of the test fixtures (data-file readers, try/except alternatives,
    run-time branches, dynamic imports...) gives with the fragment what the whole file gives."""
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    compared = 0
    for path in sorted(fixtures.rglob("*.py")):
        source = path.read_bytes()
        facts = extract_source_facts(source, module="pkg.mod", is_package=False, path=path.name)
        assert facts == _whole(source, monkeypatch, path.name), path
        compared += facts.fact_digest not in (None, NO_FACTS)
    assert compared > 50


DEEP_BUT_ACCEPTED = {
    "or-chain": "import os\nx = " + " or ".join(["a"] * 1200) + "\n",
    "strings": "import os\nx = (" + " ".join(["'a'"] * 1200) + ")\n",
    "attributes": "import os\nx = a" + ".a" * 1200 + "\n",
    "split header": "import os\ndef f(a=" + "-" * 600 + "1\n" + "-" * 600 + "1): return 1\n",
    "in a handler": "try:\n    import os\nexcept (" + " or ".join(["E"] * 1100) + "):\n    pass\n",
    "decorator": "import os\n@d(" + "+".join(["1"] * 1100) + ")\ndef f():\n    pass\n",
    "match subject": "import os\nmatch " + "lambda: " * 1100 + "1:\n    case 1:\n        import json\n",
}


@pytest.mark.parametrize("name", sorted(DEEP_BUT_ACCEPTED))
def test_a_deep_line_is_still_scanned(name: str) -> None:
    """CPython accepts these, the nesting scan refuses them: the fragment must not call them shallow."""
    source = DEEP_BUT_ACCEPTED[name]
    assert nesting_problem(source) is not None
    fragment = fact_fragment(source)
    assert fragment is None or not fragment.shallow
    facts = extract_source_facts(source.encode(), module="m", is_package=False, path="m.py")
    assert facts.error is not None and facts.error.code == "too-deeply-nested"
    assert fact_digest(source.encode()) is None


def test_ordinary_modules_skip_the_nesting_scan() -> None:
    fragment = fact_fragment(MODULE)
    assert fragment is not None and fragment.shallow and nesting_problem(MODULE) is None


def _walked(tree: cst.Module, visitor: FactsVisitor) -> list[list[int]]:
    return [[id(p.node) for p in found] for found in (visitor.imports, visitor.calls, visitor.assigns, visitor.expressions)]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_walk_finds_what_libcsts_visit_finds(name: str) -> None:
    """`FactsVisitor.walk` (fields read, the statements' lines from CPython's parse) and
    libcst's own visit (every node rebuilt, each statement's code generated) see the same nodes;
    statement lines that disagree with libcst's statements fall back to the generated code."""
    fragment = fact_fragment(SOURCES[name])
    assert fragment is not None
    tree = cst.parse_module(fragment.text)
    visited = FactsVisitor(tree, fragment.walk)
    tree.visit(visited)
    walked = FactsVisitor(tree, fragment.walk, fragment.statement_lines)
    walked.walk(tree)
    misled = FactsVisitor(tree, fragment.walk, [(("Pass",), True)] * len(fragment.statement_lines))
    misled.walk(tree)
    assert _walked(tree, walked) == _walked(tree, visited) == _walked(tree, misled)
    assert walked.bindings == visited.bindings


@pytest.mark.parametrize(
    "source",
    [
        # a block's first line, dropped, had a form feed: libcst counts it in the block's columns
        "if x:\n\x0c    y = 1\n    import a\n",
        "def f():\n\x0c    y = 1\n    import a\n",
        "\x0cimport os\n\n\ndef f():\n\x0c    import json\n    return json\n",
    ],
)
def test_a_form_feed_in_the_indentation_leaves_the_file_whole(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fact_fragment(source) is None and fact_digest(source.encode()) is None
    assert extract_source_facts(source.encode(), module="pkg.mod", is_package=False, path="pkg/mod.py") == _whole(
        source.encode(), monkeypatch
    )


@pytest.mark.parametrize(
    "rebinding",
    [
        "(\n    DATA,\n    other,\n) = (1, 2)\n",  # the name and its = on different lines
        "DATA \\\n    += '.bak'\n",
        "DATA: str\n",  # an annotation: a binding to FactsVisitor
        "def f():\n    x = 1\n    [a,\n     DATA] = 1, 2\n",
        "class C:\n    def f(self):\n        def g():\n            DATA = 2\n",  # in a def in a def in a class
    ],
)
def test_every_binding_of_a_path_name_stays(rebinding: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name bound twice is not followed by datafiles: the fragment must keep each binding,
    however it is written, or it reads a file the whole file does not."""
    source = f"import pandas as pd\nDATA = 'data/x.csv'\n{rebinding}pd.read_csv(DATA)\n".encode()
    facts = extract_source_facts(source, module="pkg.mod", is_package=False, path="pkg/mod.py")
    assert facts == _whole(source, monkeypatch)
    assert facts.file_refs == ()


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_review_cases_give_the_facts_of_the_whole_file(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    source = CASES[name]
    fragment = fact_fragment(source)
    if fragment is not None:
        assert compile(fragment.text, "fragment", "exec", dont_inherit=True) is not None  # still Python
    facts = extract_source_facts(source.encode("utf-8", "surrogatepass"), module="pkg.mod", is_package=False, path="pkg/mod.py")
    assert facts == _whole(source.encode("utf-8", "surrogatepass"), monkeypatch)


PLAIN_IMPORTS = """import os
import importlib as il
from typing import TYPE_CHECKING as TC
from . import sibling
from .. import beyond
import a.b, c as d  # two names
import importlib as importlib
if TC:
    import numpy
try:
    from vendored import importlib
except ImportError:
    import json
plugin = il.import_module("plug.in")
other = importlib.import_module("dyn.mod")
from x import *
import os; import sys
"""


def test_plain_imports_known_from_an_earlier_file_are_left_out_with_the_same_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A module-level import alone on its line says the same in any file: once libcst has
    parsed that line, the fragment leaves it out and its parts are placed at its line. The
    facts (the aliases, in source order: ``importlib`` rebound in the ``try``) and the
    digest are those of the whole file."""
    source = PLAIN_IMPORTS.encode()
    first = extract_source_facts(source, module="pkg.mod", is_package=False, path="pkg/mod.py")  # learns the lines
    fragment = fact_fragment(PLAIN_IMPORTS, KNOWN_PLAIN.__contains__)
    assert fragment is not None
    assert [line for line, _ in fragment.left_out] == [1, 2, 3, 4, 5, 6, 7, 16]  # not in a block, nor sharing a line
    assert "import importlib as il" not in fragment.text and "import os; import sys" in fragment.text
    assert fragment.digest == fact_digest(source)
    again = extract_source_facts(source, module="pkg.mod", is_package=False, path="pkg/mod.py")
    assert again == first == _whole(source, monkeypatch)
    modules = {site.module for site in again.imports}
    assert {"plug.in", "a.b", "c", "pkg"} <= modules and "dyn.mod" not in modules  # vendored.importlib's
    assert [d.line for d in again.diagnostics if d.code == "relative-import-beyond-top"] == [5]


def _teach_plain_lines(source: str) -> None:
    """Another file, in which libcst parses each line of ``source`` that starts with an import,
    each followed by an import of its own: the memo knows them (when they are plain)."""
    lines = [line if line.endswith(("\n", "\r")) else line + "\n" for line in source.splitlines(keepends=True)]
    teacher = "".join(line + "import teacher_next\n" for line in lines if line.startswith(("import", "from")))
    extract_source_facts(teacher.encode(), module="other.mod", is_package=False, path="other/mod.py")


@pytest.mark.parametrize("name", sorted({**CASES, **CONTINUATION_CASES}))
def test_the_review_cases_give_the_same_facts_and_digest_with_their_plain_imports_known(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The memo of plain imports changes neither the facts nor their digest: a file read with
    none of its lines known, then again once another file taught them, against the whole file."""
    text = {**CASES, **CONTINUATION_CASES}[name]
    source = text.encode("utf-8", "surrogatepass")
    monkeypatch.setattr(imports, "KNOWN_PLAIN", KnownPlainImports())
    unknown = extract_source_facts(source, module="pkg.mod", is_package=False, path="pkg/mod.py")
    _teach_plain_lines(text)
    known = extract_source_facts(source, module="pkg.mod", is_package=False, path="pkg/mod.py")
    assert known == unknown == _whole(source, monkeypatch)
    assert known.fact_digest == unknown.fact_digest


def test_a_memo_cleared_while_a_file_is_read_keeps_the_parts_of_its_left_out_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose new plain line fills the memo (it is cleared) still places the lines it left
    out, whose parts were taken first (not an internal error: KeyError)."""
    memo = KnownPlainImports(limit=2)
    monkeypatch.setattr(imports, "KNOWN_PLAIN", memo)
    extract_source_facts(b"import os\nimport sys\n", module="pkg.a", is_package=False, path="pkg/a.py")  # full
    source = b"import os\nimport json\n"
    assert fact_fragment(source.decode(), memo.__contains__) is not None
    facts = extract_source_facts(source, module="pkg.mod", is_package=False, path="pkg/mod.py")
    assert facts.error is None
    assert facts == _whole(source, monkeypatch)
    assert [site.module for site in facts.imports] == ["os", "json"]
