"""CURVE authentication and encryption for the scheduler's sockets.

Per solve, the scheduler makes a server key pair and one client key pair per
worker slot.  Each spawn request carries the server's public key and that
worker's client pair (over TLS to the IAM-authorized API, or a local pipe).
A ZAP handler admits exactly the issued client keys, and ZAP's User-Id (the
client's public key) travels with every message, so the masters can check that
an update for worker w came over worker w's key.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import zmq
from zmq.auth.thread import ThreadAuthenticator

log = logging.getLogger("lambda_admm.security")

ZAP_DOMAIN = "lambda-admm"


@dataclass(frozen=True)
class KeyPair:
    """Z85-encoded CURVE keys."""

    public: str
    secret: str = field(repr=False)

    @classmethod
    def generate(cls) -> KeyPair:
        public, secret = zmq.curve_keypair()
        return cls(public=public.decode(), secret=secret.decode())


class SolveKeys:
    """The server pair and the client pairs issued so far, by worker slot."""

    def __init__(self, *, num_workers: int) -> None:
        self.server = KeyPair.generate()
        self._lock = threading.Lock()
        self._owner: dict[str, int] = {}
        self.clients: dict[int, KeyPair] = {}
        for index in range(num_workers):
            self.issue(index)

    def issue(self, worker_index: int) -> KeyPair:
        """A fresh pair for a slot (a replacement worker gets its own)."""
        pair = KeyPair.generate()
        with self._lock:
            self.clients[worker_index] = pair
            self._owner[pair.public] = worker_index
        return pair

    def owner_of(self, public_key: str) -> int | None:
        with self._lock:
            return self._owner.get(public_key)

    def callback(self, domain: str, client_key: bytes) -> bool:
        """ZAP: admit only keys this solve issued."""
        allowed = self.owner_of(client_key.decode()) is not None
        if not allowed:
            log.warning("refused a CURVE client with an unknown key")
        return allowed

    def configure_server(self, sock: zmq.Socket) -> None:
        sock.curve_server = True
        sock.curve_secretkey = self.server.secret.encode()
        sock.curve_publickey = self.server.public.encode()
        sock.zap_domain = ZAP_DOMAIN.encode()


def start_authenticator(context: zmq.Context, keys: SolveKeys) -> ThreadAuthenticator:
    """A ZAP handler on ``context`` admitting the keys in ``keys`` (issued later ones too)."""
    authenticator = ThreadAuthenticator(context, log=logging.getLogger("lambda_admm.zap"))
    authenticator.start()
    authenticator.configure_curve_callback(ZAP_DOMAIN, credentials_provider=keys)
    return authenticator
