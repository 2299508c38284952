"""The host daemon: the job runner on the queue, a health endpoint, shutdown on signals."""

from __future__ import annotations

import logging
import signal
import threading

from runtime.storage import S3Storage
from scheduler_host.service.health import serve_health
from scheduler_host.service.runner import JobRunner, ServiceConfig
from scheduler_host.service.store import StatusStore

log = logging.getLogger("lambda_admm.service")

JSON_LOG_FORMAT = (
    '{"time": "%(asctime)s", "level": "%(levelname)s", '
    '"logger": "%(name)s", "message": "%(message)s"}'
)


def serve(config: ServiceConfig, *, health_port: int) -> None:
    """Run queued solves with Lambda workers until SIGTERM or SIGINT."""
    import boto3

    from scheduler_host.spawners.api_gateway import ApiGatewaySpawner

    logging.basicConfig(level=logging.INFO, format=JSON_LOG_FORMAT)
    session = boto3.Session(region_name=config.region)

    def make_spawner() -> ApiGatewaySpawner:
        credentials = session.get_credentials()
        if credentials is None:
            raise RuntimeError("the host has no AWS credentials")
        return ApiGatewaySpawner(
            workers_url=config.workers_url,
            region=config.region,
            credentials=credentials.get_frozen_credentials(),
        )

    runner = JobRunner(
        config=config,
        sqs=session.client("sqs"),
        store=StatusStore(storage=S3Storage(bucket=config.bucket, client=session.client("s3"))),
        make_spawner=make_spawner,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    health = serve_health(
        host="127.0.0.1",
        port=health_port,
        report=lambda: {
            "status": "ok",
            "current_solve": runner.current_solve,
            "solves_finished": runner.solves_finished,
        },
    )
    log.info("serving %s (a job gets %d deliveries)", config.queue_url, config.max_receives)
    try:
        runner.run_forever(stop)
    finally:
        health.shutdown()
