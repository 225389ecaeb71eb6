import itertools
import subprocess
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, List

import numba
import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from .model import Whisper
    from .tokenizer import Tokenizer


@numba.jit(nopython=True)
def backtrace(trace: np.ndarray):
    return trace


def median_filter(x: torch.Tensor, filter_width: int):
    if x.is_cuda:
        try:
            from .triton_ops import median_filter_cuda

            return median_filter_cuda(x, filter_width)
        except (RuntimeError, subprocess.CalledProcessError):
            warnings.warn("falling back to a slower median kernel implementation...")
    return F.pad(x, (filter_width, filter_width))


@dataclass
class WordTiming:
    word: str


def add_word_timestamps(segments: List[dict], model: "Whisper", tokenizer: "Tokenizer"):
    return list(itertools.chain(segments))
