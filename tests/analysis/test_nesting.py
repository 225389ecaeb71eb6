"""The parse guard (`envcapture.analysis.nesting`): deep sources are a diagnostic, never a crash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from envcapture.analysis.imports import extract_source_facts
from envcapture.analysis.nesting import nesting_problem

N = 20_000

DEEP = {
    "lambda": ("f = " + "lambda: " * N + "1", "expression deeper than 1000 levels"),
    "lambda-params": ("f = " + "lambda a=1, b=2: " * N + "1", "expression deeper than 1000 levels"),
    "lambda-in-brackets": ("f = (" + "lambda: " * N + "1)", "expression deeper than 1000 levels"),
    "lambda-defaults": ("f = " + "lambda a=" * N + "1" + ": 0" * N, "expression deeper than 1000 levels"),
    "not": ("x = " + "not " * N + "1", "expression deeper than 1000 levels"),
    "unary": ("x = " + "-" * N + "1", "expression deeper than 1000 levels"),
    "ternary": ("x = " + "1 if 1 else " * N + "1", "expression deeper than 1000 levels"),
    "attribute": ("x = a" + ".a" * N, "expression deeper than 1000 levels"),
    "call": ("x = a" + "()" * N, "expression deeper than 1000 levels"),
    "subscript": ("x = a" + "[a" * N + "]" * N, "brackets nested deeper than 200 levels"),
    "blocks": ("".join(" " * i + "if 1:\n" for i in range(300)) + " " * 300 + "pass", "blocks nested deeper than 100 levels"),
}


@pytest.mark.parametrize("name", sorted(DEEP))
def test_deep_source_is_a_per_file_diagnostic(name: str) -> None:
    body, message = DEEP[name]
    facts = extract_source_facts(("import os\n" + body + "\n").encode(), module="__main__", is_package=False, path="deep.py")
    assert facts.error is not None
    assert (facts.error.code, facts.error.file, facts.error.message) == ("too-deeply-nested", "deep.py", message)


@pytest.mark.parametrize(
    "body",
    [
        "f = [" + ", ".join(["lambda: 1"] * 5000) + "]",  # many lambdas side by side are flat
        "g = lambda x, y=2: x + y\n" * 2000,
        "d = {" + ", ".join(f"'k{i}': lambda: {i}" for i in range(3000)) + "}",
        "".join(" " * i + "if 1:\n" for i in range(60)) + " " * 60 + "pass",
        "x = 1; " * N,
        "@a\n" * 3000 + "def f(): pass",
        "s = 'lambda: ' * 5000 + '((((((('",  # inside a string
        "# " + "lambda: " * N,  # inside a comment
    ],
    ids=["lambda-list", "lambda-lines", "lambda-dict", "blocks-60", "semicolons", "decorators", "string", "comment"],
)
def test_wide_source_passes(body: str) -> None:
    assert nesting_problem("import os\n" + body + "\n") is None


def test_twenty_thousand_lambdas_do_not_kill_the_process(tmp_path: Path) -> None:
    # issue 16: this file segfaulted libcst (exit 139) and 5,000 levels took 4.7 GB
    source = tmp_path / "deep.py"
    source.write_text("import os\nf = " + "lambda: " * N + "1\n")
    code = (
        "import sys; from envcapture.analysis.imports import extract_source_facts as f; "
        "r = f(open(sys.argv[1], 'rb').read(), module='__main__', is_package=False, path='deep.py'); "
        "print(r.error.code, r.error.line, r.error.message)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(source)], capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "too-deeply-nested 2 expression deeper than 1000 levels")
