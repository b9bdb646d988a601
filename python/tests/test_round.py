"""Full rounds through the Python package (and so through the C ABI), in
both server models and with DP, with dropouts; and the errors bad input
raises (spec/ffi.md)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import pytest

import secagg
from secagg import (
    ClientFault,
    Identity,
    MisuseError,
    Params,
    Roster,
    Server,
    ServerFault,
)

HEADER = Path(__file__).resolve().parents[2] / "include" / "secagg.h"


def run_round(
    params: Params,
    inputs: np.ndarray,
    *,
    drop_before_keys: Sequence[int] = (),
    drop_after_keys: Sequence[int] = (),
    drop_after_shares: Sequence[int] = (),
    drop_after_input: Sequence[int] = (),
    drop_after_consistency: Sequence[int] = (),
    identities: Optional[Sequence[Identity]] = None,
    persist: bool = False,
    seed: Optional[int] = None,
    log: Optional[list] = None,
) -> Server:
    """Runs a round; clients in drop_before_keys never advertise their keys,
    those in drop_after_keys never send ShareKeys, those
    in drop_after_shares never send their masked input, those in
    drop_after_input vanish after it (before the consistency request in the
    malicious model), those in drop_after_consistency sign the survivor set,
    then vanish before the unmask request. With persist, every client and the
    server are exported and reopened from their sealed state before every
    phase close, as a host that keeps no process between messages. With
    seed, every draw comes from one seeded :class:`secagg.Rng` (the exports'
    nonces still from the OS) and the round id is fixed; log, if given,
    receives every message as (sender, recipient, bytes), 0 the server."""
    n = params.clients
    rng = secagg.Rng(seed) if seed is not None else None
    rid = bytes(range(32)) if seed is not None else os.urandom(32)
    roster = Roster([i.public_key for i in identities]) if identities else None
    server = Server(params, rid, roster, rng=rng)
    clients = {
        i: secagg.Client(params, rid, i, identities[i - 1] if identities else None, roster, rng=rng)
        for i in range(1, n + 1)
    }
    key = os.urandom(32)
    record = log if log is not None else []

    def send(i: int, message: bytes) -> None:
        record.append((i, 0, message))
        server.receive(i, message)

    def close() -> Optional[Dict[int, bytes]]:
        nonlocal server
        if persist:
            for i, c in list(clients.items()):
                phase = c.phase
                sealed = c.export(key)
                clients[i] = secagg.Client.from_state(sealed, key, rid, phase, rng=rng)
                assert clients[i].index == i and clients[i].phase == phase
            phase = server.phase
            sealed = server.export(key)
            server = Server.from_state(sealed, key, rid, phase)
        out = server.close_phase()
        record.extend((0, i, m) for i, m in sorted((out or {}).items()))
        return out

    for i in set(drop_before_keys):
        del clients[i]
    for i, c in clients.items():
        send(i, c.message)
    out = close()
    assert out is not None and sorted(out) == sorted(clients)
    alive = {i for i in clients if i not in drop_after_keys}
    for i in sorted(alive):
        send(i, clients[i].receive_keys(out[i]))
    out = close()
    assert out is not None and set(out) == alive
    alive -= set(drop_after_shares)
    for i in sorted(alive):
        send(i, clients[i].receive_shares(out[i], inputs[i - 1]))
    out = close()
    alive -= set(drop_after_input)
    if params.malicious:
        assert server.phase == "unmask" or server.phase == "consistency"
        assert server.phase == "consistency"
        for i in sorted(alive & set(out)):
            send(i, clients[i].receive_consistency(out[i]))
        out = close()
        alive -= set(drop_after_consistency)
    assert server.phase == "unmask"
    for i in sorted(alive & set(out)):
        send(i, clients[i].receive_unmask(out[i]))
    assert close() is None
    assert server.phase == "over"
    record.append((0, 0, server.sum.tobytes()))
    return server


def expected(inputs: np.ndarray, senders: Sequence[int], bits: int) -> np.ndarray:
    rows = inputs[np.array(senders) - 1].astype(object).sum(axis=0)
    return np.array([int(v) % (1 << bits) for v in rows], dtype=np.uint64)


DROPS = {
    "before_keys+consistency": {"drop_before_keys": [5], "drop_after_consistency": [6]},
    "keys+input": {"drop_after_keys": [2], "drop_after_input": [6]},
    "shares+input": {"drop_after_shares": [3], "drop_after_input": [6]},
    "keys+shares": {"drop_after_keys": [1], "drop_after_shares": [4]},
}


def senders_of(n: int, drops: Dict[str, list]) -> list:
    gone = (
        set(drops.get("drop_before_keys", []))
        | set(drops.get("drop_after_keys", []))
        | set(drops.get("drop_after_shares", []))
    )
    return [i for i in range(1, n + 1) if i not in gone]


@pytest.mark.parametrize("case", sorted(DROPS))
def test_semi_honest_dropouts(case: str) -> None:
    params = Params(clients=6, threshold=3, dim=16, bits=32)
    rng = np.random.default_rng(1)
    inputs = rng.integers(0, 1 << 32, size=(6, 16), dtype=np.uint64)
    server = run_round(params, inputs, **DROPS[case])
    senders = senders_of(6, DROPS[case])
    assert server.survivors == senders
    np.testing.assert_array_equal(server.sum, expected(inputs, senders, 32))
    assert server.misbehaved == []


@pytest.mark.parametrize("case", sorted(DROPS))
def test_malicious_dropouts(case: str) -> None:
    params = Params(clients=8, threshold=5, dim=8, bits=20, corrupt=1)
    ids = [Identity.generate() for _ in range(8)]
    inputs = np.arange(64, dtype=np.int64).reshape(8, 8) * 1000
    server = run_round(params, inputs, identities=ids, **DROPS[case])
    senders = senders_of(8, DROPS[case])
    assert server.survivors == senders
    np.testing.assert_array_equal(server.sum, expected(inputs, senders, 20))


def test_dp_round() -> None:
    n, m = 6, 10
    dp = secagg.DpConfig(epsilon=50.0, delta=1e-5, clip=1.0, dim=m, bits=32, clients=n,
                         min_honest=4)
    params = Params(clients=n, threshold=3, dim=dp.padded_dim, bits=32).with_dp(dp)
    assert params.dp is not None and params.dp.to_bytes() == dp.to_bytes()
    seed = os.urandom(32)
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.1, size=(n, m))  # norms well below the clip
    encoded = np.stack([dp.encode(row, seed) for row in x])
    server = run_round(params, encoded, drop_after_shares=[2])
    values, report = dp.decode(server.sum, len(server.survivors), seed)
    exact = x[[i - 1 for i in server.survivors]].sum(axis=0)
    assert values.shape == (m,)
    # The noise at epsilon 50 has a standard deviation near 0.25 per
    # coordinate here: the root-mean-square error stays well below 0.6.
    assert np.sqrt(np.mean((values - exact) ** 2)) < 0.6
    assert report.survivors == 5 and report.honest == 5
    assert report.epsilon_reached <= 50.0 + 1e-9
    mean, _ = dp.decode(server.sum, 5, seed, mean=True)
    np.testing.assert_allclose(mean, values / 5)


def test_dp_release_refused() -> None:
    dp = secagg.DpConfig(epsilon=1.0, delta=1e-5, clip=1.0, dim=4, bits=24, clients=5,
                         epsilon_limit=1.0)
    with pytest.raises(secagg.DpError) as e:
        dp.decode(np.zeros(4, dtype=np.uint64), 2, bytes(32))
    assert e.value.name == "DP_RELEASE_REFUSED"


def test_hostile_server_refused() -> None:
    """A client refuses a broadcast meant for another client, and a second,
    different unmask request."""
    params = Params(clients=3, threshold=2, dim=2)
    rid = os.urandom(32)
    server = Server(params, rid)
    cs = {i: secagg.Client(params, rid, i) for i in (1, 2, 3)}
    for i, c in cs.items():
        server.receive(i, c.message)
    out = server.close_phase()
    stranger = secagg.Client(params, rid, 2)  # its keys are not in the broadcast
    with pytest.raises(ServerFault) as e:
        stranger.receive_keys(out[2])
    assert e.value.name == "SERVER_MISSING_OWN_KEYS"
    with pytest.raises(MisuseError) as e2:
        stranger.receive_keys(out[2])
    assert e2.value.name == "MISUSE_ROUND_OVER"
    # The genuine client answers; a replayed broadcast is then out of order.
    cs[1].receive_keys(out[1])
    with pytest.raises(secagg.OutOfOrderError):
        cs[1].receive_keys(out[1])


def test_client_fault_carries_index() -> None:
    params = Params(clients=3, threshold=2, dim=2)
    rid = os.urandom(32)
    server = Server(params, rid)
    c = secagg.Client(params, rid, 2)
    msg = c.message
    with pytest.raises(ClientFault) as e:
        server.receive(2, msg[:-1])
    assert e.value.index == 2 and e.value.name == "CLIENT_MALFORMED"
    with pytest.raises(ClientFault) as e:
        server.receive(9, msg)
    assert e.value.index == 9 and e.value.name == "CLIENT_UNKNOWN_SENDER"
    # Bit-flipped and foreign bytes: a typed error, never a crash.
    flipped = bytearray(msg)
    flipped[0] ^= 0x80
    with pytest.raises(ClientFault):
        server.receive(3, bytes(flipped))


def test_bad_inputs() -> None:
    params = Params(clients=3, threshold=2, dim=4, bits=8)
    rid = os.urandom(32)
    server = Server(params, rid)
    cs = {i: secagg.Client(params, rid, i) for i in (1, 2, 3)}
    for i, c in cs.items():
        server.receive(i, c.message)
    out = server.close_phase()
    for i, c in cs.items():
        server.receive(i, c.receive_keys(out[i]))
    out = server.close_phase()
    c = cs[1]
    with pytest.raises(TypeError):
        c.receive_shares(out[1], np.zeros(4, dtype=np.float64))
    with pytest.raises(ValueError):
        c.receive_shares(out[1], np.zeros((2, 2), dtype=np.uint64))
    with pytest.raises(ValueError):
        c.receive_shares(out[1], np.array([-1, 0, 0, 0]))
    with pytest.raises(MisuseError) as e:
        c.receive_shares(out[1], np.zeros(3, dtype=np.uint64))
    assert e.value.name == "MISUSE_INPUT_LENGTH"
    with pytest.raises(MisuseError) as e:
        c.receive_shares(out[1], np.array([0, 0, 256, 0], dtype=np.uint16))
    assert e.value.name == "MISUSE_INPUT_RANGE"
    with pytest.raises(ServerFault) as e:
        c.receive_shares(out[1][:-3], np.zeros(4, dtype=np.uint8))
    assert e.value.name == "SERVER_MALFORMED"
    with pytest.raises(secagg.OutOfOrderError):
        c.receive_unmask(out[1])
    with pytest.raises(TypeError):
        c.receive_shares("not bytes", np.zeros(4, dtype=np.uint8))  # type: ignore[arg-type]
    # Still usable after every refusal above.
    c.receive_shares(out[1], np.array([1, 2, 3, 255], dtype=np.uint8))
    assert c.phase == "unmask"
    with pytest.raises(secagg.OutOfOrderError):
        _ = server.sum  # the round is still running
    with pytest.raises(ValueError):
        Server(params, b"short")
    with pytest.raises(secagg.ParamsError):
        Params(clients=1, threshold=2, dim=4)
    with pytest.raises(secagg.DecodeError) as d:
        Params.from_bytes(params.to_bytes()[:-1])
    assert d.value.name == "DECODE_TRUNCATED"
    with pytest.raises(secagg.MisuseError):
        Roster([bytes(32), bytes(32)])


def test_not_enough_survivors() -> None:
    params = Params(clients=4, threshold=3, dim=2)
    rid = os.urandom(32)
    server = Server(params, rid)
    for i in (1, 2):
        server.receive(i, secagg.Client(params, rid, i).message)
    with pytest.raises(secagg.NotEnoughSurvivors):
        server.close_phase()
    assert server.phase == "over"


def test_every_header_code_has_an_exception() -> None:
    """Reads include/secagg.h: every SECAGG_STATUS_ constant is exposed and
    maps to its family's exception class."""
    text = HEADER.read_text()
    declared = dict(
        (name, int(v)) for name, v in re.findall(r"SECAGG_STATUS_([A-Z0-9_]+) = (\d+)", text)
    )
    assert len(declared) >= 77
    assert declared == {k: v for k, v in secagg.CODES.items()}
    families = {
        "DECODE_": secagg.DecodeError, "CLIENT_": secagg.ClientFault,
        "SERVER_": secagg.ServerFault, "PARAMS_": secagg.ParamsError,
        "MISUSE_": secagg.MisuseError, "DP_": secagg.DpError,
    }
    for name, code in declared.items():
        cls = secagg.exception_for(code)
        assert issubclass(cls, secagg.SecaggError)
        for prefix, fam in families.items():
            if name.startswith(prefix):
                assert cls is fam, name
        if code:
            err = cls(code, 5)
            assert err.name == name and err.index == 5 and str(err)


def test_params_and_identity() -> None:
    p = Params.secagg_plus(1000, dim=10, malicious=True)
    assert p.malicious and (p.degree, p.threshold) == (52, 37)
    seed = os.urandom(32)
    h = Params(clients=10, threshold=3, dim=5, degree=4, seed=seed)
    assert h.degree == 4
    p.check_policy(min_threshold=30, require_malicious=True)
    with pytest.raises(secagg.ParamsError):
        h.check_policy(require_malicious=True)
    ident = Identity.generate()
    assert Identity.from_secret(ident.secret_bytes()).public_key == ident.public_key
    assert secagg.version() == "0.1.0"


def test_memory_stable_over_rounds() -> None:
    """Many rounds in a loop: resident memory stays within 10% after warm-up."""
    import resource

    params = Params(clients=4, threshold=3, dim=64)
    inputs = np.ones((4, 64), dtype=np.uint64)
    for _ in range(10):
        run_round(params, inputs, drop_after_input=[4])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(200):
        s = run_round(params, inputs, drop_after_input=[4])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    np.testing.assert_array_equal(s.sum, np.full(64, 4, dtype=np.uint64))
    assert after <= before * 1.10, (before, after)


def test_readme_example() -> None:
    """The Python example of README.md's "C and Python" section runs."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## C and Python") :]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None
    exec(compile(code.group(1), "README.md", "exec"), {})


def test_fedavg_example_close_to_baseline() -> None:
    """examples/fedavg.py with few rounds: after 4 rounds at epsilon 8 (over
    the 4), the private model's test accuracy is within 5 points of the
    non-private baseline's."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "fedavg.py"
    spec = importlib.util.spec_from_file_location("fedavg", path)
    assert spec is not None and spec.loader is not None
    fedavg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fedavg)
    history = fedavg.train(rounds=4, epsilon=8.0, seed=1, verbose=False)
    private, baseline = history[-1]
    assert baseline > 0.7
    assert private >= baseline - 0.05, history


def test_malicious_model_refuses_tampered_broadcast() -> None:
    """Malicious model: a key broadcast with a flipped byte in its last
    signature is refused with a ServerFault naming the peer, and reveals
    nothing (the client is spent)."""
    params = Params(clients=8, threshold=5, dim=2, corrupt=1)
    ids = [Identity.generate() for _ in range(8)]
    roster = Roster([i.public_key for i in ids])
    rid = os.urandom(32)
    server = Server(params, rid, roster)
    cs = {i: secagg.Client(params, rid, i, ids[i - 1], roster) for i in range(1, 9)}
    for i, c in cs.items():
        server.receive(i, c.message)
    out = server.close_phase()
    tampered = bytearray(out[1])
    tampered[-1] ^= 0x01
    with pytest.raises(ServerFault) as e:
        cs[1].receive_keys(bytes(tampered))
    assert e.value.name == "SERVER_BAD_SIGNATURE"
    assert 2 <= e.value.index <= 8
    # An identity that is not the roster's for the index is refused.
    with pytest.raises(MisuseError):
        secagg.Client(params, rid, 2, ids[0], roster)
    with pytest.raises(MisuseError):
        secagg.Client(params, rid, 2)  # malicious model needs identity and roster


def test_params_vectors() -> None:
    """protocols/v2/params.json through Python: every accepted encoding
    decodes to its fields and re-encodes byte for byte; every rejected one
    raises the exception of its family with the status of its detail."""
    import json

    table = json.loads((HEADER.parents[1] / "protocols" / "v2" / "params.json").read_text())
    families = {"Decode": ("DECODE_", secagg.DecodeError), "Params": ("PARAMS_", secagg.ParamsError)}
    assert len(table["encodings"]) >= 17
    for case in table["encodings"]:
        data = bytes.fromhex(case["hex"])
        if "accepted" in case:
            want = case["accepted"]
            p = Params.from_bytes(data)
            assert (p.clients, p.threshold, p.bits, p.dim) == (
                want["clients"], want["threshold"], want["bits"], want["dim"]), case["name"]
            assert p.malicious == (want["server_model"] == "malicious"), case["name"]
            assert p.to_bytes().hex() == want["params_hex"], case["name"]
        else:
            prefix, cls = families[case["error"]["error"]]
            detail = re.sub(r"(?<!^)(?=[A-Z])", "_", case["error"]["detail"]).upper()
            with pytest.raises(cls) as e:
                Params.from_bytes(data)
            assert e.value.name == prefix + detail, case["name"]


VECTORS = HEADER.parents[1] / "protocols" / "v2"
# Every recorded round: params.json holds parameter encodings and
# secagg_plus.json the (k, t) derivation tables, not rounds.
ALL_VECTORS = sorted(
    p.name for p in VECTORS.glob("*.json") if p.name not in ("params.json", "secagg_plus.json")
)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def _expected_error(e: dict) -> tuple:
    """A vector's error object as (status name, index)."""
    if e["error"] == "Client":
        return "CLIENT_" + _snake(e["fault"]), e["index"]
    if e["error"] == "Server":
        return "SERVER_" + _snake(e["fault"]), e.get("peer", 0)
    return _snake(e["error"]), 0


def _expect(call, error: Optional[dict]) -> Optional[bytes]:
    if error is None:
        return call()
    name, index = _expected_error(error)
    with pytest.raises(secagg.SecaggError) as e:
        call()
    assert (e.value.name, e.value.index) == (name, index)
    return None


@pytest.mark.parametrize("name", ALL_VECTORS)
def test_vector_replay(name: str) -> None:
    """Replays a conformance vector through the package (spec/conformance.md
    section 4): every party rebuilt from the file's seed with a test Rng
    drawn in transcript order produces every untampered message byte for
    byte, the server delivers exactly the recorded messages and accepts or
    refuses each client message with exactly the recorded error, a client
    refuses a tampered server message with the recorded error, and the last
    close gives the recorded result."""
    import json

    v = json.loads((VECTORS / name).read_text())
    rng = secagg.Rng(v["rng_seed"])
    rid = rng.bytes(32)
    assert rid.hex() == v["round_id_hex"]
    params = Params.from_bytes(bytes.fromhex(v["params"]["params_hex"]))
    ids = roster = None
    if params.malicious:
        ids = [Identity.generate(rng) for _ in range(params.clients)]
        assert [i.public_key.hex() for i in ids] == v["roster"]
        roster = Roster([i.public_key for i in ids])
    server = Server(params, rid, roster, rng)
    inputs = {u + 1: np.array([int(x) for x in row], dtype=np.uint64) for u, row in enumerate(v["inputs"])}
    clients: Dict[int, secagg.Client] = {}
    delivered: Dict[int, tuple] = {}
    closed = set()
    out: Dict[int, bytes] = {}

    def answer(c: secagg.Client, i: int, kind: str, request: bytes) -> bytes:
        return {
            "KeyBroadcast": lambda: c.receive_keys(request),
            "ShareDelivery": lambda: c.receive_shares(request, inputs[i]),
            "ConsistencyRequest": lambda: c.receive_consistency(request),
            "UnmaskRequest": lambda: c.receive_unmask(request),
        }[kind]()

    for msg in v["messages"]:
        data = bytes.fromhex(msg["hex"])
        tampered = msg.get("tampered")
        if msg["from"] == "server":
            to = msg["to"]
            if msg["phase"] not in closed:
                closed.add(msg["phase"])
                got = server.close_phase()
                assert got is not None
                out = got
            if tampered is None:
                assert out[to] == data
            if "error" in msg:
                _expect(lambda: answer(clients[to], to, msg["message"], data), msg["error"])
            else:
                delivered[to] = (msg["message"], data)
            continue
        i = msg["from"]
        if tampered != "injected":
            if msg["phase"] == "AdvertiseKeys":
                clients[i] = secagg.Client(params, rid, i, ids[i - 1] if ids else None, roster, rng)
                produced = clients[i].message
            else:
                kind, request = delivered.pop(i)
                produced = answer(clients[i], i, kind, request)
            assert (produced == data) == (tampered is None), (name, msg["phase"], i)
        _expect(lambda: server.receive(i, data), msg.get("error"))
    result = v["result"]
    if "error" in result:
        _expect(server.close_phase, result)
        return
    assert server.close_phase() is None
    assert server.sum.tolist() == [int(x) for x in result["sum"]]
    assert server.survivors == result["survivors"]
    assert server.misbehaved == [(m["index"], "CLIENT_" + _snake(m["fault"])) for m in result["misbehaved"]]
    if "session_id_hex" in v:
        assert server.session.hex() == v["session_id_hex"]


@pytest.mark.parametrize("malicious", [False, True])
def test_round_through_sealed_state_between_every_phase(malicious: bool) -> None:
    """Issue 9, Done-when 3: exporting, dropping and reopening every party
    before every phase close sends exactly the same messages (every byte,
    both directions) and gives the same sum as the same round kept in
    memory, both drawing from one seeded source (spec/ffi.md section 6)."""
    n, m, bits = 8, 6, 20
    extra = {"corrupt": 1} if malicious else {}
    params = Params(clients=n, threshold=5, bits=bits, dim=m, **extra)
    assert params.malicious == malicious
    ids = [Identity.generate(secagg.Rng(100 + i)) for i in range(n)] if malicious else None
    rng = np.random.default_rng(11)
    inputs = rng.integers(0, 1 << bits, size=(n, m), dtype=np.uint64)
    drops = {"drop_after_keys": [2], "drop_after_input": [4]}
    kept_log: list = []
    sealed_log: list = []
    other_log: list = []
    kept = run_round(params, inputs, identities=ids, seed=7, log=kept_log, **drops)
    sealed = run_round(params, inputs, identities=ids, persist=True, seed=7, log=sealed_log, **drops)
    assert len(kept_log) > 3 * n
    assert sealed_log == kept_log
    # Another seed sends other messages: the comparison is not vacuous.
    run_round(params, inputs, identities=ids, seed=8, log=other_log, **drops)
    assert other_log != kept_log
    survivors = [1, 3, 4, 5, 6, 7, 8]
    want = expected(inputs, survivors, bits)
    assert kept.sum.tolist() == want.tolist()
    assert sealed.sum.tolist() == want.tolist()
    assert sealed.survivors == survivors


def test_aes_prg_round() -> None:
    """The mask PRG chosen from Python: carried by the encoding, and a round
    under AES-128-CTR sums exactly (with other masked inputs than under
    ChaCha20 from the same seed)."""
    base = Params(clients=5, threshold=3, dim=8, bits=32)
    aes = Params(clients=5, threshold=3, dim=8, bits=32, prg="aes")
    assert (base.prg, aes.prg) == ("chacha20", "aes")
    assert aes.to_bytes() != base.to_bytes()
    received = Params.from_bytes(aes.to_bytes())
    assert received.prg == "aes" and received.to_bytes() == aes.to_bytes()
    assert aes.with_prg("chacha20").to_bytes() == base.to_bytes()
    assert base.with_prg("aes").to_bytes() == aes.to_bytes()
    assert Params.secagg_plus(50, dim=4, prg="aes").prg == "aes"
    with pytest.raises(ValueError):
        Params(clients=5, threshold=3, dim=8, prg="des")
    with pytest.raises(ValueError):
        base.with_prg("AES")
    inputs = np.random.default_rng(5).integers(0, 1 << 32, size=(5, 8), dtype=np.uint64)
    aes_log: list = []
    chacha_log: list = []
    server = run_round(received, inputs, drop_after_keys=[2], seed=3, log=aes_log)
    run_round(base, inputs, drop_after_keys=[2], seed=3, log=chacha_log)
    np.testing.assert_array_equal(server.sum, expected(inputs, [1, 3, 4, 5], 32))
    assert aes_log[-1] == chacha_log[-1]  # the same sum
    assert aes_log != chacha_log  # other masks


def test_receive_all_matches_receive() -> None:
    """Server.receive_all over a round with a stranger, a resend, a
    truncated ShareKeys before the sender's real one and garbage before a
    real unmask response gives, message by message, what Server.receive
    raises (the same class, code, client and outcome), the same messages at
    every close and the same sum as a twin server fed one by one."""
    params = Params(clients=5, threshold=3, dim=4)
    rid = os.urandom(32)
    one = Server(params, rid, rng=secagg.Rng(41))
    batched = Server(params, rid, rng=secagg.Rng(41))
    rng = secagg.Rng(42)
    cs = {i: secagg.Client(params, rid, i, rng=rng) for i in range(1, 6)}
    inputs = {i: np.full(4, 100 * i + 1, dtype=np.uint64) for i in cs}

    def seen(e: Optional[secagg.SecaggError]) -> object:
        return None if e is None else (type(e), e.code, e.index, getattr(e, "outcome", None))

    def receive_both(batch: list) -> tuple:
        """Each result as (code, index, outcome), and the close's messages."""
        want = []
        for sender, msg in batch:
            try:
                one.receive(sender, msg)
                want.append(None)
            except ClientFault as e:
                want.append(e)
        got = batched.receive_all(iter(batch))
        assert [seen(e) for e in got] == [seen(e) for e in want]
        out = batched.close_phase()
        assert one.close_phase() == out
        return [None if e is None else (e.code, e.index, e.outcome) for e in got], out or {}

    code, Outcome = secagg.CODES, secagg.Outcome
    r0 = [(i, c.message) for i, c in cs.items()] + [(9, b"\x01\x02"), (1, cs[1].message)]
    results, out = receive_both(r0)
    assert results == [None] * 5 + [(code["CLIENT_UNKNOWN_SENDER"], 9, Outcome.IGNORED), None]
    keys = {i: c.receive_keys(out[i]) for i, c in cs.items()}
    results, out = receive_both([(2, keys[2][:-1])] + list(keys.items()))
    assert results == [
        (code["CLIENT_MALFORMED"], 2, Outcome.EXCLUDED),
        None,
        (code["CLIENT_NOT_IN_PHASE"], 2, Outcome.IGNORED),
        None,
        None,
        None,
    ]
    alive = [1, 3, 4, 5]
    assert sorted(out) == alive
    results, out = receive_both([(i, cs[i].receive_shares(out[i], inputs[i])) for i in alive])
    assert results == [None] * 4
    r3 = [(i, cs[i].receive_unmask(out[i])) for i in alive]
    r3.insert(3, (5, b"\xff" * 7))
    results, out = receive_both(r3)
    assert results == [
        None,
        None,
        None,
        (code["CLIENT_MALFORMED"], 5, Outcome.EXCLUDED),
        (code["CLIENT_NOT_IN_PHASE"], 5, Outcome.IGNORED),
    ]
    assert out == {} and one.phase == batched.phase == "over"
    # Client 5 was excluded after its masked input was accepted: in the sum.
    assert batched.sum.tolist() == one.sum.tolist() == [sum(100 * i + 1 for i in alive)] * 4
    assert batched.misbehaved == one.misbehaved == [(2, "CLIENT_MALFORMED"), (5, "CLIENT_MALFORMED")]
    assert batched.receive_all([]) == []


def test_client_fault_outcome() -> None:
    """A garbage masked input: ClientFault with outcome EXCLUDED; the real
    one after it is ignored (IGNORED); the round completes with the other
    clients' sum and names the client in misbehaved."""
    params = Params(clients=4, threshold=3, dim=4)
    rid = os.urandom(32)
    server = Server(params, rid)
    cs = {i: secagg.Client(params, rid, i) for i in range(1, 5)}
    inputs = {i: np.full(4, 10 * i, dtype=np.uint64) for i in cs}
    with pytest.raises(ClientFault) as e:
        server.receive(7, b"\x00")
    assert (e.value.index, e.value.outcome) == (7, secagg.Outcome.IGNORED)
    for i, c in cs.items():
        server.receive(i, c.message)
    out = server.close_phase()
    assert out is not None
    for i, c in cs.items():
        server.receive(i, c.receive_keys(out[i]))
    out = server.close_phase()
    assert out is not None
    for i, c in cs.items():
        msg = c.receive_shares(out[i], inputs[i])
        if i == 3:
            with pytest.raises(ClientFault) as e:
                server.receive(3, msg[:-1])
            assert e.value.name == "CLIENT_MALFORMED"
            assert (e.value.index, e.value.outcome) == (3, secagg.Outcome.EXCLUDED)
            with pytest.raises(ClientFault) as e:
                server.receive(3, msg)
            assert e.value.name == "CLIENT_NOT_IN_PHASE"
            assert (e.value.index, e.value.outcome) == (3, secagg.Outcome.IGNORED)
        else:
            server.receive(i, msg)
    assert server.excluded == [3]
    out = server.close_phase()
    assert out is not None and 3 not in out
    for i, msg in out.items():
        server.receive(i, cs[i].receive_unmask(msg))
    assert server.close_phase() is None
    assert server.survivors == [1, 2, 4]
    assert server.sum.tolist() == [70] * 4
    assert server.misbehaved == [(3, "CLIENT_MALFORMED")]
    # Faults not raised by a server carry no outcome.
    assert ClientFault(secagg.CODES["CLIENT_MALFORMED"], 1).outcome is None


def test_dealer_nobody_can_open_aborts() -> None:
    """A dealer whose encrypted shares no holder can open: every holder
    complains in its masked input, too few good shares of it remain, and
    the R2 close raises ClientFault naming it with outcome ABORTED; the
    round is over."""
    params = Params(clients=4, threshold=3, dim=4)  # complete graph, t = 3
    rid = os.urandom(32)
    server = Server(params, rid)
    cs = {i: secagg.Client(params, rid, i) for i in range(1, 5)}
    for i, c in cs.items():
        server.receive(i, c.message)
    out = server.close_phase()
    assert out is not None
    for i, c in cs.items():
        msg = bytearray(c.receive_keys(out[i]))
        if i == 2:
            # ShareKeys ends with 3 x (u32 receiver, 80-byte ciphertext)
            # (spec/wire-format.md section 5): flip each ciphertext's last
            # tag byte, which the server cannot check.
            for e in range(3):
                msg[len(msg) - 1 - 84 * e] ^= 1
        server.receive(i, bytes(msg))
    out = server.close_phase()
    assert out is not None
    for i, c in cs.items():
        server.receive(i, c.receive_shares(out[i], np.arange(4, dtype=np.uint64)))
    with pytest.raises(ClientFault) as e:
        server.close_phase()
    assert e.value.name == "CLIENT_UNDECRYPTABLE"
    assert (e.value.index, e.value.outcome) == (2, secagg.Outcome.ABORTED)
    assert server.phase == "over"


def test_sealed_state_refusals() -> None:
    params = Params(clients=3, threshold=2, bits=16, dim=2)
    rid, key = os.urandom(32), os.urandom(32)
    client = secagg.Client(params, rid, 1)
    server = Server(params, rid)
    c_state, s_state = client.export(key), server.export(key)

    def refused(fn, *args) -> str:  # type: ignore[no-untyped-def]
        with pytest.raises(secagg.StateError) as e:
            fn(*args)
        return e.value.name

    other = bytes([rid[0] ^ 1]) + rid[1:]
    assert refused(secagg.Client.from_state, c_state, key, other, "keys") == "STATE_ROUND"
    assert refused(secagg.Client.from_state, c_state, key, rid, "shares") == "STATE_PHASE"
    assert refused(secagg.Client.from_state, s_state, key, rid, "keys") == "STATE_ROLE"
    assert refused(Server.from_state, c_state, key, rid, "advertise_keys") == "STATE_ROLE"
    assert refused(Server.from_state, s_state, key, rid, "share_keys") == "STATE_PHASE"
    assert refused(secagg.Client.from_state, c_state, os.urandom(32), rid, "keys") == "STATE_AUTHENTICATION"
    assert refused(Server.from_state, s_state, os.urandom(32), rid, "advertise_keys") == "STATE_AUTHENTICATION"
    assert refused(secagg.Client.from_state, c_state[:-1], key, rid, "keys") == "STATE_AUTHENTICATION"
    flipped = bytearray(c_state)
    flipped[len(flipped) // 2] ^= 1
    assert refused(secagg.Client.from_state, bytes(flipped), key, rid, "keys") == "STATE_AUTHENTICATION"
    assert refused(secagg.Client.from_state, b"SAS", key, rid, "keys") == "STATE_MALFORMED"
    with pytest.raises(ValueError):
        secagg.Client.from_state(c_state, key, rid, "later")
    with pytest.raises(ValueError):
        client.export(b"short")
    # The untouched states open; a reopened client has no message yet.
    again = secagg.Client.from_state(c_state, key, rid, "keys")
    assert again.index == 1 and again.message == b""
    assert Server.from_state(s_state, key, rid, "advertise_keys").phase == "advertise_keys"
