"""Entry points: a job's ``cmd`` text and ``root-paths`` -> tuple[EntryPoint]; pure, runs nothing.

The ``cmd`` grammar accepted (EBNF-ish; words are split by `shlex`, POSIX rules)::

    cmd      = list ;   (* as in sh: a newline outside quotes separates commands (a folded
                           YAML string is one line: the config loader folds it), backslash-
                           newline joins lines, "#" at the start of a word comments out the
                           rest of its line *)
    list     = pipeline { ( "&&" | "||" | ";" | "&" ) pipeline } ;
    pipeline = command { ( "|" | "|&" ) command } ;
    command  = "(" list ")" | simple ;        (* a cd inside ( ) does not leak out *)
    simple   = { keyword } { NAME "=" word } [ run ] ;
             (* redirections are dropped: [digits] ( "<" | ">" | ">>" | ">&" | "&>" ... ) word *)
    run      = python { py-opt } ( script | "-m" module | "-c" code | "-" | ε ) { arg }
             | launcher { opt } ( script | module-flag module | no-python-flag run ) { arg }
             | wrapper { opt } { positional } run    (* env, nohup, time, nice, exec, timeout,
                                                        stdbuf, mpirun, horovodrun, srun ... *)
             | shell { shell-opt } ( "-c" string | file { arg } )  (* string: a cmd again *)
             | "eval" { word } | "cd" dir | "export" { NAME "=" word }
             | path ".py" { arg }                    (* run through its shebang line *)
             | path { arg }       (* a project file whose shebang runs Python: a script *)
             | other { word } ;                      (* a plain program: no Python *)
    python   = [ dir "/" ] ( "python" | "python3" | "python3." digits ) ;
    py-opt   = "-" { "bBdEiIOqsSuvx" } [ ( "W" | "X" | "c" | "m" ) [ value ] ]
             | "--check-hash-based-pycs" mode | "--" ;
    launcher = "torchrun" | "deepspeed" | "accelerate launch" | "uv run"
             | python "-m" ( "torch.distributed.run" | "torch.distributed.launch"
                           | "accelerate.commands.launch" | "deepspeed.launcher.runner"
                           | "cProfile" | "profile" | "pdb" ) ;

Launchers and wrappers are rows of `_COMMANDS`, saying which options take values (an option
written ``--opt=value`` never takes the next word; ``--num_gpus`` equals ``--num-gpus``).
After an unknown option a launcher's script is the first later word ending in ``.py`` (else
the entry is undecided), and a wrapper's command the first later word that runs Python.
A ``.py`` argument of a Python program is an entry point too when it is in ``project_files``;
any argument in ``project_files`` is a named file (`CommandAnalysis.named_files`);
a command word with a ``/`` naming one of ``python_scripts`` (extension-less files whose
``#!`` line runs Python) is a script.
Script paths are joined with ``cd`` targets and normalized (``./a.py`` -> ``a.py``), so are
``PYTHONPATH`` entries; a script outside the project is reported, not returned.
Diagnostic codes: ``undecided-entry-point`` and ``entry-point-outside-project`` (warnings),
``inline-code`` and ``unanalysed-script`` (info); each names ``env.python.root-paths``.
Not understood: quoted operators (``"&&"`` acts as an operator), ``$( )`` bodies (analysed as
commands of their own), here-documents, functions and loops.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Container, Sequence
from dataclasses import dataclass, replace

from envcapture.analysis._launchers import _COMMANDS, _MODULE_LAUNCHERS, LAUNCHER_DISTRIBUTIONS, _Spec
from envcapture.analysis.model import EntryKind, EntryPoint
from envcapture.errors import CommandError, ConfigError, Location
from envcapture.model import Diagnostic, Severity

__all__ = [
    "LAUNCHER_DISTRIBUTIONS",
    "CommandAnalysis",
    "entry_points_from_root_paths",
    "find_entry_points",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandAnalysis:
    """What a ``cmd`` runs.

    ``is_python`` is false for a plain job (``./run.sh``, a binary): only inputs travel.
    ``pythonpath`` holds the ``PYTHONPATH`` entries of the commands, in order, relative to
    the job's working directory unless absolute.
    """

    entry_points: tuple[EntryPoint, ...]
    is_python: bool
    diagnostics: tuple[Diagnostic, ...]
    pythonpath: tuple[str, ...]
    named_files: tuple[str, ...] = ()  # project files that arguments name: --cfg models/x.yaml, config/train_x.py


_ROOT_HINT = "list it in env.python.root-paths"
_MAX_DEPTH = 24  # nested shells, subshells and wrappers; beyond that the text is adversarial
_PYTHON = re.compile(r"python(3(\.\d+)?)?")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_KEYWORDS = frozenset(["!", "{", "}", "if", "then", "elif", "else", "fi", "do", "done", "while", "until"])
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh"})
_SHELL_VALUE_OPTS = frozenset({"--rcfile", "--init-file"})
_PY_STOP = frozenset(["-h", "-?", "--help", "-V", "--version", "--help-env", "--help-xoptions", "--help-all"])
# `python -m X` where X only manages the environment or prints: nothing of the job runs.
_TOOL_MODULES = frozenset(
    [
        "pip",
        "ensurepip",
        "venv",
        "virtualenv",
        "http.server",
        "json.tool",
        "pydoc",
        "timeit",
        "zipfile",
        "tarfile",
        "compileall",
        "py_compile",
        "site",
        "sysconfig",
        "platform",
        "calendar",
        "base64",
        "gzip",
        "uuid",
        "webbrowser",
        "tokenize",
        "dis",
        "tabnanny",
        "pickletools",
        "zipapp",
        "mimetypes",
        "sqlite3",
    ]
)
# Punctuation runs from shlex are re-split here: it groups "&&(" into one token.
_OPERATORS = sorted(
    ["&>>", "<<<", "&&", "||", ";;", ";&", "|&", "&>", ">>", ">&", "<&", ">|", "<>", "<<", ";", "&", "|", "(", ")", "<", ">"],
    key=len,
    reverse=True,
)
_REDIRECTS = frozenset(["&>>", "<<<", "&>", ">>", ">&", "<&", ">|", "<>", "<<", "<", ">"])
_PUNCT = frozenset("();<>|&")


@dataclass(frozen=True, slots=True)
class _Op:
    """A shell operator token, as opposed to a word."""

    text: str


@dataclass(frozen=True, slots=True)
class _Ctx:
    """The shell state a command runs in."""

    cwd: str | None = "."  # project-relative; None when set by an undecidable `cd`
    cd_word: str = ""  # the `cd` argument that made cwd unknown
    pythonpath: tuple[str, ...] = ()  # raw entries, resolved against cwd when a command runs
    launcher: str | None = None
    depth: int = 0


def _one_line(words: Sequence[str], limit: int = 70) -> str:
    text = " ".join(" ".join(words).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _prepare(text: str, what: str) -> str:
    """Drop comments and backslash-newlines the way sh does; raise on an unclosed quote."""
    out: list[str] = []
    i, n, quote, opened, word_start = 0, len(text), "", 0, True
    while i < n:
        ch = text[i]
        if quote == "'":
            quote = "" if ch == "'" else quote
        elif ch == "\\":
            if i + 1 >= n:
                raise CommandError(f"{what or 'the command'} ends with a lone backslash", location=Location(key="cmd"))
            if text[i + 1] != "\n":  # backslash-newline joins two lines (also inside "...")
                out.append(text[i : i + 2])
                word_start = False
            i += 2
            continue
        elif quote == '"':
            quote = "" if ch == '"' else quote
        elif ch in "'\"":
            quote, opened = ch, i
        elif ch == "#" and word_start:  # sh: '#' starts a comment only at the start of a word
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif ch == "\n":  # sh: a newline outside quotes ends the command, as ';' does
            out.append(" ; ")
            word_start = True
            i += 1
            continue
        out.append(ch)
        word_start = not quote and (ch in " \t\r\n" or ch in _PUNCT)
        i += 1
    if quote:
        line = text.count("\n", 0, opened) + 1
        col = opened - (text.rfind("\n", 0, opened) + 1) + 1
        near = " ".join(text[opened : opened + 24].split())
        raise CommandError(
            f"unbalanced quote{' in ' + what if what else ''}: the {quote} at line {line}, "
            f"column {col} is never closed (near {near!r})",
            location=Location(key="cmd"),
        )
    return "".join(out)


def _tokenize(text: str, what: str) -> list[str | _Op]:
    lexer = shlex.shlex(_prepare(text, what), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # handled by _prepare: '#' inside a word is not a comment in sh
    try:
        raw = list(lexer)
    except ValueError as exc:  # _prepare has caught what shlex rejects; kept as a safety net
        raise CommandError(f"cannot split {what or 'the command'}: {exc}", location=Location(key="cmd")) from exc
    tokens: list[str | _Op] = []
    for tok in raw:
        if not tok or not set(tok) <= _PUNCT:
            tokens.append(tok)
            continue
        while tok:
            op = next(o for o in _OPERATORS if tok.startswith(o))
            tokens.append(_Op(op))
            tok = tok[len(op) :]
    return tokens


def _norm(cwd: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(cwd, path))


def _names_project_file(value: str, target: str) -> bool:
    """Whether an argument may name a project file: not an option, not a path out of the project."""
    return not value.startswith("-") and not target.startswith(("/", "../")) and target not in (".", "..")


def _is_dynamic(word: str) -> bool:
    """A word whose value only the shell knows: a variable, a glob, ``~``, a substitution."""
    return word == "" or any(c in word for c in "$`*?[") or word.startswith("~")


def _split_option(word: str) -> tuple[str, bool]:
    """``--num_gpus=2`` -> (``--num-gpus``, True): the name to look up, and an attached value."""
    if word.startswith("--"):
        name, eq, _ = word.partition("=")
        return name.replace("_", "-"), bool(eq)
    return word, False


class _Analyzer:
    """Walks the token list once, collecting entry points and diagnostics."""

    def __init__(self, project_files: Container[str], source: str, python_scripts: Container[str] = frozenset()) -> None:
        self.project_files = project_files
        self.python_scripts = python_scripts
        self.source = source
        self.entries: dict[tuple[EntryKind, str], EntryPoint] = {}
        self.diagnostics: dict[Diagnostic, None] = {}
        self.pythonpath: dict[str, None] = {}
        self.named_files: dict[str, None] = {}
        self.is_python = False
        self.commands = 0

    def diagnose(self, code: str, message: str, severity: Severity = Severity.WARNING) -> None:
        self.diagnostics[Diagnostic(file=None, line=None, code=code, message=message, severity=severity)] = None

    def undecided(self, message: str) -> None:
        self.diagnose("undecided-entry-point", f"{message}; {_ROOT_HINT}")

    def add(self, kind: EntryKind, target: str, ctx: _Ctx, interpreter: str | None = None, launcher: str | None = None) -> None:
        self.is_python = True
        pythonpath = self.resolve_pythonpath(ctx)
        entry = EntryPoint(
            kind=kind, target=target, source=self.source, launcher=launcher, interpreter=interpreter, pythonpath=pythonpath
        )
        self.entries.setdefault((kind, target), entry)

    def resolve_pythonpath(self, ctx: _Ctx) -> tuple[str, ...]:
        out = []
        for raw in ctx.pythonpath:
            fixed = raw.startswith(("/", "$", "~")) or ctx.cwd is None
            out.append(raw if fixed else _norm(ctx.cwd or ".", raw))
        return tuple(dict.fromkeys(out))

    # --- lists, pipelines, subshells ---------------------------------------------------

    def run(self, tokens: Sequence[str | _Op], ctx: _Ctx) -> None:
        if ctx.depth > _MAX_DEPTH:
            self.commands += 1  # something is there, it is just not analysed
            self.undecided(f"the command nests more than {_MAX_DEPTH} levels deep and is not analysed further")
            return
        words: list[str] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if isinstance(tok, str):
                words.append(tok)
            elif tok.text in _REDIRECTS:
                # shlex loses adjacency, so "2>&1" arrives as "2", ">&", "1": drop the fd
                # number (a digits-only word never names a script) and the redirect target.
                if words and words[-1].isdigit():
                    words.pop()
                i += 1
            else:
                ctx = self.simple(words, ctx)
                words = []
                if tok.text == "(":
                    end, level = i + 1, 1
                    while end < len(tokens) and level:
                        inner = tokens[end]
                        if isinstance(inner, _Op):
                            level += {"(": 1, ")": -1}.get(inner.text, 0)
                        end += 1
                    body = tokens[i + 1 : end - 1 if level == 0 else end]
                    self.run(body, replace(ctx, depth=ctx.depth + 1))
                    i = end
                    continue
            i += 1
        self.simple(words, ctx)

    # --- one simple command -------------------------------------------------------------

    def simple(self, words: Sequence[str], ctx: _Ctx) -> _Ctx:
        """Analyse one command; returns the shell state for the commands after it."""
        if ctx.depth > _MAX_DEPTH:
            self.commands += 1
            self.undecided(f"`{_one_line(words)}` nests more than {_MAX_DEPTH} levels deep")
            return ctx
        i = 0
        while i < len(words) and words[i] in _KEYWORDS:
            i += 1
        own = ctx
        while i < len(words) and _ASSIGNMENT.match(words[i]):
            name, _, value = words[i].partition("=")
            if name == "PYTHONPATH":
                own = replace(own, pythonpath=self.split_pythonpath(value, ctx.pythonpath))
            i += 1
        words = words[i:]
        if not words:
            return ctx  # assignments alone set shell variables, not exported ones
        self.commands += 1
        head, args = words[0], words[1:]
        name = posixpath.basename(head)
        if name in ("cd", "pushd", "popd"):
            return self.change_dir(ctx, args[0] if args and name != "popd" else "")
        if name == "export":
            for arg in args:
                if arg.startswith("PYTHONPATH="):
                    ctx = replace(ctx, pythonpath=self.split_pythonpath(arg[11:], ctx.pythonpath))
            return ctx
        self.pythonpath.update(dict.fromkeys(self.resolve_pythonpath(own)))
        deeper = replace(own, depth=own.depth + 1)
        here = _norm(ctx.cwd or ".", head)  # the project file a path-like command word names
        if name == "eval":
            self.run(_tokenize(" ".join(args), "the eval string"), deeper)
        elif _PYTHON.fullmatch(name):
            self.python(head, args, own)
        elif args and f"{name} {args[0]}" in _COMMANDS:
            self.launch(_COMMANDS[f"{name} {args[0]}"], words[:2], args[1:], deeper)
        elif name in _COMMANDS:
            self.launch(_COMMANDS[name], words[:1], args, deeper)
        elif name in _SHELLS:
            self.shell(head, args, deeper)
        elif "$" in head or "`" in head:  # ${PYTHON} main.py
            if any(a.endswith(".py") or a == "-m" for a in args):
                self.undecided(f"`{_one_line(words)}` runs a program named by a variable")
        elif head.endswith(".py") and ("/" in head or here in self.project_files):
            self.script(head, args, own, None, own.launcher)  # executed through its shebang line
        elif "/" in head and here in self.python_scripts:
            self.script(head, args, own, None, own.launcher)  # no .py, but its #! line runs Python
        elif head.endswith((".sh", ".bash")) or ("/" in head and here in self.project_files):
            self.diagnose(
                "unanalysed-script",
                f"{_one_line([head])} is a script whose contents "
                "are not analysed; list the Python entry points it runs in "
                "env.python.root-paths",
                Severity.INFO,
            )
        return ctx

    def split_pythonpath(self, value: str, inherited: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for part in value.split(":"):
            if part in ("$PYTHONPATH", "${PYTHONPATH}"):
                out.extend(inherited)  # PYTHONPATH=src:$PYTHONPATH keeps what was exported
            elif part:
                out.append(part)
        return tuple(out)

    def change_dir(self, ctx: _Ctx, target: str) -> _Ctx:
        if ctx.cwd is None or _is_dynamic(target) or target.startswith(("/", "-")):
            return replace(ctx, cwd=None, cd_word=ctx.cd_word if ctx.cwd is None else target or "~")
        return replace(ctx, cwd=_norm(ctx.cwd, target))

    # --- Python, launchers, shells -------------------------------------------------------

    def python(self, interpreter: str, args: Sequence[str], ctx: _Ctx) -> None:
        """``python [options] (script | -m module | -c code | -) [args]``."""
        self.is_python = True
        i = 0
        while i < len(args):
            word = args[i]
            if word == "--":
                i += 1
                break
            if word == "-" or not word.startswith("-"):
                break
            if word.partition("=")[0] in _PY_STOP:
                return
            if word.startswith("--"):
                i += 2 if word == "--check-hash-based-pycs" else 1
                continue
            i += 1
            for j, letter in enumerate(word[1:], start=2):
                if letter in "hV?":
                    return
                if letter not in "cmWX":
                    continue  # a flag, or an unknown letter python itself will reject
                value = word[j:]
                if not value and i < len(args):
                    value, i = args[i], i + 1
                if letter == "c":
                    what = "inline code (python -c)"
                    return self.inline([interpreter, *args], what, args[i:], ctx)
                if letter == "m":
                    return self.module(value, args[i:], ctx, interpreter, ctx.launcher)
                break
        if i >= len(args):
            return self.inline([interpreter, *args], "an interactive interpreter", (), ctx)
        if args[i] == "-":
            return self.inline([interpreter, *args], "code read from stdin", args[i + 1 :], ctx)
        self.script(args[i], args[i + 1 :], ctx, interpreter, ctx.launcher)

    def inline(self, words: Sequence[str], what: str, args: Sequence[str], ctx: _Ctx) -> None:
        self.diagnose(
            "inline-code",
            f"`{_one_line(words)}` runs {what}, which is not analysed; list the files it runs in env.python.root-paths",
            Severity.INFO,
        )
        self.scan_args(args, ctx)

    def script(
        self, word: str, args: Sequence[str], ctx: _Ctx, interpreter: str | None = None, launcher: str | None = None
    ) -> None:
        self.is_python = True
        shown = _one_line([word])
        if _is_dynamic(word):
            self.undecided(f"the script {word!r} is only known when the job runs")
        elif ctx.cwd is None and not word.startswith("/"):
            self.undecided(f"{shown} runs in a directory set by `cd {_one_line([ctx.cd_word])}`, so its path is unknown")
        else:
            target = _norm(ctx.cwd or ".", word)
            if target.startswith("/") or target == ".." or target.startswith("../"):
                # Not an entry point: the file is not the project's, so it is neither analysed
                # nor shipped (the CLI rejects such paths too); the image must provide it.
                self.diagnose(
                    "entry-point-outside-project",
                    f"{shown} is outside the project: it is neither analysed nor "
                    "shipped; run a project file or list the entry points in "
                    "env.python.root-paths",
                )
            else:
                self.add(EntryKind.SCRIPT, target, ctx, interpreter, launcher)
        self.scan_args(args, ctx)

    def module(self, name: str, args: Sequence[str], ctx: _Ctx, interpreter: str | None, launcher: str | None) -> None:
        self.is_python = True
        if name in _MODULE_LAUNCHERS:
            spec = replace(_MODULE_LAUNCHERS[name], launcher=f"python -m {name}")
            return self.launch(spec, [interpreter or "python", "-m", name], args, replace(ctx, depth=ctx.depth + 1), interpreter)
        if name in _TOOL_MODULES or name.split(".")[0] in ("pip", "ensurepip", "venv"):
            return None
        if not _MODULE_NAME.fullmatch(name):
            self.undecided(f"the module {name!r} run by -m is not a literal dotted name")
        else:
            self.add(EntryKind.MODULE, name, ctx, interpreter, launcher)
        self.scan_args(args, ctx)

    def scan_args(self, args: Sequence[str], ctx: _Ctx) -> None:
        """Arguments naming a project ``.py`` file are entry points: ``python main.py other.py``;
        every project file they name travels with the job: ``--cfg models/yolov5n.yaml``."""
        if ctx.cwd is None:
            return
        for arg in args:
            value = arg.partition("=")[2] if "=" in arg else arg  # --cfg=a.py, hydra's cfg=a.py
            if _is_dynamic(value):
                continue
            target = _norm(ctx.cwd, value)
            if value.endswith(".py"):
                if target in self.project_files:
                    self.add(EntryKind.SCRIPT, target, ctx)
                    self.named_files[target] = None  # config/train_x.py, which train.py may exec
            elif _names_project_file(value, target) and target in self.project_files:  # --cfg models/yolov5n.yaml
                self.named_files[target] = None

    def launch(self, spec: _Spec, head: Sequence[str], args: Sequence[str], ctx: _Ctx, interpreter: str | None = None) -> None:
        """A launcher or wrapper: skip its options, then run its script or its command."""
        module = no_python = False
        unknown: tuple[int, str] | None = None
        skip, i = spec.positionals, 0
        while i < len(args):
            word = args[i]
            if word == "--":
                i += 1
                break
            if not word.startswith("-") or word == "-":
                if skip:
                    skip, i = skip - 1, i + 1
                    continue
                break
            key, attached = _split_option(word)
            if key in spec.stop:
                return
            if key in spec.values:
                count = spec.values[key] - attached
                if key in spec.chdir:
                    ctx = self.change_dir(ctx, word.partition("=")[2] if attached else (args[i + 1] if i + 1 < len(args) else ""))
                i += 1 + count
                continue
            module |= key in spec.module
            no_python |= key in spec.no_python
            if not (
                key in spec.flags
                or key in spec.module
                or key in spec.no_python
                or attached
                or (len(word) > 2 and word[:2] in spec.values)
            ):  # -oL: a value attached
                unknown = unknown or (i, word)
            i += 1
        launcher = spec.launcher or ctx.launcher
        if spec.runs == "command" or no_python:
            if unknown is not None:  # prefer the first word that runs Python; else the next word
                i = next((k for k in range(unknown[0] + 1, len(args)) if _runs_python(args[k])), i)
            self.simple(args[i:], replace(ctx, launcher=launcher))
            return
        if unknown is not None:
            k = next((k for k in range(unknown[0] + 1, len(args)) if args[k].endswith(".py")), None)
            if k is None:
                self.is_python = True  # a Python launcher: torchrun, deepspeed, python -m cProfile
                shown = _one_line([*head, *args])
                self.undecided(f"cannot tell which argument of `{shown}` is the script (unknown option {unknown[1]!r})")
                return
            i = k
        if i >= len(args):
            return
        if module:
            self.module(args[i], args[i + 1 :], ctx, interpreter, launcher)
        elif spec.runs == "script" or args[i].endswith(".py"):
            self.script(args[i], args[i + 1 :], ctx, interpreter, launcher)
        else:
            self.simple(args[i:], replace(ctx, launcher=launcher))

    def shell(self, head: str, args: Sequence[str], ctx: _Ctx) -> None:
        """``bash [options] -c STRING`` analyses STRING; ``bash FILE`` cannot look inside FILE."""
        inline, i = False, 0
        while i < len(args):
            word = args[i]
            if word in ("-", "--"):
                i += 1
                break
            if len(word) < 2 or word[0] not in "-+":
                break
            short = not word.startswith("--")
            inline |= short and word[0] == "-" and "c" in word
            # -o/-O take a value, also at the end of a group: bash -euxo pipefail -c '...'
            i += 2 if word in _SHELL_VALUE_OPTS or (short and word[-1] in "oO") else 1
        if i >= len(args):
            return
        if inline:
            self.run(_tokenize(args[i], f"the {posixpath.basename(head)} -c string"), ctx)
        else:
            self.diagnose(
                "unanalysed-script",
                f"{_one_line([args[i]])} is a shell script whose "
                "contents are not analysed; list the Python entry points it runs in "
                "env.python.root-paths",
                Severity.INFO,
            )


def _runs_python(word: str) -> bool:
    name = posixpath.basename(word)
    return bool(_PYTHON.fullmatch(name)) or name in _COMMANDS or word.endswith(".py")


def find_entry_points(
    cmd: str,
    *,
    project_files: Container[str] = frozenset(),
    python_scripts: Container[str] = frozenset(),
    source: str = "cmd",
) -> CommandAnalysis:
    """Find where Python starts running in a job's ``cmd``, without running anything.

    :param cmd: the ``cmd`` text from config.yaml; a newline separates commands, as in sh.
    :param project_files: project-relative POSIX paths of the files that exist; decides whether
        a ``.py`` argument of a program, or a bare ``tool.py`` command, is a project file.
    :param python_scripts: project-relative POSIX paths of the extension-less files whose
        ``#!`` line runs Python: ``./bin/train`` in ``cmd`` is then a script.
    :param source: recorded as `EntryPoint.source`.
    :returns: the entry points in order of appearance (one per kind and target), whether the
        job runs Python at all, what could not be decided, and the ``PYTHONPATH`` entries.
    :raises CommandError: the text is empty, has an unclosed quote or ends with a backslash.

    >>> find_entry_points("PYTHONPATH=. python -u main.py").entry_points[0].target
    'main.py'
    """
    tokens = _tokenize(cmd, "")
    analyzer = _Analyzer(project_files, source, python_scripts)
    analyzer.run(tokens, _Ctx())
    if analyzer.commands == 0:
        raise CommandError("empty command: there is nothing to run", location=Location(key="cmd"))
    return CommandAnalysis(
        entry_points=tuple(analyzer.entries.values()),
        is_python=analyzer.is_python,
        diagnostics=tuple(analyzer.diagnostics),
        pythonpath=tuple(analyzer.pythonpath),
        named_files=tuple(analyzer.named_files),
    )


def entry_points_from_root_paths(paths: Sequence[str]) -> tuple[EntryPoint, ...]:
    """The entry points listed in ``env.python.root-paths``, deduplicated, in order.

    A path is a SCRIPT, normalized (``./src/a.py`` -> ``src/a.py``) and otherwise not
    guessed at: a directory or an extension-less file stays a SCRIPT path that the caller
    checks. ``-m pkg.mod`` is a MODULE.

    :raises ConfigError: an item is empty, or ``-m`` is not followed by a dotted name.
    """
    found: dict[tuple[EntryKind, str], EntryPoint] = {}
    for index, raw in enumerate(paths):
        where = Location(key=f"env.python.root-paths[{index}]")
        text = raw.strip()
        if text == "-m" or text.startswith("-m "):  # the spelling the CLI accepts too
            name = text[2:].strip()
            if not _MODULE_NAME.fullmatch(name):
                raise ConfigError(f"expected '-m' and a dotted module name, got {raw!r}", location=where)
            kind, target = EntryKind.MODULE, name
        elif not text:
            raise ConfigError("expected a path, got an empty string", location=where)
        else:
            kind, target = EntryKind.SCRIPT, posixpath.normpath(text)
        found.setdefault((kind, target), EntryPoint(kind=kind, target=target, source="root-paths"))
    return tuple(found.values())
