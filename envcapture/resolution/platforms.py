"""What the resolution stage knows about platforms: how a target is named in reasons, which
distributions are built per accelerator, which only exist on a desktop OS. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from envcapture.model import Target

__all__ = ["LOCAL_PLATFORM_ONLY", "TORCH_INDEX", "TORCH_VARIANTS", "describe_target", "is_torch_family"]


def __dir__() -> list[str]:
    return list(__all__)


TORCH_INDEX = "https://download.pytorch.org/whl"
# Packages whose builds differ per accelerator; the nvidia-* CUDA libraries ride along.
_TORCH_FAMILY = frozenset({"torch", "torchvision", "torchaudio", "triton", "pytorch-triton"})
# The three that the PyTorch index publishes per variant (+cpu, +cu121, ...).
TORCH_VARIANTS = frozenset({"torch", "torchvision", "torchaudio"})
# Distributions that only exist for (or only make sense on) a desktop platform; a Linux
# target never needs them even when nothing in their metadata says so.
LOCAL_PLATFORM_ONLY: Mapping[str, str] = {
    "pywin32": "Windows only (win32 APIs)",
    "pywin32-ctypes": "Windows only (win32 APIs)",
    "pypiwin32": "Windows only (win32 APIs)",
    "wmi": "Windows only (WMI)",
    "winshell": "Windows only",
    "pywinpty": "Windows only (ConPTY)",
    "appnope": "macOS only (App Nap)",
    "pyobjc": "macOS only (Objective-C bridge)",
    "pyobjc-core": "macOS only (Objective-C bridge)",
}


def is_torch_family(name: str) -> bool:
    """torch, torchvision, torchaudio, triton and the nvidia-*/cuda-* CUDA companions."""
    return name in _TORCH_FAMILY or name.startswith(("nvidia-", "cuda-"))


def describe_target(target: Target) -> str:
    """The target as reasons name it: ``linux x86_64, CPython 3.11, CUDA 12.1`` (``, CPU``;
    nothing when the accelerator is the one installed locally)."""
    major, minor = target.python_minor
    acc = f", {target.accelerator_text()}" if target.gpu or target.accelerator == "cpu" else ""
    return f"{target.sys_platform} {target.platform_machine}, CPython {major}.{minor}{acc}"
