import os
import pickle
from contextlib import nullcontext

import tiktoken
import torch

from model import GPT, GPTConfig

enc = tiktoken.get_encoding("gpt2")
print(os.sep, pickle, nullcontext, torch, GPT, GPTConfig, enc)
