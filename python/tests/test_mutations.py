"""Claims of the Python package (python/README.md, spec/ffi.md, the
docstrings) that no other test pinned: each test here fails when the
binding's code for that claim is changed in a way the other tests let
through (a dropped check, a field read from the wrong place, a lock left
out)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import secagg
from secagg import DpConfig, Params, Roster
from test_review import in_threads


def dp_config(**fields: object) -> DpConfig:
    return DpConfig(epsilon=1.0, delta=1e-5, clip=1.0, dim=6, bits=24, clients=5, **fields)  # type: ignore[arg-type]


def test_dp_encode_refuses_bools_and_complex_like_receive_shares() -> None:
    """DpConfig.encode takes numbers (float, signed or unsigned integers)
    and refuses bools with TypeError, as receive_shares does, rather than
    reading True as 1.0."""
    dp = dp_config()
    with pytest.raises(TypeError, match="must hold numbers"):
        dp.encode(np.array([True, False] * 3), bytes(32))
    with pytest.raises(TypeError, match="must hold numbers"):
        dp.encode(np.zeros(6, dtype=np.complex128), bytes(32))
    for ok in (np.zeros(6, dtype=np.int8), np.zeros(6, dtype=np.uint16), [0.0] * 6):
        assert dp.encode(ok, bytes(32)).shape == (8,)


def test_a_roster_key_of_another_length_is_refused_before_the_native_call() -> None:
    """Roster takes 32-byte keys only: a shorter key would make the native
    call read past the joined buffer (it reads 32 bytes a key)."""
    ids = [secagg.Identity.from_secret(bytes([i + 1]) * 32) for i in range(3)]
    keys = [i.public_key for i in ids]
    assert len(Roster(keys)) == 3
    for bad in (keys[0][:31], keys[0] + b"\0", b""):
        with pytest.raises(ValueError, match="each roster key must be 32 bytes"):
            Roster([bad, keys[1], keys[2]])
    with pytest.raises(ValueError, match="each roster key must be 32 bytes"):
        Roster([memoryview(keys[0]), keys[1], keys[2]])


def test_the_dp_mechanism_reaches_the_configuration() -> None:
    """mechanism="skellam" selects Skellam (1 in the options and the
    encoding, spec/dp.md section 6), "gaussian" the discrete Gaussian (0)."""
    gauss, skellam = dp_config(), dp_config(mechanism="skellam")
    assert gauss.options["mechanism"] == 0
    assert skellam.options["mechanism"] == 1
    assert gauss.to_bytes() != skellam.to_bytes()
    assert DpConfig.from_bytes(skellam.to_bytes()).options["mechanism"] == 1


def test_the_privacy_report_fields_come_from_their_own_slots() -> None:
    """DpConfig.decode's PrivacyReport: the target epsilon and delta, the
    epsilon reached (below the target with more honest survivors than
    calibrated for, above it with fewer), survivors, honest = survivors less
    the assumed corrupt, min_honest and rounds as configured."""
    dp = dp_config(min_honest=3, corrupt=1, rounds=2)
    zero = np.zeros(dp.padded_dim, dtype=np.uint64)
    _, more = dp.decode(zero, 5, bytes(32))
    _, fewer = dp.decode(zero, 3, bytes(32))
    for r, survivors in ((more, 5), (fewer, 3)):
        assert (r.epsilon, r.delta) == (1.0, 1e-5)
        assert (r.survivors, r.honest, r.min_honest, r.rounds) == (survivors, survivors - 1, 3, 2)
    assert 0 < more.epsilon_reached < 1.0 < fewer.epsilon_reached


def test_an_exports_nonce_comes_from_the_rng_given() -> None:
    """export(key, rng): the nonce is drawn from the test Rng when one is
    given (the same seed seals to the same bytes, another seed to other
    bytes) and from the OS otherwise."""
    params = Params(clients=3, threshold=2, dim=2)
    rid, key = bytes(32), bytes(range(32))
    client = secagg.Client(params, rid, 1, rng=secagg.Rng(9))
    server = secagg.Server(params, rid, rng=secagg.Rng(9))
    for handle in (client, server):
        a = handle.export(key, secagg.Rng(5))
        assert a == handle.export(key, secagg.Rng(5))
        assert a != handle.export(key, secagg.Rng(6))
        assert handle.export(key) != handle.export(key)


def test_one_rng_drawn_from_several_threads_gives_its_stream_once() -> None:
    """Rng.bytes holds the Rng's lock (python/README.md "Threads"): draws
    of one Rng from several threads are whole chunks of its stream, each
    handed out once, in some order."""
    n, size = 8, 1 << 18
    for _ in range(3):
        shared = secagg.Rng(41)
        got = in_threads(lambda _k: [secagg.Rng.bytes(shared, size) for _ in range(4)], list(range(n)))
        stream = secagg.Rng(41).bytes(n * 4 * size)
        chunks = {stream[at : at + size] for at in range(0, len(stream), size)}
        drawn = [c for per in got for c in per]
        assert len(set(drawn)) == len(drawn) == len(chunks) and set(drawn) == chunks


def test_a_fault_raised_in_one_thread_names_that_threads_sender() -> None:
    """Server.receive reads the outcome of its own call under the server's
    lock: with several threads feeding one server, every ClientFault names
    the sender of the message that raised it."""
    params = Params(clients=3, threshold=2, dim=2)
    server = secagg.Server(params, bytes(32))

    def feed(k: int) -> list:
        wrong = []
        for j in range(1500):
            sender = 1000 * (k + 1) + j
            try:
                server.receive(sender, b"x")
            except secagg.ClientFault as e:
                if (e.index, e.outcome) != (sender, secagg.Outcome.IGNORED):
                    wrong.append((sender, e.index, e.outcome))
        return wrong

    assert in_threads(feed, list(range(8))) == [[]] * 8
    assert server.pending == [1, 2, 3]


def test_each_status_code_maps_to_its_documented_class() -> None:
    """_errors.py: a code's family is its name's prefix; the singletons
    have their own classes and the rest of the API codes are ApiError.
    error() gives a ClientFault its outcome and no other class one; OK is
    no error."""
    from secagg._errors import error

    families = {
        "DECODE_": secagg.DecodeError, "CLIENT_": secagg.ClientFault, "SERVER_": secagg.ServerFault,
        "PARAMS_": secagg.ParamsError, "MISUSE_": secagg.MisuseError, "DP_": secagg.DpError,
        "STATE_": secagg.StateError,
    }
    singles = {
        "NOT_ENOUGH_SURVIVORS": secagg.NotEnoughSurvivors, "OUT_OF_ORDER": secagg.OutOfOrderError,
        "NOT_FOUND": secagg.NotFoundError, "PANIC": secagg.InternalError,
        "RANDOMNESS": secagg.RandomnessError, "NULL_POINTER": secagg.ApiError,
        "SHORT_BUFFER": secagg.ApiError, "INVALID_ARGUMENT": secagg.ApiError, "UNKNOWN": secagg.ApiError,
    }
    seen = set()
    for name, code in secagg.CODES.items():
        if code == 0:
            assert error(code, 3, secagg.Outcome.NAMED) is None
            continue
        want = singles.get(name) or next(cls for p, cls in families.items() if name.startswith(p))
        assert secagg.exception_for(code) is want, name
        e = error(code, 3, secagg.Outcome.NAMED)
        assert type(e) is want and (e.code, e.name, e.index) == (code, name, 3)
        assert getattr(e, "outcome", None) is (secagg.Outcome.NAMED if want is secagg.ClientFault else None)
        seen.add(want)
    assert seen == set(families.values()) | set(singles.values())


def test_degree_zero_is_a_harary_degree_and_refused() -> None:
    """degree=None selects the complete graph; any degree given, 0
    included, selects the Harary graph and is checked (PARAMS_DEGREE), never
    read as "no degree"."""
    with pytest.raises(secagg.ParamsError) as e:
        Params(clients=10, threshold=3, dim=4, degree=0, seed=bytes(32))
    assert e.value.name == "PARAMS_DEGREE"
    with pytest.raises(ValueError, match="seed must be 32 bytes"):
        Params(clients=10, threshold=3, dim=4, degree=0)
    assert Params(clients=10, threshold=3, dim=4).degree == 9
