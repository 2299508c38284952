"""The sealed broadcast: one AES-256-GCM ciphertext of z per round, opened only with the key."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.protocol import Iterate, ProtocolError, decode_broadcast, encode_broadcast
from runtime.sealed_broadcast import SEAL_OVERHEAD_BYTES, BroadcastSeal
from runtime.specs import SchedulerEndpoints

SOLVE = "sealed-solve"
MESSAGE = Iterate(iteration=3, rho=2.0, rho_prev=1.0, z=np.linspace(-1.0, 1.0, 7))


def _decode(frames: list[bytes], seal: BroadcastSeal | None) -> object:
    return decode_broadcast(frames, solve_id=SOLVE, num_features=7, seal=seal)


def test_a_sealed_broadcast_opens_with_its_key_to_the_same_message() -> None:
    seal = BroadcastSeal.generate()
    frames = encode_broadcast(MESSAGE, solve_id=SOLVE, seal=seal)
    plain = encode_broadcast(MESSAGE, solve_id=SOLVE)
    assert len(frames[1]) == len(plain[1]) + SEAL_OVERHEAD_BYTES
    assert MESSAGE.z.tobytes() not in frames[1]  # z does not travel in the clear
    decoded = _decode(frames, BroadcastSeal.from_text(seal.text))
    assert isinstance(decoded, Iterate)
    assert (decoded.iteration, decoded.rho, decoded.rho_prev) == (3, 2.0, 1.0)
    np.testing.assert_array_equal(decoded.z, MESSAGE.z)


def test_the_same_broadcast_seals_to_different_bytes() -> None:
    seal = BroadcastSeal.generate()
    first, second = (encode_broadcast(MESSAGE, solve_id=SOLVE, seal=seal)[1] for _ in range(2))
    assert first != second  # a fresh nonce each time


def test_another_key_fails_authentication() -> None:
    frames = encode_broadcast(MESSAGE, solve_id=SOLVE, seal=BroadcastSeal.generate())
    with pytest.raises(ProtocolError, match=r"^sealed broadcast failed authentication$"):
        _decode(frames, BroadcastSeal.generate())


@pytest.mark.parametrize("position", [0, 11, 12, 40, -17, -1])
def test_a_changed_byte_anywhere_fails_authentication(position: int) -> None:
    seal = BroadcastSeal.generate()
    topic, body = encode_broadcast(MESSAGE, solve_id=SOLVE, seal=seal)
    damaged = bytearray(body)
    damaged[position] ^= 0x01
    with pytest.raises(ProtocolError, match=r"^sealed broadcast failed authentication$"):
        _decode([topic, bytes(damaged)], seal)


def test_a_ciphertext_of_another_solve_fails_authentication() -> None:
    """The topic (solve id) is authenticated: a body sealed for another solve is refused even
    under the same key."""
    seal = BroadcastSeal.generate()
    _, body = encode_broadcast(MESSAGE, solve_id="other-solve", seal=seal)
    with pytest.raises(ProtocolError, match=r"^sealed broadcast failed authentication$"):
        _decode([SOLVE.encode(), body], seal)


def test_a_short_or_plain_frame_is_refused_by_a_sealed_receiver() -> None:
    seal = BroadcastSeal.generate()
    with pytest.raises(ProtocolError, match=r"^sealed broadcast of 27 bytes is too short$"):
        _decode([SOLVE.encode(), b"x" * 27], seal)
    with pytest.raises(ProtocolError, match=r"^sealed broadcast failed authentication$"):
        _decode(encode_broadcast(MESSAGE, solve_id=SOLVE), seal)


def test_a_sealed_frame_is_refused_by_a_plain_receiver() -> None:
    frames = encode_broadcast(MESSAGE, solve_id=SOLVE, seal=BroadcastSeal.generate())
    with pytest.raises(ProtocolError):
        _decode(frames, None)


def test_a_key_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^broadcast key must be 32 bytes, got 16$"):
        BroadcastSeal(b"k" * 16)
    with pytest.raises(ValueError, match="broadcast_key"):
        SchedulerEndpoints(front="tcp://h:1", broadcast="tcp://h:2", broadcast_key="short")
