from pathlib import Path
from typing import Sequence

import rich
import rich.syntax
import rich.tree
from hydra.core.hydra_config import HydraConfig
from lightning_utilities.core.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.prompt import Prompt


def print_config_tree(cfg: DictConfig, print_order: Sequence[str] = ()) -> None:
    rich.print(rich.tree.Tree("CONFIG"), Path, HydraConfig, rank_zero_only, OmegaConf, open_dict, Prompt)


def enforce_tags(cfg: DictConfig, save_to_file: bool = False) -> None:
    pass
