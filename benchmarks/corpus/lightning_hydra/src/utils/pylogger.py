import logging
from typing import Mapping, Optional

from lightning_utilities.core.rank_zero import rank_prefixed_message, rank_zero_only


class RankedLogger(logging.LoggerAdapter):
    def __init__(self, name: str = __name__, rank_zero_only: bool = False, extra: Optional[Mapping] = None) -> None:
        super().__init__(logging.getLogger(name), extra)
        self.rank_prefixed_message = rank_prefixed_message
