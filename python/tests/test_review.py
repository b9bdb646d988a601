"""The documented claims of the Python package that test_round.py leaves
open: every byte-like message type, the batch's caller errors, a client
asked twice in the unmask phase, the sealed state's header checks and
secrecy, the input dtypes, the parameter rules and the server's calls
before and after a round (python/README.md, spec/ffi.md, the docstrings)."""

from __future__ import annotations

import os
from typing import Callable, Dict

import numpy as np
import pytest

import secagg
from secagg import ClientFault, Identity, MisuseError, Outcome, Params, Roster, Rng, Server, ServerFault
from test_round import expected, run_round


def odd_view(data: bytes) -> memoryview:
    """``data`` as a memoryview whose ``len()`` is not its byte count: of
    8-byte, then 2-byte items when the length allows, else one row."""
    for dtype in (np.uint64, np.uint16):
        if len(data) % np.dtype(dtype).itemsize == 0:
            return memoryview(np.frombuffer(data, dtype=dtype))
    return memoryview(np.frombuffer(data, dtype=np.uint8).reshape(1, len(data)))


def start(params: Params, rid: bytes, seed: int = 1) -> tuple:
    """A server and its clients, every draw seeded, with every client's
    AdvertiseKeys received."""
    server = Server(params, rid, rng=Rng(seed))
    clients = {i: secagg.Client(params, rid, i, rng=Rng(1000 + i)) for i in range(1, params.clients + 1)}
    for i, c in clients.items():
        server.receive(i, c.message)
    return server, clients


@pytest.mark.parametrize("kind", ["bytearray", "memoryview"])
def test_every_bytes_like_message_gives_the_same_round(kind: str) -> None:
    """Messages, sealed states, keys, round ids and encodings as bytearray,
    or as memoryviews whose len() counts items or rows rather than bytes:
    every one is read whole, so the round sums exactly with nobody
    excluded and every message equals the bytes round's."""
    wrap: Callable[[bytes], object] = bytearray if kind == "bytearray" else odd_view
    n, m, bits = 4, 5, 16
    rid, key = bytes(range(32)), bytes(range(32, 64))
    params = Params(clients=n, threshold=3, dim=m, bits=bits)
    received = Params.from_bytes(wrap(params.to_bytes()))  # type: ignore[arg-type]
    assert received.to_bytes() == params.to_bytes()
    inputs = np.arange(n * m, dtype=np.uint64).reshape(n, m) * 1000

    def round_with(w: Callable[[bytes], object]) -> list:
        log: list = []
        server, clients = start(params, rid)
        log.extend(c.message for c in clients.values())
        out = server.close_phase()
        for phase in range(3):
            answers = {}
            for i, c in clients.items():
                sealed = c.export(w(key))  # type: ignore[arg-type]
                c = clients[i] = secagg.Client.from_state(
                    w(sealed), w(key), w(rid), c.phase, rng=Rng(2000 + i)  # type: ignore[arg-type]
                )
                if phase == 0:
                    answers[i] = c.receive_keys(w(out[i]))  # type: ignore[arg-type]
                elif phase == 1:
                    answers[i] = c.receive_shares(w(out[i]), inputs[i - 1])  # type: ignore[arg-type]
                else:
                    answers[i] = c.receive_unmask(w(out[i]))  # type: ignore[arg-type]
            results = server.receive_all([(i, w(a)) for i, a in answers.items()])  # type: ignore[misc]
            assert results == [None] * n
            log.extend(answers.values())
            phase_name = server.phase
            server = Server.from_state(w(server.export(w(key))), w(key), w(rid), phase_name)  # type: ignore[arg-type]
            out = server.close_phase()
            log.extend(sorted((out or {}).items()))
        assert out is None and server.excluded == [] and server.misbehaved == []
        assert server.survivors == list(range(1, n + 1))
        assert server.sum.tolist() == expected(inputs, range(1, n + 1), bits).tolist()
        log.append(server.sum.tolist())
        return log

    assert round_with(wrap) == round_with(bytes)


def test_single_receive_reads_a_memoryview_whole() -> None:
    """Server.receive of a valid message as a memoryview whose len() is
    not its byte count takes it whole (reading len() bytes would exclude
    the client as CLIENT_MALFORMED)."""
    params = Params(clients=3, threshold=2, dim=4, bits=16)
    rid = os.urandom(32)
    server = Server(params, rid)
    client = secagg.Client(params, rid, 1)
    msg = client.message
    view = odd_view(msg)
    assert len(view) < len(msg) == view.nbytes
    server.receive(1, view)
    assert server.excluded == [] and server.pending == [2, 3]
    server.receive(1, msg)  # the byte-identical resend is a no-op
    assert server.pending == [2, 3]


def test_fixed_size_inputs_refuse_other_lengths() -> None:
    params = Params(clients=3, threshold=2, dim=4)
    for bad in (bytes(31), bytes(33), memoryview(bytes(31)), "x" * 32, None):
        with pytest.raises(ValueError, match="round_id must be 32 bytes"):
            Server(params, bad)  # type: ignore[arg-type]
    for bad in (bytes(31), memoryview(bytes(64)).cast("B", (2, 32))):
        with pytest.raises(ValueError, match="secret must be 32 bytes"):
            Identity.from_secret(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="message must be bytes, not str"):
        Server(params, bytes(32)).receive(1, "hello")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="params must be bytes, not list"):
        Params.from_bytes([1, 2])  # type: ignore[arg-type]
    # A strided view is refused by name, as a key or a message, before any
    # byte is read.
    strided = memoryview(bytes(64))[::2]
    assert len(strided) == 32 and not strided.c_contiguous
    with pytest.raises(ValueError, match="round_id must be 32 bytes"):
        Server(params, strided)
    with pytest.raises(TypeError, match="message must be contiguous bytes"):
        Server(params, bytes(32)).receive(1, memoryview(secagg.Client(params, bytes(32), 1).message)[::2])


def test_receive_all_caller_errors_take_nothing() -> None:
    """A sender outside uint32 or a message that is not bytes raises for
    the whole batch before any message is taken: the server is unchanged
    and takes the same batch, corrected, afterwards."""
    params = Params(clients=3, threshold=2, dim=2)
    rid = os.urandom(32)
    server = Server(params, rid)
    cs = {i: secagg.Client(params, rid, i) for i in (1, 2, 3)}
    good = [(i, c.message) for i, c in cs.items()]
    with pytest.raises(OverflowError):
        server.receive_all(good[:2] + [(-1, good[2][1])])
    with pytest.raises(OverflowError):
        server.receive_all(good[:2] + [(1 << 32, good[2][1])])
    with pytest.raises(TypeError, match="message must be bytes, not str"):
        server.receive_all(good[:2] + [(3, "not bytes")])  # type: ignore[list-item]
    assert server.pending == [1, 2, 3] and server.excluded == [] and server.phase == "advertise_keys"
    assert server.receive_all(iter(good)) == [None, None, None]
    assert server.pending == []


def test_a_client_answers_one_unmask_request() -> None:
    """spec/ffi.md sections 1 and 6: a client that answered the unmask
    request answers a byte-identical repeat with the same bytes (live and
    reopened from its export), and refuses another survivor set
    (SERVER_SURVIVOR_SET_CHANGED, nothing revealed, still done); a refused
    request before answering spends it (phase "over", then
    MISUSE_ROUND_OVER, also for bytes that do not decode)."""
    params = Params(clients=4, threshold=2, dim=4, bits=16)
    rid, key = os.urandom(32), os.urandom(32)
    # Twin servers from one seed: the same messages until the masked
    # inputs, of which one misses client 4's.
    a, cs = start(params, rid, seed=5)
    b = Server(params, rid, rng=Rng(5))
    for i, c in cs.items():
        b.receive(i, c.message)
    out_a, out_b = a.close_phase(), b.close_phase()
    assert out_a == out_b
    for i, c in cs.items():
        msg = c.receive_keys(out_a[i])
        a.receive(i, msg)
        b.receive(i, msg)
    out_a, out_b = a.close_phase(), b.close_phase()
    assert out_a == out_b
    for i, c in cs.items():
        msg = c.receive_shares(out_a[i], np.full(4, i))
        a.receive(i, msg)
        if i != 4:
            b.receive(i, msg)
    all_four, without_4 = a.close_phase(), b.close_phase()
    assert all_four is not None and without_4 is not None and all_four[1] != without_4[1]

    answer = cs[1].receive_unmask(all_four[1])
    assert cs[1].phase == "done"
    assert cs[1].receive_unmask(all_four[1]) == answer
    with pytest.raises(ServerFault) as e:
        cs[1].receive_unmask(without_4[1])
    assert e.value.name == "SERVER_SURVIVOR_SET_CHANGED"
    assert cs[1].phase == "done" and cs[1].message == answer
    reopened = secagg.Client.from_state(cs[1].export(key), key, rid, "done")
    assert reopened.message == b""
    with pytest.raises(ServerFault) as e:
        reopened.receive_unmask(without_4[1])
    assert e.value.name == "SERVER_SURVIVOR_SET_CHANGED"
    assert reopened.receive_unmask(all_four[1]) == answer

    # Client 2: a request of another session (byte 2 starts the session id)
    # is refused and spends it.
    other = bytearray(all_four[2])
    other[2] ^= 1
    with pytest.raises(ServerFault) as e:
        cs[2].receive_unmask(bytes(other))
    assert e.value.name == "SERVER_WRONG_SESSION" and cs[2].phase == "over"
    with pytest.raises(MisuseError) as m:
        cs[2].receive_unmask(all_four[2])
    assert m.value.name == "MISUSE_ROUND_OVER"
    with pytest.raises(MisuseError) as m:  # bytes that do not decode: the round is over all the same
        cs[2].receive_unmask(b"\x02")
    assert m.value.name == "MISUSE_ROUND_OVER" and cs[2].phase == "over"
    # The others answer: the round completes with client 2 counted dropped
    # after its masked input (in the sum).
    for i in (1, 3, 4):
        a.receive(i, cs[i].receive_unmask(all_four[i]))
    assert a.close_phase() is None
    assert a.survivors == [1, 2, 3, 4] and a.sum.tolist() == [10] * 4


def test_a_refused_consistency_request_leaves_the_client_usable() -> None:
    """Malicious model: a consistency request of another session is
    SERVER_WRONG_SESSION and the client stays in "consistency"; it then
    signs the survivor set, answers its byte-identical repeat with the same
    signature and refuses another set (SERVER_SURVIVOR_SET_CHANGED, from a
    twin server that missed client 8's masked input); the round sums
    exactly."""
    n = 8
    params = Params(clients=n, threshold=5, dim=2, corrupt=1)
    ids = [Identity.from_secret(bytes([0x30 + i]) * 32) for i in range(n)]
    roster = Roster([i.public_key for i in ids])
    rid = os.urandom(32)
    a, b = Server(params, rid, roster, rng=Rng(3)), Server(params, rid, roster, rng=Rng(3))
    cs = {i: secagg.Client(params, rid, i, ids[i - 1], roster) for i in range(1, n + 1)}
    for i, c in cs.items():
        a.receive(i, c.message)
        b.receive(i, c.message)
    out, twin = a.close_phase(), b.close_phase()
    assert out == twin
    for i, c in cs.items():
        msg = c.receive_keys(out[i])
        a.receive(i, msg)
        b.receive(i, msg)
    out, twin = a.close_phase(), b.close_phase()
    assert out == twin
    for i, c in cs.items():
        msg = c.receive_shares(out[i], [i, 1000 * i])
        a.receive(i, msg)
        if i != 8:
            b.receive(i, msg)
    out, twin = a.close_phase(), b.close_phase()
    assert a.phase == b.phase == "consistency" and cs[1].phase == "consistency"
    assert out[1] != twin[1]
    other = bytearray(out[1])
    other[2] ^= 1
    with pytest.raises(ServerFault) as e:
        cs[1].receive_consistency(bytes(other))
    assert e.value.name == "SERVER_WRONG_SESSION" and cs[1].phase == "consistency"
    signed = {i: c.receive_consistency(out[i]) for i, c in cs.items()}
    assert cs[1].phase == "unmask"
    assert cs[1].receive_consistency(out[1]) == signed[1]
    with pytest.raises(ServerFault) as e:
        cs[1].receive_consistency(twin[1])
    assert e.value.name == "SERVER_SURVIVOR_SET_CHANGED" and cs[1].phase == "unmask"
    for i, msg in signed.items():
        a.receive(i, msg)
    out = a.close_phase()
    for i, c in cs.items():
        a.receive(i, c.receive_unmask(out[i]))
    assert a.close_phase() is None
    assert a.survivors == list(range(1, 9)) and a.sum.tolist() == [36, 36000]


def test_a_duplicate_masked_input_is_named_and_the_first_stands() -> None:
    """Outcome.NAMED: a second, different masked input from a client in R2
    (spec/protocol.md section 5.4, Duplicate) is refused with outcome
    NAMED; the client stays in the round, its first input is in the sum."""
    params = Params(clients=3, threshold=2, dim=3, bits=16)
    rid = os.urandom(32)
    server = Server(params, rid)
    cs = {i: secagg.Client(params, rid, i, rng=Rng(10 + i)) for i in (1, 2, 3)}
    twin = secagg.Client(params, rid, 2, rng=Rng(12))  # client 2's keys again
    assert twin.message == cs[2].message
    for i, c in cs.items():
        server.receive(i, c.message)
    out = server.close_phase()
    for i, c in cs.items():
        server.receive(i, c.receive_keys(out[i]))
    twin.receive_keys(out[2])
    out = server.close_phase()
    for i, c in cs.items():
        server.receive(i, c.receive_shares(out[i], np.full(3, 100 * i)))
    with pytest.raises(ClientFault) as e:
        server.receive(2, twin.receive_shares(out[2], np.full(3, 7)))
    assert (e.value.name, e.value.index, e.value.outcome) == ("CLIENT_DUPLICATE", 2, Outcome.NAMED)
    assert server.excluded == []
    out = server.close_phase()
    assert sorted(out) == [1, 2, 3]
    for i, c in cs.items():
        server.receive(i, c.receive_unmask(out[i]))
    assert server.close_phase() is None
    assert server.survivors == [1, 2, 3] and server.sum.tolist() == [600] * 3
    assert server.misbehaved == [(2, "CLIENT_DUPLICATE")]


def test_sealed_state_header_checks() -> None:
    """spec/state.md sections 2 and 3 through Python: an unknown format or
    protocol version is STATE_VERSION, another magic STATE_MALFORMED, and a
    header edited to pass the role, round or phase check fails
    authentication (the header is the seal's associated data)."""
    params = Params(clients=3, threshold=2, bits=16, dim=2)
    rid, key = os.urandom(32), os.urandom(32)
    state = secagg.Client(params, rid, 1).export(key)
    assert state[:6] == b"SAST\x02\x02" and state[6] == 1 and state[7] == 0 and state[8:40] == rid

    def edited(at: int, value: int) -> bytes:
        b = bytearray(state)
        b[at] = value
        return bytes(b)

    def refused(fn: Callable, *args: object) -> str:
        with pytest.raises(secagg.StateError) as e:
            fn(*args)
        return e.value.name

    open_client = secagg.Client.from_state
    assert refused(open_client, edited(4, 1), key, rid, "keys") == "STATE_VERSION"
    assert refused(open_client, edited(5, 3), key, rid, "keys") == "STATE_VERSION"
    assert refused(open_client, edited(0, ord("X")), key, rid, "keys") == "STATE_MALFORMED"
    assert refused(open_client, state[:67], key, rid, "keys") == "STATE_MALFORMED"
    assert refused(open_client, edited(7, 1), key, rid, "shares") == "STATE_AUTHENTICATION"
    assert refused(Server.from_state, edited(6, 2), key, rid, "advertise_keys") == "STATE_AUTHENTICATION"
    other = bytes([rid[0] ^ 1]) + rid[1:]
    assert refused(open_client, edited(8, other[0]), key, other, "keys") == "STATE_AUTHENTICATION"
    with pytest.raises(ValueError, match="phase must be one of"):
        Server.from_state(state, key, rid, "done")
    assert open_client(state, key, rid, "keys").index == 1


def test_the_result_is_not_in_an_over_export() -> None:
    params = Params(clients=3, threshold=2, dim=2, bits=16)
    rid, key = os.urandom(32), os.urandom(32)
    server, cs = start(params, rid)
    out = server.close_phase()
    for i, c in cs.items():
        server.receive(i, c.receive_keys(out[i]))
    out = server.close_phase()
    for i, c in cs.items():
        server.receive(i, c.receive_shares(out[i], [i, 2 * i]))
    out = server.close_phase()
    for i, c in cs.items():
        server.receive(i, c.receive_unmask(out[i]))
    assert server.close_phase() is None and server.sum.tolist() == [6, 12]
    reopened = Server.from_state(server.export(key), key, rid, "over")
    assert reopened.phase == "over"
    for read in (lambda: reopened.sum, lambda: reopened.survivors, lambda: reopened.misbehaved):
        with pytest.raises(secagg.OutOfOrderError):
            read()


def test_the_server_before_and_after_its_round() -> None:
    """session is zero until the first close; survivors, misbehaved and sum
    are OUT_OF_ORDER until the round ends; after it every receive and
    close is MISUSE_ROUND_OVER, which receive_all returns (not raises)
    for each message, as receive raises it; after a NotEnoughSurvivors
    abort there is no sum."""
    params = Params(clients=3, threshold=2, dim=2, bits=16)
    rid = os.urandom(32)
    server, cs = start(params, rid)
    assert server.session == bytes(32)
    for read in (lambda: server.survivors, lambda: server.misbehaved, lambda: server.sum):
        with pytest.raises(secagg.OutOfOrderError) as e:
            read()
        assert e.value.name == "OUT_OF_ORDER"
    out = server.close_phase()
    session = server.session
    assert len(session) == 32 and session != bytes(32)
    for i, c in cs.items():
        server.receive(i, c.receive_keys(out[i]))
    out = server.close_phase()
    for i, c in cs.items():
        server.receive(i, c.receive_shares(out[i], np.array([i, 65535], dtype=np.uint16)))
    out = server.close_phase()
    answers = {i: c.receive_unmask(out[i]) for i, c in cs.items()}
    for i, a in answers.items():
        server.receive(i, a)
    assert server.close_phase() is None
    assert server.sum.tolist() == [6, 65533] and server.session == session
    with pytest.raises(MisuseError) as e:
        server.receive(1, answers[1])
    assert e.value.name == "MISUSE_ROUND_OVER"
    with pytest.raises(MisuseError) as e:
        server.close_phase()
    assert e.value.name == "MISUSE_ROUND_OVER"
    results = server.receive_all([(1, answers[1]), (9, b"x")])
    assert [(type(r), r.name) for r in results] == [(MisuseError, "MISUSE_ROUND_OVER")] * 2  # type: ignore[union-attr]

    aborted = Server(Params(clients=4, threshold=3, dim=2), rid)
    with pytest.raises(secagg.NotEnoughSurvivors) as n:
        aborted.close_phase()
    assert (n.value.name, n.value.index) == ("NOT_ENOUGH_SURVIVORS", 0)
    assert aborted.phase == "over"
    with pytest.raises(secagg.OutOfOrderError):
        _ = aborted.sum
    with pytest.raises(MisuseError):
        aborted.close_phase()


def test_secrets_stay_sealed_and_out_of_reprs() -> None:
    """An export holds the input and the identity's secret key only sealed;
    repr shows an identity's public key prefix and a client's index and
    phase, nothing else."""
    params = Params(clients=8, threshold=5, dim=16, bits=64, corrupt=1)
    ids = [Identity.from_secret(bytes([0xA0 + i]) * 32) for i in range(8)]
    roster = Roster([i.public_key for i in ids])
    rid, key = os.urandom(32), os.urandom(32)
    server = Server(params, rid, roster)
    cs = {i: secagg.Client(params, rid, i, ids[i - 1], roster) for i in range(1, 9)}
    for i, c in cs.items():
        server.receive(i, c.message)
    out = server.close_phase()
    for i, c in cs.items():
        server.receive(i, c.receive_keys(out[i]))
    out = server.close_phase()
    marker = np.full(16, 0x5EC2E7_5EC2E7_5E, dtype=np.uint64)
    cs[1].receive_shares(out[1], marker)
    sealed = cs[1].export(key)
    assert cs[1].phase == "consistency"
    assert marker[:2].tobytes() not in sealed and marker[:2].byteswap().tobytes() not in sealed
    assert ids[0].secret_bytes() not in sealed
    assert repr(cs[1]) == "Client(index=1, phase='consistency')"
    assert repr(ids[0]) == f"Identity(public_key={ids[0].public_key.hex()[:16]}...)"
    assert ids[0].secret_bytes().hex()[:8] not in repr(ids[0])
    reopened = secagg.Client.from_state(sealed, key, rid, "consistency")
    assert reopened.index == 1 and reopened.phase == "consistency"


def test_input_dtypes_and_layouts() -> None:
    """receive_shares takes any integer dtype, byte order and layout (a
    list of Python ints, those above 2**63 included, a strided view,
    big-endian) and sums it exactly; refuses bools, objects, floats,
    complex, negative, 2**64 and 0-d input with TypeError or ValueError
    and values of 2**bits with MISUSE_INPUT_RANGE, leaving the client
    usable; 2**64 - 1 sums modulo 2**64 with bits = 64."""
    params = Params(clients=4, threshold=3, dim=4, bits=64)
    rid = os.urandom(32)
    server, cs = start(params, rid)
    out = server.close_phase()
    for i, c in cs.items():
        server.receive(i, c.receive_keys(out[i]))
    out = server.close_phase()
    top = (1 << 64) - 1
    strided = np.arange(8, dtype=np.uint64)[::2]  # [0, 2, 4, 6], not contiguous
    assert not strided.flags["C_CONTIGUOUS"]
    inputs = {
        1: np.array([top, 1, 2, 3], dtype=np.uint64),
        2: strided,
        3: [1 << 63, 7, 8, 9],  # Python ints that numpy alone reads as float64
        4: np.array([1, 2, 3, 127], dtype=">i8"),  # big-endian, signed
    }
    c = cs[1]
    for bad, exc in (
        (np.array([True, False, True, False]), TypeError),
        (np.array([1, 2, 3, 4], dtype=object), TypeError),
        (np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32), TypeError),
        (np.array([1, 2, 3, 4], dtype=np.complex64), TypeError),
        (np.uint64(5), ValueError),
        (np.array([[1, 2, 3, 4]], dtype=np.uint64), ValueError),
        ([1, 2, 3, -4], ValueError),
        ([top + 1, 0, 0, 0], ValueError),  # beyond uint64
        ([-1, top, 0, 0], ValueError),  # negative, beside a value above 2**63
        ([1.5, top, 0, 0], TypeError),  # a float among the ints
    ):
        with pytest.raises(exc):
            c.receive_shares(out[1], bad)
        assert c.phase == "shares"
    for i, c in cs.items():
        server.receive(i, c.receive_shares(out[i], inputs[i]))
    out = server.close_phase()
    for i, c in cs.items():
        server.receive(i, c.receive_unmask(out[i]))
    assert server.close_phase() is None
    want = [sum(int(np.asarray(v, dtype=np.uint64)[k]) for v in inputs.values()) % (1 << 64) for k in range(4)]
    assert server.sum.tolist() == want == [(top + (1 << 63) + 1) % (1 << 64), 1 + 2 + 7 + 2, 2 + 4 + 8 + 3, 3 + 6 + 9 + 127]
    assert server.sum.dtype == np.uint64

    small = Params(clients=3, threshold=2, dim=2, bits=16)
    s16, c16 = start(small, rid)
    out = s16.close_phase()
    for i, c in c16.items():
        s16.receive(i, c.receive_keys(out[i]))
    out = s16.close_phase()
    with pytest.raises(MisuseError) as e:
        c16[1].receive_shares(out[1], np.array([1 << 16, 0], dtype=np.uint32))
    assert e.value.name == "MISUSE_INPUT_RANGE" and c16[1].phase == "shares"
    s16.receive(1, c16[1].receive_shares(out[1], np.array([(1 << 16) - 1, 0], dtype=np.uint32)))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"clients": 1, "threshold": 2, "dim": 4}, "PARAMS_CLIENT_COUNT"),
        ({"clients": (1 << 24) + 1, "threshold": 2, "dim": 4}, "PARAMS_CLIENT_COUNT"),
        ({"clients": 3, "threshold": 2, "dim": 4, "bits": 0}, "PARAMS_BITS"),
        ({"clients": 3, "threshold": 2, "dim": 4, "bits": 65}, "PARAMS_BITS"),
        ({"clients": 3, "threshold": 2, "dim": (1 << 28) + 1}, "PARAMS_DIMENSION"),
        ({"clients": 3, "threshold": 1, "dim": 4}, "PARAMS_THRESHOLD"),
        ({"clients": 3, "threshold": 4, "dim": 4}, "PARAMS_THRESHOLD"),
        ({"clients": 10, "threshold": 3, "dim": 4, "degree": 3, "seed": bytes(32)}, "PARAMS_DEGREE"),
        ({"clients": 10, "threshold": 3, "dim": 4, "degree": 10, "seed": bytes(32)}, "PARAMS_DEGREE"),
        ({"clients": 10, "threshold": 6, "dim": 4, "degree": 4, "seed": bytes(32)}, "PARAMS_THRESHOLD"),
        ({"clients": 7, "threshold": 4, "dim": 4, "corrupt": 1}, "PARAMS_NOT_UNIQUE"),
        ({"clients": 7, "threshold": 5, "dim": 4, "corrupt": 5}, "PARAMS_NOT_UNIQUE"),
    ],
)
def test_parameter_rules(kwargs: Dict[str, object], name: str) -> None:
    """spec/params.md section 2, each rule through the Python constructor,
    with the exact status."""
    with pytest.raises(secagg.ParamsError) as e:
        Params(**kwargs)  # type: ignore[arg-type]
    assert e.value.name == name


def test_parameter_bounds_are_inclusive() -> None:
    p = Params(clients=1 << 24, threshold=2, dim=1 << 28, bits=64)
    assert (p.clients, p.dim, p.bits) == (1 << 24, 1 << 28, 64)
    assert Params(clients=2, threshold=2, dim=1, bits=1).bits == 1
    assert Params(clients=7, threshold=5, dim=4, corrupt=2).malicious  # 2t = 10 > n + c = 9
    h = Params(clients=10, threshold=5, dim=4, degree=4, seed=bytes(32))  # t = k + 1
    assert (h.degree, h.threshold) == (4, 5)
    with pytest.raises(ValueError, match="seed must be 32 bytes"):
        Params(clients=10, threshold=3, dim=4, degree=4)
    assert Params.from_bytes(Params(clients=5, threshold=4, dim=8, corrupt=1, prg="aes").to_bytes()).prg == "aes"


def test_client_index_and_unsigned_arguments() -> None:
    params = Params(clients=3, threshold=2, dim=2)
    rid = os.urandom(32)
    for index in (0, 4):
        with pytest.raises(MisuseError) as e:
            secagg.Client(params, rid, index)
        assert e.value.name == "MISUSE_CLIENT_INDEX"
    with pytest.raises(OverflowError):
        secagg.Client(params, rid, -1)
    with pytest.raises(OverflowError):
        Server(params, rid).receive(-1, b"x")
    with pytest.raises(ClientFault) as f:
        Server(params, rid).receive((1 << 32) - 1, b"x")
    assert (f.value.name, f.value.index, f.value.outcome) == ("CLIENT_UNKNOWN_SENDER", (1 << 32) - 1, Outcome.IGNORED)


def test_unknown_codes_and_error_fields() -> None:
    assert secagg.exception_for(9999) is secagg.ApiError
    e = secagg.ApiError(9999)
    assert (e.code, e.name, e.index, str(e)) == (9999, "UNKNOWN", 0, "UNKNOWN: unknown status code")
    fault = secagg.ClientFault(secagg.CODES["CLIENT_MALFORMED"], 4, Outcome.EXCLUDED)
    assert str(fault).endswith("(client 4)") and fault.outcome is Outcome.EXCLUDED
    assert [o.name for o in Outcome] == ["IGNORED", "EXCLUDED", "NAMED", "ABORTED"]
    assert [int(o) for o in Outcome] == [1, 2, 3, 4]


def test_dp_config_refusals() -> None:
    dp = secagg.DpConfig(epsilon=1.0, delta=1e-5, clip=1.0, dim=6, bits=24, clients=5)
    with pytest.raises(TypeError, match="unknown DP field 'sigma'"):
        secagg.DpConfig(epsilon=1.0, delta=1e-5, clip=1.0, dim=6, bits=24, clients=5, sigma=1.0)
    with pytest.raises(ValueError, match="mechanism"):
        secagg.DpConfig(epsilon=1.0, delta=1e-5, clip=1.0, dim=6, bits=24, clients=5, mechanism="laplace")
    with pytest.raises(ValueError, match="one-dimensional"):
        dp.encode(np.zeros((2, 3)), bytes(32))
    with pytest.raises(TypeError, match="must hold numbers"):
        dp.encode(np.array(["a"] * 6), bytes(32))
    with pytest.raises(ValueError, match="seed must be 32 bytes"):
        dp.encode(np.zeros(6), bytes(31))
    with pytest.raises(secagg.DpError):
        dp.encode(np.zeros(5), bytes(32))
    assert secagg.DpConfig.from_bytes(odd_view(dp.to_bytes())).to_bytes() == dp.to_bytes()
    with pytest.raises(ValueError, match="sum must not hold negative values"):
        dp.decode(np.array([-1] * 8), 5, bytes(32))


def in_threads(work: Callable[[int], object], keys: list) -> list:
    """work(key) for every key, each in its own thread, started together;
    a SecaggError gives its name as the result."""
    import threading

    results: list = [None] * len(keys)
    gate = threading.Barrier(len(keys))

    def run(k: int) -> None:
        gate.wait()
        try:
            results[k] = work(keys[k])
        except secagg.SecaggError as e:
            results[k] = e.name

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_one_handle_from_several_threads() -> None:
    """The native calls release the GIL and a handle must not serve two at
    once (spec/ffi.md section 4): the package runs the calls of several
    threads on one Client, Server or Rng one at a time. Two threads
    answering one delivery on each client get one answer and one
    OUT_OF_ORDER (without the locks: a crash or corrupted state); clients
    drawing from one shared Rng, and a server fed from several threads
    while another reads it, give the exact sum."""
    n, m = 6, 100_000
    params = Params(clients=n, threshold=4, dim=m)
    rid = os.urandom(32)
    shared = Rng(77)
    server = Server(params, rid, rng=shared)
    cs: Dict[int, secagg.Client] = {}

    def make(i: int) -> None:
        cs[i] = secagg.Client(params, rid, i, rng=shared)

    in_threads(make, list(range(1, n + 1)))
    assert len({c.message for c in cs.values()}) == n
    in_threads(lambda i: server.receive(i, cs[i].message), list(range(1, n + 1)))
    out = server.close_phase()
    keys = in_threads(lambda i: cs[i].receive_keys(out[i]), list(range(1, n + 1)))
    in_threads(lambda k: server.receive(k + 1, keys[k]), list(range(n)))
    out = server.close_phase()
    inputs = {i: np.full(m, i, dtype=np.uint64) for i in cs}
    answers = in_threads(lambda i: cs[i].receive_shares(out[i], inputs[i]), [i for i in cs for _ in (0, 1)])
    for i in cs:
        pair = answers[2 * (i - 1) : 2 * i]
        assert sorted(map(type, pair), key=str) == sorted([bytes, str], key=str), pair
        assert "OUT_OF_ORDER" in pair and cs[i].phase == "unmask"
    masked = {i: cs[i].message for i in cs}
    pending = in_threads(
        lambda k: server.receive(k, masked[k]) if k else server.pending, list(range(n + 1))
    )
    assert pending[1:] == [None] * n and server.pending == []
    out = server.close_phase()
    in_threads(lambda i: server.receive(i, cs[i].receive_unmask(out[i])), list(range(1, n + 1)))
    assert server.close_phase() is None
    assert server.survivors == list(range(1, n + 1))
    assert server.sum.tolist() == [sum(range(1, n + 1))] * m


def test_a_live_handle_cannot_be_duplicated() -> None:
    """spec/ffi.md section 6 forbids answering from two copies of one state:
    a Client or Server cannot be deep-copied or pickled (TypeError); a
    shallow copy is the same handle, so it sees every call of the original."""
    import copy
    import pickle

    params = Params(clients=3, threshold=2, dim=2)
    rid = os.urandom(32)
    client, server = secagg.Client(params, rid, 1), Server(params, rid)
    for handle in (client, server):
        for duplicate in (copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError):
                duplicate(handle)
    alias = copy.copy(server)
    server.receive(1, client.message)
    assert alias.pending == [2, 3]
