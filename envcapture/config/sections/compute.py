"""Where and how the job runs: ``flags``, ``cloud-instance-types``, ``working-storage``, ``graceful-shutdown``, ``spark``."""

from __future__ import annotations

from envcapture.config import _yaml as y
from envcapture.config.model import GracefulShutdown, SparkSpec, WorkingStorage
from envcapture.config.nodes import did_you_mean, quote, text_of
from envcapture.config.scalars import GiB, TiB
from envcapture.config.sections.context import Context

__all__ = [
    "FLAGS",
    "SIGNALS",
    "WORKING_STORAGE_RANGE",
    "read_flags",
    "read_graceful_shutdown",
    "read_instance_types",
    "read_spark",
    "read_working_storage",
]

SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2")
FLAGS = ("attach-project-disk",)
WORKING_STORAGE_RANGE = (100 * GiB, 10 * TiB)


def read_flags(ctx: Context, node: y.Node) -> tuple[str, ...]:
    """``flags``: a list of known flags (`FLAGS`)."""

    def known(text: str, item: y.Node, path: str) -> str | None:
        if text in FLAGS:
            return text
        ctx.reader.error(item, path, f"unknown flag {quote(text)}", did_you_mean(text, FLAGS))
        return None

    return ctx.reader.strings(node, "flags", known) or ()


def read_instance_types(ctx: Context, found: dict[str, y.Entry]) -> tuple[str, ...]:
    """``cloud-instance-types`` (a non-empty list), or the old single ``cloud-instance-type``."""
    reader = ctx.reader

    def plain(text: str, item: y.Node, path: str) -> str | None:
        if any(c.isspace() for c in text.strip()):
            reader.error(item, path, f"{quote(text)} is not an instance type")
            return None
        return text.strip()

    types: tuple[str, ...] = ()
    if "cloud-instance-types" in found:
        node = found["cloud-instance-types"].value
        types = reader.strings(node, "cloud-instance-types", plain) or ()
        if isinstance(node, y.Sequence) and not node.items:
            reader.error(node, "cloud-instance-types", "must list at least one instance type")
    if "cloud-instance-type" in found:
        entry = found["cloud-instance-type"]
        if "cloud-instance-types" in found:
            reader.error(
                entry.key,
                "cloud-instance-type",
                f"cannot be used together with cloud-instance-types ({reader.where(found['cloud-instance-types'].key, '')})",
                "keep only cloud-instance-types",
            )
        else:
            text = reader.string(entry.value, "cloud-instance-type")
            if text is not None and plain(text, entry.value, "cloud-instance-type") is not None:
                types = (text.strip(),)
    return types


def read_working_storage(ctx: Context, node: y.Node) -> WorkingStorage | None:
    """``working-storage``: ``{type: SSD, size}``, the size within `WORKING_STORAGE_RANGE`."""
    reader = ctx.reader
    path = "working-storage"
    mapping = reader.mapping(node, path)
    if mapping is None:
        return None
    found = reader.fields(mapping, path, ("type", "size"))
    kind: str | None = "SSD"
    if "type" in found:
        kind = reader.string(found["type"].value, f"{path}.type")
        if kind is not None and kind != "SSD":
            reader.error(
                found["type"].value,
                f"{path}.type",
                f"unknown disk type {quote(kind)}; the only type is SSD",
                did_you_mean(kind, ["SSD"]),
            )
            kind = None
    size = None
    if "size" in found:
        size = reader.size(found["size"].value, f"{path}.size")
        low, high = WORKING_STORAGE_RANGE
        if size is not None and not low <= size <= high:
            reader.error(
                found["size"].value,
                f"{path}.size",
                f"{quote(text_of(found['size'].value))} is outside the allowed 100Gb..10Tb",
            )
            size = None
    else:
        reader.error(mapping, f"{path}.size", "required key is missing")
    if kind is None or size is None:
        return None
    return WorkingStorage(type=kind, size_bytes=size)


def read_graceful_shutdown(ctx: Context, node: y.Node) -> GracefulShutdown | None:
    """``graceful-shutdown``: ``{signal, timeout}``, defaults SIGTERM and 15 seconds."""
    reader = ctx.reader
    path = "graceful-shutdown"
    mapping = reader.mapping(node, path)
    if mapping is None:
        return None
    found = reader.fields(mapping, path, ("signal", "timeout"))
    signal: str | None = "SIGTERM"
    if "signal" in found:
        signal = reader.string(found["signal"].value, f"{path}.signal")
        if signal is not None and signal not in SIGNALS:
            guess = signal.upper() if signal.upper() in SIGNALS else None
            if guess is None and f"SIG{signal.upper()}" in SIGNALS:
                guess = f"SIG{signal.upper()}"
            hint = f"did you mean {guess!r}?" if guess else did_you_mean(signal, SIGNALS)
            reader.error(
                found["signal"].value,
                f"{path}.signal",
                f"unknown signal {quote(signal)}; expected one of {', '.join(SIGNALS)}",
                hint,
            )
            signal = None
    timeout: float | None = 15.0
    if "timeout" in found:
        timeout = reader.duration(found["timeout"].value, f"{path}.timeout")
    if signal is None or timeout is None:
        return None
    return GracefulShutdown(signal=signal, timeout_seconds=timeout)


def read_spark(ctx: Context, node: y.Node) -> SparkSpec | None:
    """``spark``: ``{connector: ID}``."""
    reader = ctx.reader
    mapping = reader.mapping(node, "spark")
    if mapping is None:
        return None
    found = reader.fields(mapping, "spark", ("connector",))
    if "connector" not in found:
        reader.error(mapping, "spark.connector", "required key is missing")
        return None
    connector = reader.string(found["connector"].value, "spark.connector")
    return SparkSpec(connector=connector.strip()) if connector is not None else None
