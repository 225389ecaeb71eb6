from .linear import LinearModel

__all__ = ["LinearModel"]
