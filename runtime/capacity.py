"""Open files and ZMQ sockets for W workers: raise the soft limits from W, or refuse W.

Every TCP connection is a file descriptor and every ZMQ socket one more (its mailbox);
libzmq also caps a context at ``ZMQ_MAX_SOCKETS`` (1,023 by default).  With the usual
soft limit of 1,024 open files a scheduler fails near W ≈ 500, and an emulator holding
two sockets per worker near W ≈ 250, somewhere in the middle of a solve.  Raising the
soft limits up front (the hard ones are the host's) moves that failure to the start,
with an error that says which limit and what it would take.
"""

from __future__ import annotations

import resource

import zmq

#: Descriptors kept free for everything else a process opens (logs, pipes, libraries).
RESERVED_FILES = 256


def reserve_open_files(*, workers: int, files_per_worker: int) -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to hold ``workers`` workers; return the new soft limit.

    Raises
    ------
    ValueError
        ``"workers: W workers need N open files, but this host allows at most H
        (the hard RLIMIT_NOFILE; raise it with ulimit -Hn or LimitNOFILE=)"``.
    """
    needed = workers * files_per_worker + RESERVED_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and needed > hard:
        raise ValueError(
            f"workers: {workers} workers need {needed} open files, but this host allows at "
            f"most {hard} (the hard RLIMIT_NOFILE; raise it with ulimit -Hn or LimitNOFILE=)"
        )
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        return needed
    return int(soft)


def reserve_sockets(context: zmq.Context, *, workers: int, sockets: int) -> None:
    """Raise ``context``'s ``ZMQ_MAX_SOCKETS`` to ``sockets`` (before its first socket).

    Raises
    ------
    ValueError
        ``"workers: W workers need N ZMQ sockets, but libzmq allows at most L"``.
    """
    limit = int(context.get(zmq.SOCKET_LIMIT))
    if sockets > limit:
        raise ValueError(
            f"workers: {workers} workers need {sockets} ZMQ sockets, but libzmq allows at "
            f"most {limit}"
        )
    if sockets > int(context.get(zmq.MAX_SOCKETS)):
        context.set(zmq.MAX_SOCKETS, sockets)
