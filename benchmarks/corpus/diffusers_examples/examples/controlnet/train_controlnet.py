import controlnet_aux
import torch
import wandb
from diffusers import ControlNetModel

print(controlnet_aux, torch, wandb, ControlNetModel)
