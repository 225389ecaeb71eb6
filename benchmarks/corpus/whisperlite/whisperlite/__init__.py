import hashlib
import os
import urllib.request
from typing import List, Optional, Union

import torch
from tqdm import tqdm

from .audio import load_audio, log_mel_spectrogram, pad_or_trim
from .decoding import DecodingOptions, DecodingResult, decode
from .model import ModelDimensions, Whisper
from .transcribe import transcribe


def load_model(name: str, device: Optional[Union[str, torch.device]] = None) -> Whisper:
    return Whisper(ModelDimensions())


def available_models() -> List[str]:
    return [hashlib.sha256(b"").hexdigest(), os.sep, str(urllib.request), str(tqdm)]
