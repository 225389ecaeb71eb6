"""Stand-in for a cleanrl/SB3-style RL script (written for the benchmark)."""

import argparse
import os
import random
import time
from distutils.util import strtobool

try:
    import gymnasium as gym
except ImportError:
    import gym

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from stable_baselines3.common.atari_wrappers import ClipRewardEnv, EpisodicLifeEnv
from torch.distributions.categorical import Categorical
from torch.utils.tensorboard import SummaryWriter

from agents.ppo import Agent


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--track", type=lambda x: bool(strtobool(x)), default=False)
    parser.add_argument("--capture-video", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    if args.track:
        import wandb

        wandb.init(project="ppo", sync_tensorboard=True)
    writer = SummaryWriter(f"runs/{time.time()}")
    print(os, random, gym, np, nn, optim, ClipRewardEnv, EpisodicLifeEnv, Categorical, Agent)
