"""The ROUTER front: fair-queues workers' messages and deals them to the masters."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import zmq

log = logging.getLogger("lambda_admm.scheduler")

POLL_MS = 50
#: Messages passed on per wake-up before the other sockets get their turn.
MAX_BATCH = 256
#: Messages queued per peer before ZMQ drops (ROUTER) or blocks; bounded on purpose.
HIGH_WATER_MARK = 10_000


class FrontProxy(threading.Thread):
    """Owns the ROUTER (bound to TCP) and the DEALER (bound in-process) and shuttles between them.

    The ROUTER refuses oversized frames at the transport (``ZMQ_MAXMSGSIZE``
    disconnects the sender), so a flood of huge messages costs a log line at most.
    """

    def __init__(
        self,
        *,
        context: zmq.Context,
        bind_address: str,
        backend_address: str,
        outbox_address: str,
        max_message_bytes: int,
        stop: threading.Event,
        configure: Callable[[zmq.Socket], None] | None = None,
    ) -> None:
        super().__init__(name="admm-front", daemon=True)
        self._context = context
        self._halt = stop
        self.front = context.socket(zmq.ROUTER)
        self.front.setsockopt(zmq.LINGER, 0)
        self.front.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
        self.front.setsockopt(zmq.RCVHWM, HIGH_WATER_MARK)
        self.front.setsockopt(zmq.SNDHWM, HIGH_WATER_MARK)
        if configure is not None:
            configure(self.front)
        self.endpoint = bind(self.front, bind_address)
        self.backend = context.socket(zmq.DEALER)
        self.backend.setsockopt(zmq.LINGER, 0)
        self.backend.setsockopt(zmq.SNDHWM, HIGH_WATER_MARK)
        self.backend.bind(backend_address)
        # Direct messages to one worker ([routing id, body]) from the coordinator.
        self.outbox = context.socket(zmq.PULL)
        self.outbox.setsockopt(zmq.LINGER, 0)
        self.outbox.bind(outbox_address)

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.front, zmq.POLLIN)
        poller.register(self.backend, zmq.POLLIN)
        poller.register(self.outbox, zmq.POLLIN)
        try:
            while not self._halt.is_set():
                for sock, _ in poller.poll(POLL_MS):
                    self._forward(sock)
        finally:
            for sock in (self.front, self.backend, self.outbox):
                sock.close()

    def _forward(self, sock: zmq.Socket) -> None:
        """Pass on what is queued on ``sock`` (up to :data:`MAX_BATCH` messages a wake-up)."""
        other = self.backend if sock is self.front else self.front
        for _ in range(MAX_BATCH):
            try:
                frames = (
                    self._inbound()
                    if sock is self.front
                    else sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
                )
            except zmq.Again:
                return
            try:
                other.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                log.warning("dropped a message: the next hop is full")

    def _inbound(self) -> list[zmq.Frame | bytes]:
        """``[peer identity, authenticated key, body...]`` for the masters, the frames passed on
        without copying (the body of an update is d float64)."""
        frames = self.front.recv_multipart(flags=zmq.NOBLOCK, copy=False)
        return [frames[0], _user_id(frames[-1]), *frames[1:]]


def _user_id(frame: zmq.Frame) -> bytes:
    """The CURVE client key ZAP attached to a frame, or b"" on an insecure socket."""
    try:
        return str(frame.get("User-Id")).encode()
    except zmq.ZMQError:
        return b""


def bind(sock: zmq.Socket, address: str) -> str:
    """Bind ``tcp://host:port`` (port 0 picks a free one) or ``inproc://name``; return the
    endpoint bound (with the port chosen)."""
    if address.startswith("tcp://"):
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        if int(port) == 0:
            return f"tcp://{host}:{sock.bind_to_random_port(f'tcp://{host}')}"
    sock.bind(address)
    return address


def advertised(endpoint: str, host: str) -> str:
    """The endpoint as workers reach it: a TCP endpoint with ``host`` in place of the bind
    address; an in-process one as it is."""
    if not endpoint.startswith("tcp://"):
        return endpoint
    return f"tcp://{host}:{endpoint.rpartition(':')[2]}"
