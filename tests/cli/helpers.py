"""What the CLI tests look at: the processes a CLI left behind."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class _Process(NamedTuple):
    parent: int
    session: int
    command: str


def _live_processes() -> dict[int, _Process]:
    """Every live (not zombie) process, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:  # exited meanwhile
            continue
        if fields[0] != "Z":
            found[int(entry.name)] = _Process(int(fields[1]), int(fields[3]), command)
    return found


def session_members(session_id: int) -> dict[int, str]:
    """pid -> command line of every live process in the session, except its leader."""
    return {
        pid: process.command
        for pid, process in _live_processes().items()
        if process.session == session_id and pid != session_id
    }


def descendants(pid: int) -> dict[int, str]:
    """pid -> command line of every live process descended from ``pid``."""
    processes = _live_processes()
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, process in processes.items():
            if process.parent == parent and child not in found:
                found[child] = process.command
                frontier.append(child)
    return found
