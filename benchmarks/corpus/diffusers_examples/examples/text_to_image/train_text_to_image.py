"""Stand-in for a diffusers-style example training script (written for the benchmark)."""

import argparse
import logging
import math
import os
import random
import shutil
from contextlib import nullcontext
from pathlib import Path

import accelerate
import datasets
import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint
import transformers
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.state import AcceleratorState
from accelerate.utils import ProjectConfiguration, set_seed
from datasets import load_dataset
from huggingface_hub import create_repo, upload_folder
from packaging import version
from torchvision import transforms
from tqdm.auto import tqdm
from transformers import CLIPTextModel, CLIPTokenizer
from transformers.utils import ContextManagers

import diffusers
from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel, compute_snr
from diffusers.utils import check_min_version, deprecate, is_wandb_available, make_image_grid
from diffusers.utils.import_utils import is_xformers_available
from diffusers.utils.torch_utils import is_compiled_module

if is_wandb_available():
    import wandb

logger = get_logger(__name__, log_level="INFO")


def log_validation(vae, text_encoder, tokenizer, unet, args, accelerator, weight_dtype, epoch):
    images = []
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            np_images = np.stack([np.asarray(img) for img in images])
        elif tracker.name == "wandb":
            tracker.log({"validation": [wandb.Image(image) for image in images]})
    return images


def main():
    args = argparse.ArgumentParser().parse_args()
    if args.use_8bit_adam:
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise ImportError("Please install bitsandbytes to use 8-bit Adam.")
        optimizer_cls = bnb.optim.AdamW8bit
    else:
        optimizer_cls = torch.optim.AdamW
    if args.enable_xformers_memory_efficient_attention:
        if is_xformers_available():
            import xformers

            print(version.parse(xformers.__version__))
    from PIL import Image

    print(Image, optimizer_cls, math, os, random, shutil, nullcontext, Path, logging, F, accelerate, datasets)
    print(transformers, Accelerator, AcceleratorState, ProjectConfiguration, set_seed, load_dataset, create_repo)
    print(upload_folder, transforms, tqdm, CLIPTextModel, CLIPTokenizer, ContextManagers, diffusers, AutoencoderKL)
    print(DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel, get_scheduler, EMAModel, compute_snr)
    print(check_min_version, deprecate, make_image_grid, is_compiled_module)


if __name__ == "__main__":
    main()
