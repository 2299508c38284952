"""Emulated workers: the real scheduler over TCP (CURVE on and off) with many workers in one
helper process, checked against Algorithms 1 and 2 recomputed directly."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from typer.testing import CliRunner

from runtime.emulated import EmulatedWorker, emulated_loss, emulated_target, emulated_x_update
from runtime.protocol import (
    Iterate,
    Join,
    Update,
    Welcome,
    decode_worker_message,
    encode_broadcast,
    encode_direct,
)
from runtime.specs import FaultPlan, FaultRule, SchedulerEndpoints
from scheduler_host.assignments import build_assignment
from scheduler_host.cli.app import app
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve.global_step import global_step, has_converged, penalty_of
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.emulated import EmulatedSpawner

# The recomputation below is the paper's Algorithm 1: residual balancing, no relaxation, no
# acceleration.
SPEC = SolveSpec(
    samples=600,
    features=50,
    density=0.1,
    workers=6,
    l1=0.5,
    eps_primal=1e-6,
    eps_dual=1e-6,
    rho_rule="balance",
    relaxation=1.0,
    acceleration="none",
)
OPTIONS = SchedulerOptions(scheduler_silence_seconds=15.0, max_rebroadcast_seconds=1.0)


def _recomputed(
    spec: SolveSpec,
) -> tuple[list[tuple[float, float, float]], np.ndarray, float, bool, list[float]]:
    """Algorithm 1 with every worker's Algorithm 2 (and its free x-update) inline; also the
    objective at each iteration's z."""
    workers, features = spec.workers, spec.features
    targets = [emulated_target(index, features) for index in range(workers)]
    x, dual = np.zeros((workers, features)), np.zeros((workers, features))
    z, rho, rho_prev = np.zeros(features), spec.rho0, spec.rho0
    penalty = penalty_of(spec.model)
    history, converged, iteration, objectives = [], False, 0, []
    while not converged and iteration < spec.max_iter:
        iteration += 1
        objectives.append(
            math.fsum(emulated_loss(z, target) for target in targets) + penalty.value(z)
        )
        omega, primal_sq = np.zeros((workers, features)), np.zeros(workers)
        for index in range(workers):
            primal = x[index] - z
            dual[index] = (dual[index] + primal) * (rho_prev / rho)
            x[index] = emulated_x_update(z - dual[index], rho, targets[index])
            omega[index], primal_sq[index] = x[index] + dual[index], primal @ primal
        step = global_step(
            omega_sum=omega.sum(axis=0),
            primal_sq_sum=math.fsum(primal_sq),
            z_prev=z,
            rho=rho,
            num_workers=workers,
            penalty=penalty,
            dual_residual_form=spec.dual_residual,
        )
        history.append((step.primal_residual, step.dual_residual, rho))
        converged = has_converged(
            iteration=iteration,
            primal_residual=step.primal_residual,
            dual_residual=step.dual_residual,
            eps_primal=spec.eps_primal,
            eps_dual=spec.eps_dual,
        )
        z, rho_prev, rho = step.z, rho, step.rho_next
    loss = math.fsum(emulated_loss(z, target) for target in targets)
    return history, z, loss + penalty.value(z), converged, objectives


@pytest.mark.parametrize("secure", [True, False], ids=["curve", "insecure"])
def test_an_emulated_solve_follows_algorithms_1_and_2_bit_for_bit(secure: bool) -> None:
    spawner = EmulatedSpawner(processes=2)
    result = run_solve(
        SPEC, spawner=spawner, options=SchedulerOptions(**{**OPTIONS.__dict__, "secure": secure})
    )
    history, z, objective, converged, objectives = _recomputed(SPEC)
    assert result.converged and converged
    assert [(r.primal_residual, r.dual_residual, r.rho) for r in result.history] == history
    assert [r.objective for r in result.history] == objectives
    np.testing.assert_array_equal(result.x, z)
    assert result.objective == objective
    assert result.dropped_messages == 0 and result.replacements == 0
    assert spawner.exit_codes() == [0, 0]


def test_a_worker_that_misses_a_broadcast_gets_it_repeated() -> None:
    """The slow joiner: worker 2 drops the first copy of iteration 3's z."""
    spawner = EmulatedSpawner(missed={2: (3,)})
    result = run_solve(SPEC, spawner=spawner, options=OPTIONS)
    _, z, _, _, _ = _recomputed(SPEC)
    np.testing.assert_array_equal(result.x, z)
    assert result.replacements == 0


def test_an_emulated_worker_that_raises_is_reported_and_replaced() -> None:
    faults = FaultPlan(rules=(FaultRule(kind="raise", worker=1, iteration=2),))
    result = run_solve(
        SPEC,
        spawner=EmulatedSpawner(),
        options=SchedulerOptions(**{**OPTIONS.__dict__, "faults": faults}),
    )
    _, z, _, _, _ = _recomputed(SPEC)
    assert result.replacements == 1 and result.converged
    np.testing.assert_allclose(result.x, z, atol=1e-5)


def test_faults_that_would_hit_every_emulated_worker_are_refused() -> None:
    faults = FaultPlan(rules=(FaultRule(kind="kill", worker=1), FaultRule(kind="delay")))
    with pytest.raises(
        ValueError,
        match=r"^faults: only 'raise' applies to emulated workers, got \['delay', 'kill'\]$",
    ):
        run_solve(
            SPEC,
            spawner=EmulatedSpawner(),
            options=SchedulerOptions(**{**OPTIONS.__dict__, "faults": faults}),
        )


def test_an_emulated_worker_checks_what_it_receives_as_the_real_worker_does() -> None:
    context = zmq.Context()
    front, pub = context.socket(zmq.ROUTER), context.socket(zmq.PUB)
    endpoints = SchedulerEndpoints(
        front=f"tcp://127.0.0.1:{front.bind_to_random_port('tcp://127.0.0.1')}",
        broadcast=f"tcp://127.0.0.1:{pub.bind_to_random_port('tcp://127.0.0.1')}",
    )
    assignment = build_assignment(
        SPEC,
        solve_id="emu",
        worker_index=4,
        slot_epoch=0,
        rows=(400, 500),
        endpoints=endpoints,
        worker_options=OPTIONS.worker_options(),
    )
    worker = EmulatedWorker(assignment, context)
    decode = {"solve_id": "emu", "num_workers": 6, "num_features": 50, "max_iteration": 100}
    try:
        assert front.poll(5000)
        peer, body = front.recv_multipart()
        join = decode_worker_message(body, **decode)
        assert isinstance(join, Join) and (join.row_start, join.row_stop) == (400, 500)
        front.send_multipart([peer, b"\x00garbage"])  # dropped: not a direct message
        front.send_multipart([peer, encode_direct(Welcome(last_iteration=0), solve_id="emu")])
        while worker.connection.sender.poll(1000) and not worker.welcomed:
            worker.on_direct()
        assert worker.welcomed
        z = np.linspace(-1.0, 1.0, 50)
        iterate = Iterate(iteration=1, rho=2.0, rho_prev=1.0, z=z)
        updates = []
        deadline = time.monotonic() + 10
        while len(updates) < 1 and time.monotonic() < deadline:
            # Noise first: another solve's z, a wrong length, garbage; then the real one.
            pub.send_multipart(encode_broadcast(iterate, solve_id="other"))
            pub.send_multipart([b"emu", b"\xc1"])
            pub.send_multipart(
                encode_broadcast(
                    Iterate(iteration=2, rho=1.0, rho_prev=1.0, z=z[:49]), solve_id="emu"
                )
            )
            pub.send_multipart(encode_broadcast(iterate, solve_id="emu"))
            if worker.connection.receiver.poll(100):
                worker.on_broadcast()
            while front.poll(50):
                updates.append(decode_worker_message(front.recv_multipart()[1], **decode))
        pub.send_multipart(encode_broadcast(iterate, solve_id="emu"))  # a repeat: ignored
        time.sleep(0.2)
        if worker.connection.receiver.poll(100):
            worker.on_broadcast()
        assert not front.poll(200)
        [update] = updates
        assert isinstance(update, Update) and update.header.iteration == 1
        # ADMM's steps from x = u = 0: r = -z, u = -z·(1/2), x = (t + 2(z - u)) / 3.
        dual = -z * 0.5
        expected_x = (emulated_target(4, 50) + 2.0 * (z - dual)) / 3.0
        np.testing.assert_array_equal(update.omega, expected_x + dual)
        assert update.primal_sq == float(z @ z)
    finally:
        worker.connection.close()
        context.destroy(linger=0)


def test_a_solve_the_host_cannot_hold_is_refused_naming_workers() -> None:
    script = (
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))\n"
        "from scheduler_host.solve import run_solve, SolveFailed\n"
        "from scheduler_host.solve_spec import SolveSpec\n"
        "from scheduler_host.spawners.emulated import EmulatedSpawner\n"
        "try:\n"
        "    run_solve(SolveSpec(samples=4000, features=10, workers=1000), "
        "spawner=EmulatedSpawner())\n"
        "except SolveFailed as error:\n"
        "    print(error)\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert finished.stdout.strip() == (
        "workers: 1000 workers need 2256 open files, but this host allows at most 512 "
        "(the hard RLIMIT_NOFILE; raise it with ulimit -Hn or LimitNOFILE=)"
    )


def test_the_command_line_solves_on_emulated_workers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    flags = ["--samples", "600", "--features", "50", "--workers", "6", "--l1", "0.5"]
    flags += ["--eps-primal", "1e-6", "--eps-dual", "1e-6"]
    result = CliRunner().invoke(app, ["solve", "--backend", "emulated", *flags, "--out", str(out)])
    assert result.exit_code == 0, result.output
    _, z, objective, _, _ = _recomputed(SPEC)
    np.testing.assert_array_equal(np.load(out / "x.npy"), z)
    assert json.loads((out / "result.json").read_text())["objective"] == objective


def _recomputed_anderson(spec: SolveSpec) -> tuple[list[float], np.ndarray, int]:
    """Algorithm 1 with Anderson acceleration computed centrally, on the stacked ω: the Gram
    matrix of the stacked residuals, the regularized type-II coefficients, a restart whenever
    ρ changes (the scheduler's and workers' split computation must give the same iterates)."""
    workers, features = spec.workers, spec.features
    memory = spec.anderson_memory
    targets = [emulated_target(index, features) for index in range(workers)]
    x, sent = np.zeros((workers, features)), np.zeros((workers, features))
    points: list[np.ndarray] = []  # stacked T's of the window
    residuals: list[np.ndarray] = []  # stacked g's
    mix: np.ndarray = np.zeros(0)
    restart = False
    z, rho, rho_prev = np.zeros(features), spec.rho0, spec.rho0
    penalty = penalty_of(spec.model)
    primal_residuals, converged, iteration = [], False, 0
    while not converged and iteration < spec.max_iter:
        iteration += 1
        if mix.size > 1:
            base = sum(
                weight * point for weight, point in zip(mix, points[-mix.size :], strict=True)
            )
        else:
            base = sent + 0.0
        if restart:
            points, residuals = [], []
        primal_sq = ((x - z) ** 2).sum(axis=1)
        dual = (base - z) * (rho_prev / rho)
        for index in range(workers):
            x[index] = emulated_x_update(z - dual[index], rho, targets[index])
        sent = x + dual
        points = ([*points, sent])[-(memory + 1) :]
        residuals = ([*residuals, x - z])[-(memory + 1) :]
        stacked = np.array([residual.ravel() for residual in residuals])
        gram = stacked @ stacked.T
        size = len(residuals)
        mix = np.zeros(0)
        if size > 1:
            scale = np.trace(gram) / size
            solution = np.linalg.solve(gram + 1e-10 * scale * np.eye(size), np.ones(size))
            mix = solution / solution.sum()
        base_sum = (
            sum(
                weight * point.sum(axis=0)
                for weight, point in zip(mix, points[-mix.size :], strict=True)
            )
            if mix.size > 1
            else sent.sum(axis=0)
        )
        step = global_step(
            omega_sum=base_sum,
            primal_sq_sum=math.fsum(primal_sq),
            z_prev=z,
            rho=rho,
            num_workers=workers,
            penalty=penalty,
            dual_residual_form=spec.dual_residual,
        )
        primal_residuals.append(step.primal_residual)
        converged = has_converged(
            iteration=iteration,
            primal_residual=step.primal_residual,
            dual_residual=step.dual_residual,
            eps_primal=spec.eps_primal,
            eps_dual=spec.eps_dual,
        )
        restart = step.rho_next != rho
        z, rho_prev, rho = step.z, rho, step.rho_next
    return primal_residuals, z, iteration


@pytest.mark.parametrize("memory", [1, 5])
def test_anderson_acceleration_split_over_workers_equals_it_computed_centrally(
    memory: int,
) -> None:
    """Each worker keeps its own part of the window and its row of the Gram matrix; the
    scheduler sums the rows. That is Anderson acceleration of the whole stacked iterate."""
    spec = SPEC.model_copy(
        update={"acceleration": "anderson", "anderson_memory": memory, "eps_primal": 1e-9}
    )
    result = run_solve(spec, spawner=EmulatedSpawner(processes=2), options=OPTIONS)
    residuals, z, iterations = _recomputed_anderson(spec)
    plain = run_solve(SPEC.model_copy(update={"eps_primal": 1e-9}), spawner=EmulatedSpawner())
    assert result.converged and result.iterations == iterations
    np.testing.assert_allclose(
        [record.primal_residual for record in result.history], residuals, rtol=1e-6, atol=1e-12
    )
    np.testing.assert_allclose(result.x, z, rtol=1e-9, atol=1e-12)
    assert any(record.accelerated for record in result.history)
    assert result.iterations < plain.iterations  # and it pays
