"""envcapture.model.Target: the one description of the target and the one list of its wheel tags."""

from __future__ import annotations

import pytest
from packaging.utils import parse_wheel_filename

from envcapture.model import Target


def test_describe() -> None:
    assert Target(python_version="3.11").describe() == "CPython 3.11 on linux x86_64 (manylinux_2_28)"
    assert Target(python_version="3.10.13", cuda="12.1", manylinux="2_17").describe() == (
        "CPython 3.10 on linux x86_64 (manylinux_2_17, CUDA 12.1)"
    )


def test_platform_tags_cover_every_manylinux_level_below_the_target() -> None:
    plats = Target(python_version="3.11").platform_tags()
    assert plats[0] == "manylinux_2_28_x86_64"
    assert plats[23] == "manylinux_2_5_x86_64"
    assert plats[24:] == ("manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64")
    assert not any(p.startswith("linux_") for p in plats)
    assert Target(python_version="3.11", manylinux="2_17").platform_tags()[0] == "manylinux_2_17_x86_64"
    assert Target(python_version="3.11", manylinux="2_12").platform_tags()[-2:] == ("manylinux2010_x86_64", "manylinux1_x86_64")


@pytest.mark.parametrize(
    ("filename", "version", "ok"),
    [
        ("m-1-cp311-cp311-manylinux_2_28_x86_64.whl", "3.11", True),
        ("m-1-cp311-cp311-manylinux_2_28_x86_64.whl", "3.10", False),
        ("m-1-cp311-cp311-manylinux_2_34_x86_64.whl", "3.11", False),  # newer glibc than the target
        ("m-1-cp36-abi3-manylinux2010_x86_64.whl", "3.10", True),
        ("m-1-cp311-abi3-manylinux_2_17_x86_64.whl", "3.10", False),  # abi3 from a newer CPython
        ("m-1-py3-none-any.whl", "3.10", True),
        ("m-1-cp311-cp311-linux_x86_64.whl", "3.11", False),  # not portable from an index
        ("m-1-cp311-cp311-macosx_11_0_arm64.whl", "3.11", False),
        ("m-1-cp311-cp311-manylinux_2_28_aarch64.whl", "3.11", False),
    ],
)
def test_wheel_tags(filename: str, version: str, ok: bool) -> None:
    tags = parse_wheel_filename(filename)[3]
    assert bool(tags & set(Target(python_version=version).wheel_tags())) is ok


def test_wheel_tags_take_linux_only_for_a_wheel_built_here() -> None:
    target = Target(python_version="3.11")
    linux = parse_wheel_filename("m-1-cp311-cp311-linux_x86_64.whl")[3]
    assert not linux & set(target.wheel_tags())
    assert linux & set(target.wheel_tags(built_here=True))


def test_wheel_tags_most_specific_first_without_repeats() -> None:
    tags = Target(python_version="3.11").wheel_tags()
    assert str(tags[0]) == "cp311-cp311-manylinux_2_28_x86_64"
    assert str(tags[-1]) == "py30-none-any"
    assert len(tags) == len(set(tags))
