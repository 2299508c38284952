"""CURVE on every socket: outsiders cannot join, inject updates or read z."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from runtime.protocol import (
    Header,
    Iterate,
    MessageType,
    ProtocolError,
    Terminate,
    Update,
    decode_broadcast,
    encode_worker_message,
)
from runtime.sealed_broadcast import BroadcastSeal
from runtime.specs import WorkerAssignment
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.local import LocalProcessSpawner

SPEC = SolveSpec(samples=2000, features=40, density=0.1, workers=2, l1=0.5, max_iter=300)


class _Intruder(LocalProcessSpawner):
    """Spawns the real workers, then tries to take part without (valid) keys."""

    def __init__(self, *, log_directory: Path, key_kind: str, curve_listener: bool = True) -> None:
        super().__init__(log_directory=log_directory)
        self.key_kind = key_kind
        self.curve_listener = curve_listener  # False: listen over plain TCP
        self.broadcasts_seen: list[list[bytes]] = []
        self._done = threading.Event()
        self.broadcast_key = ""

    def spawn(self, assignments: list[WorkerAssignment]) -> None:
        super().spawn(assignments)
        self._thread = threading.Thread(target=self._intrude, args=(assignments[0],))
        self._thread.start()

    def _secure(self, sock: zmq.Socket, server_key: str) -> None:
        if self.key_kind == "wrong keys":
            public, secret = zmq.curve_keypair()  # a well-formed pair nobody issued
            sock.curve_serverkey = server_key.encode()
            sock.curve_publickey, sock.curve_secretkey = public, secret

    def _intrude(self, assignment: WorkerAssignment) -> None:
        endpoints = assignment.scheduler
        self.broadcast_key = endpoints.broadcast_key or ""
        assert endpoints.server_public_key is not None
        context = zmq.Context()
        sender, listener = context.socket(zmq.DEALER), context.socket(zmq.SUB)
        for sock in (sender, listener) if self.curve_listener else (sender,):
            self._secure(sock, endpoints.server_public_key)
        listener.setsockopt(zmq.SUBSCRIBE, b"")
        listener.connect(endpoints.broadcast)
        sender.connect(endpoints.front)
        poison = Update(
            header=Header(MessageType.UPDATE, assignment.solve_id, 0, 1),
            omega=np.full(SPEC.features, 1e6),
            primal_sq=0.0,
            compute_seconds=0.0,
            idle_seconds=0.0,
            local_iterations=1,
            loss_at_z=0.0,
            x_sq=0.0,
            dual_sq=0.0,
            gram=np.zeros(0),
            curvature=np.zeros(0),
        )
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            # zmq.Again: no authenticated connection to queue it on, the point of CURVE
            with contextlib.suppress(zmq.Again):
                sender.send(encode_worker_message(poison), flags=zmq.NOBLOCK)
            if listener.poll(50):
                self.broadcasts_seen.append(listener.recv_multipart())
        for sock in (sender, listener):
            sock.close(linger=0)
        context.term()

    def close(self) -> None:
        self._thread.join()
        super().close()


@pytest.mark.parametrize("key_kind", ["no keys", "wrong keys"])
def test_an_unauthenticated_peer_cannot_join_inject_or_listen(
    key_kind: str, tmp_path: Path
) -> None:
    """Per-connection CURVE on the broadcast too: the peer receives nothing at all."""
    intruder = _Intruder(log_directory=tmp_path, key_kind=key_kind)
    options = SchedulerOptions(sealed_broadcast=False)
    attacked = run_solve(SPEC, spawner=intruder, options=options)
    intruder.close()
    clean = run_solve(SPEC, spawner=LocalProcessSpawner(log_directory=tmp_path), options=options)
    assert intruder.broadcasts_seen == []
    assert attacked.dropped_messages == 0  # refused at the handshake, never decoded
    assert attacked.objective == clean.objective
    np.testing.assert_array_equal(attacked.x, clean.x)


@pytest.mark.parametrize("key_kind", ["no keys", "wrong keys"])
def test_a_peer_without_keys_gets_only_ciphertext_of_the_sealed_broadcast(
    key_kind: str, tmp_path: Path
) -> None:
    """The default sealed broadcast goes out over plain TCP: a peer without keys receives the
    frames, but cannot open them (with no key, or a key of its own), and still cannot
    inject an update; the solve is the one without the peer."""
    intruder = _Intruder(log_directory=tmp_path, key_kind=key_kind, curve_listener=False)
    attacked = run_solve(SPEC, spawner=intruder)
    intruder.close()
    clean = run_solve(SPEC, spawner=LocalProcessSpawner(log_directory=tmp_path))
    assert attacked.dropped_messages == 0
    assert attacked.objective == clean.objective
    np.testing.assert_array_equal(attacked.x, clean.x)
    assert intruder.broadcasts_seen, "the peer should have received ciphertext"
    solve_id = intruder.broadcasts_seen[0][0].decode()
    own_seal = BroadcastSeal.generate()
    for frames in intruder.broadcasts_seen:
        with pytest.raises(ProtocolError):
            decode_broadcast(frames, solve_id=solve_id, num_features=SPEC.features)
        with pytest.raises(ProtocolError, match="sealed broadcast failed authentication"):
            decode_broadcast(frames, solve_id=solve_id, num_features=SPEC.features, seal=own_seal)
    # They were the real broadcasts: the solve's key (which only its workers hold) opens them.
    solve_seal = BroadcastSeal.from_text(intruder.broadcast_key)
    opened = [
        decode_broadcast(frames, solve_id=solve_id, num_features=SPEC.features, seal=solve_seal)
        for frames in intruder.broadcasts_seen
    ]
    assert all(isinstance(message, Iterate | Terminate) for message in opened)


def test_insecure_mode_is_plain_tcp_and_still_correct(tmp_path: Path) -> None:
    secure = run_solve(SPEC, spawner=LocalProcessSpawner(log_directory=tmp_path))
    insecure = run_solve(
        SPEC,
        spawner=LocalProcessSpawner(log_directory=tmp_path),
        options=SchedulerOptions(secure=False),
    )
    assert insecure.objective == secure.objective


def test_a_worker_cannot_speak_for_another_slot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Worker 1's key signing an update for worker 0 is dropped, not counted."""

    class Impostor(LocalProcessSpawner):
        def spawn(self, assignments: list[WorkerAssignment]) -> None:
            super().spawn(assignments)
            endpoints = assignments[1].scheduler
            context = zmq.Context.instance()
            sock = context.socket(zmq.DEALER)
            sock.curve_serverkey = (endpoints.server_public_key or "").encode()
            sock.curve_publickey = (endpoints.client_public_key or "").encode()
            sock.curve_secretkey = (endpoints.client_secret_key or "").encode()
            sock.connect(endpoints.front)
            header = Header(MessageType.UPDATE, assignments[0].solve_id, 0, 1)
            for _ in range(3):
                sock.send(
                    encode_worker_message(
                        Update(
                            header=header,
                            omega=np.full(SPEC.features, 1e6),
                            primal_sq=0.0,
                            compute_seconds=0.0,
                            idle_seconds=0.0,
                            local_iterations=1,
                            loss_at_z=0.0,
                            x_sq=0.0,
                            dual_sq=0.0,
                            gram=np.zeros(0),
                            curvature=np.zeros(0),
                        )
                    )
                )
            sock.close(linger=2000)

    with caplog.at_level("WARNING", logger="lambda_admm.scheduler"):
        attacked = run_solve(SPEC, spawner=Impostor(log_directory=tmp_path))
    clean = run_solve(SPEC, spawner=LocalProcessSpawner(log_directory=tmp_path))
    refusals = [
        record.getMessage()
        for record in caplog.records
        if "came with another worker's key" in record.getMessage()
    ]
    assert (
        refusals == ["dropped message: a message for worker 0 came with another worker's key"] * 3
    )
    assert attacked.objective == clean.objective
