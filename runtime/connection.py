"""A worker's two sockets and what it reads from them: the connection of
:mod:`runtime.worker`, shared by the emulated workers (:mod:`runtime.emulated`).

A worker connects out (a DEALER to the scheduler's ROUTER front, a SUB to its PUB
broadcast); nothing connects in, which is what Lambda allows. Broadcasts are drained to the
newest (:func:`newest_broadcast`), opened with the solve's broadcast key when it has one, and
decoded against the last z (a delta refers to it).
"""

from __future__ import annotations

import logging
import secrets

import zmq

from runtime.protocol import (
    Broadcast,
    Header,
    Iterate,
    MessageType,
    ProtocolError,
    Report,
    Terminate,
    WorkerMessage,
    decode_broadcast,
    encode_worker_message,
    max_message_bytes,
)
from runtime.sealed_broadcast import BroadcastSeal
from runtime.specs import WorkerAssignment
from runtime.vector_codec import Base

log = logging.getLogger("lambda_admm.worker")

#: How long a worker waits for its final messages to leave before closing.
SEND_LINGER_MS = 5_000


class Connection:
    """The worker's two sockets; it owns them and closes them."""

    def __init__(self, assignment: WorkerAssignment, context: zmq.Context) -> None:
        endpoints = assignment.scheduler
        self.sender = context.socket(zmq.DEALER)
        self.receiver = context.socket(zmq.SUB)
        # A stable routing id: the scheduler tells this worker from a duplicate of it.
        token = secrets.token_hex(8)
        self.sender.setsockopt(
            zmq.ROUTING_ID, f"{assignment.worker_index}.{assignment.slot_epoch}.{token}".encode()
        )
        # A sealed broadcast is opened here (one ciphertext for all workers); otherwise a
        # secure solve's broadcast comes over CURVE like the rest.
        key = endpoints.broadcast_key
        self.seal = BroadcastSeal.from_text(key) if key is not None else None
        self.last_z: Base | None = None  # what the next broadcast may be a delta against
        for sock in (self.sender, self.receiver):
            sock.setsockopt(zmq.LINGER, SEND_LINGER_MS)
            if endpoints.server_public_key and (sock is self.sender or self.seal is None):
                sock.curve_serverkey = endpoints.server_public_key.encode()
                sock.curve_publickey = (endpoints.client_public_key or "").encode()
                sock.curve_secretkey = (endpoints.client_secret_key or "").encode()
        limit = 2 * max_message_bytes(assignment.dimension)
        for sock in (self.sender, self.receiver):
            sock.setsockopt(zmq.MAXMSGSIZE, limit)
        self.receiver.setsockopt(zmq.SUBSCRIBE, assignment.solve_id.encode())
        self.receiver.connect(endpoints.broadcast)
        self.sender.connect(endpoints.front)

    def send(self, message: WorkerMessage) -> None:
        self.sender.send(encode_worker_message(message))

    def close(self) -> None:
        self.sender.close()
        self.receiver.close(linger=0)


def header_of(assignment: WorkerAssignment, kind: MessageType, iteration: int) -> Header:
    return Header(
        type=kind,
        solve_id=assignment.solve_id,
        worker_index=assignment.worker_index,
        iteration=iteration,
        slot_epoch=assignment.slot_epoch,
    )


def newest_broadcast(connection: Connection, assignment: WorkerAssignment) -> Broadcast | None:
    """The newest valid broadcast queued (async mode: skip the z's already superseded)."""
    newest: Broadcast | None = None
    receiver = connection.receiver
    while newest is None or receiver.poll(timeout=0):
        try:
            message = decode_broadcast(
                receiver.recv_multipart(),
                solve_id=assignment.solve_id,
                num_features=assignment.dimension,
                seal=connection.seal,
                base=connection.last_z,
            )
        except ProtocolError as error:
            log.warning("dropped broadcast: %s", error)
            if newest is None:
                return None
            continue
        if isinstance(message, Iterate):
            connection.last_z = Base(iteration=message.iteration, vector=message.z)
        newest = newer_broadcast(newest, message)
    return newest


def newer_broadcast(held: Broadcast | None, message: Broadcast | None) -> Broadcast | None:
    """The broadcast to act on of two: a terminate wins, else the higher iteration, and of an
    iterate and a report of the same iteration the report (it follows the iteration)."""
    if message is None:
        return held
    if held is None or isinstance(message, Terminate):
        return message
    if isinstance(held, Terminate):
        return held
    if message.iteration > held.iteration:
        return message
    if message.iteration == held.iteration and isinstance(message, Report):
        return message
    return held
