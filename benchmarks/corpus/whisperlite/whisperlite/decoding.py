from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch

from .tokenizer import get_tokenizer

if TYPE_CHECKING:
    from .model import Whisper


@dataclass(frozen=True)
class DecodingOptions:
    language: Optional[str] = None


@dataclass(frozen=True)
class DecodingResult:
    text: str = ""


def decode(model: "Whisper", mel: torch.Tensor, options: DecodingOptions = DecodingOptions()):
    return DecodingResult(text=str(np.zeros(1)) + str(get_tokenizer(True)))
