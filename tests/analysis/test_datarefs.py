"""Dotted names in data files (analyzers/datarefs.py): found in text, then resolved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from envcapture.analysis.runtime.datarefs import find_data_refs, resolve_data_refs
from envcapture.analysis.runtime.model import DataRef
from envcapture.analysis.runtime.trace import scan_data_refs
from envcapture.model import DistName

RUNTIME = Path(__file__).resolve().parent.parent / "fixtures" / "runtime"

YAML = """\
model:
  target: models.autoencoder.AutoencoderKL   # latent-diffusion
  params:
    loss:
      _target_: alpha_mod.core.Thing
    - class_path: "pkg.mod.Cls"
    flow: {target: a.b, params: {}}
  name: not.a.key.we.read
  target: no_dots
"""


@pytest.mark.parametrize(
    "text,path,expected",
    [
        (
            YAML,
            "configs/m.yaml",
            [
                (2, "target", "models.autoencoder.AutoencoderKL"),
                (5, "_target_", "alpha_mod.core.Thing"),
                (6, "class_path", "pkg.mod.Cls"),
                (7, "target", "a.b"),
            ],
        ),
        (
            '{\n  "model": {"_target_": "torch.nn.Linear", "in": 3},\n  "class": "x.Y"\n}\n',
            "c.json",
            [(2, "_target_", "torch.nn.Linear"), (3, "class", "x.Y")],
        ),
        (
            "[model]\ntarget = \"models.unet.UNet\"\nclass_path = 'a.B'\n",
            "c.toml",
            [(2, "target", "models.unet.UNet"), (3, "class_path", "a.B")],
        ),
        ("target: 3.14\nmodule: some.thing:attr\n", "x.yml", []),
    ],
)
def test_find_data_refs(text: str, path: str, expected: list[tuple[int, str, str]]) -> None:
    refs = find_data_refs(text, path=path)
    assert [(r.line, r.key, r.value) for r in refs] == expected
    assert all(r.file == path and r.kind == "unknown" and r.module is None for r in refs)


def test_resolve_local_first_then_stdlib_then_distributions() -> None:
    refs = [
        DataRef(file="c.yaml", line=1, key="target", value="models.autoencoder.AutoencoderKL"),
        DataRef(file="c.yaml", line=2, key="_target_", value="alpha_mod.core.Thing"),
        DataRef(file="c.yaml", line=3, key="class", value="logging.StreamHandler"),
        DataRef(file="c.yaml", line=4, key="target", value="ldm.models.Missing"),
        DataRef(file="c.yaml", line=5, key="class", value="some.unknown.Thing"),
    ]
    owners = {"alpha_mod": ("dist-alpha",), "alpha_mod.core": ("dist-alpha",)}

    def owners_of(module: str) -> tuple[DistName, ...]:
        parts = module.split(".")
        for depth in range(len(parts), 0, -1):
            found = owners.get(".".join(parts[:depth]))
            if found:
                return tuple(DistName(n) for n in found)
        return ()

    resolved = resolve_data_refs(
        refs,
        is_local=lambda m: m in {"models", "models.autoencoder"},
        owners=owners_of,
        is_stdlib=lambda m: m.split(".")[0] == "logging",
    )
    assert [(r.line, r.kind, r.module, r.distribution) for r in resolved] == [
        (1, "local", "models.autoencoder", None),
        (2, "distribution", "alpha_mod.core", "dist-alpha"),
        # stdlib names are dropped; unknown names are kept only under target/_target_/class_path
        (4, "unknown", None, None),
    ]


@pytest.mark.slow
def test_scan_fixture_project(fixture_snapshot: Any) -> None:
    refs = scan_data_refs(RUNTIME / "config_driven", fixture_snapshot, target_python="3.11")
    assert [(r.file, r.line, r.key, r.value, r.kind, r.module, r.distribution) for r in refs] == [
        ("configs/model.yaml", 2, "target", "models.autoencoder.AutoencoderKL", "local", "models.autoencoder", None),
        ("configs/model.yaml", 4, "_target_", "alpha_mod.core.Thing", "distribution", "alpha_mod.core", "dist-alpha"),
    ]


@pytest.mark.slow
def test_scan_skips_big_files_and_ignored_dirs(tmp_path: Path, fixture_snapshot: Any) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.py").write_text("")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "c.yaml").write_text("target: models.net.Net\n")
    (tmp_path / "big.yaml").write_text("target: models.net.Net\n" + "#" * (1024 * 1024))
    (tmp_path / "ok.yml").write_text("target: models.net.Net\n")
    refs = scan_data_refs(tmp_path, fixture_snapshot, target_python="3.11")
    assert [(r.file, r.module) for r in refs] == [("ok.yml", "models.net")]
