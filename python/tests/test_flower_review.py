"""The documented claims of secagg.flower that test_flower.py leaves open
(python/README.md "Flower drop-in", the docstrings): the constructor and
the stage contract, the legacy Strategy contract, what travels in the
clear, the wrap and weight bounds at their edges, node ids, the sealing
key, and the node's refusals of stale, replayed and out-of-order stages
and of bad rosters, each with its exact message."""

from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

pytest.importorskip(
    "flwr", reason="Flower is not installed (pip install 'secagg[flower]'; python/run_flower_tests.sh does)"
)

import flwr.client.mod as flower_mods  # noqa: E402
import flwr.compat.common.recorddict_compat as compat  # noqa: E402
import flwr.server.workflow as flower_workflows  # noqa: E402
from flwr.app import ConfigRecord, Context, RecordDict  # noqa: E402
from flwr.app.message_type import MessageType  # noqa: E402
from flwr.client import ClientApp  # noqa: E402
from flwr.common import parameters_to_ndarrays  # noqa: E402
from flwr.server.workflow import DefaultWorkflow  # noqa: E402
from flwr.server.workflow.constant import MAIN_PARAMS_RECORD  # noqa: E402

import secagg  # noqa: E402
import secagg.flower as sf  # noqa: E402
from secagg.flower import _common  # noqa: E402
from secagg.flower.testing import InProcessGrid, run_workflow, stage_of  # noqa: E402
from test_flower import (  # noqa: E402
    IDS,
    SHAPES,
    Numpy,
    R,
    Recording,
    apps,
    assert_close,
    bound,
    dropping,
    registered,
    run,
    train,
    updates,
    weighted,
)


def final_model(ctx):
    return parameters_to_ndarrays(compat.arrayrecord_to_parameters(ctx.state.array_records[MAIN_PARAMS_RECORD], True))


def test_constructors_keep_flowers_arguments():
    """Every argument of Flower's two workflows, with its kind and default,
    and the mods' (msg, ctxt, call_next)."""
    for ours, theirs in (
        (sf.SecAggPlusWorkflow, flower_workflows.SecAggPlusWorkflow),
        (sf.SecAggWorkflow, flower_workflows.SecAggWorkflow),
    ):
        mine = inspect.signature(ours.__init__).parameters
        for name, p in inspect.signature(theirs.__init__).parameters.items():
            assert name in mine, name
            assert mine[name].kind == p.kind, name
            if p.default is not inspect.Parameter.empty:
                assert mine[name].default == p.default, name
    want = list(inspect.signature(flower_mods.secaggplus_mod).parameters)
    assert want == ["msg", "ctxt", "call_next"]
    for mod in (sf.secaggplus_mod, sf.secagg_mod, sf.secaggplus_mod_with_identity(IDS[1], registered(3))):
        assert list(inspect.signature(mod).parameters) == want


class Counting(InProcessGrid):
    """A grid that counts the stage messages each node gets and records
    each stage's timeout and every node's reply by stage."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.got = {}
        self.timeouts = []
        self.replies = {}

    def send_and_receive(self, messages, *, timeout=None):
        self.timeouts.append(timeout)
        return super().send_and_receive(messages, timeout=timeout)

    def deliver(self, msg):
        reply = super().deliver(msg)
        nid, stage = msg.metadata.dst_node_id, stage_of(msg)
        self.got.setdefault(nid, []).append(stage)
        self.replies.setdefault(stage, {})[nid] = reply
        return reply


def test_a_stage_returning_false_halts_the_round():
    """A stage method that returns False stops the round there: no later
    stage runs, no node gets another message, aggregate_fit is never called
    and the model is unchanged."""
    calls = []

    class Halting(sf.SecAggPlusWorkflow):
        def share_keys_stage(self, grid, context, state):
            calls.append("share_keys")
            return False

        def collect_masked_vectors_stage(self, grid, context, state):
            calls.append("collect")
            return super().collect_masked_vectors_stage(grid, context, state)

        def unmask_stage(self, grid, context, state):
            calls.append("unmask")
            return super().unmask_stage(grid, context, state)

    class NeverAggregates(Recording):
        def aggregate_fit(self, *a, **k):
            raise AssertionError("aggregate_fit called after a halt")

    n = 5
    grid = Counting(apps(*updates(n), sf.secaggplus_mod))
    ctx = run_workflow(grid, DefaultWorkflow(fit_workflow=Halting(3, 2)), NeverAggregates(n))
    assert calls == ["share_keys"]
    assert grid.got == {nid: ["setup"] for nid in range(1, n + 1)}
    model = final_model(ctx)
    assert all(np.all(a == 0) for a in model)


def test_aggregate_fit_gets_the_average_as_every_survivors_parameters():
    """The legacy contract: aggregate_fit receives one result per survivor
    (its proxy's node id, its num_examples and metrics), each carrying the
    weighted average as its parameters, and the failures (a node's error
    reply); FedAvg then stores that average."""
    seen = {}

    class Keeping(Recording):
        def aggregate_fit(self, server_round, results, failures):
            seen["results"], seen["failures"] = results, failures
            return super().aggregate_fit(server_round, results, failures)

    n, gone = 7, 3
    upd, w = updates(n, seed=21)
    grid = InProcessGrid(apps(upd, w, sf.secaggplus_mod), fault=dropping(gone, "collect_masked_vectors", "error"))
    wf = sf.SecAggPlusWorkflow(5, 3)
    ctx = run_workflow(grid, DefaultWorkflow(fit_workflow=wf), Keeping(n))
    nodes = [i for i in upd if i != gone]
    results = seen["results"]
    assert sorted(proxy.node_id for proxy, _ in results) == nodes
    assert {proxy.node_id: fit.num_examples for proxy, fit in results} == {i: w[i] for i in nodes}
    assert {proxy.node_id: fit.metrics for proxy, fit in results} == {i: {"node": float(i)} for i in nodes}
    first = parameters_to_ndarrays(results[0][1].parameters)
    for _, fit in results:
        assert all(np.array_equal(a, b) for a, b in zip(parameters_to_ndarrays(fit.parameters), first))
    want, q = weighted(upd, w, nodes)
    assert_close(first, want, bound(nodes, q))
    # FedAvg's weighted mean of identical parameters is those parameters.
    model = final_model(ctx)
    assert_close(model, first, 1e-9)
    assert [str(f) for f in seen["failures"]] == [str(f) for f in wf.last_state.failures]
    assert len(seen["failures"]) == 1 and "injected fault" in str(seen["failures"][0])
    assert wf.last_state.survivors == nodes


def test_one_receive_all_per_stage_and_the_timeout_per_stage(monkeypatch):
    """Each stage's replies reach the server in one Server.receive_all call
    (never Server.receive), and each stage waits ``timeout``."""
    batches = []
    real = secagg.Server.receive_all

    def counting(self, messages):
        batch = list(messages)
        batches.append(sorted(i for i, _ in batch))
        return real(self, batch)

    def refused(self, sender, message):
        raise AssertionError("Server.receive called")

    monkeypatch.setattr(secagg.Server, "receive_all", counting)
    monkeypatch.setattr(secagg.Server, "receive", refused)
    n = 5
    upd, w = updates(n, seed=22)
    grid = Counting(apps(upd, w, sf.secaggplus_mod))
    wf = sf.SecAggPlusWorkflow(3, 2, timeout=12.5)
    run_workflow(grid, DefaultWorkflow(fit_workflow=wf), Recording(n))
    assert batches == [[1, 2, 3, 4, 5]] * 4
    assert grid.timeouts == [12.5] * 4
    assert wf.last_state.survivors == [1, 2, 3, 4, 5]


SETUP_FIELDS = {
    "stage", "round_id", "params", "index", "clipping_range", "target_range", "max_weight",
    "reveal_fit_metadata",
}


def test_what_travels_in_the_clear():
    """The setup record tells a semi-honest node its index and nothing about
    the other nodes; the masked vector travels as bytes in an ArrayRecord
    with every other ArrayRecord of the fit reply emptied (the update never
    leaves in the clear); with reveal_fit_metadata=False num_examples is 1
    and the fit metrics are empty, by default they are the client's."""
    n = 5
    upd, w = updates(n, seed=23)
    seen = {}

    def fault(msg):
        if stage_of(msg) == "setup":
            seen[msg.metadata.dst_node_id] = dict(msg.content.config_records[_common.RECORD_CONFIGS])
        return None

    for reveal in (True, False):
        grid = Counting(apps(upd, w, sf.secaggplus_mod), fault=fault)
        wf = sf.SecAggPlusWorkflow(3, 2, reveal_fit_metadata=reveal)
        run_workflow(grid, DefaultWorkflow(fit_workflow=wf), Recording(n))
        assert {nid: (set(cfg), cfg["index"], cfg["reveal_fit_metadata"]) for nid, cfg in seen.items()} == {
            nid: (SETUP_FIELDS, nid, reveal) for nid in upd
        }
        for nid, reply in grid.replies["collect_masked_vectors"].items():
            content = reply.content
            arrays = {name: list(rec.keys()) for name, rec in content.array_records.items()}
            assert arrays == {"fitres.parameters": [], _common.RECORD_MASKED: ["masked"]}
            masked = content.array_records[_common.RECORD_MASKED]["masked"].numpy()
            assert masked.dtype == np.uint8 and masked.ndim == 1
            assert dict(content.config_records[_common.RECORD_CONFIGS]) == {
                "stage": "secagg.flower/1/collect_masked_vectors", "msg": b"",
            }
            num = content.metric_records["fitres.num_examples"]["num_examples"]
            metrics = dict(content.config_records["fitres.metrics"])
            assert (num, metrics) == ((w[nid], {"node": float(nid)}) if reveal else (1, {}))
        assert wf.last_state.survivors == list(range(1, n + 1))


def test_the_wrap_bound_and_max_weight_at_their_edges():
    """modulus 2**24, R = 2**22: three clients fit (3R < 2**24) and sum
    exactly even when every element and weight is at its maximum
    (num_examples = max_weight is allowed, the update clipped to +c), the
    average is exactly c; a fourth is refused at setup naming 3."""
    n = 3
    upd = {nid: [np.full(s, 100.0) for s in SHAPES] for nid in range(1, n + 1)}
    w = {nid: 1000 for nid in upd}
    wf = sf.SecAggPlusWorkflow(3, 2, modulus_range=1 << 24)
    ours, grid, _, _ = run(n, wf, sf.secaggplus_mod, upd=(upd, w))
    assert grid.errors == []
    assert wf.last_state.sum.tolist() == [3 * R] * 12
    assert all(np.array_equal(a, np.full(s, 8.0)) for a, s in zip(ours, SHAPES))
    with pytest.raises(ValueError, match=r"4 clients with quantization_range = 4194304 can wrap modulo "
                                         r"modulus_range = 16777216 \(at most 3 clients fit\)"):
        run(4, sf.SecAggPlusWorkflow(3, 2, modulus_range=1 << 24), sf.secaggplus_mod)


def test_one_example_over_max_weight_is_refused():
    n = 5
    upd, w = updates(n, seed=24)
    w[5] = 1001
    wf = sf.SecAggPlusWorkflow(3, 2)
    ours, grid, _, _ = run(n, wf, sf.secaggplus_mod, upd=(upd, w))
    assert [nid for nid, _ in grid.errors] == [5]
    assert "num_examples = 1001 is outside [0, max_weight = 1000.0]" in grid.errors[0][1]
    nodes = [1, 2, 3, 4]
    assert wf.last_state.survivors == nodes
    want, q = weighted(upd, w, nodes)
    assert_close(ours, want, bound(nodes, q))


NODE_IDS = [40, 5, (1 << 64) - 2, 17, (1 << 63) + 1]


@pytest.mark.parametrize("malicious", [False, True])
def test_any_node_ids_map_to_indices_in_ascending_order(malicious):
    """Node ids anywhere in uint64 map to 1..n by ascending id; a malicious
    node gets the whole mapping, 8 bytes big-endian per node."""
    rng = np.random.default_rng(25)
    upd = {nid: [rng.uniform(-2, 2, s) for s in SHAPES] for nid in NODE_IDS}
    w = {nid: int(rng.integers(1, 500)) for nid in NODE_IDS}
    directory = {nid: secagg.Identity.from_secret(nid.to_bytes(8, "big") * 4).public_key for nid in NODE_IDS}
    seen = {}

    def fault(msg):
        if stage_of(msg) == "setup":
            seen[msg.metadata.dst_node_id] = dict(msg.content.config_records[_common.RECORD_CONFIGS])
        return None

    if malicious:
        nodes = {
            nid: ClientApp(
                client_fn=lambda ctx: Numpy(ctx.node_id, upd, w).to_client(),
                mods=[sf.secaggplus_mod_with_identity(
                    secagg.Identity.from_secret(nid.to_bytes(8, "big") * 4), directory)],
            )
            for nid in NODE_IDS
        }
        wf = sf.SecAggPlusWorkflow(5, 4, roster=directory)
    else:
        nodes = apps(upd, w, sf.secaggplus_mod)
        wf = sf.SecAggPlusWorkflow(5, 3)
    grid = InProcessGrid(nodes, fault=fault)
    ctx = run_workflow(grid, DefaultWorkflow(fit_workflow=wf), Recording(len(NODE_IDS)))
    order = sorted(NODE_IDS)
    assert wf.last_state.index_of == {nid: i for i, nid in enumerate(order, start=1)}
    assert {nid: cfg["index"] for nid, cfg in seen.items()} == wf.last_state.index_of
    if malicious:
        assert all(cfg["nodes"] == b"".join(nid.to_bytes(8, "big") for nid in order) for cfg in seen.values())
    else:
        assert all("nodes" not in cfg for cfg in seen.values())
    assert grid.errors == [] and wf.last_state.survivors == [1, 2, 3, 4, 5]
    ours = final_model(ctx)
    want, q = weighted(upd, w, NODE_IDS)
    assert_close(ours, want, bound(NODE_IDS, q))


def test_num_shares_resolution_at_setup():
    """A fixed num_shares that reaches n is the complete graph; a float
    rounds up to odd; "auto" is the crate's derivation."""
    assert sf.SecAggPlusWorkflow(7, 3)._params(5, 12).degree == 4  # complete: k = n - 1
    assert sf.SecAggPlusWorkflow(5, 3)._params(5, 12).degree == 4
    assert sf.SecAggPlusWorkflow(5, 3)._params(8, 12).degree == 4
    p = sf.SecAggPlusWorkflow(0.5, 0.6)._params(8, 12)  # ceil(4) = 4, up to odd: 5 holders
    assert (p.degree, p.threshold) == (4, 3)
    p = sf.SecAggPlusWorkflow(1, 2)._params(8, 12)  # 1: every client
    assert (p.degree, p.threshold) == (7, 2)
    auto = sf.SecAggPlusWorkflow("auto")._params(1000, 12)
    assert (auto.degree, auto.threshold, auto.prg) == (30, 17, "aes")
    auto = sf.SecAggPlusWorkflow("auto", roster={})._params(1000, 12)
    assert (auto.degree, auto.threshold, auto.malicious) == (52, 37, True)
    with pytest.raises(ValueError, match=r"2t - k > c .*k = 4, t = 2, c = 0"):
        sf.SecAggPlusWorkflow(5, 2, roster={})
    # t signers among k neighbours certify a survivor set: t = k + 1 could
    # never finish, at construction or once n fixes the complete graph.
    with pytest.raises(ValueError, match=r"needs t <= k.*k = 4, t = 5"):
        sf.SecAggPlusWorkflow(5, 5, roster={})
    assert sf.SecAggPlusWorkflow(5, 4, roster={})._params(9, 12).threshold == 4
    with pytest.raises(ValueError, match=r"needs t <= k.*7 clients, k = 6, t = 7"):
        sf.SecAggWorkflow(7, roster={})._params(7, 12)
    with pytest.raises(TypeError, match="num_shares"):
        sf.SecAggPlusWorkflow(True, 2)


# -- the node, message by message --------------------------------------------

RID = bytes(range(32))
PARAMS = secagg.Params(clients=3, threshold=2, dim=4)


def setup_msg(rid=RID, params=PARAMS, index=1, **extra):
    cfg = ConfigRecord(
        {
            "stage": "secagg.flower/1/setup", "round_id": rid, "params": params.to_bytes(), "index": index,
            "clipping_range": 8.0, "target_range": R, "max_weight": 1000.0, "reveal_fit_metadata": True,
            **extra,
        }
    )
    return train({_common.RECORD_CONFIGS: cfg})


def stage_msg(stage, rid=RID, msg=b"\x00"):
    return train({_common.RECORD_CONFIGS: ConfigRecord({"stage": f"secagg.flower/1/{stage}", "round_id": rid, "msg": msg})})


def fresh_context():
    return Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={})


def never(msg, ctxt):
    raise AssertionError("the ClientApp was called")


def test_the_sealing_key_comes_from_the_environment_or_the_context(monkeypatch):
    key = bytes(range(100, 132))
    monkeypatch.setenv(_common.ENV_STATE_KEY, key.hex())
    ctx = fresh_context()
    reply = sf.secaggplus_mod(setup_msg(), ctx, never)
    advertise = reply.content.config_records[_common.RECORD_CONFIGS]["msg"]
    assert _common.RECORD_KEY not in ctx.state.config_records
    rec = ctx.state.config_records[_common.RECORD_STATE]
    assert rec["phase"] == "keys" and rec["round_id"] == RID
    # Only the sealed state and what binds it: no key or share in the clear.
    assert set(ctx.state.config_records) == {_common.RECORD_ROUNDS, _common.RECORD_STATE}
    assert set(rec) == {
        "run_id", "group_id", "round_id", "clipping_range", "target_range", "max_weight",
        "reveal_fit_metadata", "dim", "sealed", "phase",
    }
    client = secagg.Client.from_state(rec["sealed"], key, RID, "keys")
    assert client.index == 1 and len(advertise) > 0
    with pytest.raises(secagg.StateError) as e:
        secagg.Client.from_state(rec["sealed"], os.urandom(32), RID, "keys")
    assert e.value.name == "STATE_AUTHENTICATION"
    for bad in ("ab" * 31, "zz" * 32):
        monkeypatch.setenv(_common.ENV_STATE_KEY, bad)
        with pytest.raises(ValueError):
            sf.secaggplus_mod(setup_msg(rid=os.urandom(32)), fresh_context(), never)
    monkeypatch.delenv(_common.ENV_STATE_KEY)
    ctx = fresh_context()
    sf.secaggplus_mod(setup_msg(), ctx, never)
    assert set(ctx.state.config_records) == {_common.RECORD_ROUNDS, _common.RECORD_KEY, _common.RECORD_STATE}
    own = ctx.state.config_records[_common.RECORD_KEY]["key"]
    assert isinstance(own, bytes) and len(own) == 32
    sealed = ctx.state.config_records[_common.RECORD_STATE]["sealed"]
    assert secagg.Client.from_state(sealed, own, RID, "keys").index == 1


def test_the_node_keeps_every_round_id_and_refuses_a_reused_one():
    ctx = fresh_context()
    sf.secaggplus_mod(setup_msg(), ctx, never)
    other = bytes(32)
    sf.secaggplus_mod(setup_msg(rid=other), ctx, never)
    assert ctx.state.config_records[_common.RECORD_ROUNDS]["used"] == RID + other
    with pytest.raises(sf.StaleMessage, match="already took part in a round with this round id"):
        sf.secaggplus_mod(setup_msg(), ctx, never)
    with pytest.raises(ValueError, match="round id must be 32 bytes"):
        sf.secaggplus_mod(setup_msg(rid=bytes(31)), ctx, never)
    assert ctx.state.config_records[_common.RECORD_ROUNDS]["used"] == RID + other


def test_stale_and_out_of_order_stages_are_refused_and_change_nothing():
    ctx = fresh_context()
    with pytest.raises(sf.StaleMessage, match="holds no secure-aggregation state"):
        sf.secaggplus_mod(stage_msg("share_keys"), ctx, never)
    sf.secaggplus_mod(setup_msg(), ctx, never)
    before = dict(ctx.state.config_records[_common.RECORD_STATE])
    with pytest.raises(sf.StaleMessage, match="awaits phase 'keys', this stage needs 'unmask'"):
        sf.secaggplus_mod(stage_msg("unmask"), ctx, never)
    with pytest.raises(sf.StaleMessage, match="awaits phase 'keys', this stage needs 'shares'"):
        sf.secaggplus_mod(stage_msg("collect_masked_vectors"), ctx, never)
    with pytest.raises(sf.StaleMessage, match="a stale or replayed message"):
        sf.secaggplus_mod(stage_msg("share_keys", rid=bytes(32)), ctx, never)
    of_another_run = stage_msg("share_keys")
    of_another_run.metadata.__dict__["_run_id"] = 2
    with pytest.raises(sf.StaleMessage, match="of run 2, round '1' refused: the node's state belongs to run 1"):
        sf.secaggplus_mod(of_another_run, ctx, never)
    assert dict(ctx.state.config_records[_common.RECORD_STATE]) == before
    # Bytes the crate cannot decode are the crate's ServerFault.
    with pytest.raises(secagg.ServerFault) as e:
        sf.secaggplus_mod(stage_msg("share_keys", msg=b"\x02"), ctx, never)
    assert e.value.name == "SERVER_MALFORMED"


def test_messages_that_are_not_this_workflows():
    """A train message without this package's record is refused before the
    ClientApp runs (the update is never computed for a clear send); other
    message types pass through untouched."""
    ctx = fresh_context()
    with pytest.raises(sf.ProtocolMismatch, match="the update is not sent in the clear"):
        sf.secaggplus_mod(train({}), ctx, never)
    with pytest.raises(sf.ProtocolMismatch, match="Flower's own SecAggPlusWorkflow"):
        sf.secaggplus_mod(train({"secaggplus_configs": ConfigRecord({"stage": "setup"})}), ctx, never)
    with pytest.raises(sf.ProtocolMismatch, match="different versions"):
        sf.secaggplus_mod(train({_common.RECORD_CONFIGS: ConfigRecord({"stage": 3})}), ctx, never)
    query = train({})
    query.metadata.__dict__["_message_type"] = MessageType.QUERY
    assert sf.secaggplus_mod(query, ctx, lambda m, c: ("passed", m)) == ("passed", query)
    assert dict(ctx.state.config_records) == {}


MAL_PARAMS = secagg.Params(clients=3, threshold=2, dim=4, corrupt=0)


def mal_setup(nodes, index=1):
    return setup_msg(params=MAL_PARAMS, index=index, nodes=_common.encode_nodes(nodes))


@pytest.mark.parametrize(
    "directory, nodes, index, why",
    [
        ({1: IDS[1].public_key, 2: IDS[2].public_key, 3: IDS[2].public_key}, [1, 2, 3], 1,
         "this node's directory gives two of the round's nodes one key"),
        (registered(3), [1, 2, 3], 4, "index 4 is outside the round's 1..3"),
        (registered(3), [1, 2, 3], 0, "index 0 is outside the round's 1..3"),
        (registered(3), [2, 1, 3], 1, "the server puts node 2 at this node's index 1"),
        (registered(3), [1, 2, 2], 1, "names a node twice"),
        (registered(3), [1, 2, 3, 4], 1, "has 32 bytes, not 8 for each of its parameters' 3 clients"),
    ],
)
def test_bad_rosters_are_refused_at_setup(directory, nodes, index, why):
    mod = sf.secaggplus_mod_with_identity(IDS[1], directory)
    ctx = fresh_context()
    with pytest.raises(sf.RosterMismatch) as e:
        mod(mal_setup(nodes, index), ctx, never)
    assert why in str(e.value)
    assert _common.RECORD_STATE not in ctx.state.config_records


def test_the_models_must_match_at_the_node():
    with pytest.raises(sf.ModelMismatch, match="has no identity"):
        sf.secaggplus_mod(mal_setup([1, 2, 3]), fresh_context(), never)
    with pytest.raises(sf.ModelMismatch, match="requires the malicious-server model"):
        sf.secaggplus_mod_with_identity(IDS[1], registered(3))(setup_msg(), fresh_context(), never)
    ctx = fresh_context()
    lenient = sf.secaggplus_mod_with_identity(IDS[1], registered(3), require_malicious=False)
    lenient(setup_msg(), ctx, never)
    assert ctx.state.config_records[_common.RECORD_STATE]["phase"] == "keys"
    ctx = fresh_context()
    sf.secaggplus_mod_with_identity(IDS[1], registered(3))(mal_setup([1, 2, 3]), ctx, never)
    assert ctx.state.config_records[_common.RECORD_STATE]["phase"] == "keys"


def test_an_unmask_replayed_after_the_round_is_refused():
    """The node's state is deleted after the unmask reply: the same unmask
    message again is refused (no state), as is a share_keys replay."""
    n = 5
    kept = {}

    def fault(msg):
        if msg.metadata.dst_node_id == 2 and stage_of(msg) in ("share_keys", "unmask"):
            kept[stage_of(msg)] = msg
        return None

    grid = InProcessGrid(apps(*updates(n), sf.secaggplus_mod), fault=fault)
    wf = sf.SecAggPlusWorkflow(3, 2)
    run_workflow(grid, DefaultWorkflow(fit_workflow=wf), Recording(n))
    assert wf.last_state.survivors == [1, 2, 3, 4, 5]
    assert _common.RECORD_STATE not in grid.context(2).state.config_records
    for stage in ("unmask", "share_keys"):
        reply = grid.deliver(kept[stage])
        assert reply.has_error()
        assert "StaleMessage" in reply.error.reason and "holds no secure-aggregation state" in reply.error.reason


def test_a_mismatched_pair_fails_at_the_first_message():
    """Either mismatched pairing stops at setup: every node gets exactly one
    message, and the error names the mismatch."""
    n = 5
    grid = Counting(apps(*updates(n), flower_mods.secaggplus_mod))
    with pytest.raises(sf.ProtocolMismatch, match="runs Flower's own secaggplus_mod"):
        run_workflow(grid, DefaultWorkflow(fit_workflow=sf.SecAggPlusWorkflow(3, 2)), Recording(n))
    assert grid.got == {nid: ["setup"] for nid in range(1, n + 1)}
    assert all(_common.MISMATCH_MARKER in r for _, r in grid.errors)
    grid = Counting(apps(*updates(n), sf.secaggplus_mod))
    run_workflow(grid, DefaultWorkflow(fit_workflow=flower_workflows.SecAggPlusWorkflow(3, 2)), Recording(n))
    assert grid.got == {nid: ["setup"] for nid in range(1, n + 1)}
    assert sorted(nid for nid, _ in grid.errors) == [1, 2, 3, 4, 5]
    assert all("the server runs Flower's own SecAggPlusWorkflow" in r for _, r in grid.errors)


def test_the_quantiser_refuses_what_could_wrap():
    """sf.quantize: a weight outside [0, max_weight] or a non-finite update
    raises ValueError; the ends 0 and max_weight give q = 0 and q = R; every
    element lies in [0, R]. sf.dequantize refuses a zero total weight."""
    x = [np.array([-100.0, -8.0, 0.0, 8.0, 100.0])]
    for bad in (-1, 1000.5):
        with pytest.raises(ValueError, match=r"outside \[0, max_weight = 1000.0\]"):
            sf.quantize(x, bad, 8.0, R, 1000.0)
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="NaN or an infinity"):
            sf.quantize([np.array([0.0, bad])], 10, 8.0, R, 1000.0)
    top = sf.quantize(x, 1000, 8.0, R, 1000.0)
    assert top.dtype == np.uint64 and top.tolist() == [R, 0, 0, R // 2, R, R]
    zero = sf.quantize(x, 0, 8.0, R, 1000.0)
    assert zero.tolist() == [0] + [R // 2] * 5
    with pytest.raises(ValueError, match="weights sum to zero"):
        sf.dequantize(zero, 1, [(5,)], 8.0, R)
    back = sf.dequantize(top, 1, [(5,)], 8.0, R)[0]
    assert back.tolist() == [-8.0, -8.0, 0.0, 8.0, 8.0]
