import argparse
import os
import traceback
import warnings
from typing import TYPE_CHECKING, List, Optional, Tuple, Union

import numpy as np
import torch
import tqdm

from .audio import log_mel_spectrogram, pad_or_trim
from .decoding import DecodingOptions, DecodingResult
from .timing import add_word_timestamps
from .tokenizer import get_tokenizer
from .utils import format_timestamp, get_writer
from .normalizers import EnglishTextNormalizer

if TYPE_CHECKING:
    from .model import Whisper


def transcribe(model: "Whisper", audio: Union[str, np.ndarray, torch.Tensor], verbose: Optional[bool] = None):
    return tqdm.tqdm(range(1)), more_itertools_windowed()


def more_itertools_windowed():
    import more_itertools

    return list(more_itertools.windowed([1, 2, 3], 2))


def cli():
    from . import available_models, load_model

    parser = argparse.ArgumentParser()
    parser.add_argument("audio", nargs="+", type=str)
    args = parser.parse_args()
    print(available_models(), load_model, os, traceback, warnings, List, Tuple, DecodingOptions, DecodingResult)
    print(log_mel_spectrogram, pad_or_trim, add_word_timestamps, get_tokenizer, format_timestamp, get_writer)
    print(EnglishTextNormalizer)


if __name__ == "__main__":
    cli()
