"""Stand-in for a lightning-hydra-template project (written for the benchmark)."""

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import hydra
import lightning as L
import rootutils
import torch
from lightning import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig

rootutils.setup_root(__file__, indicator=".project-root", pythonpath=True)

from src.utils import RankedLogger, extras, instantiate_callbacks, task_wrapper

if TYPE_CHECKING:
    import pandas as pd

log = RankedLogger(__name__, rank_zero_only=True)


@task_wrapper
def train(cfg: DictConfig) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    datamodule: LightningDataModule = hydra.utils.instantiate(cfg.data)
    callbacks: List[Callback] = instantiate_callbacks(cfg.get("callbacks"))
    return {}, {"dm": datamodule, "cb": callbacks, "L": L, "torch": torch, "T": Trainer, "M": LightningModule, "Lg": Logger}


@hydra.main(version_base="1.3", config_path="../configs", config_name="train.yaml")
def main(cfg: DictConfig) -> Optional[float]:
    extras(cfg)
    return None


if __name__ == "__main__":
    main()
