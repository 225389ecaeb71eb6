"""_fs.compiled_dataclasses: the methods dataclasses writes are compiled once, kept by their
source text, and the classes made with them are the classes made without."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Classes of every shape dataclasses writes methods for; the script prints what they do.
_MODULE = """
import dataclasses, typing

@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Pin:
    name: str
    version: str = "1.0"
    extras: tuple[str, ...] = ()

@dataclasses.dataclass(kw_only=True)
class Options:
    jobs: int | None = None
    tags: list[str] = dataclasses.field(default_factory=list)
    def __post_init__(self):
        self.tags.append("seen")

pin = Pin("torch", "2.13.0")
print(repr(pin), pin == Pin("torch", "2.13.0"), pin < Pin("zzz"), hash(pin) == hash(Pin("torch", "2.13.0")))
try:
    pin.name = "x"
except dataclasses.FrozenInstanceError:
    print("frozen")
print(repr(Options(jobs=2)))
print(typing.get_type_hints(Pin.__init__), Pin.__init__.__annotations__["name"] is str)
print(Pin.__slots__, Pin.__match_args__)
"""


def _run(tmp_path: Path, cache: Path, *, cached: bool, env: dict[str, str] | None = None) -> str:
    (tmp_path / "shapes.py").write_text(_MODULE)
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from pathlib import Path
        from envcapture._fs import compiled_dataclasses
        if {cached!r}:
            with compiled_dataclasses(Path({str(cache)!r})):
                import shapes
        else:
            import shapes
        import dataclasses
        print("patched after the block:", "exec" in vars(dataclasses))
        """
    )
    run_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    run_env.update(env or {})
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=run_env, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_classes_made_with_the_cache_are_the_classes_made_without(tmp_path: Path) -> None:
    cache = tmp_path / "pycache" / "methods.marshal"
    plain = _run(tmp_path, cache, cached=False)
    assert "frozen" in plain and "patched after the block: False" in plain
    first = _run(tmp_path, cache, cached=True)  # compiles, then writes the cache
    assert cache.is_file()
    written = cache.stat().st_mtime_ns
    again = _run(tmp_path, cache, cached=True)  # every method from the cache: nothing written
    assert plain == first == again
    assert cache.stat().st_mtime_ns == written


def test_no_cache_is_written_where_bytecode_is_not(tmp_path: Path) -> None:
    cache = tmp_path / "methods.marshal"
    assert "frozen" in _run(tmp_path, cache, cached=True, env={"PYTHONDONTWRITEBYTECODE": "1"})
    assert not cache.exists()


@pytest.mark.parametrize("content", [b"", b"not marshal", b"\xe3\x00\x00"])
def test_an_unreadable_cache_is_compiled_again(tmp_path: Path, content: bytes) -> None:
    cache = tmp_path / "methods.marshal"
    cache.write_bytes(content)
    plain = _run(tmp_path, tmp_path / "unused", cached=False)
    assert _run(tmp_path, cache, cached=True) == plain
    assert cache.stat().st_size > len(content)  # replaced by a good one


def test_a_cache_of_another_shape_is_compiled_again(tmp_path: Path) -> None:
    # A file marshal reads, whose values are not code (another version's format): the
    # methods are compiled, not handed to exec(), and the file is written again.
    import marshal

    cache = tmp_path / "methods.marshal"
    plain = _run(tmp_path, tmp_path / "unused", cached=False)
    _run(tmp_path, cache, cached=True)
    known = marshal.loads(cache.read_bytes())  # noqa: S302 - the file this test had written
    assert known and all(type(code).__name__ == "code" for code in known.values())
    cache.write_bytes(marshal.dumps(dict.fromkeys(known, 0)))
    assert _run(tmp_path, cache, cached=True) == plain
    assert all(type(code).__name__ == "code" for code in marshal.loads(cache.read_bytes()).values())  # noqa: S302


def test_blocks_in_two_threads_at_once(tmp_path: Path) -> None:
    # Both threads enter before either patched (each reads the file meanwhile): one patches,
    # the other runs without, and neither fails on leaving (it raised AttributeError).
    cache = tmp_path / "methods.marshal"
    _run(tmp_path, cache, cached=True)  # a file to read: the window both threads enter in
    code = textwrap.dedent(
        f"""
        import dataclasses, sys, threading, time
        from pathlib import Path
        from envcapture._fs import compiled_dataclasses

        barrier = threading.Barrier(2)
        failures = []

        def block(hold):
            barrier.wait()
            try:
                with compiled_dataclasses(Path({str(cache)!r})):
                    time.sleep(hold)
                    dataclasses.make_dataclass("Made", [("x", int)])(1)
            except BaseException as exc:
                failures.append(repr(exc))

        threads = [threading.Thread(target=block, args=(hold,)) for hold in (0.01, 0.05)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(failures, "exec" in vars(dataclasses))
        """
    )
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[] False"
