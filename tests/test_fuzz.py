"""Issue 16 item 9: a bounded fuzz suite. Configs, ``cmd``, requirements files and Python
sources built from their grammars (and raw bytes) must end in a result or one clean error
line: never a traceback, an internal error (exit 4) or the death of the process.

About 400 examples in all (``derandomize``: the same inputs on every run, so CI is
stable and fast); the CLI runs in-process through click's CliRunner, and a handful of
examples run in a real subprocess so that a native crash (SIGSEGV) shows as one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envcapture.analysis.imports import extract_source_facts
from envcapture.cli import cli
from envcapture.errors import EnvcaptureError, RequirementsError
from envcapture.resolution.requirements import parse_requirements_file
from envcapture.runtime.run import command_argv

BOUNDED = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

# --- grammars ------------------------------------------------------------------------------------

_ODD = ["", ".", "..", "../x", "/etc/passwd", "a/../../b", "~", "\x00", "\ud7ff", "😀", "a\nb", "${X}", "$(id)", "-", "*", " "]
_text = st.one_of(st.sampled_from(_ODD), st.text(max_size=12), st.from_regex(r"[a-z_./-]{1,10}", fullmatch=True))
_scalar = st.one_of(_text, st.integers(-3, 10**6), st.booleans(), st.none(), st.floats(allow_nan=True))
_VARS = st.sampled_from(["P", "MODEL", "X", "x-y", "1A", "", "PATH", "API_TOKEN"])


def _entry(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        values, st.dictionaries(values.map(str), st.one_of(_VARS, st.fixed_dictionaries({"var": _VARS})), max_size=2)
    )


_cmd = st.one_of(
    st.lists(
        st.one_of(
            st.sampled_from(["python", "python3", "main.py", "-m", "pkg", "&&", "|", ";", ">", "2>&1", "\\\n", "#", "'", '"',
                             "${P}", "${MODEL}", "$HOME", "deepspeed", "torchrun", "--x=1", "A=b", "\n", "  ", "sh -c", "`id`"]),
            _text,
        ),
        max_size=8,
    ).map(" ".join),
    st.text(max_size=40),
)  # fmt: skip

_python = st.one_of(
    st.sampled_from(["auto", "manual", None, 3, "x"]),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["auto", "manual", "x"])},
        optional={
            "version": st.one_of(st.sampled_from(["3.11", "3.10.13", "2.7", "4", "x"]), _scalar),
            "requirements-file": st.one_of(st.sampled_from(["requirements.txt", "/dev/zero", "fifo.txt", "missing.txt"]), _text),
            "root-paths": st.lists(_text, max_size=3),
            "local-paths": st.lists(_text, max_size=3),
            "pip": st.dictionaries(st.sampled_from(["index-url", "extra-index-urls", "trusted-hosts", "no-deps", "x"]), _scalar, max_size=3),
        },
    ),
)  # fmt: skip

_config = st.fixed_dictionaries(
    {"cmd": _cmd},
    optional={
        "name": _text,
        "desc": _scalar,
        "inputs": st.lists(_entry(st.one_of(st.sampled_from(["main.py", "data/", "requirements.txt"]), _text)), max_size=3),
        "outputs": st.lists(_entry(st.one_of(st.sampled_from(["out.bin", "../../x/evil.bin", "/abs/o.bin"]), _text)), max_size=3),
        "env": st.fixed_dictionaries(
            {},
            optional={
                "vars": st.lists(st.one_of(_VARS, st.dictionaries(_VARS, _scalar, max_size=1)), max_size=3),
                "python": _python,
                "docker": _scalar,
            },
        ),
        "graceful-shutdown": st.one_of(
            _scalar,
            st.fixed_dictionaries({}, optional={"signal": st.sampled_from(["SIGTERM", "SIGINT", "KILL", "x", 9]), "timeout": _scalar}),
        ),
        "s3-mounts": st.lists(_scalar, max_size=3),
        "datasets": st.lists(_entry(_text), max_size=2),
        "flags": st.lists(_text, max_size=2),
        "cloud-instance-types": st.lists(_text, max_size=2),
    },
)  # fmt: skip

_req_line = st.one_of(
    st.sampled_from([
        "requests", "numpy==1.26.4", "torch>=2; python_version>'3.8'", "pkg[extra]==1", "-e .", "-e git+https://x/y#egg=z",
        "--index-url https://example.invalid/simple", "--hash=sha256:" + "a" * 64, "-r other.txt", "-c other.txt",
        "-r /dev/zero", "-r fifo.txt", "-r /dev/stdin", "-r missing.txt", "-r .", "-r req.txt", "${HOME}/x.whl",
        "./local.whl", "file:///etc/passwd", "https://x/y.whl#sha256=00", "\x00", "a\x00b", "\\", "# comment", "\ufeffx",
        "--pre", "--no-index", "-f ./wheels", "x @ https://example.invalid/x.whl", "[", "==1", ";", "-", "--", "-r",
    ]),
    _text,
)  # fmt: skip

_SOURCE_TOKENS = [
    "import os", "import a.b as c", "from . import x", "from .. import y", "from x import *", "__import__('z')",
    "importlib.import_module('q')", "if __name__ == '__main__':", "sys.path.insert(0, 'lib')", "try:", "except ImportError:",
    "def f():", "class C:", "lambda: ", "(", ")", "[", "]", "{", "}", "'''", '"', "'", "\\", "#", "\n", "    ", "\t",
    "async def g():", "await", "match x:", "case 1:", "type T = int", "f'{x}'", "@d", ":", ",", "=", "not ", "-", "**",
    "\x00", "\ufeff", "# -*- coding: latin-1 -*-", "# coding: nope", "\r", "yield", "global x", "x: int = 1", "...",
]  # fmt: skip
_source = st.one_of(
    st.lists(st.sampled_from(_SOURCE_TOKENS), max_size=40).map(" ".join),
    st.lists(st.sampled_from(_SOURCE_TOKENS), max_size=40).map("".join),
    st.builds(lambda n, t: "import os\n" + t * n, st.integers(0, 3000), st.sampled_from(["lambda: ", "(", "-", "not ", "[a", " if 1 else "])),
    st.binary(max_size=200),
)  # fmt: skip


def _clean(result: Any) -> None:
    """A CliRunner result: no traceback, no internal error, no uncaught exception."""
    text = (result.stdout or "") + (result.stderr or "")
    assert result.exit_code != 4, text
    assert "Traceback" not in text and "internal error" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-project")
    (root / "main.py").write_text("import os\nif __name__ == '__main__':\n    print(os.name)\n")
    (root / "requirements.txt").write_text("requests\n")
    (root / "data").mkdir()
    (root / "data" / "a.txt").write_text("a\n")
    (root / "data" / ".env").write_text("SECRET=1\n")
    os.mkfifo(root / "fifo.txt")
    return root


def _dump(doc: Any) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return "cmd: python main.py\n"


# --- configs and cmd -----------------------------------------------------------------------------


@BOUNDED
@given(doc=_config)
def test_config_check_never_crashes(project: Path, doc: dict[str, Any]) -> None:
    (project / "config.yaml").write_text(_dump(doc), encoding="utf-8", errors="surrogatepass")
    result = CliRunner().invoke(cli, ["config", "check", str(project / "config.yaml")])
    _clean(result)
    assert result.exit_code in (0, 2)


@settings(BOUNDED, max_examples=40)
@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_config_check_on_raw_bytes(project: Path, raw: bytes | str) -> None:
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    (project / "config.yaml").write_bytes(data)
    result = CliRunner().invoke(cli, ["config", "check", str(project / "config.yaml")])
    _clean(result)
    assert result.exit_code in (0, 2)


@BOUNDED
@given(cmd=_cmd, values=st.dictionaries(_VARS, _text, max_size=3))
def test_command_argv_never_crashes(cmd: str, values: dict[str, str]) -> None:
    try:
        argv, shell = command_argv(cmd, values)
    except EnvcaptureError:
        return
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    # several command lines (cmd: |) run with sh -e: every line, stopping at the first failure
    assert not shell or argv[:2] == ["/bin/sh", "-c"] or argv[:3] == ["/bin/sh", "-e", "-c"]


# --- requirements files ----------------------------------------------------------------------------


@BOUNDED
@given(lines=st.lists(_req_line, max_size=6), include=st.lists(_req_line, max_size=3))
def test_requirements_never_crash_or_block(project: Path, lines: list[str], include: list[str]) -> None:
    for name, body in (("req.txt", lines), ("other.txt", include)):
        (project / name).write_text("\n".join(body) + "\n", encoding="utf-8", errors="surrogatepass")
    try:
        parse_requirements_file("req.txt", root=project, environ={"HOME": "/home/u"})
    except RequirementsError as exc:
        assert "\n" not in str(exc).strip()


# --- Python sources --------------------------------------------------------------------------------


@BOUNDED
@given(source=_source)
def test_source_facts_never_raise(source: str | bytes) -> None:
    facts = extract_source_facts(source, module="__main__", is_package=False, path="fuzz.py")
    if facts.error is not None:
        assert facts.error.code in {"parse-error", "too-deeply-nested", "binary-file", "decode-error", "internal-error"}
        assert facts.error.code != "internal-error", facts.error.message


# --- a handful in real processes: a native crash is a signal death, not a pass ----------------------


@settings(BOUNDED, max_examples=6)
@given(source=_source)
def test_source_facts_in_a_subprocess(tmp_path_factory: pytest.TempPathFactory, source: str | bytes) -> None:
    data = source if isinstance(source, bytes) else source.encode("utf-8", "surrogatepass")
    path = tmp_path_factory.mktemp("src") / "fuzz.py"
    path.write_bytes(data)
    code = (
        "import sys; from envcapture.analysis.imports import extract_source_facts as f; "
        "f(open(sys.argv[1], 'rb').read(), module='__main__', is_package=False, path='fuzz.py')"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])


@settings(BOUNDED, max_examples=4)
@given(doc=_config)
def test_config_check_in_a_subprocess(tmp_path_factory: pytest.TempPathFactory, doc: dict[str, Any]) -> None:
    root = tmp_path_factory.mktemp("cfg")
    (root / "main.py").write_text("import os\n")
    (root / "config.yaml").write_text(_dump(doc), encoding="utf-8", errors="surrogatepass")
    done = subprocess.run(
        [sys.executable, "-m", "envcapture.cli", "config", "check", str(root / "config.yaml")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 2), (done.returncode, done.stderr[-500:])
    assert "Traceback" not in done.stderr
