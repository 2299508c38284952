"""The scheduler's round at W = 64, 256, 1,024, 2,048 (d = 10,000) next to its floors, same run.

A round is from the global step of iteration k to that of k+1 (the differences of
the history's ``wall_seconds``), with emulated workers whose x-update costs next
to nothing (:mod:`runtime.emulated`), so what is measured is the scheduler and
its transport.  Its median is set against two floors measured in the same run:

* **transport**: one ZMQ DEALER pair over loopback moving the same bytes, W messages
  of d float64 in, then W copies of the d-vector out (CURVE on that one connection
  for the CURVE mode);
* **compute**: the numpy sum of W d-vectors; and, as parts of a round, decoding W updates
  on one thread and sealing one broadcast.

Besides wall time, the CPU seconds each part of the scheduler (by thread) and the emulated
workers spend per round (:mod:`bench.thread_cpu`), against the CPU the transport floor
costs: on a shared 2-core machine the CPU is steadier than the wall clock.  The spectral
ρ rule is left out (``rho_rule="balance"``): it stacks the W local iterates every round
and would measure itself, not the transport (see docs/scaling.md).

``SCHEDULER_ROUND_WORKERS=64,256`` (and ``SCHEDULER_ROUND_PER_MASTER=16,64``, W̄)
narrow or widen the grid for a quick comparison.  The machine is shared: its load
average is recorded before and after every solve.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from dataclasses import asdict

import numpy as np
import zmq

from bench.thread_cpu import CpuSampler
from runtime.protocol import (
    Header,
    Iterate,
    MessageType,
    Update,
    decode_worker_message,
    encode_broadcast,
    encode_worker_message,
)
from runtime.sealed_broadcast import BroadcastSeal
from scheduler_host.results import IterationRecord
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve.transport import master_count
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.emulated import EmulatedSpawner

WORKERS = (64, 256, 1024, 2048)
FEATURES = 10_000
#: Global steps per solve: ROUNDS - 1 round times each.
ROUNDS = 6
FLOOR_REPEATS = 5


def _grid(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    text = os.environ.get(name)
    return tuple(int(part) for part in text.split(",")) if text else default


def _load() -> float:
    return os.getloadavg()[0]


def solve_rounds(
    *,
    workers: int,
    secure: bool,
    workers_per_master: int,
    rho_rule: str = "balance",
    sealed_broadcast: bool = True,
) -> dict[str, object]:
    spec = SolveSpec(
        rho_rule=rho_rule,
        samples=10 * workers,
        features=FEATURES,
        workers=workers,
        workers_per_master=workers_per_master,
        max_iter=ROUNDS,
        eps_primal=1e-12,
        eps_dual=1e-12,
    )
    load_before = _load()
    spawner, cpu = EmulatedSpawner(), CpuSampler()

    def on_iteration(record: IterationRecord) -> None:
        cpu.helpers = spawner.pids
        cpu.sample()

    result = run_solve(
        spec,
        spawner=spawner,
        options=SchedulerOptions(secure=secure, sealed_broadcast=sealed_broadcast),
        on_iteration=on_iteration,
    )
    steps = [record.wall_seconds for record in result.history]
    rounds = [later - earlier for earlier, later in itertools.pairwise(steps)]
    return {
        "round_median_seconds": statistics.median(rounds),
        "round_seconds": rounds,
        "setup_seconds": result.setup_seconds,
        "dropped_messages": result.dropped_messages,
        "traffic": None if result.traffic is None else asdict(result.traffic),
        "cpu_seconds_per_round": cpu.per_round(),
        "load_before": load_before,
        "load_after": _load(),
    }


def transport_floor(*, workers: int, secure: bool) -> float:
    """Median seconds to move W d-vectors in and W out over one loopback connection."""
    context = zmq.Context()
    server, client = context.socket(zmq.DEALER), context.socket(zmq.DEALER)
    try:
        for sock in (server, client):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 0)
            sock.setsockopt(zmq.RCVHWM, 0)
        if secure:
            server_public, server_secret = zmq.curve_keypair()
            client_public, client_secret = zmq.curve_keypair()
            server.curve_server = True
            server.curve_secretkey, server.curve_publickey = server_secret, server_public
            client.curve_serverkey = server_public
            client.curve_secretkey, client.curve_publickey = client_secret, client_public
        port = server.bind_to_random_port("tcp://127.0.0.1")
        client.connect(f"tcp://127.0.0.1:{port}")
        client.send(b"hello")
        server.recv()
        payload = np.random.default_rng(0).random(FEATURES).tobytes()
        seconds = []
        for _ in range(FLOOR_REPEATS):
            started = time.perf_counter()
            for _ in range(workers):
                client.send(payload, copy=False)
            for _ in range(workers):
                server.recv(copy=False)
            for _ in range(workers):
                server.send(payload, copy=False)
            for _ in range(workers):
                client.recv(copy=False)
            seconds.append(time.perf_counter() - started)
        return statistics.median(seconds)
    finally:
        context.destroy(linger=0)


def decode_floor(*, workers: int) -> float:
    """Seconds to decode and validate W update messages (d float64 each) in one thread."""
    omega = np.random.default_rng(0).random(FEATURES)
    raws = [
        encode_worker_message(
            Update(
                header=Header(MessageType.UPDATE, "floor", index, 1),
                omega=omega,
                primal_sq=1.0,
                compute_seconds=0.0,
                idle_seconds=0.0,
                local_iterations=1,
            )
        )
        for index in range(workers)
    ]
    started = time.perf_counter()
    for raw in raws:
        decode_worker_message(
            raw, solve_id="floor", num_workers=workers, num_features=FEATURES, max_iteration=9
        )
    return time.perf_counter() - started


def seal_seconds() -> float:
    """Seconds to encode and seal one broadcast of z (once per round, for all workers)."""
    seal = BroadcastSeal.generate()
    message = Iterate(
        iteration=1, rho=1.0, rho_prev=1.0, z=np.random.default_rng(0).random(FEATURES)
    )
    started = time.perf_counter()
    for _ in range(FLOOR_REPEATS):
        encode_broadcast(message, solve_id="floor", seal=seal)
    return (time.perf_counter() - started) / FLOOR_REPEATS


def compute_floor(*, workers: int) -> float:
    """Median seconds of the numpy sum of W d-vectors."""
    stacked = np.random.default_rng(0).random((workers, FEATURES))
    seconds = []
    for _ in range(FLOOR_REPEATS):
        started = time.perf_counter()
        stacked.sum(axis=0)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def run() -> dict[str, object]:
    cases = []
    for workers in _grid("SCHEDULER_ROUND_WORKERS", WORKERS):
        compute = compute_floor(workers=workers)
        decode = decode_floor(workers=workers)
        for secure in (True, False):
            cpu_before = time.process_time()
            transport = transport_floor(workers=workers, secure=secure)
            transport_cpu = (time.process_time() - cpu_before) / FLOOR_REPEATS
            for per_master in _grid("SCHEDULER_ROUND_PER_MASTER", (16, 1024)):
                measured = solve_rounds(
                    workers=workers, secure=secure, workers_per_master=per_master
                )
                median = measured["round_median_seconds"]
                cpu = measured["cpu_seconds_per_round"]
                assert isinstance(median, float) and isinstance(cpu, dict)
                cases.append(
                    {
                        "workers": workers,
                        "features": FEATURES,
                        "curve": secure,
                        "workers_per_master": per_master,
                        "masters": master_count(num_workers=workers, workers_per_master=per_master),
                        **measured,
                        "transport_floor_seconds": transport,
                        "transport_floor_cpu_seconds": transport_cpu,
                        "compute_floor_seconds": compute,
                        "decode_floor_seconds": decode,
                        "seal_seconds": seal_seconds(),
                        "round_over_transport_floor": median / transport,
                        "cpu_over_transport_floor_cpu": sum(cpu.values()) / transport_cpu,
                    }
                )
                print(
                    f"W={workers} curve={secure} W̄={per_master}: round {median:.3f} s, "
                    f"transport floor {transport:.3f} s, ratio {median / transport:.2f}",
                    flush=True,
                )
    return {"cases": cases, "cpus": os.cpu_count()}
