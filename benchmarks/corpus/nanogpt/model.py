import inspect
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    block_size: int = 1024


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config

    @classmethod
    def from_pretrained(cls, model_type):
        from transformers import GPT2LMHeadModel  # only when loading OpenAI weights

        return GPT2LMHeadModel.from_pretrained(model_type)

    def forward(self, x):
        return F.gelu(x) * math.sqrt(2) + len(inspect.signature(self.forward).parameters)
