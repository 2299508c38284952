"""The broadcast's fan-out alone: CURVE per subscriber against one sealed ciphertext for all.

A PUB socket sends 20 broadcasts of z (d = 10,000, the real encoder) to W = 1,024 SUB
sockets in a helper process, 0.2 s apart; the publisher's CPU (its ZMQ I/O thread included)
and the subscribers' process CPU are read per broadcast.  With CURVE on the PUB, libzmq
encrypts each broadcast once per connection and every subscriber decrypts it; sealed
(:mod:`runtime.sealed_broadcast`), the publisher seals once and each subscriber opens it
with AES-256-GCM.  The end-to-end round (``scheduler_round``) is too noisy on a shared
2-core machine to show this part on its own.

``python -m bench.broadcast_fanout --subscribe W PORT KEY`` is the helper.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import numpy as np
import zmq

from runtime.capacity import reserve_open_files, reserve_sockets
from runtime.protocol import Iterate, decode_broadcast, encode_broadcast
from runtime.sealed_broadcast import BroadcastSeal

WORKERS = 1024
FEATURES = 10_000
BROADCASTS = 20
PAUSE_SECONDS = 0.2
SOLVE = "fanout"


def _publish(*, workers: int, mode: str) -> dict[str, Any]:
    context = zmq.Context()
    pub = context.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    seal = BroadcastSeal.generate() if mode == "sealed" else None
    key = "-"
    if mode == "curve":
        public, secret = zmq.curve_keypair()
        pub.curve_server, pub.curve_secretkey, pub.curve_publickey = True, secret, public
        key = public.decode()
    elif seal is not None:
        key = seal.text
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    command = [sys.executable, "-m", "bench.broadcast_fanout", "--subscribe"]
    helper = subprocess.Popen(
        [*command, str(workers), str(port), mode, key],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert helper.stdout is not None
    helper.stdout.readline()  # "connected"
    time.sleep(2.0)  # let every subscription reach the publisher
    z = np.random.default_rng(0).random(FEATURES)
    started = time.process_time()
    for iteration in range(1, BROADCASTS + 1):
        message = Iterate(iteration=iteration, rho=1.0, rho_prev=1.0, z=z)
        pub.send_multipart(encode_broadcast(message, solve_id=SOLVE, seal=seal))
        time.sleep(PAUSE_SECONDS)
    publisher = (time.process_time() - started) / BROADCASTS
    received, subscribers = helper.communicate(timeout=120)[0].split()
    context.destroy(linger=0)
    return {
        "workers": workers,
        "mode": mode,
        "publisher_cpu_ms_per_broadcast": 1e3 * publisher,
        "subscribers_cpu_ms_per_broadcast": float(subscribers),
        "received": int(received),
        "expected": workers * BROADCASTS,
    }


def _subscribe(workers: int, port: str, mode: str, key: str) -> None:
    reserve_open_files(workers=workers, files_per_worker=2)
    context = zmq.Context()
    reserve_sockets(context, workers=workers, sockets=workers + 16)
    seal = BroadcastSeal.from_text(key) if mode == "sealed" else None
    poller = zmq.Poller()
    for _ in range(workers):
        sock = context.socket(zmq.SUB)
        if mode == "curve":
            public, secret = zmq.curve_keypair()
            sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = (
                key.encode(),
                public,
                secret,
            )
        sock.setsockopt(zmq.SUBSCRIBE, SOLVE.encode())
        sock.connect(f"tcp://127.0.0.1:{port}")
        poller.register(sock, zmq.POLLIN)
    print("connected", flush=True)
    received, started = 0, None
    deadline = time.monotonic() + 10 + BROADCASTS * PAUSE_SECONDS
    while received < workers * BROADCASTS and time.monotonic() < deadline:
        for sock, _ in poller.poll(100):
            frames = sock.recv_multipart()
            started = started if started is not None else time.process_time()
            decode_broadcast(frames, solve_id=SOLVE, num_features=FEATURES, seal=seal)
            received += 1
    cpu = 0.0 if started is None else time.process_time() - started
    print(received, 1e3 * cpu / BROADCASTS, flush=True)
    context.destroy(linger=0)


def run() -> dict[str, Any]:
    load = os.getloadavg()[0]
    cases = [_publish(workers=WORKERS, mode=mode) for _ in range(2) for mode in ("curve", "sealed")]
    for case in cases:
        print(case, flush=True)
    return {"cases": cases, "load_before": load, "load_after": os.getloadavg()[0]}


if __name__ == "__main__" and sys.argv[1:2] == ["--subscribe"]:
    _subscribe(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
