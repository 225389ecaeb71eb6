"""Tests for config.yaml loading: envcapture/config/ (loader, model, sections) and config/_yaml.py."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envcapture.config import _yaml
from envcapture.config.loader import load_config, parse_config
from envcapture.config.model import (
    DockerImage,
    EnvVar,
    FileSpec,
    GracefulShutdown,
    JobConfig,
    PythonSpec,
    ResourceRef,
    Setting,
    WorkingStorage,
)
from envcapture.config.scalars import parse_duration, parse_size
from envcapture.errors import ConfigError, EnvcaptureError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "configs"
GiB = 2**30
TiB = 2**40


# --- helpers ---------------------------------------------------------------------------------


def make_project(root: Path) -> Path:
    """A project with every file the fixtures and the bad cases refer to."""
    root.mkdir(parents=True, exist_ok=True)
    for name in (
        "main.py", "other.py", "foo.py", "src/main.py", "lib/__init__.py", "lib/util.py",
        "requirements.txt", "misc/logging.yaml", "run.sh", "data/train.csv",
    ):  # fmt: skip
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# fixture\n")
    outside = root.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.py").write_text("x = 1\n")
    (outside / "params.json").write_text("{}\n")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def shared_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("shared") / "project")


@pytest.fixture
def project(shared_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project directory, also the current directory (so messages say config.yaml).

    Shared by the tests for speed: they only ever write its config.yaml.
    """
    monkeypatch.chdir(shared_project)
    return shared_project


def load_text(project: Path, text: str) -> JobConfig:
    (project / "config.yaml").write_text(textwrap.dedent(text))
    return load_config("config.yaml")


def problems_of(project: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(project, text)
    assert info.value.exit_code == 2
    return [str(problem) for problem in info.value.problems]


def load_fixture(name: str, project: Path, **replace: str) -> JobConfig:
    text = (FIXTURES / name).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    (project / "config.yaml").write_text(text)
    return load_config("config.yaml")


# --- bad configs: one problem each, exact key path and position ---------------------------------

# (id, config text, "line:col" or "line" or "", key path, fragment of the message)
BAD: list[tuple[str, str, str, str, str]] = [
    ("unknown-top-key", "nmae: x\ncmd: run\n", "1:1", "nmae", "unknown key (did you mean 'name'?)"),
    (
        "description-not-desc",
        "cmd: run\ndescription: x\n",
        "2:1",
        "description",
        "unknown key (did you mean 'desc'?)",
    ),
    (
        "unknown-python-key",
        "cmd: run\nenv:\n  python:\n    type: manual\n    requirement-file: requirements.txt\n    version: '3.10'\n",
        "5:5",
        "env.python.requirement-file",
        "unknown key (did you mean 'requirements-file'?)",
    ),
    (
        "misplaced-key",
        "cmd: run\nenv:\n  python: auto\n  no-deps: true\n",
        "4:3",
        "env.no-deps",
        "unknown key (it belongs under 'env.python.pip')",
    ),
    (
        "root-and-local",
        "cmd: run\nenv:\n  python:\n    type: manual\n    root-paths: [main.py]\n    local-paths: [foo.py]\n",
        "6:5",
        "env.python.local-paths",
        "cannot be used together with env.python.root-paths (config.yaml:5:5)",
    ),
    (
        "root-path-and-root-paths",
        "cmd: run\nenv:\n  python:\n    type: auto\n    root-paths: [main.py]\n    root-path: [other.py]\n",
        "6:5",
        "env.python.root-path",
        "given together with env.python.root-paths (config.yaml:5:5)",
    ),
    (
        "version-in-auto",
        "cmd: run\nenv:\n  python:\n    type: auto\n    version: '3.10'\n",
        "5:5",
        "env.python.version",
        "only allowed with type: manual",
    ),
    (
        "requirements-in-auto",
        "cmd: run\nenv:\n  python:\n    type: auto\n    requirements-file: requirements.txt\n",
        "5:5",
        "env.python.requirements-file",
        "only allowed with type: manual",
    ),
    (
        "local-paths-in-auto",
        "cmd: run\nenv:\n  python:\n    type: auto\n    local-paths: [foo.py]\n",
        "5:5",
        "env.python.local-paths",
        "only allowed with type: manual",
    ),
    (
        "empty-manual",
        "cmd: run\nenv:\n  python:\n    type: manual\n",
        "4:11",
        "env.python.type",
        "type: manual needs at least one of version",
    ),
    (
        "manual-string",
        "cmd: run\nenv:\n  python: manual\n",
        "3:11",
        "env.python",
        "'manual' needs parameters",
    ),
    (
        "bad-type",
        "cmd: run\nenv:\n  python:\n    type: automatic\n",
        "4:11",
        "env.python.type",
        "expected auto or manual, got 'automatic' (did you mean 'auto'?)",
    ),
    (
        "missing-type",
        "cmd: run\nenv:\n  python:\n    root-paths: [main.py]\n",
        "4:5",
        "env.python.type",
        "required key is missing",
    ),
    (
        "no-deps-quoted-yes",
        'cmd: run\nenv:\n  python:\n    type: auto\n    pip:\n      no-deps: "yes"\n',
        "6:16",
        "env.python.pip.no-deps",
        "expected true or false, got 'yes'",
    ),
    (
        "no-deps-number",
        "cmd: run\nenv:\n  python:\n    type: auto\n    pip:\n      no-deps: 1\n",
        "6:16",
        "env.python.pip.no-deps",
        "expected true or false, got the number 1",
    ),
    (
        "version-float-3.10",
        "cmd: run\nenv:\n  python:\n    type: manual\n    version: 3.10\n",
        "5:14",
        "env.python.version",
        "got the number 3.1; YAML reads 3.10 as 3.1, quote it: '3.10'",
    ),
    (
        "version-float-3.9",
        "cmd: run\nenv:\n  python:\n    type: manual\n    version: 3.9\n",
        "5:14",
        "env.python.version",
        "got the number 3.9; YAML reads 3.10 as 3.1, quote it: '3.9'",
    ),
    (
        "version-2",
        "cmd: run\nenv:\n  python:\n    type: manual\n    version: '2.7'\n",
        "5:14",
        "env.python.version",
        "'2.7' is not a supported Python version",
    ),
    (
        "version-minor-too-high",
        "cmd: run\nenv:\n  python:\n    type: manual\n    version: '3.42'\n",
        "5:14",
        "env.python.version",
        "'3.42' is not a supported Python version",
    ),
    (
        "dotdot-input",
        "cmd: run\ninputs:\n  - ../outside/params.json\n",
        "3:5",
        "inputs[0]",
        "contains '..'",
    ),
    (
        "absolute-input-without-var",
        "cmd: run\ninputs:\n  - main.py\n  - /etc/hostname\n",
        "4:5",
        "inputs[1]",
        "'/etc/hostname' is an absolute path (only a path saved in a variable",
    ),
    (
        "symlink-escape-local-paths",
        "cmd: run\nenv:\n  python:\n    type: manual\n    local-paths:\n      - lib/\n      - escape/secret.py\n",
        "7:9",
        "env.python.local-paths[1]",
        "outside the project directory",
    ),
    (
        "symlink-escape-input",
        "cmd: run\ninputs:\n  - escape/params.json\n",
        "3:5",
        "inputs[0]",
        "outside the project directory",
    ),
    (
        "missing-input",
        "cmd: run\ninputs:\n  - data/nothing.csv\n",
        "3:5",
        "inputs[0]",
        "'data/nothing.csv' does not exist",
    ),
    (
        "missing-requirements",
        "cmd: run\nenv:\n  python:\n    type: manual\n    requirements-file: reqs.txt\n",
        "5:24",
        "env.python.requirements-file",
        "'reqs.txt' does not exist",
    ),
    (
        "undeclared-var",
        "cmd: >\n  python main.py\n    --model ${MODLE}\noutputs:\n  - data/model.bin: MODEL\n",
        "3:13",
        "cmd",
        "undeclared variable ${MODLE} (did you mean 'MODEL'?)",
    ),
    ("empty-reference", "cmd: echo ${}\n", "1:11", "cmd", "empty variable reference ${}"),
    (
        "plain-text-password",
        "cmd: run\nenv:\n  docker:\n    image: ubuntu:focal\n    password: hunter2\n",
        "5:15",
        "env.docker.password",
        "a plain-text password is refused; secrets go by secret-id",
    ),
    (
        "docker-registry-string",
        "cmd: run\nenv:\n  docker: ubuntu:focal\n",
        "3:11",
        "env.docker",
        "'ubuntu:focal' looks like a registry image, but a plain string names a project image id "
        "(write docker: {image: ubuntu:focal})",
    ),
    (
        "bad-size",
        "cmd: run\nworking-storage:\n  size: 150 parsecs\n",
        "3:9",
        "working-storage.size",
        "expected a size such as 150Gb",
    ),
    (
        "size-without-unit",
        "cmd: run\nworking-storage:\n  size: 150\n",
        "3:9",
        "working-storage.size",
        "the size 150 has no unit",
    ),
    (
        "size-out-of-range",
        "cmd: run\nworking-storage:\n  size: 50Gb\n",
        "3:9",
        "working-storage.size",
        "'50Gb' is outside the allowed 100Gb..10Tb",
    ),
    (
        "size-too-big",
        "cmd: run\nworking-storage: {size: 11Tb}\n",
        "2:25",
        "working-storage.size",
        "outside the allowed",
    ),
    (
        "disk-type",
        "cmd: run\nworking-storage:\n  type: ssd\n  size: 200Gb\n",
        "3:9",
        "working-storage.type",
        "unknown disk type 'ssd'; the only type is SSD (did you mean 'SSD'?)",
    ),
    (
        "bad-duration",
        "cmd: run\ngraceful-shutdown:\n  timeout: 15 sec\n",
        "3:12",
        "graceful-shutdown.timeout",
        "expected a duration",
    ),
    (
        "sexagesimal-duration",
        "cmd: run\ngraceful-shutdown:\n  timeout: 1:30\n",
        "3:12",
        "graceful-shutdown.timeout",
        "got the number 1:30 (YAML reads 1:30 as a base-60 number; write it as 1m30s)",
    ),
    (
        "zero-duration",
        "cmd: run\ngraceful-shutdown: {timeout: 0s}\n",
        "2:30",
        "graceful-shutdown.timeout",
        "must be more than 0",
    ),
    (
        "bad-signal",
        "cmd: run\ngraceful-shutdown:\n  signal: SIGTREM\n",
        "3:11",
        "graceful-shutdown.signal",
        "unknown signal 'SIGTREM'; expected one of SIGTERM",
    ),
    (
        "signal-without-sig",
        "cmd: run\ngraceful-shutdown:\n  signal: TERM\n",
        "3:11",
        "graceful-shutdown.signal",
        "(did you mean 'SIGTERM'?)",
    ),
    (
        "duplicate-key",
        "cmd: run\nname: a\nname: b\n",
        "3:1",
        "name",
        "duplicate key (first given at line 2)",
    ),
    (
        "duplicate-nested-key",
        "cmd: run\nenv:\n  python: auto\n  python: auto\n",
        "4:3",
        "env.python",
        "duplicate key",
    ),
    (
        "bad-yaml",
        "cmd: run\nenv:\n  python: auto\n bad: [\n",
        "4:2",
        "",
        "invalid YAML: expected <block end>, but found '<block mapping start>'",
    ),
    (
        "bad-yaml-tab",
        "cmd: run\nenv:\n\tpython: auto\n",
        "3:1",
        "",
        "invalid YAML: found character '\\t'",
    ),
    (
        "top-level-list",
        "- cmd: run\n",
        "1:1",
        "",
        "expected a mapping of keys at the top level, got a list",
    ),
    (
        "top-level-scalar",
        "just text\n",
        "1:1",
        "",
        "expected a mapping of keys at the top level, got 'just text'",
    ),
    ("empty-file", "# only a comment\n", "", "", "the file is empty"),
    ("missing-cmd", "name: job\n", "1:1", "cmd", "required key is missing"),
    ("empty-cmd", "cmd: ''\n", "1:6", "cmd", "must not be empty"),
    (
        "name-number",
        "cmd: run\nname: 5\n",
        "2:7",
        "name",
        "expected a string, got the number 5 (quote it: '5')",
    ),
    ("name-bool", "cmd: run\nname: yes\n", "2:7", "name", "expected a string, got the boolean yes"),
    (
        "extra-index-urls-string",
        "cmd: run\nenv:\n  python:\n    type: auto\n    pip:\n      extra-index-urls: https://pypi.ngc.nvidia.com\n",
        "6:25",
        "env.python.pip.extra-index-urls",
        "expected a list, got 'https://pypi.ngc.nvidia.com'",
    ),
    (
        "extra-index-url-item",
        "cmd: run\nenv:\n  python:\n    type: auto\n    pip:\n      extra-index-urls:\n        - https://ok.example/simple\n        - ftp://mirror/simple\n",
        "8:11",
        "env.python.pip.extra-index-urls[1]",
        "'ftp://mirror/simple' is not an http(s) or file URL",
    ),
    (
        "index-url-masked",
        "cmd: run\nenv:\n  python:\n    type: manual\n    pip:\n      index-url: ftp://alice:hunter2@mirror/simple\n",
        "6:18",
        "env.python.pip.index-url",
        "'ftp://***@mirror/simple' is not an http(s)",
    ),
    (
        "trusted-host-url",
        "cmd: run\nenv:\n  python:\n    type: auto\n    pip:\n      trusted-hosts: [https://nvidia.com]\n",
        "6:23",
        "env.python.pip.trusted-hosts[0]",
        "not a URL: 'https://nvidia.com' (did you mean 'nvidia.com'?)",
    ),
    (
        "unknown-flag",
        "cmd: run\nflags:\n  - attach-project-disc\n",
        "3:5",
        "flags[0]",
        "unknown flag 'attach-project-disc' (did you mean 'attach-project-disk'?)",
    ),
    (
        "both-instance-type-forms",
        "cmd: run\ncloud-instance-types: [g1.1]\ncloud-instance-type: g2.1\n",
        "3:1",
        "cloud-instance-type",
        "cannot be used together with cloud-instance-types (config.yaml:2:1)",
    ),
    (
        "empty-instance-types",
        "cmd: run\ncloud-instance-types: []\n",
        "2:23",
        "cloud-instance-types",
        "at least one",
    ),
    (
        "duplicate-variable",
        "cmd: run\ninputs:\n  - main.py: DATA\noutputs:\n  - data/out.bin: DATA\n",
        "5:19",
        "outputs[0].var",
        "variable 'DATA' is already used by inputs[0].var (config.yaml:3:14)",
    ),
    (
        "bad-variable-name",
        "cmd: run\noutputs:\n  - data/out.bin: 1X\n",
        "3:19",
        "outputs[0].var",
        "'1X' is not a valid variable name",
    ),
    (
        "bad-env-name",
        "cmd: run\nenv:\n  vars:\n    - 1BAD\n",
        "4:7",
        "env.vars[0]",
        "'1BAD' is not a valid environment variable name",
    ),
    (
        "env-vars-string",
        "cmd: run\nenv:\n  vars: A=1\n",
        "3:9",
        "env.vars",
        "expected a list or a mapping, got 'A=1'",
    ),
    (
        "input-two-keys",
        "cmd: run\ninputs:\n  - main.py: A\n    other.py: B\n",
        "3:5",
        "inputs[0]",
        "expected one path per item, got 2 keys",
    ),
    (
        "output-dataset-missing-var",
        "cmd: run\noutput-datasets:\n  - name: ds\n    size: 1Gb\n",
        "3:5",
        "output-datasets[0].var",
        "required key is missing",
    ),
    (
        "spark-missing-connector",
        "cmd: run\nspark: {}\n",
        "2:8",
        "spark.connector",
        "required key is missing",
    ),
    (
        "timestamp-name",
        "cmd: run\nname: 2024-01-01\n",
        "2:7",
        "name",
        "expected a string, got '2024-01-01' (a YAML timestamp; quote it)",
    ),
    ("env-null", "cmd: run\nenv:\n", "2:5", "env", "expected a mapping, got nothing (null)"),
    (
        "args-bad-name",
        "cmd: run\nargs:\n  my-arg: 1\n",
        "3:3",
        "args.my-arg",
        "is not a valid parameter name",
    ),
    (
        "secret-id-missing",
        "cmd: run\nenv:\n  docker:\n    image: ubuntu:focal\n    password: {secret: X}\n",
        "5:16",
        "env.docker.password.secret",
        "unknown key (did you mean 'secret-id'?)",
    ),
]


@pytest.mark.parametrize(
    ("text", "where", "key", "fragment"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_bad_config(project: Path, text: str, where: str, key: str, fragment: str) -> None:
    problems = problems_of(project, text)
    prefix = "config.yaml" + (f":{where}" if where else "") + (f": {key}: " if key else ": ")
    matching = [p for p in problems if p.startswith(prefix) and fragment in p]
    assert matching, f"no problem starts with {prefix!r} and holds {fragment!r}: {problems}"
    assert len(problems) == 1, problems
    assert all("\n" not in p for p in problems)


def test_bad_cases_are_many_and_distinct() -> None:
    assert len(BAD) >= 40
    assert len({case[0] for case in BAD}) == len(BAD)


def test_merge_key_is_refused(project: Path) -> None:
    problems = problems_of(project, "cmd: run\nbase: &b {a: 1}\nenv:\n  <<: *b\n")
    assert any(p.startswith("config.yaml:4:3: env.<<: YAML merge keys") for p in problems), problems


def test_all_problems_are_reported(project: Path) -> None:
    text = """\
    name: job
    cmd: python main.py ${UNKNOWN}
    env:
      python:
        type: auto
        version: '3.11'
        pip:
          no-deps: "yes"
    """
    problems = problems_of(project, text)
    assert problems == [
        "config.yaml:2:21: cmd: undeclared variable ${UNKNOWN} (declare it in inputs, outputs, "
        "datasets, s3-mounts, args or env.vars)",
        "config.yaml:6:5: env.python.version: only allowed with type: manual (type: auto "
        "determines it; set type: manual to give it)",
        "config.yaml:8:16: env.python.pip.no-deps: expected true or false, got 'yes' "
        "(a quoted value is a string: remove the quotes)",
    ]
    with pytest.raises(ConfigError) as info:
        load_text(project, text)
    assert str(info.value).endswith("[and 2 more problems]")


def test_password_never_in_message(project: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_fixture("seed_000_docker_password.yaml", project)
    texts = [str(info.value), *map(str, info.value.problems)]
    assert all("Hunter2-Secret" not in text for text in texts)
    assert [str(p) for p in info.value.problems] == [
        "config.yaml:11:15: env.docker.password: a plain-text password is refused; secrets go by "
        "secret-id (store it as a project secret and write password: {secret-id: NAME})"
    ]


def test_credentials_masked_everywhere(project: Path) -> None:
    text = (
        "cmd: run\nname: [https://bob:pa55word@host/x]\nenv:\n  docker: https://tok3n@reg/img\n"
        "https://eve:s3cr3t@host: 1\nhttps://eve:s3cr3t@host: 2\n"
    )
    problems = problems_of(project, text)
    assert len(problems) == 4, problems
    assert all("pa55word" not in p and "tok3n" not in p and "s3cr3t" not in p for p in problems)
    assert "https://***@host/x" in problems[0] or "a list" in problems[0]


def test_valid_url_with_credential_is_kept(project: Path) -> None:
    config = load_text(
        project,
        "cmd: run\nenv:\n  python:\n    type: manual\n    pip:\n      index-url: https://user:pw@pypi.example/simple\n",
    )
    assert config.env.python is not None
    assert config.env.python.pip.index_url.value == "https://user:pw@pypi.example/simple"


# --- seeds -----------------------------------------------------------------------------------


def test_seed_001_full(project: Path) -> None:
    params = project.parent / "outside" / "params.json"
    config = load_fixture("seed_001_full.yaml", project, **{"/usr/share/params.json": str(params)})
    assert config.name == "simple-python-script"
    assert config.desc == "Program description"
    # A folded string (cmd: >) is one command: the newlines YAML keeps before the more
    # indented lines are folded too, as the shell would otherwise end the command there.
    assert config.cmd == (
        "python3 src/main.py"
        " --params ${PARAMS}"
        " --features ${bt1s3conn0example0001}/features.tsv"
        " --validate ${CIFAR}/val.json"
        " --normalizer ${DS_PROJECT_HOME}/misc/norm.bin"
        " --model ${MODEL}"
        " --epochs 5"
    )
    assert config.inputs == (
        FileSpec(path="misc/logging.yaml", var=None),
        FileSpec(path=str(params), var="PARAMS"),
    )
    assert config.inputs[1].location.line == 27
    assert config.outputs == (
        FileSpec(path="data/model.bin", var="MODEL"),
        FileSpec(path="other/metrics.png", var=None),
    )
    assert config.s3_mounts == (ResourceRef(id="bt1s3conn0example0001", var=None),)
    assert config.datasets == (ResourceRef(id="bt1dataset0example0001", var="CIFAR"),)
    assert config.env.vars == (
        EnvVar(name="DEVICE_COUNT", value="8"),
        EnvVar(name="PYTHONBUFFERED", value=None),
    )
    assert config.env.docker == DockerImage(id="b1gimage0example00001")
    assert config.env.python == PythonSpec(mode="auto")
    assert config.flags == ("attach-project-disk",)
    assert config.cloud_instance_types == ("g2.1", "g1.1")
    assert config.working_storage == WorkingStorage(type="SSD", size_bytes=150 * GiB)
    assert config.graceful_shutdown == GracefulShutdown(signal="SIGTERM", timeout_seconds=15.0)
    (dataset,) = config.output_datasets
    assert (dataset.name, dataset.var, dataset.description) == (
        "job-test-dataset-1",
        "OUT_DS",
        "Description",
    )
    assert dataset.size_bytes == 100 * GiB
    assert dataset.labels == (("a", "b"), ("c", "d"))
    assert config.spark is not None and config.spark.connector == "bt1spark0example00001"
    assert config.warnings == ()
    assert config.project_dir == project
    assert config.source == "config.yaml"


def test_seed_000_full(project: Path) -> None:
    params = project.parent / "outside" / "params.json"
    config = load_fixture("seed_000_full.yaml", project, **{"/usr/share/params.json": str(params)})
    raw = yaml.safe_load((FIXTURES / "seed_000_full.yaml").read_text())
    # A folded cmd is one command: the newlines YAML keeps (before more indented lines) fold too.
    assert raw["cmd"].startswith("python src/main.py \n  --params ${PARAMS} \n")
    assert config.cmd == re.sub(r"\n[ \t]*", " ", raw["cmd"].rstrip("\n"))
    assert "\n" not in config.cmd
    assert config.env.vars == (
        EnvVar(name="PYTHONBUFFERED", value="Yes"),
        EnvVar(name="DEVICE_COUNT", value="8"),
    )
    assert config.cloud_instance_types == ("g2.1",)
    assert config.env.docker == DockerImage(id="b1gimage0example00001")
    assert config.env.python == PythonSpec(mode="auto")
    assert config.graceful_shutdown is None  # absent: SIGKILL on cancel
    assert config.working_storage is None


def test_seed_001_docker_registry(project: Path) -> None:
    config = load_fixture("seed_001_docker_registry.yaml", project)
    assert config.env.docker == DockerImage(
        image="cr.yandex/crtabcdef12345678900/myenv:0.1",
        username="json_key",
        password_secret_id="PASSWORD",
    )


def test_seed_001_manual_block_is_invalid(project: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_fixture("seed_001_manual.yaml", project)
    assert [str(p) for p in info.value.problems] == [
        "config.yaml:21:5: env.python.local-paths: cannot be used together with env.python.root-path (config.yaml:19:5)"
    ]
    fixed = load_fixture(
        "seed_001_manual.yaml",
        project,
        **{"    root-path:   #": "    # root-path:", "      - other.py": "#"},
    )
    python = fixed.env.python
    assert python is not None and python.mode == "manual"
    assert python.version == Setting(value="3.10.13", given=True)
    assert python.requirements_file.value == "requirements.txt"
    assert python.local_paths.value == ("foo.py", "lib/")
    assert python.pip.index_url.value == "https://pypi.org/simple"
    assert python.pip.extra_index_urls.value == ("https://pypi.ngc.nvidia.com",)
    assert python.pip.trusted_hosts.value == ("nvidia.com",)
    assert python.pip.no_deps == Setting(value=True, given=True)
    assert python.fields_to_derive() == ("root_paths",)


def test_seed_000_manual(project: Path) -> None:
    python = load_fixture("seed_000_manual.yaml", project).env.python
    assert python is not None and python.mode == "manual"
    assert python.given_fields() == ("version", "requirements_file")
    assert python.fields_to_derive() == (
        "root_paths", "local_paths", "pip.index_url", "pip.extra_index_urls", "pip.trusted_hosts",
    )  # fmt: skip
    assert python.pip.no_deps == Setting(value=False, given=False)  # documented default, not derived
    assert python.version.location is not None and python.version.location.line == 7


def test_seed_002_auto(project: Path) -> None:
    config = load_fixture("seed_002_auto.yaml", project)
    assert config.cmd == "python main.py --epochs 5"
    assert config.env.python == PythonSpec(mode="auto")
    assert config.env.python.fields_to_derive() == (
        "version", "requirements_file", "root_paths", "local_paths",
        "pip.index_url", "pip.extra_index_urls", "pip.trusted_hosts",
    )  # fmt: skip


def test_seed_002_auto_modified(project: Path) -> None:
    config = load_fixture("seed_002_auto_modified.yaml", project)
    python = config.env.python
    assert python is not None and python.mode == "auto"
    assert python.root_paths == Setting(value=("other.py",), given=True)
    assert python.pip.extra_index_urls.value == ("https://pypi.ngc.nvidia.com",)
    assert python.pip.trusted_hosts.value == ("nvidia.com",)
    assert python.pip.no_deps.value is True
    assert config.warnings == ("config.yaml:8:5: env.python.root-path: deprecated spelling of 'root-paths'",)


def test_seed_002_manual(project: Path) -> None:
    python = load_fixture("seed_002_manual.yaml", project).env.python
    assert python is not None
    assert python.version.value == "3.10.13"
    assert python.requirements_file.value == "requirements.txt"
    assert python.local_paths.value == ("foo.py", "lib/")
    assert python.root_paths.must_derive


@pytest.mark.parametrize("mode", ["auto", "manual"])
def test_seed_002_entry_points(project: Path, mode: str) -> None:
    config = load_fixture("seed_002_entry_points.yaml", project, **{"type: auto": f"type: {mode}"})
    python = config.env.python
    assert python is not None and python.mode == mode
    assert python.root_paths.value == ("main.py", "other.py")
    assert config.warnings == ()


def test_seed_002_plain(project: Path) -> None:
    config = load_fixture("seed_002_plain.yaml", project)
    assert config.cmd == "./run.sh"
    assert config.inputs == (FileSpec(path="run.sh"),)
    assert config.env.python is None


@pytest.mark.parametrize("name", ["seed_002_manual.yaml", "seed_002_entry_points.yaml"])
def test_seed_fragments_without_cmd(project: Path, name: str) -> None:
    text = "\n".join(line for line in (FIXTURES / name).read_text().splitlines() if not line.startswith("cmd:"))
    problems = problems_of(project, text)
    assert len(problems) == 1 and problems[0].endswith(": cmd: required key is missing (cmd is the command that runs the job)")


def test_every_fixture_is_tested() -> None:
    tested = {
        "seed_000_docker_password.yaml", "seed_000_full.yaml", "seed_000_manual.yaml",
        "seed_001_docker_registry.yaml", "seed_001_full.yaml", "seed_001_manual.yaml",
        "seed_002_auto.yaml", "seed_002_auto_modified.yaml", "seed_002_entry_points.yaml",
        "seed_002_manual.yaml", "seed_002_plain.yaml",
    }  # fmt: skip
    assert {path.name for path in FIXTURES.glob("*.yaml")} == tested


# --- good configs: forms and rules ---------------------------------------------------------------


GOOD: list[tuple[str, str]] = [
    ("minimal", "cmd: run\n"),
    ("python-auto-string", "cmd: run\nenv: {python: auto}\n"),
    ("python-auto-mapping", "cmd: run\nenv: {python: {type: auto}}\n"),
    ("manual-version-int", "cmd: run\nenv: {python: {type: manual, version: 3}}\n"),
    ("manual-pip-only", "cmd: run\nenv: {python: {type: manual, pip: {no-deps: TRUE}}}\n"),
    ("manual-local-paths-empty", "cmd: run\nenv: {python: {type: manual, local-paths: []}}\n"),
    ("input-var-mapping", "cmd: cat ${P}\ninputs:\n  - main.py: {var: P}\n"),
    ("input-var-short", "cmd: cat ${P}\ninputs:\n  - main.py: P\n"),
    ("input-absolute-with-var", "cmd: cat ${P}\ninputs:\n  - /etc/hostname: P\n"),
    ("shell-var-left-alone", "cmd: echo $HOME ${A}\nargs: {A: 1}\n"),
    ("env-var-ref", "cmd: echo ${TOKEN}\nenv:\n  vars: [TOKEN]\n"),
    ("dataset-by-id", "cmd: ls ${ds1}\ndatasets: [ds1]\n"),
    (
        "output-dataset-var",
        "cmd: ls ${OUT}\noutput-datasets:\n  - {name: n, var: OUT, size: 1Gb}\n",
    ),
    ("project-home-with-flag", "cmd: ls ${DS_PROJECT_HOME}\nflags: [attach-project-disk]\n"),
    ("signal-only", "cmd: run\ngraceful-shutdown: {signal: SIGUSR1}\n"),
    ("storage-10TB", "cmd: run\nworking-storage: {size: 10 TB}\n"),
    (
        "local-paths-dir",
        "cmd: run\nenv:\n  python:\n    type: manual\n    local-paths: [lib/, lib/util.py]\n",
    ),
    (
        "file-index-url",
        "cmd: run\nenv: {python: {type: auto, pip: {index-url: 'file:///srv/wheels'}}}\n",
    ),
    (
        "trusted-host-port",
        "cmd: run\nenv: {python: {type: auto, pip: {trusted-hosts: ['pypi.local:8080']}}}\n",
    ),
]


@pytest.mark.parametrize("text", [case[1] for case in GOOD], ids=[case[0] for case in GOOD])
def test_good_config(project: Path, text: str) -> None:
    config = load_text(project, text)
    assert config.cmd
    assert config.warnings == ()


def test_names_that_yaml_reads_as_other_types(project: Path) -> None:
    config = load_text(project, "cmd: echo ${ON} ${NO}\nargs: {NO: 0}\nenv:\n  vars:\n    ON: yes\n")
    assert config.env.vars == (EnvVar(name="ON", value="yes"),)
    assert config.args == (("NO", "0"),)


def test_python_auto_forms_are_equal(project: Path) -> None:
    short = load_text(project, "cmd: run\nenv: {python: auto}\n")
    long = load_text(project, "cmd: run\nenv:\n  python:\n    type: auto\n")
    assert short.env.python == long.env.python == PythonSpec(mode="auto")


def test_project_home_without_flag_warns(project: Path) -> None:
    config = load_text(project, "cmd: ls ${DS_PROJECT_HOME}\n")
    assert config.warnings == ("config.yaml:1:9: cmd: ${DS_PROJECT_HOME} is set only with flags: [attach-project-disk]",)


@pytest.mark.parametrize(
    ("written", "expected"),
    [("true", True), ("True", True), ("TRUE", True), ("false", False), ("FALSE", False),
     ("yes", True), ("Yes", True), ("NO", False), ("on", True), ("Off", False)],
)  # fmt: skip
def test_booleans_accepted(project: Path, written: str, expected: bool) -> None:
    config = load_text(project, f"cmd: run\nenv: {{python: {{type: auto, pip: {{no-deps: {written}}}}}}}\n")
    assert config.env.python is not None and config.env.python.pip.no_deps.value is expected


@pytest.mark.parametrize("written", ['"yes"', "'true'", "tRue", "y", "n", "1", "0", "null"])
def test_booleans_refused(project: Path, written: str) -> None:
    problems = problems_of(project, f"cmd: run\nenv: {{python: {{type: auto, pip: {{no-deps: {written}}}}}}}\n")
    assert len(problems) == 1 and "env.python.pip.no-deps: expected true or false, got" in problems[0]


@pytest.mark.parametrize(
    ("written", "expected"),
    [("8", "8"), ("010", "010"), ("3.10", "3.10"), ("Yes", "Yes"), ("true", "true"), ("'x y'", "x y"),
     ("2024-01-01", "2024-01-01"), ("", None), ("~", None)],
)  # fmt: skip
def test_env_values_are_verbatim(project: Path, written: str, expected: str | None) -> None:
    mapping = load_text(project, f"cmd: run\nenv:\n  vars:\n    X: {written}\n")
    listed = load_text(project, f"cmd: run\nenv:\n  vars:\n    - X: {written}\n")
    assert mapping.env.vars == listed.env.vars == (EnvVar(name="X", value=expected),)


@pytest.mark.parametrize(
    ("text", "size"),
    [("150Gb", 150 * GiB), ("100GB", 100 * GiB), ("1Tb", TiB), ("10 TB", 10 * TiB), ("512Mb", 512 * 2**20),
     ("1.5Tb", 3 * TiB // 2), ("2GiB", 2 * GiB), ("4g", 4 * GiB), ("1k", 1024)],
)  # fmt: skip
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["150", "Gb", "1.2.3Gb", "10 PB", "-1Gb", "1 G B", ""])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15s", 15),
        ("1m", 60),
        ("2h", 7200),
        ("1d2h3m", 93780),
        ("1m30s", 90),
        ("90", 90),
        ("1.5s", 1.5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "1.5", "15 sec", "1s1m", "1:30", "-5s", "1h 30m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_timeout_as_integer_seconds(project: Path) -> None:
    config = load_text(project, "cmd: run\ngraceful-shutdown:\n  signal: SIGINT\n  timeout: 90\n")
    assert config.graceful_shutdown == GracefulShutdown(signal="SIGINT", timeout_seconds=90.0)


def test_graceful_shutdown_defaults(project: Path) -> None:
    config = load_text(project, "cmd: run\ngraceful-shutdown: {}\n")
    assert config.graceful_shutdown == GracefulShutdown(signal="SIGTERM", timeout_seconds=15.0)


# --- the Python API (mapping input), defaults --------------------------------------------------


def test_parse_mapping_has_key_paths_only() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"cmd": "run", "env": {"python": {"type": "auto", "pip": {"no-deps": "yes"}}}})
    assert [str(p) for p in info.value.problems] == ["<config>: env.python.pip.no-deps: expected true or false, got 'yes'"]


def test_parse_mapping_float_version() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"cmd": "run", "env": {"python": {"type": "manual", "version": 3.1}}}, source="job.yaml")
    assert str(info.value) == (
        "job.yaml: env.python.version: expected a version string, got the number 3.1; YAML reads 3.10 as 3.1, quote it: '3.1'"
    )


def test_parse_mapping_good(tmp_path: Path) -> None:
    config = parse_config(
        {
            "cmd": "python main.py ${N}",
            "args": {"N": 3},
            "env": {"vars": {"FLAG": True, "N2": 2.5}},
        },
        source="api",
    )
    assert config.args == (("N", "3"),)
    assert config.env.vars == (EnvVar(name="FLAG", value="true"), EnvVar(name="N2", value="2.5"))
    assert config.project_dir == Path.cwd()
    assert config.source == "api"


def test_parse_text_without_project_dir_skips_disk() -> None:
    config = parse_config("cmd: run\ninputs: [not/on/disk.txt]\n")
    assert config.inputs == (FileSpec(path="not/on/disk.txt"),)
    with pytest.raises(ConfigError, match=r"inputs\[0\]: '\.\./x' contains '\.\.'"):
        parse_config("cmd: run\ninputs: ['../x']\n")


def test_parse_text_with_project_dir(project: Path) -> None:
    config = parse_config("cmd: run\ninputs: [main.py]\n", source="c.yaml", project_dir=project)
    assert config.project_dir == project
    with pytest.raises(ConfigError, match=r"c.yaml:2:10: inputs\[0\]: 'nope.py' does not exist"):
        parse_config("cmd: run\ninputs: [nope.py]\n", source="c.yaml", project_dir=project)


def test_load_config_project_dir_default_and_override(tmp_path: Path, project: Path) -> None:
    nested = tmp_path / "elsewhere"
    nested.mkdir()
    (nested / "config.yaml").write_text("cmd: run\ninputs: [main.py]\n")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(nested / "config.yaml")
    assert load_config(nested / "config.yaml", project_dir=project).project_dir == project


def test_load_config_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"cmd: run\nname: \xff\n")
    with pytest.raises(ConfigError, match=r"bin.yaml:2: not UTF-8 text"):
        load_config(tmp_path / "bin.yaml")
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path)


def test_cmd_folded_keeps_text(project: Path) -> None:
    config = load_text(project, "cmd: >\n  python main.py\n  --epochs 5\n\nname: x\n")
    assert config.cmd == "python main.py --epochs 5"


def test_models_are_frozen(project: Path) -> None:
    config = load_text(project, "cmd: run\n")
    with pytest.raises(AttributeError):
        config.cmd = "other"  # type: ignore[misc]


# --- _yaml ---------------------------------------------------------------------------------


def test_yaml_positions_and_kinds() -> None:
    document = _yaml.compose("a: 3.10\nb: 'yes'\nc: yes\nd:\n  - x\n", source="f.yaml")
    root = document.root
    assert isinstance(root, _yaml.Mapping)
    a, b, c, d = root.entries
    assert isinstance(a.value, _yaml.Scalar) and (a.value.kind, a.value.value, a.value.text) == (
        "float",
        3.1,
        "3.10",
    )
    assert isinstance(b.value, _yaml.Scalar) and (b.value.kind, b.value.quoted) == ("str", True)
    assert isinstance(c.value, _yaml.Scalar) and c.value.value is True
    assert (d.key.line, d.key.column) == (4, 1)
    assert isinstance(d.value, _yaml.Sequence) and (
        d.value.items[0].line,
        d.value.items[0].column,
    ) == (5, 5)


def test_yaml_duplicates_keep_first() -> None:
    document = _yaml.compose("a: 1\na: 2\n")
    assert isinstance(document.root, _yaml.Mapping)
    assert len(document.root.entries) == 1 and document.root.entries[0].key.line == 1
    assert [str(p) for p in document.problems] == ["<config>:2:1: a: duplicate key (first given at line 1)"]


def test_yaml_recursive_alias_and_python_cycles() -> None:
    document = _yaml.compose("a: &x [*x]\n")
    assert any("recursive YAML alias" in str(p) for p in document.problems)
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ConfigError):
        parse_config({"cmd": "run", "inputs": loop})


def test_yaml_syntax_error_is_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        _yaml.compose("a: [1, 2\nb: 3\n", source="x.yaml")
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("x.yaml:2:")


def test_yaml_reader_error() -> None:
    with pytest.raises(ConfigError, match=r"x.yaml:1:7: invalid YAML: unacceptable character #x0000"):
        _yaml.compose("cmd: a\x00", source="x.yaml")


def test_yaml_deep_nesting() -> None:
    with pytest.raises(ConfigError):
        parse_config("cmd: " + "[" * 600)


# --- fuzz: only EnvcaptureError escapes, and nothing is written ----------------------------------

KEYS = [
    "name", "desc", "cmd", "args", "inputs", "outputs", "s3-mounts", "datasets", "env", "vars",
    "docker", "python", "type", "auto", "manual", "version", "requirements-file", "root-paths",
    "root-path", "local-paths", "pip", "index-url", "extra-index-urls", "trusted-hosts", "no-deps",
    "flags", "cloud-instance-types", "cloud-instance-type", "working-storage", "size",
    "graceful-shutdown", "signal", "timeout", "output-datasets", "labels", "spark", "connector",
    "var", "image", "username", "password", "secret-id", "main.py", "lib/", "escape/secret.py",
    "../x", "/etc/hostname", "${X}", "X",
]  # fmt: skip

scalars = st.one_of(
    st.sampled_from(KEYS),
    st.sampled_from(["3.10", "150Gb", "15s", "SIGTERM", "true", "yes", "https://u:p@h/x", "", "1:30"]),
    st.text(max_size=12),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=5),
    ),
    max_leaves=15,
)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # only speeds the test up
top_level = st.dictionaries(st.sampled_from(KEYS), documents, max_size=6)


def _listing(*roots: Path) -> set[tuple[str, float, int]]:
    out: set[tuple[str, float, int]] = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = Path(dirpath, name)
                stat = path.lstat()
                out.add((str(path), stat.st_mtime, stat.st_size))
    return out


@pytest.fixture(scope="module")
def fuzz_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("fuzz") / "project")


def _feed(project: Path, text: str, obj: object | None) -> None:
    config_file = project / "config.yaml"
    config_file.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = _listing(project.parent)
    calls = [lambda: load_config(config_file)]
    if isinstance(obj, dict):
        calls.append(lambda: parse_config(obj))  # the mapping API
    else:
        calls.append(lambda: parse_config(text))  # text, no disk checks
    for call in calls:
        try:
            result = call()
        except EnvcaptureError as exc:
            assert exc.exit_code == 2
            assert all("\n" not in str(p) for p in getattr(exc, "problems", ()))
        else:
            assert isinstance(result, JobConfig)
    assert _listing(project.parent) == before


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=st.one_of(top_level, documents))
def test_fuzz_structured(fuzz_project: Path, obj: object) -> None:
    cwd = os.getcwd()
    os.chdir(fuzz_project)
    try:
        _feed(fuzz_project, yaml.dump(obj, Dumper=DUMPER, allow_unicode=True), obj)
    finally:
        os.chdir(cwd)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(max_size=200), st.text(alphabet="-:{}[]&*!|>'\"#%@` \n\tabcy0123.,?", max_size=80)))
def test_fuzz_text(fuzz_project: Path, text: str) -> None:
    cwd = os.getcwd()
    os.chdir(fuzz_project)
    try:
        _feed(fuzz_project, text, None)
    finally:
        os.chdir(cwd)


# --- cmd: literal and folded blocks, and where cmd is written -----------------------------------


@pytest.mark.parametrize(
    ("text", "cmd"),
    [
        # a literal block keeps its newlines: each line is a command, as in sh
        ("cmd: |\n  mkdir -p out\n  python train.py\n", "mkdir -p out\npython train.py"),
        ("cmd: |-\n  mkdir -p out\n\n  python train.py\n", "mkdir -p out\n\npython train.py"),
        # a folded block is one command, also where YAML keeps a newline (more indented lines)
        ("cmd: >\n  python train.py\n    --epochs 5\n    --lr 0.1\n", "python train.py --epochs 5 --lr 0.1"),
        ("cmd: >\n  python train.py\n  --epochs 5\n", "python train.py --epochs 5"),
        ("cmd: !!str >\n  python a.py\n     --x 1\n", "python a.py --x 1"),
        # plain and quoted scalars: YAML's own folding; an escaped newline stays one
        ("cmd: python train.py\n  --epochs 5\n", "python train.py --epochs 5"),
        ('cmd: "mkdir out\\npython train.py"\n', "mkdir out\npython train.py"),
    ],
)
def test_cmd_blocks(text: str, cmd: str) -> None:
    assert parse_config(text).cmd == cmd


def test_cmd_location_of_a_word() -> None:
    text = "name: j\ncmd: |\n  mkdir -p out\n  python prep_train.py && python train.py\nenv:\n  python: auto\n"
    config = parse_config(text, source="config.yaml")
    assert str(config.cmd_location) == "config.yaml:2:6: cmd"
    assert str(config.cmd_location_of("train.py")) == "config.yaml:4:34: cmd"  # the word, not inside prep_train.py
    assert str(config.cmd_location_of("prep_train.py")) == "config.yaml:4:10: cmd"
    assert config.cmd_location_of("absent.py") == config.cmd_location
    one = parse_config("cmd: 'python a.py'\n", source="c.yaml")
    assert str(one.cmd_location_of("a.py")) == "c.yaml:1:14: cmd"
    from_data = parse_config({"cmd": "python a.py"})
    assert str(from_data.cmd_location_of("a.py")) == "<config>: cmd"  # no text, no line
