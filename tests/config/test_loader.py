"""The loader's inputs: a path or a parsed mapping, ``project_dir`` as str or PathLike; the split modules."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envcapture.config import _yaml, loader, model, scalars
from envcapture.config.loader import load_config, parse_config
from envcapture.config.model import FileSpec, JobConfig
from envcapture.config.nodes import NodeReader
from envcapture.errors import ConfigError, EnvcaptureError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "configs"

TEXT = """\
name: job
cmd: python main.py --data ${DATA} --out ${OUT}
inputs:
  - data/train.csv: DATA
outputs:
  - out/model.bin: OUT
env:
  vars:
    DEVICE_COUNT: 8
  python:
    type: manual
    version: '3.11'
    requirements-file: requirements.txt
    root-paths: [main.py]
    pip:
      index-url: https://pypi.org/simple
      no-deps: true
cloud-instance-types: [g1.1]
working-storage: {size: 150Gb}
graceful-shutdown: {signal: SIGINT, timeout: 1m30s}
"""


class _FsPath:
    """An `os.PathLike` that is not a `pathlib.Path` (as a job CLI may hold one)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __fspath__(self) -> str:
        return str(self.path)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with the files `TEXT` names; the current directory is elsewhere."""
    root = tmp_path / "project"
    for name in ("main.py", "requirements.txt", "data/train.csv"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("# fixture\n")
    (root / "config.yaml").write_text(TEXT)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return root


def _problems(call: object) -> list[str]:
    assert callable(call)
    with pytest.raises(ConfigError) as info:
        call()
    return [str(p) for p in info.value.problems]


# --- project_dir as str and os.PathLike -------------------------------------------------------


@pytest.mark.parametrize("kind", [str, Path, _FsPath], ids=["str", "Path", "PathLike"])
def test_parse_config_project_dir_types(project: Path, kind: type) -> None:
    config = parse_config(TEXT, source="c.yaml", project_dir=kind(project))
    assert config.project_dir == project
    assert isinstance(config.project_dir, Path)
    assert config.inputs == (FileSpec(path="data/train.csv", var="DATA"),)
    # the disk is checked against that directory
    assert _problems(lambda: parse_config("cmd: run\ninputs: [nope.py]\n", source="c.yaml", project_dir=kind(project))) == [
        f"c.yaml:2:10: inputs[0]: 'nope.py' does not exist (looked in {project})"
    ]


@pytest.mark.parametrize("kind", [str, Path, _FsPath], ids=["str", "Path", "PathLike"])
def test_load_config_project_dir_types(project: Path, tmp_path: Path, kind: type) -> None:
    config_file = tmp_path / "elsewhere.yaml"
    config_file.write_text(TEXT)
    config = load_config(kind(config_file), project_dir=kind(project))
    assert config.project_dir == project
    assert isinstance(config.project_dir, Path)
    assert config.source == str(config_file)


def test_relative_str_project_dir_is_made_absolute(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.parent)
    config = parse_config(TEXT, project_dir="project")
    assert config.project_dir == project
    assert config.project_dir.is_absolute()


# --- load_config of an already parsed mapping -------------------------------------------------


def test_load_config_mapping_equals_the_file(project: Path) -> None:
    from_file = load_config(project / "config.yaml")
    mapping = yaml.safe_load(TEXT)
    from_mapping = load_config(mapping, project_dir=str(project))
    assert from_mapping.source == "<config>"
    assert from_mapping.project_dir == project
    assert replace(from_mapping, source=from_file.source) == from_file
    assert from_mapping.env.python is not None
    assert from_mapping.env.python.given_fields() == (
        "version",
        "requirements_file",
        "root_paths",
        "pip.index_url",
        "pip.no_deps",
    )
    # a mapping has no positions: the locations name the key only
    assert from_mapping.inputs[0].location.line is None
    assert from_mapping.inputs[0].location.key == "inputs[0]"


def test_load_config_mapping_defaults_to_the_current_directory(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mapping = yaml.safe_load(TEXT)
    # elsewhere: the paths are checked on disk, against the current directory
    assert _problems(lambda: load_config(mapping)) == [
        f"<config>: inputs[0]: 'data/train.csv' does not exist (looked in {Path.cwd()})",
        f"<config>: env.python.requirements-file: 'requirements.txt' does not exist (looked in {Path.cwd()})",
        f"<config>: env.python.root-paths[0]: 'main.py' does not exist (looked in {Path.cwd()})",
    ]
    monkeypatch.chdir(project)
    assert load_config(mapping).project_dir == project


def test_load_config_mapping_reports_every_problem(project: Path) -> None:
    mapping = {
        "cmd": "python main.py ${UNKNOWN}",
        "nme": "job",
        "env": {"python": {"type": "auto", "version": "3.11", "pip": {"no-deps": "yes"}}},
        "working-storage": {"size": 150},
        "graceful-shutdown": {"signal": "TERM"},
        "inputs": ["../secret.txt"],
    }
    problems = _problems(lambda: load_config(mapping, project_dir=project))
    assert problems == [
        "<config>: nme: unknown key (did you mean 'name'?)",
        "<config>: inputs[0]: '../secret.txt' contains '..' (paths must stay inside the project directory)",
        "<config>: env.python.pip.no-deps: expected true or false, got 'yes'",
        "<config>: env.python.version: only allowed with type: manual (type: auto determines it; set type: manual to give it)",
        "<config>: working-storage.size: the size 150 has no unit (write e.g. 150Gb; 1 Gb = 2**30 bytes)",
        "<config>: graceful-shutdown.signal: unknown signal 'TERM'; expected one of SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 "
        "(did you mean 'SIGTERM'?)",
        "<config>: cmd: undeclared variable ${UNKNOWN} (declare it in inputs, outputs, datasets, s3-mounts, args or env.vars)",
    ]


def test_load_config_mapping_of_each_fixture(tmp_path: Path) -> None:
    """Every fixture gives the same outcome from its file and from its parsed mapping."""
    for path in sorted(FIXTURES.glob("*.yaml")):
        outcomes = []
        for given_config in (path, yaml.safe_load(path.read_text())):
            try:
                config = load_config(given_config, project_dir=tmp_path)
            except ConfigError as exc:
                # the same problems at the same keys (a message may name a second place by position)
                outcomes.append(sorted((p.location.key or "") if p.location else "" for p in exc.problems))
            else:
                outcomes.append(replace(config, source="", warnings=()))
        assert outcomes[0] == outcomes[1], path.name


def test_load_config_mapping_too_deep() -> None:
    deep: dict[str, object] = {"cmd": "run"}
    node: dict[str, object] = deep
    for _ in range(5000):
        child: dict[str, object] = {}
        node["x"] = child
        node = child
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(deep)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12))
_keys = st.sampled_from(["cmd", "inputs", "env", "python", "vars", "pip", "type", "version", "size", "var", "x"])
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4), max_leaves=12
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mapping=st.dictionaries(_keys, _values, max_size=6))
def test_fuzz_load_config_mapping(project: Path, mapping: dict[str, object]) -> None:
    before = sorted(os.walk(project))
    try:
        config = load_config(mapping, project_dir=project)
    except EnvcaptureError as exc:
        assert exc.exit_code == 2
        assert all("\n" not in str(p) for p in getattr(exc, "problems", ()))
    else:
        assert isinstance(config, JobConfig)
    assert sorted(os.walk(project)) == before


# --- the split modules -------------------------------------------------------------------------


def test_public_names_stay_importable_from_the_loader() -> None:
    for name in loader.__all__:
        home = model if hasattr(model, name) else scalars if hasattr(scalars, name) else loader
        assert getattr(loader, name) is getattr(home, name), name
    assert loader.load_config is load_config
    assert loader.parse_config is parse_config
    assert set(model.__all__) - {"PROJECT_HOME"} < set(loader.__all__)


def test_node_reader_collects_every_problem() -> None:
    document = _yaml.compose("a: 'yes'\nb: 5\nc: [1]\nx: 1\ne: 2\n", source="f.yaml")
    reader = NodeReader(document, "f.yaml", aliases={"x": "a"}, homes={"e": "elsewhere"})
    assert isinstance(document.root, _yaml.Mapping)
    found = reader.fields(document.root, "", ("a", "b", "c"))
    assert reader.boolean(found["a"].value, "a") is None
    assert reader.string(found["b"].value, "b") is None
    assert reader.strings(found["c"].value, "c") is None
    assert [str(p) for p in reader.problems] == [
        "f.yaml:4:1: x: unknown key (did you mean 'a'?)",
        "f.yaml:5:1: e: unknown key (it belongs under 'elsewhere')",
        "f.yaml:1:4: a: expected true or false, got 'yes' (a quoted value is a string: remove the quotes)",
        "f.yaml:2:4: b: expected a string, got the number 5 (quote it: '5')",
        "f.yaml:3:5: c[0]: expected a string, got the number 1 (quote it: '1')",
    ]
