"""_statements.py: a module-level statement libcst parsed in one file is taken, not parsed, in the
next; the module is the fragment's text character for character, and the facts are the same."""

from __future__ import annotations

from itertools import pairwise

import libcst as cst
import pytest
from fragment_cases import CASES, CONTINUATION_CASES

from envcapture.analysis import _statements, imports
from envcapture.analysis._fragment import fact_fragment
from envcapture.analysis._statements import KnownStatements, parse_fragment
from envcapture.analysis.imports import extract_source_facts, parse_module
from envcapture.analysis.model import SourceFacts

GUARDS = """\
try:
    import apex
except ImportError:  # optional accelerator
    apex = None
if TYPE_CHECKING:
    from collections.abc import Iterable
"""


class CountingParse:
    """libcst's parse, counting the texts it was given."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, text: str) -> cst.Module:
        self.texts.append(text)
        return parse_module(text)


def _module(source: str, known: KnownStatements) -> tuple[cst.Module, CountingParse, str]:
    fragment = fact_fragment(source)
    assert fragment is not None
    parse = CountingParse()
    return parse_fragment(fragment, parse, known), parse, fragment.text


def _facts(source: str, path: str = "pkg/mod.py") -> SourceFacts:
    return extract_source_facts(source.encode("utf-8", "surrogatepass"), module="pkg.mod", is_package=False, path=path)


def test_a_statement_parsed_in_one_file_is_taken_in_the_next() -> None:
    known = KnownStatements()
    first, parse, text = _module("import os\n" + GUARDS + "x = os.getcwd()\n", known)
    assert first.code == text and parse.texts == [text]
    assert len(known) == 3  # the import, the try, the if (the call holds no fact)
    second, parse, text = _module("import sys\n\n" + GUARDS + "print(1)\n", known)
    assert second.code == text
    assert parse.texts == ["import sys\n"]  # the try and the if were known
    assert second.body[1] is first.body[1] and second.body[2] is first.body[2]


def test_everything_known_parses_nothing_but_an_empty_module() -> None:
    known = KnownStatements()
    _module(GUARDS, known)
    module, parse, text = _module(GUARDS, known)
    assert parse.texts == [""]
    assert module.code == text


def test_another_default_indentation_parses_the_whole_fragment() -> None:
    """A block indented as its module's default keeps no indentation of its own: taken into a
    module of another default, its code would change. Then the fragment is parsed whole."""
    known = KnownStatements()
    _module(GUARDS, known)  # four spaces
    source = "if os:\n  import sys\n" + GUARDS  # the module's default: two spaces
    module, parse, text = _module(source, known)
    assert module.code == text
    assert parse.texts[-1] == text


def test_another_newline_parses_the_whole_fragment() -> None:
    known = KnownStatements()
    _module(GUARDS, known)
    source = "import sys\r\n" + GUARDS  # the module's default newline: \r\n
    module, _parse, text = _module(source, known)
    assert module.code == text


def test_a_statement_twice_in_a_file_is_two_nodes_at_their_own_lines() -> None:
    """A node object appears once in a tree: the extraction keys what it learns by ``id``."""
    known = KnownStatements()
    _module(GUARDS, known)
    source = GUARDS + "import os\n" + GUARDS
    module, parse, text = _module(source, known)
    assert module.code == text
    assert len({id(statement) for statement in module.body}) == len(module.body) == 5
    assert parse.texts == [text[text.index("import os") :]]  # the first copies were known


def test_facts_of_a_file_whose_guards_are_known_are_those_read_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    source = "import os\n" + GUARDS + "import json\n" + GUARDS
    monkeypatch.setattr(imports, "KNOWN_STATEMENTS", KnownStatements())
    alone = _facts(source)
    _facts("import sys\n" + GUARDS, path="pkg/other.py")  # learns the guards
    again = _facts(source)
    assert again == alone
    assert [(site.module, site.line, site.optional) for site in again.imports if site.module == "apex"] == [
        ("apex", 3, True),
        ("apex", 10, True),
    ]


@pytest.mark.parametrize("first", [True, False])
def test_a_decorated_def_cut_to_its_body_is_a_statement_of_its_own(first: bool) -> None:
    """Its stand-in (``def _():``) starts at the ``def`` line, not at the decorator's: a
    statement still, the others are taken (not merged with it into one unknown text, nor, when
    it comes first, the whole fragment parsed)."""
    known = KnownStatements()
    _module(GUARDS, known)
    fixture = "@pytest.fixture(scope='session')\ndef data():\n    import numpy\n"
    source = fixture + GUARDS if first else GUARDS + fixture
    module, parse, text = _module(source, known)
    assert module.code == text and len(module.body) == 3
    assert parse.texts == ["def _():\n    import numpy\n"]
    assert "def _():\n    import numpy\n" in known


def test_a_statement_continued_to_its_end_parses_the_whole_fragment() -> None:
    """``import os; \\`` and a blank line: parsed last in another text, the continuation would
    run into its end (libcst refuses it); such a fragment is not cut into statements."""
    known = KnownStatements()
    source = "import os; \\\n\nimport sys\n"
    _module(source, known)
    assert not known
    module, parse, text = _module(source, known)
    assert module.code == text and parse.texts == [text]


def test_the_memory_is_bounded_in_characters_and_long_statements_are_not_kept() -> None:
    known = KnownStatements(limit=40)  # two of the 19-character statements below
    _module("if a:\n    import b\nif c:\n    import d\nif e:\n    import f\n", known)
    assert list(known) == ["if e:\n    import f\n"] and known.used == 19  # cleared for the third
    long_statement = "if a:\n    import b\n" + "".join(f"    import x{i}\n" for i in range(300))
    known = KnownStatements()
    fragment = fact_fragment(long_statement)
    assert fragment is not None and len(fragment.text) > _statements._LONGEST
    parse_fragment(fragment, parse_module, known)
    assert not known


@pytest.mark.parametrize("name", sorted({**CASES, **CONTINUATION_CASES}))
def test_the_review_cases_give_the_same_module_and_facts_with_their_statements_known(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each review case read with nothing known, then with every statement known (from itself,
    and from a file holding its statements in reverse order): the same facts, and a module whose
    code is the fragment's text."""
    text = {**CASES, **CONTINUATION_CASES}[name]
    fresh = KnownStatements()
    monkeypatch.setattr(imports, "KNOWN_STATEMENTS", fresh)
    unknown = _facts(text)
    known = _facts(text)
    assert known == unknown
    fragment = fact_fragment(text)
    if fragment is None:
        return  # CPython refuses it: libcst parses the whole file
    try:
        parse_module(fragment.text)
    except cst.ParserSyntaxError:
        return  # nor does libcst parse the fragment: the whole file is
    assert parse_fragment(fragment, parse_module, fresh).code == fragment.text
    bounds = (*fragment.tops, len(fragment.text))
    reversed_text = "".join(reversed([fragment.text[a:b] for a, b in pairwise(bounds)]))
    taught = KnownStatements()
    monkeypatch.setattr(imports, "KNOWN_STATEMENTS", taught)
    _facts(reversed_text, path="pkg/other.py")  # never raises: an invalid text is an error of its facts
    assert parse_fragment(fragment, parse_module, taught).code == fragment.text
    assert _facts(text) == unknown
