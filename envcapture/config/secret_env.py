"""``env.vars`` names that look like secrets: refused where their values would ship in clear, unless allowed. Pure.

A value in ``env.vars`` is stored as plain text in the bundle's ``manifest.json``, in
``build --json``, in the image config and in the Dockerfile. A name such as ``HF_TOKEN`` or
``DB_PASSWORD`` says the value is a secret, which belongs in the platform's secrets at run
time. ``envcapture build`` and ``envcapture config check`` (the pre-submit check) refuse such
a name with the same line, unless ``--allow-secret-env NAME`` lists it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from envcapture.config.model import JobConfig
from envcapture.errors import ConfigError, InputError

__all__ = ["check_env_names", "looks_secret", "secret_env_problems"]


def __dir__() -> list[str]:
    return __all__


_SECRET_NAME_RE = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY", re.IGNORECASE)


def looks_secret(name: str) -> bool:
    """Whether an ``env.vars`` name looks like it holds a secret (``*TOKEN*``,
    ``*SECRET*``, ``*PASSWORD*``, ``*PASSWD*``, ``*KEY*``, any case).

    >>> looks_secret("HF_TOKEN"), looks_secret("DEVICE_COUNT")
    (True, False)
    """
    return _SECRET_NAME_RE.search(name) is not None


def secret_env_problems(config: JobConfig, allowed: Iterable[str] = ()) -> list[InputError]:
    """One problem per ``env.vars`` entry whose name looks like a secret and that
    ``allowed`` does not name, at its line in the config."""
    allow = frozenset(allowed)
    return [
        InputError(
            f"{var.name} looks like a secret: its value would be stored in clear in the bundle's manifest, "
            "the image config and the Dockerfile; refused",
            location=var.location,
            hint=f"pass it at run time instead, or allow it with --allow-secret-env {var.name}",
        )
        for var in config.env.vars
        if looks_secret(var.name) and var.name not in allow
    ]


def check_env_names(config: JobConfig, allowed: Iterable[str] = ()) -> None:
    """Refuse the ``env.vars`` entries `secret_env_problems` finds.

    :raises ConfigError: every such entry, one line each.
    """
    problems = secret_env_problems(config, allowed)
    if problems:
        raise ConfigError.from_problems(problems)
