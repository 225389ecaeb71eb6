"""Tests for envcapture.environment.distributions: EnvSnapshot -> module owners (in memory)."""

from __future__ import annotations

import pytest

from envcapture.environment.distributions import module_owners, owners_of
from envcapture.environment.model import DistributionInfo, EnvSnapshot
from envcapture.model import ModuleName, dist_name


def _dist(name: str, *modules: str) -> DistributionInfo:
    return DistributionInfo(
        name=dist_name(name),
        display_name=name,
        version="1.0",
        top_level=tuple(sorted({ModuleName(m.split(".")[0]) for m in modules})),
        modules=tuple(ModuleName(m) for m in sorted(modules)),
    )


SNAPSHOT = EnvSnapshot(
    executable="/venv/bin/python",
    python_version="3.11.7",
    distributions=(
        _dist("google-cloud-storage", "google", "google.cloud", "google.cloud.storage"),
        _dist("googleapis-common-protos", "google", "google.api", "google.rpc"),
        _dist("protobuf", "google", "google.protobuf", "google.protobuf.message"),
        _dist("PyYAML", "yaml", "yaml.loader", "_yaml"),
        _dist("scikit-learn", "sklearn", "sklearn.linear_model"),
        _dist("clash-a", "clash"),
        _dist("clash-b", "clash"),
    ),
    shadowed=(_dist("ghost", "ghost"),),
)


def test_module_owners() -> None:
    owners = module_owners(SNAPSHOT)
    assert owners[ModuleName("google")] == (
        "google-cloud-storage",
        "googleapis-common-protos",
        "protobuf",
    )
    assert owners[ModuleName("google.cloud")] == ("google-cloud-storage",)
    assert owners[ModuleName("yaml")] == ("pyyaml",)
    assert owners[ModuleName("clash")] == (
        "clash-a",
        "clash-b",
    )  # a real conflict is reported, not hidden
    assert "ghost" not in owners  # shadowed dists do not own anything
    assert list(owners) == sorted(owners)
    with pytest.raises(TypeError):
        owners["new"] = ()  # type: ignore[index]


def test_module_owners_is_cached_per_snapshot() -> None:
    assert module_owners(SNAPSHOT) is module_owners(SNAPSHOT)
    other = EnvSnapshot(executable="/x", python_version="3.11.7", distributions=(_dist("a", "a"),))
    assert module_owners(other) == {"a": ("a",)}


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("google.protobuf.message", ("protobuf",)),
        ("google.protobuf", ("protobuf",)),
        ("google.cloud.storage.blob", ("google-cloud-storage",)),
        ("google.rpc.status_pb2", ("googleapis-common-protos",)),
        ("google.unknown", ("google-cloud-storage", "googleapis-common-protos", "protobuf")),
        ("google", ("google-cloud-storage", "googleapis-common-protos", "protobuf")),
        ("sklearn.linear_model._base", ("scikit-learn",)),
        ("_yaml", ("pyyaml",)),
        ("yamlx", ()),
        ("ghost", ()),
        ("", ()),
    ],
)
def test_owners_of(module: str, expected: tuple[str, ...]) -> None:
    assert owners_of(SNAPSHOT, module) == expected
