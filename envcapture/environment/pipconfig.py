"""An interpreter -> `PipConfig`: where ``pip install`` in that environment looks for packages. EDGE: one subprocess.

The user installed the job's packages with pip, which read its configuration: the global
files (``/etc/xdg/pip/pip.conf``, ``/etc/pip.conf``), the user's (``~/.config/pip/pip.conf``,
``~/.pip/pip.conf``), the environment's own (``<sys.prefix>/pip.conf``), the file named by
``PIP_CONFIG_FILE`` (``os.devnull`` turns every file off) and the ``PIP_*`` variables. pip
is asked rather than imitated: ``python -m pip config list`` with the analysed interpreter
(its ``sys.prefix`` names the environment's file), else envcapture's own pip with
``--python``. Which files exist, their order, the XDG directories, the user file that
``PIP_CONFIG_FILE`` hides and the section names are pip's rules and stay pip's.

What ``pip config list`` prints is already merged across files (a later file replaces a
key of an earlier one); the sections are merged here as pip merges them for a command:
``[global]``, then ``[install]``, then the ``PIP_*`` variables (``:env:``), the last one
winning.
"""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from envcapture.errors import InputError

__all__ = ["SOURCE_KEYS", "TRANSPORT_KEYS", "PipConfig", "PipSetting", "parse_config_list", "read_pip_config"]


def __dir__() -> list[str]:
    return __all__


log = logging.getLogger(__name__)

SOURCE_KEYS = ("index-url", "extra-index-url", "find-links", "trusted-host", "no-index")
"""The settings that say where packages come from."""
TRANSPORT_KEYS = ("cert", "client-cert", "proxy", "keyring-provider")
"""The settings that say how an index is reached (never which file is chosen)."""

# pip's order for a command's options: [global], then the command's section, then PIP_*.
_SECTIONS = ("global", "install", ":env:")
_LIST_KEYS = frozenset({"extra-index-url", "find-links", "trusted-host"})
_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class PipSetting:
    """One effective setting: ``key`` (``index-url``), its ``values`` (several for the list
    options, split on whitespace as pip splits them) and ``origin`` as people name it
    (``pip.conf [global]``, ``PIP_FIND_LINKS``)."""

    key: str
    values: tuple[str, ...]
    origin: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PipConfig:
    """pip's effective configuration for ``pip install`` in one environment: the source and
    transport settings, each with where it was set. Empty when nothing is configured."""

    settings: tuple[PipSetting, ...] = ()

    def get(self, key: str) -> PipSetting | None:
        return next((s for s in self.settings if s.key == key), None)

    def values(self, key: str) -> tuple[str, ...]:
        found = self.get(key)
        return found.values if found is not None else ()

    @property
    def index_url(self) -> str | None:
        return next(iter(self.values("index-url")), None)

    @property
    def extra_index_urls(self) -> tuple[str, ...]:
        return self.values("extra-index-url")

    @property
    def find_links(self) -> tuple[str, ...]:
        return self.values("find-links")

    @property
    def trusted_hosts(self) -> tuple[str, ...]:
        return self.values("trusted-host")

    @property
    def no_index(self) -> bool:
        return any(v.strip().lower() in _TRUE for v in self.values("no-index"))

    @property
    def transport(self) -> tuple[tuple[str, str], ...]:
        """``(key, value)`` of the transport settings, in `TRANSPORT_KEYS` order."""
        return tuple((key, found.values[0]) for key in TRANSPORT_KEYS if (found := self.get(key)) and found.values)


def _origin(section: str, key: str) -> str:
    if section == ":env:":
        return "PIP_" + key.upper().replace("-", "_")
    return f"pip.conf [{section}]"


def parse_config_list(text: str) -> PipConfig:
    """``pip config list`` output (``section.key='value'`` lines) -> `PipConfig`.

    Lines that are not settings, keys other than `SOURCE_KEYS` and `TRANSPORT_KEYS`, other
    sections (``[download]``, ``[freeze]``) and empty values are left out, as pip leaves
    out an empty value.
    """
    chosen: dict[str, tuple[int, str, str]] = {}
    for raw in text.splitlines():
        name, sep, shown = raw.strip().partition("=")
        section, dot, key = name.rpartition(".")
        if not sep or not dot or section not in _SECTIONS or key not in (*SOURCE_KEYS, *TRANSPORT_KEYS):
            continue
        try:
            value = ast.literal_eval(shown)
        except (ValueError, SyntaxError):
            continue
        if not isinstance(value, str) or not value.strip():
            continue
        rank = _SECTIONS.index(section)
        if key not in chosen or chosen[key][0] <= rank:
            chosen[key] = (rank, section, value)
    settings = []
    for key, (_, section, value) in chosen.items():
        values = tuple(value.split()) if key in _LIST_KEYS else (value.strip(),)
        settings.append(PipSetting(key=key, values=values, origin=_origin(section, key)))
    return PipConfig(settings=tuple(sorted(settings)))


def _last(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _environ(environ: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's environment (its ``PIP_*`` settings are part of pip's configuration),
    without what would change which Python or which pip runs."""
    base = dict(os.environ if environ is None else environ)
    env = {k: v for k, v in base.items() if not k.startswith("PYTHON")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PIP_NO_COLOR="1")
    return env


def read_pip_config(python: str, *, environ: Mapping[str, str] | None = None, timeout: float = 60.0) -> PipConfig:
    """pip's effective configuration in the environment of ``python`` (see the module doc).

    ``environ`` (default ``os.environ``) holds ``PIP_CONFIG_FILE`` and the ``PIP_*``
    settings. An interpreter without pip (or with one older than ``pip config``) is asked
    through envcapture's own pip (``pip --python``); when neither runs, the configuration
    is empty.

    :raises InputError: pip cannot read its configuration (a malformed ``pip.conf``): the
        same error ``pip install`` would stop with, pip's last line quoted.
    """
    env = _environ(environ)
    # The environment's own pip first (the one that installed its packages); envcapture's
    # pip with --python when it has none or one too old for `pip config` (before pip 10).
    commands = [[python, "-m", "pip", "config", "list"], [sys.executable, "-m", "pip", "--python", python, "config", "list"]]
    done: subprocess.CompletedProcess[str] | None = None
    for cmd in commands:
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired):
            done = None
            continue
        if done.returncode == 0:
            break
    if done is None or (done.returncode != 0 and "onfiguration" not in done.stderr):
        log.warning("%s: pip's configuration cannot be asked for: %s", python, _last(done.stderr) if done else "no pip runs")
        return PipConfig()
    if done.returncode != 0:  # pip cannot read its files: pip install would stop the same way
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip() and "No module named pip" not in ln]
        errors = [ln for ln in lines if ln.startswith("ERROR")]
        detail = " ".join(errors[-1:] or lines)[:400] or f"exit {done.returncode}"  # pip's few lines: what, file, line
        raise InputError(
            f"{python}: pip cannot read its configuration: {detail}",
            hint="fix the pip.conf it names, or set PIP_CONFIG_FILE",
        )
    return parse_config_list(done.stdout)
