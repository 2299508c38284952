"""What the CLI tests look at: its error box as plain text, the processes it left."""

from __future__ import annotations

import re
from pathlib import Path


def session_members(session_id: int) -> dict[int, str]:
    """pid -> command line of every live process in the session, except its leader."""
    members = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == session_id:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:  # exited meanwhile
            continue
        state, session = fields[0], int(fields[3])
        if session == session_id and state != "Z":
            members[int(entry.name)] = command
    return members


def plain(text: str) -> str:
    """The error box without rich's frame and line wrapping."""
    text = re.sub(r"[│╭╮╰╯─]", " ", text)
    return re.sub(r"\s+", " ", text)
