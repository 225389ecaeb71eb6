from typing import List

import hydra
from lightning import Callback
from omegaconf import DictConfig


def instantiate_callbacks(callbacks_cfg: DictConfig) -> List[Callback]:
    return [hydra.utils.instantiate(c) for c in (callbacks_cfg or {}).values()]
