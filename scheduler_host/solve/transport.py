"""The scheduler's sockets and threads for one solve: front proxy, masters, broadcaster."""

from __future__ import annotations

import functools
import math
import threading
from types import TracebackType

import zmq

from runtime.capacity import reserve_open_files, reserve_sockets
from runtime.protocol import decode_worker_message, max_worker_message_bytes
from runtime.sealed_broadcast import BroadcastSeal
from runtime.specs import SchedulerEndpoints
from scheduler_host.results import Traffic
from scheduler_host.solve.broadcast import Broadcaster
from scheduler_host.solve.front import FrontProxy, advertised
from scheduler_host.solve.masters import DropCounter, EventQueue, IterationLedger, Master
from scheduler_host.solve.options import SolveFailed
from scheduler_host.solve.security import SolveKeys, start_authenticator
from scheduler_host.solve.slots import SlotRegistry, UpdateSlots

#: A worker holds two TCP connections (its DEALER to the front, its SUB to the broadcast).
FILES_PER_WORKER = 2
#: The scheduler's sockets besides the masters' (front, back end, outbox, PUB, ZAP, spare).
FIXED_SOCKETS = 32

#: ``bind_host`` of a solve kept in one process (workers on threads).
INPROC = "inproc"
#: Master threads at most, whatever W/W̄.  Their work is Python under one GIL: at W = 1,024
#: 64 masters (W̄ = 16) cost the scheduler 0.28-0.58 CPU s a round, 1 or 2 masters
#: 0.20-0.31 s (bench/results/before_after-*.json, round_driver_levers-*.jsonl).
MAX_MASTERS = 2


def master_count(*, num_workers: int, workers_per_master: int) -> int:
    """⌈W/W̄⌉ master threads, at most :data:`MAX_MASTERS`."""
    return min(MAX_MASTERS, math.ceil(num_workers / workers_per_master))


class SolveTransport:
    """Starts and stops everything that talks ZMQ for one solve.

    Parameters
    ----------
    bind_host, advertise_host : str
        Where the sockets listen, and the address workers are told to connect to.
        ``bind_host="inproc"`` keeps the whole solve in this process (workers on
        threads sharing ``zmq.Context.instance()``, for tests); CURVE does not apply
        there, so it needs ``secure=False``.
    front_port, broadcast_port : int
        0 picks free ports.
    secure, sealed_broadcast : bool
        CURVE on the front; with ``sealed_broadcast`` the broadcast is sealed once per
        round with the solve's broadcast key (:mod:`runtime.sealed_broadcast`) and sent
        over plain TCP, else it is CURVE-encrypted per subscriber.
    """

    def __init__(
        self,
        *,
        solve_id: str,
        num_workers: int,
        workers_per_master: int,
        num_features: int,
        max_iteration: int,
        bind_host: str,
        advertise_host: str,
        front_port: int = 0,
        broadcast_port: int = 0,
        secure: bool = True,
        sealed_broadcast: bool = True,
        max_delay: int = 1,
        rho0: float = 1.0,
        relaxation: float = 1.0,
        first_rebroadcast_seconds: float = 0.05,
        max_rebroadcast_seconds: float = 5.0,
    ) -> None:
        self.in_process = bind_host == INPROC
        if self.in_process and secure:
            raise ValueError("secure: CURVE does not apply to in-process (inproc) transports")
        num_masters = master_count(num_workers=num_workers, workers_per_master=workers_per_master)
        # In process, the workers' threads must share the context; it outlives the solve.
        self.context = zmq.Context.instance() if self.in_process else zmq.Context()
        if not self.in_process:
            _reserve_capacity(self.context, num_workers=num_workers, num_masters=num_masters)
        self.keys = SolveKeys(num_workers=num_workers) if secure else None
        self.authenticator = (
            start_authenticator(self.context, self.keys) if self.keys is not None else None
        )
        configure = self.keys.configure_server if self.keys is not None else None
        seal = BroadcastSeal.generate() if secure and sealed_broadcast else None
        self.stop = threading.Event()
        self.ledger = IterationLedger(max_delay=max_delay)
        self.slots = UpdateSlots(
            num_workers=num_workers, num_features=num_features, rho0=rho0, relaxation=relaxation
        )
        self.registry = SlotRegistry(num_workers=num_workers)
        self.events = EventQueue()
        self.drops = DropCounter()
        backend = f"inproc://masters-{solve_id}"
        outbox = f"inproc://outbox-{solve_id}"
        try:
            self.front = FrontProxy(
                context=self.context,
                bind_address=_address(bind_host, front_port, name=f"front-{solve_id}"),
                backend_address=backend,
                outbox_address=outbox,
                max_message_bytes=max_worker_message_bytes(num_features),
                stop=self.stop,
                configure=configure,
            )
            self.broadcaster = Broadcaster(
                context=self.context,
                bind_address=_address(bind_host, broadcast_port, name=f"broadcast-{solve_id}"),
                solve_id=solve_id,
                first_repeat_seconds=first_rebroadcast_seconds,
                max_repeat_seconds=max_rebroadcast_seconds,
                configure=configure if seal is None else None,
                seal=seal,
            )
        except zmq.ZMQError:
            self._stop_authenticator()
            self._destroy_context()
            raise
        decode = functools.partial(
            decode_worker_message,
            solve_id=solve_id,
            num_workers=num_workers,
            num_features=num_features,
            max_iteration=max_iteration,
        )
        self.masters = [
            Master(
                index=index,
                context=self.context,
                backend_address=backend,
                decode=decode,
                ledger=self.ledger,
                slots=self.slots,
                registry=self.registry,
                events=self.events,
                drops=self.drops,
                stop=self.stop,
                keys=self.keys,
            )
            for index in range(num_masters)
        ]
        self.endpoints = SchedulerEndpoints(
            front=advertised(self.front.endpoint, advertise_host),
            broadcast=advertised(self.broadcaster.endpoint, advertise_host),
            server_public_key=self.keys.server.public if self.keys is not None else None,
            broadcast_key=seal.text if seal is not None else None,
        )

        # Owned by the coordinator (the thread that makes the transport).
        self._outbox = self.context.socket(zmq.PUSH)
        self._outbox.setsockopt(zmq.LINGER, 0)
        self._outbox.connect(outbox)

    def send_direct(self, peer: bytes, body: bytes) -> None:
        """A message to one worker, through the ROUTER."""
        self._outbox.send_multipart([peer, body])

    def traffic(self, *, num_workers: int) -> Traffic:
        """The solve's bytes so far (see :class:`~scheduler_host.results.Traffic`)."""
        sent = self.broadcaster.traffic
        return Traffic(
            broadcasts=sent.broadcasts,
            broadcast_repeats=sent.repeats,
            broadcast_bytes=sent.sent_bytes * num_workers,
            received_bytes=sum(master.bytes_received for master in self.masters),
            broadcast_encodings=dict(sent.encodings),
        )

    def endpoints_for(self, worker_index: int, *, new_keys: bool = False) -> SchedulerEndpoints:
        """The endpoints with this worker slot's client keys (none when insecure).

        ``new_keys`` issues the slot a fresh pair, for a replacement worker.
        """
        if self.keys is None:
            return self.endpoints
        pair = self.keys.issue(worker_index) if new_keys else self.keys.clients[worker_index]
        return self.endpoints.model_copy(
            update={"client_public_key": pair.public, "client_secret_key": pair.secret}
        )

    def _stop_authenticator(self) -> None:
        if self.authenticator is not None:
            self.authenticator.stop()

    def __enter__(self) -> SolveTransport:
        self.front.start()
        for master in self.masters:
            master.start()
        for master in self.masters:
            master.ready.wait(timeout=10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop.set()
        for thread in [self.front, *self.masters]:
            if thread.is_alive():
                thread.join(timeout=5)
        self.broadcaster.close()
        self._outbox.close()
        self._stop_authenticator()
        self._destroy_context()

    def _destroy_context(self) -> None:
        if not self.in_process:
            self.context.destroy(linger=0)


def _reserve_capacity(context: zmq.Context, *, num_workers: int, num_masters: int) -> None:
    """Open files and sockets for W workers, or :class:`SolveFailed` naming ``workers``."""
    try:
        reserve_open_files(workers=num_workers, files_per_worker=FILES_PER_WORKER)
        reserve_sockets(context, workers=num_workers, sockets=num_masters + FIXED_SOCKETS)
    except ValueError as error:
        context.destroy(linger=0)
        raise SolveFailed(str(error)) from None


def _address(bind_host: str, port: int, *, name: str) -> str:
    return f"inproc://{name}" if bind_host == INPROC else f"tcp://{bind_host}:{port}"
