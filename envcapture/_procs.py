"""Private: the live processes of a process group or session, read from Linux ``/proc``."""

from __future__ import annotations

import os

__all__ = ["live_members"]


def live_members(*, pgid: int | None = None, sid: int | None = None) -> list[int]:
    """Pids of live (not zombie) processes in process group ``pgid`` and/or session ``sid``.

    Read from ``/proc/<pid>/stat`` (Linux; empty elsewhere). The ``comm`` field may hold
    spaces and parentheses, so fields are counted from the last ``)``: state ppid pgrp session.
    """
    members: list[int] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return members
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) < 4 or fields[0] == b"Z":
            continue
        if pgid is not None and int(fields[2]) != pgid:
            continue
        if sid is not None and int(fields[3]) != sid:
            continue
        members.append(int(name))
    return members
