import hydra
import lightning
from omegaconf import DictConfig
from aim import Run

print(hydra, lightning, DictConfig, Run)
