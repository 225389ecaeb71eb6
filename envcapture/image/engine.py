"""An image directory -> a container engine: load ``image.tar`` and run the job offline, through the Docker SDK. EDGE: the daemon.

Optional: the ``docker`` package (``pip install 'envcapture[engine]'``) and a reachable
daemon (``DOCKER_HOST``, else the default socket). Nothing here pulls an image: the base
layers must be in the image (``--base-oci``/``--base-rootfs``) or already in the daemon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envcapture.errors import BuildError, InputError
from envcapture.image.oci import IMAGE_TAR, read_image

__all__ = ["RunResult", "docker_client", "load_image", "run_image"]


def __dir__() -> list[str]:
    return __all__


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """A finished container: its exit status and its output (stdout and stderr, interleaved)."""

    image: str
    status: int
    output: str

    @property
    def ok(self) -> bool:
        return self.status == 0


def docker_client(environ: Mapping[str, str] | None = None, *, timeout: int = 120) -> Any:
    """A Docker SDK client that answered a ping.

    :raises BuildError: the SDK is not installed or no daemon answers.
    """
    try:
        import docker  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise BuildError(
            "step engine: the Docker SDK is not installed", hint="pip install 'envcapture[engine]' (the docker package)"
        ) from exc
    try:
        client = docker.from_env(environment=dict(environ) if environ is not None else None, timeout=timeout)
        client.ping()
    except Exception as exc:
        raise BuildError(
            f"step engine: no Docker daemon reachable ({_one_line(exc)})", hint="start dockerd or set DOCKER_HOST"
        ) from exc
    return client


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_image(client: Any, image_dir: Path) -> str:
    """``docker load`` of ``image_dir/image.tar``; returns the image id (``sha256:...``).

    :raises InputError: not an envcapture image directory.
    :raises BuildError: the daemon refuses the archive.
    """
    doc = read_image(image_dir)
    assert doc is not None
    tar = Path(image_dir) / IMAGE_TAR
    try:
        with open(tar, "rb") as handle:
            images = client.images.load(handle)
    except OSError as exc:
        raise InputError(f"{tar}: cannot read it ({exc.strerror})") from exc
    except Exception as exc:
        raise BuildError(f"step engine load: the daemon refused {tar.name}: {_one_line(exc)}") from exc
    wanted = doc["repo_tag"]
    for image in images:
        if wanted in (image.tags or []):
            return str(image.id)
    if images:
        return str(images[0].id)
    raise BuildError(f"step engine load: the daemon loaded nothing from {tar.name}")


def run_image(client: Any, image: str, *, network: str = "none", timeout: float = 600.0) -> RunResult:
    """Run ``image``'s command in a new container with the network ``network`` (default
    ``none``: the job runs offline), wait, collect its output, remove it.

    :raises BuildError: the container cannot be created or does not finish in time.
    """
    container = None
    try:
        container = client.containers.run(image, network_mode=network, detach=True)
        state = container.wait(timeout=timeout)
        output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        return RunResult(image=image, status=int(state.get("StatusCode", -1)), output=output)
    except Exception as exc:
        raise BuildError(f"step engine run: {image}: {_one_line(exc)}") from exc
    finally:
        if container is not None:
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001, S110 - best effort cleanup
                pass
