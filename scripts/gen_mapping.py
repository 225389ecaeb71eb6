#!/usr/bin/env python3
"""Regenerate ``envcapture/data/wheel_mapping.txt``: import names -> distributions, read from real wheels.

Usage::

    python scripts/gen_mapping.py --ranking pypi.tsv [--top 900] [--wheels DIR] [--jobs 8]

``--ranking`` is a tab-separated list of PyPI projects with a header line holding the
columns ``name`` and ``rank_among_15000_most_downloaded`` (the download rank, 1 = most
downloaded). The ``--top`` most downloaded projects, plus the curated ML/data/web projects
below, are downloaded as wheels with the ordinary client
(``pip download --no-deps --only-binary :all:``) into ``--wheels`` (kept between runs, so a
rerun downloads only what is new), and each wheel's ``RECORD`` (its file list) is read:

* a top-level module or regular package (``yaml/__init__.py``, ``six.py``, ``_cffi_backend.so``)
  gives its top-level name;
* inside a PEP 420 namespace directory (no ``__init__.py``: ``google/cloud/bigquery/...``),
  the first regular package or module below it gives the dotted name
  (``google.cloud.bigquery``); the namespace directories themselves are written as
  ``google.cloud:-`` ("no guess"), so a lookup never lands on a sibling portion.

When several projects provide the same import name, all are written, the most downloaded
first: it is the guess (``yaml`` is PyYAML, not a fork that ships a ``yaml`` package too), and
the others let a declared one match (``cv2`` of a declared opencv-python-headless). Names of the standard
library, private names and generic names (``tests``, ``docs``, ``utils``) are left out.
Projects whose wheels are too large to download here for a file list (torch, tensorflow...)
are in ``_SKIP``: their import names are their project names, or are in ``extra_mapping.txt``.

The output is deterministic for a given set of wheels: sorted, one ``module:Project`` a line.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "envcapture" / "data" / "wheel_mapping.txt"
STDLIB = ROOT / "envcapture" / "data" / "stdlib_modules.json"

# ML, data and web projects real training repositories import, beyond the download ranking's
# top: read in any case.
CURATED = [
    "absl-py",
    "accelerate",
    "aiohttp",
    "albumentations",
    "alembic",
    "altair",
    "annoy",
    "antlr4-python3-runtime",
    "apache-beam",
    "astor",
    "attrs",
    "av",
    "bitsandbytes",
    "black",
    "bokeh",
    "boto3",
    "catboost",
    "category-encoders",
    "chromadb",
    "click",
    "cloudpickle",
    "colorama",
    "coloredlogs",
    "cupy-cuda12x",
    "cython",
    "dacite",
    "dask",
    "datasets",
    "decord",
    "deepspeed",
    "diffusers",
    "dill",
    "docopt",
    "editdistance",
    "einops",
    "ema-pytorch",
    "evaluate",
    "faiss-cpu",
    "fastapi",
    "filelock",
    "fire",
    "flask",
    "flax",
    "ftfy",
    "fvcore",
    "gdown",
    "gin-config",
    "gitpython",
    "gradio",
    "gym",
    "gymnasium",
    "h5py",
    "huggingface-hub",
    "hydra-core",
    "imageio",
    "imagesize",
    "imgaug",
    "iopath",
    "ipython",
    "jax",
    "jinja2",
    "joblib",
    "jsonlines",
    "jsonschema",
    "kornia",
    "langchain",
    "librosa",
    "lightgbm",
    "lightning",
    "llvmlite",
    "lmdb",
    "loguru",
    "lpips",
    "lxml",
    "markdown",
    "matplotlib",
    "ml-collections",
    "mlflow",
    "more-itertools",
    "motor",
    "msgpack",
    "mujoco",
    "nltk",
    "networkx",
    "ninja",
    "numba",
    "numpy",
    "omegaconf",
    "onnx",
    "onnxruntime",
    "open-clip-torch",
    "openai",
    "opencv-contrib-python",
    "opencv-python",
    "opencv-python-headless",
    "optax",
    "optuna",
    "orjson",
    "packaging",
    "pandas",
    "peft",
    "pillow",
    "plotly",
    "polars",
    "portalocker",
    "prettytable",
    "protobuf",
    "psutil",
    "psycopg2-binary",
    "pyarrow",
    "pycocotools",
    "pydantic",
    "pydub",
    "pyglet",
    "pygments",
    "pymongo",
    "pynvml",
    "pyopengl",
    "pytest",
    "python-dateutil",
    "python-dotenv",
    "python-json-logger",
    "python-multipart",
    "pytorch-lightning",
    "pytz",
    "pyyaml",
    "pyzmq",
    "ray",
    "redis",
    "regex",
    "requests",
    "rich",
    "rouge-score",
    "ruamel-yaml",
    "safetensors",
    "scikit-image",
    "scikit-learn",
    "scipy",
    "seaborn",
    "sentencepiece",
    "sentry-sdk",
    "shapely",
    "simplejson",
    "six",
    "smart-open",
    "soundfile",
    "spacy",
    "sqlalchemy",
    "starlette",
    "sympy",
    "tabulate",
    "tensorboard",
    "tensorboardx",
    "termcolor",
    "thop",
    "threadpoolctl",
    "tiktoken",
    "timm",
    "tokenizers",
    "toml",
    "tomli",
    "torchmetrics",
    "tqdm",
    "transformers",
    "trimesh",
    "typer",
    "typing-extensions",
    "ujson",
    "uvicorn",
    "wandb",
    "webdataset",
    "websockets",
    "xxhash",
    "zarr",
    "beautifulsoup4",
    "pyjwt",
    "python-magic",
    "google-cloud-bigquery",
    "google-cloud-storage",
    "google-cloud-pubsub",
    "google-cloud-aiplatform",
    "google-cloud-core",
    "google-api-core",
    "google-auth",
    "google-cloud-secret-manager",
    "google-genai",
    "googleapis-common-protos",
    "grpcio",
    "protobuf",
    "azure-storage-blob",
    "azure-identity",
    "azure-core",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "zope-interface",
    "ml-dtypes",
    "keras",
    "tensorflow-datasets",
    "tensorflow-hub",
    "nvidia-ml-py",
    "pycuda",
    "mpi4py",
    "horovod",
    "fairscale",
    "xformers",
    "apex",
    "sacrebleu",
    "jiwer",
    "pesq",
    "pystoi",
    "torch-fidelity",
    "clean-fid",
    "kaggle",
    "streamlit",
    "dash",
    "pyspark",
    "s3fs",
    "gcsfs",
    "fsspec",
]

# Wheels too large to fetch for a file list, or with no wheel for this machine.
_SKIP = frozenset(
    [
        "torch",
        "torchvision",
        "torchaudio",
        "tensorflow",
        "tensorflow-cpu",
        "tensorflow-gpu",
        "tensorflow-intel",
        "jaxlib",
        "triton",
        "xgboost",
        "nvidia-cudnn-cu12",
        "nvidia-cublas-cu12",
        "nvidia-cuda-runtime-cu12",
        "nvidia-cusparse-cu12",
        "nvidia-cufft-cu12",
        "nvidia-nccl-cu12",
        "nvidia-cusolver-cu12",
        "nvidia-curand-cu12",
        "nvidia-nvjitlink-cu12",
        "nvidia-cuda-nvrtc-cu12",
        "nvidia-cuda-cupti-cu12",
        "nvidia-nvtx-cu12",
        "nvidia-cusparselt-cu12",
        "nvidia-cufile-cu12",
        "cupy-cuda12x",
        "cupy-cuda11x",
        "tensorrt",
        "deepspeed",
        "apex",
        "horovod",
        "vllm",
        "flash-attn",
        "mxnet",
        "paddlepaddle",
        "ray",
        "pyspark",
        "opencv-contrib-python",
        "llvmlite",
        "onnxruntime-gpu",
        "bitsandbytes",
        "xformers",
        "jax-cuda12-plugin",
        "libcudf-cu12",
        "cudf-cu12",
        "torch-tensorrt",
    ]
)

# Generic or local-sounding names a project ships by accident; a job's own module of that
# name must not be attributed to it.
_GENERIC = frozenset(
    [
        "tests",
        "test",
        "testing",
        "docs",
        "doc",
        "examples",
        "example",
        "benchmarks",
        "benchmark",
        "scripts",
        "script",
        "tools",
        "utils",
        "util",
        "common",
        "src",
        "lib",
        "build",
        "setup",
        "conftest",
        "main",
        "app",
        "core",
        "data",
        "models",
        "model",
        "config",
        "settings",
        "helpers",
        "bin",
        "demo",
        "demos",
        "samples",
        "sample",
        "tasks",
        "task",
        "plugins",
        "plugin",
        "api",
        "server",
        "client",
        "cli",
        "version",
    ]
)


def _ranking(path: Path, top: int) -> list[tuple[int, str]]:
    """(rank, project) of the ``top`` most downloaded projects, by rank."""
    rows: list[tuple[int, str]] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        for row in reader:
            rank = (row.get("rank_among_15000_most_downloaded") or "").strip()
            if rank.isdigit():
                rows.append((int(rank), row["name"].strip()))
    rows.sort()
    return rows[:top]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _key(name: str) -> str:
    return _canonical(name).replace("-", "_")


def _have(project: str, wheels: Path) -> Path | None:
    for found in wheels.glob("*.whl"):
        if _key(found.name.split("-", 1)[0]) == _key(project):
            return found
    return None


def _pip_download(projects: list[str], wheels: Path) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
             "--disable-pip-version-check", "-d", tmp, *projects],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        for got in Path(tmp).glob("*.whl"):
            got.replace(wheels / got.name)
        last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
        return done.returncode == 0, last


def _download_batch(batch: list[str], wheels: Path) -> list[tuple[str, Path | None, str]]:
    """The wheels of ``batch``: one pip run for all, one per project if that fails."""
    todo = [p for p in batch if _have(p, wheels) is None]
    if todo:
        ok, _ = _pip_download(todo, wheels)
        if not ok:
            for project in todo:
                if _have(project, wheels) is None:
                    _pip_download([project], wheels)
    out = []
    for project in batch:
        found = _have(project, wheels)
        out.append((project, found, "" if found else "no wheel for this platform, or not on the index"))
    return out


def _wheel_facts(wheel: Path) -> tuple[str, list[str], list[str]]:
    """(project name as written, import names, namespace directories) of one wheel."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        metadata = archive.read(meta_name).decode("utf-8", "replace")
    project = next(
        (line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Name:")),
        wheel.name.split("-", 1)[0],
    )
    files = []
    for name in names:
        parts = name.split("/")
        if parts[0].endswith((".dist-info", ".data")) or "__pycache__" in parts:
            continue
        files.append(parts)
    packages = {tuple(p[:-1]) for p in files if p[-1] in ("__init__.py", "__init__.pyc") or p[-1].startswith("__init__.")}
    imports: set[str] = set()
    namespaces: set[str] = set()
    for parts in files:
        dirs, filename = parts[:-1], parts[-1]
        if not all(d.isidentifier() for d in dirs):
            continue
        stem = filename.split(".", 1)[0]
        is_module = filename.endswith((".py", ".so", ".pyd")) and stem.isidentifier()
        # Walk down: the first regular package (or the module itself) is the import name.
        for depth in range(1, len(dirs) + 1):
            if tuple(dirs[:depth]) in packages:
                imports.add(".".join(dirs[:depth]))
                break
            namespaces.add(".".join(dirs[:depth]))
        else:
            if is_module and stem != "__init__":
                imports.add(".".join([*dirs, stem]))
    namespaces -= imports
    # A namespace directory holding nothing but data is not a namespace of Python code.
    namespaces = {n for n in namespaces if any(i.startswith(n + ".") for i in imports)}
    return project, sorted(imports), sorted(namespaces)


def _stdlib() -> set[str]:
    data = json.loads(STDLIB.read_text("utf-8"))
    names: set[str] = set()
    for modules in data["versions"].values():
        names.update(modules)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranking", type=Path, required=True)
    parser.add_argument("--top", type=int, default=900)
    parser.add_argument("--wheels", type=Path, default=Path(tempfile.gettempdir()) / "envcapture-mapping-wheels")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    ranked = _ranking(args.ranking, args.top)
    rank = {_canonical(name): r for r, name in ranked}
    projects = [name for _, name in ranked]
    for name in CURATED:
        if _canonical(name) not in rank:
            rank[_canonical(name)] = 100_000
            projects.append(name)
    projects = [p for p in dict.fromkeys(projects) if _canonical(p) not in _SKIP and not _canonical(p).startswith("nvidia-")]
    args.wheels.mkdir(parents=True, exist_ok=True)
    batches = [projects[i : i + 25] for i in range(0, len(projects), 25)]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = [r for batch in pool.map(lambda b: _download_batch(b, args.wheels), batches) for r in batch]
    stdlib = _stdlib()
    providers: dict[str, set[tuple[int, str]]] = {}
    shared: dict[str, set[str]] = {}
    missing = []
    for project, wheel, why in results:
        if wheel is None:
            missing.append(f"{project}: {why}")
            continue
        try:
            written, imports, namespaces = _wheel_facts(wheel)
        except (zipfile.BadZipFile, StopIteration, KeyError) as exc:
            missing.append(f"{project}: unreadable wheel ({exc})")
            continue
        r = rank.get(_canonical(written), rank.get(_canonical(project), 100_000))
        for ns in namespaces:
            shared.setdefault(ns, set()).add(written)
        for module in imports:
            top = module.split(".")[0]
            if top in stdlib or top.startswith("_") or top in _GENERIC or module.split(".")[-1].startswith("_"):
                continue
            providers.setdefault(module, set()).add((r, written))
    lines = []
    for ns in sorted(shared):
        top = ns.split(".")[0]
        if top in stdlib or top in _GENERIC or top.startswith("_") or ns in providers or len(shared[ns]) < 2:
            continue
        lines.append(f"{ns}:-")
    for module, found in sorted(providers.items()):
        # The most downloaded first: it is the guess; the others still match a declaration.
        for _, project in sorted(found, key=lambda rp: (rp[0], rp[1].lower())):
            lines.append(f"{module}:{project}")
    header = (
        "# Generated by scripts/gen_mapping.py from the RECORD of real wheels of the most downloaded\n"
        f"# PyPI projects ({len(results) - len(missing)} wheels read). Do not edit: fix names in\n"
        "# extra_mapping.txt, which wins. `module:-` marks a namespace shared by several projects.\n"
    )
    args.output.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{args.output}: {len(lines)} entries from {len(results) - len(missing)} wheels; {len(missing)} without a wheel")
    for line in missing:
        print("  no wheel:", line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
