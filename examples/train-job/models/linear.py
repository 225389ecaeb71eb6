from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type-only: never shipped
    import numpy


class LinearModel:
    def __init__(self, lr: float) -> None:
        self.lr = lr

    def save(self, path: str) -> None:
        with open(path, "w") as fh:
            json.dump({"lr": self.lr}, fh)

    def as_array(self) -> numpy.ndarray:
        import numpy  # function-level import: needed only when called

        return numpy.array([self.lr])
