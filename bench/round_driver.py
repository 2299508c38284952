"""One scheduler_round case in a fresh process, against whichever source tree is importable.

``python bench/round_driver.py W curve|insecure W̄ [sealed|curve-pub]`` prints one JSON line:
the median round, the transport floor measured in the same process, and CPU seconds per
round by part.  :mod:`bench.before_after` runs it with ``PYTHONPATH`` set to this tree and
to an export of another commit (``git archive``), interleaved, so that a change is measured
against its baseline in one run on a shared machine.  It uses only APIs both trees have.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
import time

from thread_cpu import CpuSampler  # this script's own directory (the trees may lack it)

from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.emulated import EmulatedSpawner

FEATURES = 10_000
ROUNDS = int(os.environ.get("ROUND_DRIVER_ROUNDS", "6"))


def main() -> int:
    workers, mode, per_master = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    broadcast = sys.argv[4] if len(sys.argv) > 4 else "default"
    secure = mode == "curve"
    sys.path.insert(0, os.getcwd())
    from bench.scheduler_round import transport_floor

    cpu_before = time.process_time()
    floor = transport_floor(workers=workers, secure=secure)
    # transport_floor takes the median of 5 repeats: its CPU (both ends, I/O threads included)
    # per repeat is what moving a round's bytes costs the machine.
    floor_cpu = (time.process_time() - cpu_before) / 5
    options = {"secure": secure}
    if broadcast == "curve-pub":
        options["sealed_broadcast"] = False
    spawner, cpu = EmulatedSpawner(), CpuSampler()

    def on_iteration(record: object) -> None:
        cpu.helpers = [process.pid for process in spawner._helpers]
        cpu.sample()

    load = os.getloadavg()[0]
    result = run_solve(
        SolveSpec(
            samples=10 * workers,
            features=FEATURES,
            workers=workers,
            workers_per_master=per_master,
            max_iter=ROUNDS,
            eps_primal=1e-12,
            eps_dual=1e-12,
            rho_rule="balance",
        ),
        spawner=spawner,
        options=SchedulerOptions(**options),
        on_iteration=on_iteration,
    )
    per_round = cpu.per_round()
    steps = [record.wall_seconds for record in result.history]
    rounds = [later - earlier for earlier, later in itertools.pairwise(steps)]
    median = statistics.median(rounds)
    print(
        json.dumps(
            {
                "workers": workers,
                "curve": secure,
                "broadcast": broadcast,
                "workers_per_master": per_master,
                "round_median_seconds": median,
                "round_seconds": rounds,
                "transport_floor_seconds": floor,
                "round_over_transport_floor": median / floor,
                "cpu_seconds_per_round": per_round,
                "transport_floor_cpu_seconds": floor_cpu,
                "cpu_over_transport_floor_cpu": sum(per_round.values()) / floor_cpu,
                "load": load,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
