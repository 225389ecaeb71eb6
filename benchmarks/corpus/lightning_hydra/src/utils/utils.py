import warnings
from importlib.util import find_spec
from typing import Any, Callable, Dict, Optional, Tuple

from omegaconf import DictConfig

from src.utils import pylogger, rich_utils


def extras(cfg: DictConfig) -> None:
    warnings.filterwarnings("ignore")
    rich_utils.print_config_tree(cfg)


def task_wrapper(task_func: Callable) -> Callable:
    def wrap(cfg: DictConfig) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        if find_spec("wandb"):
            import wandb

            wandb.finish()
        return task_func(cfg=cfg)

    return wrap


print(Optional, pylogger)
