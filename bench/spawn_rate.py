"""Spawning W = 1,024 workers through signed ``POST /workers``, and their spawn-to-join times.

Two measurements, both against :mod:`bench.sigv4_sink`, a local HTTP server that recomputes
every request's SigV4 signature (botocore's signer) and counts what it accepted:

* **rate**: :class:`~scheduler_host.spawners.api_gateway.ApiGatewaySpawner` posts 1,024
  assignments (bounded thread pool, jittered retries), once without 429s and once with the
  sink answering 429 to the first attempt of every 20th worker.  Goal: at least 1,000
  requests a second, with every worker
  accepted exactly once (the sink's count is 1,024, no duplicates, no bad signature).
* **spawn to join**: a W = 1,024 emulated solve whose workers are spawned through the same
  signed POSTs; the sink hands each accepted assignment to an emulated-worker process, as
  API Gateway hands it to the function.  Per worker: spawn request to join (the result's
  ``cold_start_seconds``), next to the same solve spawned through a pipe
  (:class:`~scheduler_host.spawners.emulated.EmulatedSpawner`) in the same run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bench.sigv4_sink import CREDENTIALS, REGION
from runtime.specs import SchedulerEndpoints
from scheduler_host.assignments import build_assignment
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.api_gateway import ApiGatewaySpawner
from scheduler_host.spawners.base import Spawner
from scheduler_host.spawners.emulated import EmulatedSpawner

WORKERS = 1024
#: 0: no 429s; 20: the first attempt of every 20th worker is throttled.
THROTTLE_EVERY = (0, 20)
CONCURRENCY = (16, 32, 64)
START_SECONDS = 20.0


@contextmanager
def sink(*, throttle_every: int = 0, emulate: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
    """The sink's ``POST /workers`` URL; its counts fill the dict when the block ends."""
    with tempfile.TemporaryDirectory(prefix="sigv4-sink-") as directory:
        port_file, counts_file = Path(directory, "port"), Path(directory, "counts.json")
        command = [sys.executable, "-m", "bench.sigv4_sink", "--port-file", str(port_file)]
        command += ["--counts-file", str(counts_file), "--throttle-every", str(throttle_every)]
        command += ["--emulate", str(emulate)]
        process = subprocess.Popen(command)
        counts: dict[str, Any] = {}
        try:
            deadline = time.monotonic() + START_SECONDS
            while not (port_file.exists() and port_file.read_text()):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the SigV4 sink did not start")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port_file.read_text()}/workers", counts
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
            if counts_file.exists():
                counts.update(json.loads(counts_file.read_text()))


def _spec(workers: int, *, max_iter: int = 2) -> SolveSpec:
    return SolveSpec(
        samples=10 * workers,
        features=1000,
        workers=workers,
        max_iter=max_iter,
        rho_rule="balance",
        eps_primal=1e-12,
        eps_dual=1e-12,
    )


def post_rate(*, concurrency: int, throttle_every: int) -> dict[str, Any]:
    spec = _spec(WORKERS)
    endpoints = SchedulerEndpoints(front="tcp://127.0.0.1:1", broadcast="tcp://127.0.0.1:2")
    assignments = [
        build_assignment(
            spec,
            solve_id="spawn-rate",
            worker_index=index,
            slot_epoch=0,
            rows=(10 * index, 10 * index + 10),
            endpoints=endpoints,
            worker_options={},
        )
        for index in range(WORKERS)
    ]
    with sink(throttle_every=throttle_every) as (url, counts):
        spawner = ApiGatewaySpawner(
            workers_url=url, region=REGION, credentials=CREDENTIALS, max_concurrency=concurrency
        )
        started = time.perf_counter()
        spawner.spawn(assignments)
        spawner.wait()
        seconds = time.perf_counter() - started
        failures = spawner.failures()
        spawner.close()
    return {
        "workers": WORKERS,
        "concurrency": concurrency,
        "throttle_every": throttle_every,
        "seconds": seconds,
        "requests_per_second": counts.get("requests", 0) / seconds,
        "workers_per_second": WORKERS / seconds,
        "spawner_failures": len(failures),
        "sink": counts,
        "every_worker_once": counts.get("unique_workers") == WORKERS
        and counts.get("duplicates") == 0
        and not any(key.startswith("refused") for key in counts),
    }


def _percentiles(values: tuple[float, ...]) -> dict[str, float]:
    array = np.asarray(values)
    return {
        "median": float(np.median(array)),
        "p90": float(np.percentile(array, 90)),
        "p99": float(np.percentile(array, 99)),
        "max": float(array.max()),
    }


def spawn_to_join(spawner: Spawner) -> dict[str, Any]:
    result = run_solve(_spec(WORKERS), spawner=spawner, options=SchedulerOptions())
    return {
        "setup_seconds": result.setup_seconds,
        "spawn_to_join_seconds": _percentiles(result.cold_start_seconds),
    }


def run() -> dict[str, Any]:
    load = os.getloadavg()[0]
    rates = []
    for throttle_every in THROTTLE_EVERY:
        for concurrency in CONCURRENCY:
            rate = post_rate(concurrency=concurrency, throttle_every=throttle_every)
            rates.append(rate)
            print(
                f"concurrency {concurrency}, 429 every {throttle_every}: "
                f"{rate['requests_per_second']:.0f} requests/s, sink {rate['sink']}",
                flush=True,
            )
    with sink(emulate=WORKERS) as (url, counts):
        through_api = spawn_to_join(
            ApiGatewaySpawner(workers_url=url, region=REGION, credentials=CREDENTIALS)
        )
    through_api["sink"] = counts
    through_pipe = spawn_to_join(EmulatedSpawner())
    print(f"spawn to join: api {through_api}, pipe {through_pipe}", flush=True)
    return {
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "post_rate": rates,
        "spawn_to_join_via_signed_posts": through_api,
        "spawn_to_join_via_pipe": through_pipe,
        "median_over_pipe": through_api["spawn_to_join_seconds"]["median"]
        / through_pipe["spawn_to_join_seconds"]["median"],
    }
