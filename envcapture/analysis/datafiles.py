"""Files the code reads or runs by a literal path -> `FileRef` (libcst, part of extraction).

What is read, where the path is a literal or is built from literals and ``__file__`` (the
`PathEvaluator` of ``sys.path`` additions: ``os.path.join``/``dirname``, ``Path(...)``,
``/``, ``.parent``, ``.parents[i]``, ``.joinpath``, ``.resolve()``):

* ``exec(open("configurator.py").read())`` (also through ``compile(...)`` or
  ``Path(p).read_text()``) and ``runpy.run_path("x.py")``: the file runs as Python
  (`FileUse.EXEC`; the walk analyses its imports as well);
* a reader of the table in `_readers` with the path as its argument: ``open("x.json")``
  (not when its mode writes), ``np.load("x.npy")``, ``pd.read_csv("data/x.csv")``...;
  ``json.load(open(...))`` and ``yaml.safe_load(open(...))`` are named by the outer call;
* ``Path("cfg/a.yaml").read_text()``, ``.read_bytes()``, ``.open()``;
* ``parser.add_argument(..., default="cfg/x.yaml")``, ``click.option(..., default=...)``:
  `FileUse.DEFAULT`;
* any other expression built from ``__file__`` with a literal part, wherever it stands
  (``Path(__file__).parent / "assets" / "mel.npz"``, ``os.path.join(os.path.dirname(__file__),
  "assets")``): `FileUse.FILE_RELATIVE`, which may name a directory.

Only the outermost expression counts (``open(ROOT / "a.txt")`` is one reference), a name
bound once at module level is followed (``ROOT = Path(__file__).parent``), and a path that
goes to ``sys.path`` is not data. Whether a path names a project file is the walk's
question (`datapaths`): extraction never looks at the disk.

Cost: libcst gives no positions, so a statement's expressions are walked only when its text
shows a marker (`DATA_MARKERS`: ``open(``, ``load(``, ``__file__``, ``default=``...), and
finding that out costs the codegen of each statement of a module holding one (the price
``sys.path`` additions already paid); a reader called through an alias of the function
itself (``from numpy import load as L``) is not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final

import libcst as cst
from libcst.helpers import get_full_name_for_node

from envcapture.analysis._nodes import argument, literal_str
from envcapture.analysis._readers import CLI_DEFAULTS, EXECUTORS, OPENERS, READERS, reader_markers
from envcapture.analysis._syspath import PathEvaluator, PathValue
from envcapture.analysis.model import FileRef, FileUse, Scope

__all__ = ["DATA_MARKERS", "FileRefReader", "module_bindings"]

DATA_MARKERS: Final = reader_markers()
"""Text that makes a statement worth walking for file references."""

_EXEC: Final = frozenset({"exec", "builtins.exec"})
_PATH_METHODS: Final = frozenset({"read_text", "read_bytes", "open"})
_WRITE_MODES: Final = frozenset("wax")


def module_bindings(bindings: Iterable[tuple[str, cst.BaseExpression | None, Scope]]) -> dict[str, cst.BaseExpression]:
    """The names bound exactly once in a module, at module level, to a value: a path held in
    one (``ROOT = Path(__file__).parent``) is followed. A name bound again anywhere, or
    bound in a function (which may shadow it), is not."""
    seen: dict[str, int] = {}
    values: dict[str, cst.BaseExpression] = {}
    for name, value, scope in bindings:
        seen[name] = seen.get(name, 0) + 1
        if value is not None and scope is Scope.MODULE:
            values[name] = value
    return {name: value for name, value in values.items() if seen[name] == 1}


def _written(node: cst.BaseExpression) -> str:
    """The callee as the code writes it: ``np.load``, ``open``."""
    return get_full_name_for_node(node) or "call"


def _has_literal_part(rel: str) -> bool:
    return any(part not in (".", "..", "") for part in rel.split("/"))


def _writes(mode: cst.BaseExpression | None) -> bool:
    text = literal_str(mode)
    return text is not None and bool(_WRITE_MODES & set(text))


class FileRefReader:
    """The file references among a module's calls and ``/`` operations, given in source
    order (an outer expression before the ones inside it); names resolved by ``qualname``."""

    def __init__(
        self,
        qualname: Callable[[cst.BaseExpression], str | None],
        bindings: Mapping[str, cst.BaseExpression],
        enclosing: Mapping[int, int],
    ) -> None:
        self._qualname = qualname
        self._paths = PathEvaluator(qualname, bindings)
        self._enclosing = enclosing  # FactsVisitor.enclosing: which call or operation holds which
        self._done: set[int] = set()

    def refs(self, expressions: Iterable[cst.CSTNode]) -> Iterator[tuple[cst.CSTNode, FileRef]]:
        """(node, reference) pairs; each reference's ``line`` is 0 (placed by the caller)."""
        for node in expressions:
            if self._accounted_for(node) or not isinstance(node, (cst.Call, cst.BinaryOperation)):
                continue
            ref = self._of_call(node) if isinstance(node, cst.Call) else None
            if ref is None and id(node) not in self._done:
                ref = self._file_relative(node)
            if ref is not None:
                self._consume(node)
                yield node, ref

    def _consume(self, node: cst.CSTNode) -> None:
        """``node`` and everything inside it are accounted for."""
        self._done.add(id(node))

    def _accounted_for(self, node: cst.CSTNode) -> bool:
        """Whether ``node`` or a call or operation holding it was consumed."""
        key = id(node)
        while key:
            if key in self._done:
                return True
            key = self._enclosing.get(key, 0)
        return False

    def _path(self, node: cst.BaseExpression | None) -> PathValue | None:
        """A relative path (from the working directory or the file's directory), else None."""
        if node is None:
            return None
        value = self._paths.value(node)
        if value is None or value.base not in ("cwd", "dir") or value.rel in (".", ""):
            return None
        return value

    def _ref(self, value: PathValue, use: FileUse, how: str) -> FileRef:
        return FileRef(line=0, path=value.rel, use=use, how=how, from_file_dir=value.base == "dir")

    def _of_call(self, call: cst.Call) -> FileRef | None:
        qualname = self._qualname(call.func) or ""
        if qualname.startswith("sys.path."):
            self._consume(call)  # a sys.path addition, not data (analysis/_syspath.py)
            return None
        if qualname in _EXEC:
            return self._executed(call)
        if qualname in EXECUTORS:
            index, keyword = EXECUTORS[qualname]
            value = self._path(argument(call, index, keyword))
            return self._ref(value, FileUse.EXEC, _written(call.func)) if value is not None else None
        if qualname in READERS:
            if qualname in OPENERS and _writes(argument(call, 1, "mode")):
                self._consume(call)  # open("out.txt", "w") writes: an output, not data
                return None
            index, keyword = READERS[qualname]
            value = self._path(argument(call, index, keyword))
            return self._ref(value, FileUse.READ, _written(call.func)) if value is not None else None
        func = call.func
        if (isinstance(func, cst.Attribute) and func.attr.value == "add_argument") or qualname in CLI_DEFAULTS:
            value = self._path(argument(call, 10_000, "default"))  # keyword only
            how = CLI_DEFAULTS.get(qualname, "argparse default")
            return self._ref(value, FileUse.DEFAULT, how) if value is not None else None
        if isinstance(func, cst.Attribute) and func.attr.value in _PATH_METHODS:
            if func.attr.value == "open" and _writes(argument(call, 0, "mode")):
                self._consume(call)
                return None
            value = self._path(func.value)
            return self._ref(value, FileUse.READ, f"Path(...).{func.attr.value}()") if value is not None else None
        if "load" in qualname.rpartition(".")[2]:
            inner = argument(call, 0, "")
            if isinstance(inner, cst.Call) and self._qualname(inner.func) in OPENERS:
                ref = self._of_call(inner)  # json.load(open(...)), yaml.safe_load(open(...))
                if ref is not None:
                    return FileRef(
                        line=0,
                        path=ref.path,
                        use=ref.use,
                        how=f"{_written(call.func)}({_written(inner.func)}(...))",
                        from_file_dir=ref.from_file_dir,
                    )
        return None

    def _executed(self, call: cst.Call) -> FileRef | None:
        """``exec(SOURCE)`` where SOURCE reads a file: ``open(p).read()``, ``Path(p).read_text()``,
        ``compile(<either>, ...)``."""
        source = argument(call, 0, "source")
        for _ in range(2):  # exec(compile(open(p).read(), p, "exec"))
            if isinstance(source, cst.Call) and self._qualname(source.func) in ("compile", "builtins.compile"):
                source = argument(source, 0, "source")
        if not isinstance(source, cst.Call) or not isinstance(source.func, cst.Attribute):
            return None
        method, receiver = source.func.attr.value, source.func.value
        value: PathValue | None = None
        how = ""
        if method == "read" and isinstance(receiver, cst.Call) and self._qualname(receiver.func) in OPENERS:
            value = self._path(argument(receiver, 0, "file"))
            how = f"exec({_written(receiver.func)}(...))"
        elif method in ("read_text", "read_bytes"):
            value = self._path(receiver)
            how = f"exec(Path(...).{method}())"
        return self._ref(value, FileUse.EXEC, how) if value is not None else None

    def _file_relative(self, node: cst.Call | cst.BinaryOperation) -> FileRef | None:
        """A path built from ``__file__`` with a literal part, wherever it stands."""
        value = self._paths.value(node)
        if value is None or value.base != "dir" or not _has_literal_part(value.rel):
            return None
        return self._ref(value, FileUse.FILE_RELATIVE, "__file__-relative")
