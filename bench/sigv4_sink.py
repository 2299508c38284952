"""A local stand-in for API Gateway's ``POST /workers``: verifies every SigV4 signature.

``python -m bench.sigv4_sink --port-file PATH [--throttle-every K] [--emulate W]`` listens on
127.0.0.1 (HTTP/1.1, keep-alive), recomputes each request's ``execute-api`` signature with
botocore's signer from the same test credentials, and answers 202, or 403 for a bad or stale
signature.  ``--throttle-every K`` answers 429 to the first attempt of every K-th worker, so
the spawner's retries are exercised.  With ``--emulate W`` every accepted assignment is passed
on to an emulated-worker process (``python -m runtime.emulated``), as API Gateway passes it to
the worker function: the solve then measures spawn-to-join through the real spawner.

On SIGTERM it writes its counts as JSON to ``--counts-file``.
"""

from __future__ import annotations

import argparse
import hmac
import json
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import ReadOnlyCredentials

CREDENTIALS = ReadOnlyCredentials("AKIDSPAWNRATE", "spawn-rate-secret", None)
REGION = "eu-north-1"
#: A signature older than this is refused, as AWS does (5 minutes).
MAX_SKEW_SECONDS = 300


class _SignedHeadersOnly(SigV4Auth):
    """botocore's signer restricted to the headers the client says it signed."""

    def __init__(self, signed: list[str]) -> None:
        super().__init__(CREDENTIALS, "execute-api", REGION)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        chosen = HTTPHeaders()
        for name in self._signed:
            chosen[name] = request.headers[name]
        return chosen


def signature_problem(*, method: str, url: str, headers: dict[str, str], body: bytes) -> str | None:
    """None if the request carries a valid, fresh SigV4 signature of these test credentials."""
    authorization = headers.get("Authorization", "")
    algorithm, _, rest = authorization.partition(" ")
    fields = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
    if algorithm != "AWS4-HMAC-SHA256" or not {"Credential", "SignedHeaders", "Signature"} <= set(
        fields
    ):
        return "no SigV4 authorization"
    stamp = headers.get("X-Amz-Date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "bad X-Amz-Date"
    if abs((datetime.now(UTC) - signed_at).total_seconds()) > MAX_SKEW_SECONDS:
        return "stale signature"
    scope = f"{CREDENTIALS.access_key}/{stamp[:8]}/{REGION}/execute-api/aws4_request"
    if fields["Credential"] != scope:
        return "wrong credential scope"
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    request.context["timestamp"] = stamp
    signer = _SignedHeadersOnly(fields["SignedHeaders"].split(";"))
    try:
        canonical = signer.canonical_request(request)
    except KeyError:
        return "a signed header is missing"
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return None if hmac.compare_digest(expected, fields["Signature"]) else "bad signature"


class Sink:
    """What the sink saw, and where accepted assignments go."""

    def __init__(self, *, throttle_every: int, emulator: subprocess.Popen[bytes] | None) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.accepted: Counter[tuple[int, int]] = Counter()
        self.throttled: set[tuple[int, int]] = set()
        self.throttle_every = throttle_every
        self.emulator = emulator

    def handle(self, *, method: str, url: str, headers: dict[str, str], body: bytes) -> int:
        problem = signature_problem(method=method, url=url, headers=headers, body=body)
        if problem is not None:
            with self.lock:
                self.counts[f"refused: {problem}"] += 1
            return 403
        assignment = json.loads(body)
        key = (int(assignment["worker_index"]), int(assignment["slot_epoch"]))
        with self.lock:
            self.counts["requests"] += 1
            if (
                self.throttle_every
                and key[0] % self.throttle_every == 0
                and key not in self.throttled
            ):
                self.throttled.add(key)
                self.counts["throttled (429)"] += 1
                return 429
            self.accepted[key] += 1
            if self.emulator is not None and self.emulator.stdin is not None:
                self.emulator.stdin.write(body + b"\n")
                self.emulator.stdin.flush()
        return 202

    def report(self) -> dict[str, Any]:
        with self.lock:
            return {
                **self.counts,
                "accepted": sum(self.accepted.values()),
                "unique_workers": len(self.accepted),
                "duplicates": sum(count - 1 for count in self.accepted.values()),
            }


def _handler(sink: Sink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = sink.handle(
                method="POST",
                url=f"http://{self.headers['Host']}{self.path}",
                headers=dict(self.headers.items()),
                body=body,
            )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sigv4_sink")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--counts-file", type=Path, required=True)
    parser.add_argument("--throttle-every", type=int, default=0)
    parser.add_argument("--emulate", type=int, default=0, help="workers of an emulator child")
    arguments = parser.parse_args(argv)
    emulator = None
    if arguments.emulate:
        emulator = subprocess.Popen(
            [sys.executable, "-m", "runtime.emulated", "--workers", str(arguments.emulate + 16)],
            stdin=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    sink = Sink(throttle_every=arguments.throttle_every, emulator=emulator)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sink))
    server.daemon_threads = True

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    arguments.port_file.write_text(str(server.server_address[1]))
    try:
        server.serve_forever()
    finally:
        arguments.counts_file.write_text(json.dumps(sink.report()))
        if emulator is not None and emulator.stdin is not None:
            emulator.stdin.close()
            try:
                emulator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                emulator.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
