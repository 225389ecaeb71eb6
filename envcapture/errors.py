"""The one error tree of envcapture, and the `Location` every message names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "BuildError",
    "CommandError",
    "ConfigError",
    "EnvcaptureError",
    "InputError",
    "InterpreterError",
    "Location",
    "RequirementsError",
    "ResolutionError",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """Where a problem is: a file, a 1-based line and column, and a key path.

    Renders as ``config.yaml:14:5: env.python.pip.no-deps`` with the parts that
    are known; key paths use the config's own spelling and ``[i]`` for items.
    """

    file: str | None = None
    line: int | None = None
    column: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
        if self.key:
            return f"{where}: {self.key}" if where else self.key
        return where

    def child(self, key: str) -> Location:
        """The same place, with ``key`` appended to the key path."""
        if key.startswith("["):
            joined = f"{self.key or ''}{key}"
        else:
            joined = f"{self.key}.{key}" if self.key else key
        return Location(file=self.file, line=self.line, column=self.column, key=joined)


class EnvcaptureError(Exception):
    """Root of every error envcapture raises on purpose. Never raised bare.

    ``str(err)`` is one line: ``<location>: <message> (<hint>)``.
    """

    exit_code: ClassVar[int] = 2

    def __init__(self, message: str, *, location: Location | None = None, hint: str | None = None) -> None:
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = self.message
        where = str(self.location) if self.location is not None else ""
        if where:
            text = f"{where}: {text}"
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class InputError(EnvcaptureError):
    """Bad input from the user: a file, a flag, a command. Exit code 2."""

    exit_code: ClassVar[int] = 2


class ConfigError(InputError):
    """One or more problems in a job's ``config.yaml``.

    Every problem found is kept in ``problems`` (each an `InputError` with its own
    location); ``str(err)`` is the first one plus a count of the rest, and the CLI
    prints each on its own line.
    """

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
        problems: tuple[InputError, ...] = (),
    ) -> None:
        self.problems: tuple[InputError, ...] = problems or (InputError(message, location=location, hint=hint),)
        super().__init__(message, location=location, hint=hint)

    @classmethod
    def from_problems(cls, problems: list[InputError] | tuple[InputError, ...]) -> ConfigError:
        """One error carrying all ``problems``; its own text is the first one's."""
        first = problems[0]
        err = cls(first.message, location=first.location, hint=first.hint, problems=tuple(problems))
        return err

    def __str__(self) -> str:
        text = super().__str__()
        extra = len(getattr(self, "problems", ())) - 1
        if extra > 0:
            text += f" [and {extra} more problem{'s' if extra > 1 else ''}]"
        return text


class CommandError(InputError):
    """A ``cmd`` that cannot be understood (unbalanced quotes, unknown variable)."""


class RequirementsError(InputError):
    """A requirements file (pip syntax) that cannot be read."""


class InterpreterError(InputError):
    """The interpreter to analyse (``--python PATH``) is missing or unusable."""


class ResolutionError(EnvcaptureError):
    """The environment cannot be resolved for the target. Exit code 3."""

    exit_code: ClassVar[int] = 3


class BuildError(EnvcaptureError):
    """An artifact (wheel, bundle, image) cannot be built. Exit code 3.

    The message names the package, the target and the step.
    """

    exit_code: ClassVar[int] = 3
