"""analyzers/finder.py: the PathFinder rules, on real directory trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from envcapture.analysis.finder import FoundKind, ModuleFinder, Root, RootOrigin


def tree(base: Path, files: list[str]) -> None:
    for rel in files:
        path = base / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")


def roots(*paths: Path) -> tuple[Root, ...]:
    return tuple(Root(p, RootOrigin.SITE) for p in paths)


@pytest.mark.parametrize(
    "files,name,kind,file",
    [
        (["a.py"], "a", FoundKind.MODULE, "a.py"),
        (["a/__init__.py", "a.py"], "a", FoundKind.PACKAGE, "a/__init__.py"),  # package wins
        (["a/", "a.py"], "a", FoundKind.MODULE, "a.py"),  # a module beats a namespace portion
        (["a.cpython-311-x86_64-linux-gnu.so", "a.py"], "a", FoundKind.EXTENSION, "a.cpython-311-x86_64-linux-gnu.so"),
        (["a.abi3.so"], "a", FoundKind.EXTENSION, "a.abi3.so"),
        (["a.pyc"], "a", FoundKind.BYTECODE, "a.pyc"),
        (["a/"], "a", FoundKind.NAMESPACE, None),
        (["ab.py", "a_b.py"], "a", None, None),  # prefixes are not matches
    ],
)
def test_top_level(tmp_path: Path, files: list[str], name: str, kind: FoundKind | None, file: str | None) -> None:
    tree(tmp_path, files)
    found = ModuleFinder().find_top(name, roots(tmp_path))
    if kind is None:
        assert found is None
        return
    assert found is not None and found.kind is kind
    assert (found.file.relative_to(tmp_path).as_posix() if found.file else None) == file


def test_first_root_wins_and_namespace_portions_merge(tmp_path: Path) -> None:
    one, two, three = tmp_path / "one", tmp_path / "two", tmp_path / "three"
    tree(one, ["ns/a/__init__.py", "mod.py"])
    tree(two, ["ns/b.py", "mod.py"])
    tree(three, ["ns/__init__.py"])  # a regular package later on the path wins over portions
    finder = ModuleFinder()
    mod = finder.find_top("mod", roots(one, two))
    assert mod is not None and mod.file == one / "mod.py"
    ns = finder.find_top("ns", roots(one, two))
    assert ns is not None and ns.kind is FoundKind.NAMESPACE
    assert ns.search_dirs == (one / "ns", two / "ns")
    b = finder.find_sub("ns.b", ns)
    assert b is not None and b.file == two / "ns" / "b.py" and b.root.path == two
    a = finder.find_sub("ns.a", ns)
    assert a is not None and a.kind is FoundKind.PACKAGE and a.root.path == one
    regular = finder.find_top("ns", roots(one, two, three))
    assert regular is not None and regular.kind is FoundKind.PACKAGE and regular.root.path == three


def test_symlink_loop_does_not_hang(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a").symlink_to("b")
    (tmp_path / "pkg" / "b").symlink_to("a")
    finder = ModuleFinder()
    pkg = finder.find_top("pkg", roots(tmp_path))
    assert pkg is not None
    assert finder.find_sub("pkg.a", pkg) is None
