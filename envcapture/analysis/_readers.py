"""The callables that read (or run) a file named by one argument: tables, not code.

Each row maps a callable, by the qualified name the module's imports give it (``np.load``
after ``import numpy as np`` is ``numpy.load``; ``Image.open`` after ``from PIL import
Image`` is ``PIL.Image.open``), to the position and keyword of its path argument. A call
counts only when that argument is a literal path (or one built from literals and
``__file__``) naming a file of the project. Add a row to teach envcapture another reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["CLI_DEFAULTS", "EXECUTORS", "OPENERS", "READERS", "reader_markers"]

READERS: Final[Mapping[str, tuple[int, str]]] = {
    # builtins and the standard library
    "open": (0, "file"),
    "builtins.open": (0, "file"),
    "io.open": (0, "file"),
    "codecs.open": (0, "filename"),
    "gzip.open": (0, "filename"),
    "bz2.open": (0, "filename"),
    "lzma.open": (0, "filename"),
    "tarfile.open": (0, "name"),
    "zipfile.ZipFile": (0, "file"),
    "wave.open": (0, "f"),
    "tomllib.load": (0, "fp"),
    "toml.load": (0, "f"),
    # numpy, pandas, scipy
    "numpy.load": (0, "file"),
    "numpy.loadtxt": (0, "fname"),
    "numpy.genfromtxt": (0, "fname"),
    "numpy.fromfile": (0, "file"),
    "numpy.memmap": (0, "filename"),
    "pandas.read_csv": (0, "filepath_or_buffer"),
    "pandas.read_table": (0, "filepath_or_buffer"),
    "pandas.read_fwf": (0, "filepath_or_buffer"),
    "pandas.read_json": (0, "path_or_buf"),
    "pandas.read_parquet": (0, "path"),
    "pandas.read_feather": (0, "path"),
    "pandas.read_orc": (0, "path"),
    "pandas.read_pickle": (0, "filepath_or_buffer"),
    "pandas.read_excel": (0, "io"),
    "pandas.read_hdf": (0, "path_or_buf"),
    "pandas.read_xml": (0, "path_or_buffer"),
    "scipy.io.loadmat": (0, "file_name"),
    "scipy.io.wavfile.read": (0, "filename"),
    # deep learning: weights, tensors, tokenizers, configs
    "torch.load": (0, "f"),
    "torch.jit.load": (0, "f"),
    "safetensors.torch.load_file": (0, "filename"),
    "safetensors.safe_open": (0, "filename"),
    "joblib.load": (0, "filename"),
    "h5py.File": (0, "name"),
    "tokenizers.Tokenizer.from_file": (0, "path"),
    "omegaconf.OmegaConf.load": (0, "file_"),
    # images and audio
    "PIL.Image.open": (0, "fp"),
    "cv2.imread": (0, "filename"),
    "imageio.imread": (0, "uri"),
    "imageio.v2.imread": (0, "uri"),
    "imageio.v3.imread": (0, "uri"),
    "soundfile.read": (0, "file"),
    "librosa.load": (0, "path"),
    "torchaudio.load": (0, "uri"),
}
"""Readers: the file they name is read (it ships as data)."""

OPENERS: Final = frozenset({"open", "builtins.open", "io.open", "codecs.open"})
"""Readers whose second argument is a mode: ``open("out.txt", "w")`` writes, it reads nothing."""

EXECUTORS: Final[Mapping[str, tuple[int, str]]] = {
    "runpy.run_path": (0, "path_name"),
}
"""Runners: the file they name runs as Python (it ships, and its imports are analysed)."""

CLI_DEFAULTS: Final[Mapping[str, str]] = {
    "click.option": "click default",
    "click.argument": "click default",
}
"""Command-line options whose ``default=`` may name a file; ``X.add_argument`` (argparse,
whatever the parser's name) is recognised by its method name. A reader is recognised when
the statement shows its name (``np.load(``, ``load(`` through an alias of the module), not
through an alias of the function itself (``from numpy import load as L``)."""


# Callables named so commonly (``f.read()``) that their name alone would open most statements
# of a module to the walk: their marker is the module's name with it (``soundfile.read(``).
_GENERIC_NAMES: Final = frozenset({"read"})


def reader_markers() -> tuple[str, ...]:
    """Text a statement holds when it may name a file for one of these callables (the libcst
    walk enters only such statements' expressions, the cost of the extraction): ``np.load(``
    shows ``load(``; an option's default shows ``default=``."""
    names = set()
    for name in (*READERS, *EXECUTORS):
        parts = name.split(".")
        names.add(".".join(parts[-2:] if parts[-1] in _GENERIC_NAMES else parts[-1:]) + "(")
    return tuple(sorted(names | {"__file__", "exec(", "read_text(", "read_bytes(", "default="}))
