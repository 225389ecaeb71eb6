"""Stand-in for a nanoGPT-style single-file trainer (written for the benchmark)."""

import math
import os
import pickle
import time
from contextlib import nullcontext

import numpy as np
import torch
from torch.distributed import destroy_process_group, init_process_group
from torch.nn.parallel import DistributedDataParallel as DDP

from model import GPT, GPTConfig

wandb_log = False
exec(open("configurator.py").read())

if wandb_log:
    import wandb

    wandb.init(project="owt")


def get_batch(split):
    data = np.memmap(os.path.join("data", f"{split}.bin"), dtype=np.uint16, mode="r")
    ix = torch.randint(len(data) - 8, (4,))
    return torch.stack([torch.from_numpy(data[i : i + 8].astype(np.int64)) for i in ix])


if __name__ == "__main__":
    model = GPT(GPTConfig())
    ctx = nullcontext()
    print(math.pi, time.time(), pickle.HIGHEST_PROTOCOL, DDP, init_process_group, destroy_process_group)
