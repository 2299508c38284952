"""The sealed broadcast: z encrypted once per round, the same ciphertext for every worker.

CURVE on the PUB socket encrypts each broadcast once per subscriber: at W = 1,024 and
d = 10⁴, 80 MB of encryption a round on the scheduler's one I/O thread.  Instead the
scheduler seals the broadcast body once with AES-256-GCM under a key made for the solve
(:meth:`BroadcastSeal.generate`), and the PUB sends the same bytes to every worker over
plain TCP.  The key reaches each worker in its assignment, beside its CURVE client key
(over TLS to the IAM-authorized API, or a local pipe), so:

* a peer without the key can receive the ciphertext but not read z (AES-GCM), nor make
  a worker act on a broadcast it forged or altered (the GCM tag fails; the topic, the
  solve id, is authenticated data too);
* updates still travel over the workers' own CURVE connections, so a peer without keys
  can still not inject one.

A sealed frame is ``nonce (12 bytes) || ciphertext || tag (16 bytes)``; nonces are random,
far below the 2³² messages per key where random 96-bit GCM nonces stop being safe.  The
cipher is libsodium's, through PyNaCl, which adds 4.9 MB to the worker's layer where the
``cryptography`` package added 15 MB; libsodium's AES-256-GCM needs the AES instructions
that Lambda's x86_64 and arm64 processors have.
"""

from __future__ import annotations

from nacl import bindings as sodium
from nacl.exceptions import CryptoError
from zmq.utils import z85

from runtime.protocol_fields import ProtocolError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
#: What sealing adds to a frame.
SEAL_OVERHEAD_BYTES = NONCE_BYTES + TAG_BYTES


class BroadcastSeal:
    """Seals and opens broadcast bodies with one solve's key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"broadcast key must be {KEY_BYTES} bytes, got {len(key)}")
        self._key = key

    @classmethod
    def generate(cls) -> BroadcastSeal:
        return cls(sodium.randombytes(KEY_BYTES))

    @classmethod
    def from_text(cls, text: str) -> BroadcastSeal:
        """From the Z85 text an assignment carries (40 characters)."""
        try:
            key = z85.decode(text.encode())
        except (ValueError, KeyError):
            raise ValueError("broadcast key must be 40 Z85 characters") from None
        return cls(key)

    @property
    def text(self) -> str:
        """The key as Z85 text, for the assignment."""
        return z85.encode(self._key).decode()

    def seal(self, topic: bytes, body: bytes) -> bytes:
        nonce = sodium.randombytes(NONCE_BYTES)
        return nonce + sodium.crypto_aead_aes256gcm_encrypt(body, topic, nonce, self._key)

    def open(self, topic: bytes, sealed: bytes | memoryview) -> bytes:
        """The body, or :class:`ProtocolError` if the frame was not sealed with this key for
        this topic, or was changed."""
        if len(sealed) < SEAL_OVERHEAD_BYTES:
            raise ProtocolError(f"sealed broadcast of {len(sealed)} bytes is too short")
        sealed = bytes(sealed)
        try:
            return sodium.crypto_aead_aes256gcm_decrypt(
                sealed[NONCE_BYTES:], topic, sealed[:NONCE_BYTES], self._key
            )
        except CryptoError:
            raise ProtocolError("sealed broadcast failed authentication") from None
