"""secagg.flower against Flower 1.41's own SecAgg+ in one process.

Every round runs through Flower's DefaultWorkflow and ClientApp machinery on
secagg.flower.testing.InProcessGrid (messages and each node's Context cross
Flower's protobuf serialisation between stages).
"""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pytest

flwr = pytest.importorskip(
    "flwr", reason="Flower is not installed (pip install 'secagg[flower]'; python/run_flower_tests.sh does)"
)

import flwr.client.mod as flower_mods  # noqa: E402
import flwr.compat.common.recorddict_compat as compat  # noqa: E402
import flwr.server.workflow as flower_workflows  # noqa: E402
from flwr.app import ConfigRecord, Context, Message, RecordDict  # noqa: E402
from flwr.app.message_type import MessageType  # noqa: E402
from flwr.client import ClientApp, NumPyClient  # noqa: E402
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402
from flwr.server.workflow import DefaultWorkflow  # noqa: E402
from flwr.server.workflow.constant import MAIN_PARAMS_RECORD  # noqa: E402

import secagg  # noqa: E402
import secagg.flower as sf  # noqa: E402
from secagg.flower import _common, mod as sf_mod  # noqa: E402
from secagg.flower.testing import InProcessGrid, run_workflow, stage_of  # noqa: E402

SHAPES = [(3, 2), (5,)]
C, R = 8.0, 1 << 22
STAGES = ("setup", "share_keys", "collect_masked_vectors", "unmask")


def updates(n, seed=1):
    rng = np.random.default_rng(seed)
    return (
        {nid: [rng.uniform(-2, 2, s) for s in SHAPES] for nid in range(1, n + 1)},
        {nid: int(rng.integers(1, 500)) for nid in range(1, n + 1)},
    )


class Numpy(NumPyClient):
    def __init__(self, nid, upd, w):
        self.nid, self.upd, self.w = nid, upd, w

    def fit(self, parameters, config):
        return self.upd[self.nid], self.w[self.nid], {"node": float(self.nid)}

    def evaluate(self, parameters, config):
        return float(self.nid), 10, {}


def apps(upd, w, mod):
    return {
        nid: ClientApp(client_fn=lambda ctx: Numpy(ctx.node_id, upd, w).to_client(), mods=[mod])
        for nid in upd
    }


class Recording(FedAvg):
    """FedAvg that keeps what aggregate_fit saw."""

    def __init__(self, n, evaluate=False):
        super().__init__(
            min_fit_clients=n, min_available_clients=n,
            fraction_evaluate=1.0 if evaluate else 0.0, min_evaluate_clients=n if evaluate else 0,
            initial_parameters=ndarrays_to_parameters([np.zeros(s) for s in SHAPES]),
            fit_metrics_aggregation_fn=self._metrics,
        )
        self.seen = []
        self.num_examples = None

    def _metrics(self, pairs):
        self.seen = pairs
        return {}


def run(n, wf, mod, fault=None, upd=None, evaluate=False, rounds=1):
    if upd is None:
        upd = updates(n)
    grid = InProcessGrid(apps(*upd, mod), fault=fault)
    strategy = Recording(n, evaluate)
    ctx = run_workflow(grid, DefaultWorkflow(fit_workflow=wf), strategy, num_rounds=rounds)
    params = parameters_to_ndarrays(
        compat.arrayrecord_to_parameters(ctx.state.array_records[MAIN_PARAMS_RECORD], True)
    )
    return params, grid, ctx, strategy


def weighted(upd, w, nodes, max_weight=1000.0):
    q = {i: round(w[i] / max_weight * R) for i in nodes}
    return [sum(q[i] * upd[i][k] for i in nodes) / sum(q.values()) for k in range(len(SHAPES))], sum(q.values())


def bound(nodes, q_total):
    # Each survivor's stochastic rounding moves an element by < 1 step of 2c/R.
    return len(nodes) * 2 * C / q_total


def assert_close(got, want, tol):
    for g, e in zip(got, want):
        assert g.shape == e.shape
        assert np.abs(g - e).max() <= tol


def record_quantized(monkeypatch):
    """Every vector the mods quantise from now on, in order."""
    sent = {}
    real = sf_mod.c.quantize

    def recording(*a, **k):
        v = real(*a, **k)
        sent[len(sent)] = v
        return v

    monkeypatch.setattr(sf_mod.c, "quantize", recording)
    return sent


def test_result_matches_flower_and_the_integer_sum_is_exact(monkeypatch):
    n = 7
    upd, w = updates(n)
    sent = record_quantized(monkeypatch)
    wf = sf.SecAggPlusWorkflow(5, 3)
    ours, _, _, _ = run(n, wf, sf.secaggplus_mod, upd=(upd, w))
    theirs, _, _, _ = run(n, flower_workflows.SecAggPlusWorkflow(5, 3), flower_mods.secaggplus_mod, upd=(upd, w))
    want, q_total = weighted(upd, w, list(upd))
    tol = bound(upd, q_total)
    assert_close(ours, want, tol)
    assert_close(theirs, want, tol)
    assert_close(ours, theirs, 2 * tol)
    # The unmasked sum is exactly the sum of the quantised vectors.
    st = wf.last_state
    assert st.survivors == list(range(1, n + 1)) and len(sent) == n
    total = sum(v.astype(object) for v in sent.values())
    assert [int(x) for x in st.sum] == [int(x) % (1 << 32) for x in total]
    assert int(st.sum[0]) == q_total
    assert st.params.degree == 4 and st.params.threshold == 3
    # The server's choice of PRG (AES-128-CTR by default) is in the parameters
    # every client decoded.
    assert st.params.prg == "aes"


def test_secagg_workflow_is_the_complete_graph():
    n = 5
    upd, w = updates(n, seed=2)
    wf = sf.SecAggWorkflow(3)
    ours, _, _, _ = run(n, wf, sf.secagg_mod, upd=(upd, w))
    want, q = weighted(upd, w, list(upd))
    assert_close(ours, want, bound(upd, q))
    assert wf.last_state.params.degree == n - 1 and wf.last_state.params.threshold == 3


def test_chacha20_rounds_match_too():
    n = 5
    upd, w = updates(n, seed=4)
    wf = sf.SecAggPlusWorkflow(3, 2, prg="chacha20")
    ours, _, _, _ = run(n, wf, sf.secaggplus_mod, upd=(upd, w))
    want, q = weighted(upd, w, list(upd))
    assert_close(ours, want, bound(upd, q))
    assert wf.last_state.params.prg == "chacha20"
    with pytest.raises(ValueError, match="prg"):
        sf.SecAggPlusWorkflow(3, 2, prg="rc4")


def dropping(node, stage, how):
    def fault(msg):
        if msg.metadata.dst_node_id == node and stage_of(msg) == stage:
            return how
        return None

    return fault


@pytest.mark.parametrize("how", ["drop", "error"])
@pytest.mark.parametrize("stage", STAGES)
def test_a_drop_at_any_stage_completes_the_round(stage, how):
    n, gone = 7, 3
    upd, w = updates(n, seed=3)
    wf = sf.SecAggPlusWorkflow(5, 3)
    ours, _, _, _ = run(n, wf, sf.secaggplus_mod, fault=dropping(gone, stage, how), upd=(upd, w))
    # A node that sent its masked vector stays in the sum even if it never
    # answers the unmask request.
    nodes = list(upd) if stage == "unmask" else [i for i in upd if i != gone]
    assert wf.last_state.survivors == nodes
    want, q = weighted(upd, w, nodes)
    assert_close(ours, want, bound(nodes, q))


# What Flower 1.41's own pair does when one node of 7 drops at each stage:
# before masking (setup, share_keys) nobody holds shares of the dropped
# node, its unmask check fails and the round halts with the model unchanged.
FLOWER_COMPLETES = {"setup": False, "share_keys": False, "collect_masked_vectors": True, "unmask": True}


@pytest.mark.parametrize("stage", STAGES)
def test_flower_own_secaggplus_under_the_same_drops(stage):
    n, gone = 7, 3
    upd, w = updates(n, seed=3)
    theirs, _, _, _ = run(
        n, flower_workflows.SecAggPlusWorkflow(5, 3), flower_mods.secaggplus_mod,
        fault=dropping(gone, stage, "drop"), upd=(upd, w),
    )
    unchanged = all(np.all(a == 0) for a in theirs)
    assert unchanged == (not FLOWER_COMPLETES[stage])
    if FLOWER_COMPLETES[stage]:
        nodes = list(upd) if stage == "unmask" else [i for i in upd if i != gone]
        want, q = weighted(upd, w, nodes)
        assert_close(theirs, want, bound(nodes, q))


def test_too_many_drops_halt_with_the_model_unchanged():
    n = 7
    fault = lambda m: "drop" if m.metadata.dst_node_id <= 5 and stage_of(m) == "share_keys" else None  # noqa: E731
    wf = sf.SecAggPlusWorkflow(5, 3)
    ours, _, _, _ = run(n, wf, sf.secaggplus_mod, fault=fault)
    assert all(np.all(a == 0) for a in ours)
    assert wf.last_state.sum is None
    assert any(isinstance(f, secagg.NotEnoughSurvivors) for f in wf.last_state.failures)


def test_our_workflow_with_flower_mod_fails_early():
    with pytest.raises(sf.ProtocolMismatch, match="node 1: runs Flower's own secaggplus_mod"):
        run(5, sf.SecAggPlusWorkflow(3, 2), flower_mods.secaggplus_mod)


def test_one_mismatched_node_counts_as_dropped():
    n = 7
    upd, w = updates(n, seed=8)
    nodes = apps(upd, w, sf.secaggplus_mod)
    nodes[4] = apps(upd, w, flower_mods.secaggplus_mod)[4]
    grid = InProcessGrid(nodes)
    wf = sf.SecAggPlusWorkflow(5, 3)
    ctx = run_workflow(grid, DefaultWorkflow(fit_workflow=wf), Recording(n))
    ours = parameters_to_ndarrays(compat.arrayrecord_to_parameters(ctx.state.array_records[MAIN_PARAMS_RECORD], True))
    assert [nid for nid, _ in grid.errors] == [4] and _common.MISMATCH_MARKER in grid.errors[0][1]
    survivors = [i for i in upd if i != 4]
    assert wf.last_state.survivors == survivors
    want, q = weighted(upd, w, survivors)
    assert_close(ours, want, bound(survivors, q))


def test_flower_workflow_with_our_mod_is_refused_by_every_node():
    theirs, grid, _, _ = run(5, flower_workflows.SecAggPlusWorkflow(3, 2), sf.secaggplus_mod)
    assert all(np.all(a == 0) for a in theirs)  # Flower halts the round
    assert sorted(nid for nid, _ in grid.errors) == [1, 2, 3, 4, 5]
    assert all("the server runs Flower's own SecAggPlusWorkflow" in r for _, r in grid.errors)


def train(records):
    """A train message of run 1 to node 1, as the SuperLink would stamp it
    (a new Message takes its run id from this process's task identity,
    which run_workflow otherwise sets)."""
    from flwr.common.constant import SUPERLINK_NODE_ID
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, SUPERLINK_NODE_ID, 1
    return Message(RecordDict(records), dst_node_id=1, message_type=MessageType.TRAIN, group_id="1")


def test_secagg_imports_without_flower():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['flwr'] = None\n"
        "import secagg; print(secagg.Params(3, 2, 4).dim)\n"
        "try:\n    import secagg.flower\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["4", "secagg.flower needs Flower: pip install 'secagg[flower]' (flwr 1.41)"]


def test_another_layout_version_is_refused():
    msg = train({_common.RECORD_CONFIGS: ConfigRecord({"stage": "secagg.flower/2/setup"})})
    ctx = Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={})
    with pytest.raises(sf.ProtocolMismatch, match="different versions"):
        sf.secaggplus_mod(msg, ctx, lambda m, c: m)


@pytest.mark.parametrize(
    "args, match",
    [
        ((4, 2), "odd int"),
        ((6, 3), "odd int"),
        ((2, 2), "odd int"),
        ((5.5, 3), "proportion"),
        ((2.0, 2), "proportion"),
        ((0.0, 2), "proportion"),
        ((5, 6), "must not exceed"),
        ((5, "auto"), "together"),
        (("auto", 3), "together"),
    ],
)
def test_bad_num_shares_fail_at_construction(args, match):
    with pytest.raises(ValueError, match=match):
        sf.SecAggPlusWorkflow(*args)


def test_wrapping_configurations_are_refused():
    with pytest.raises(ValueError, match="no room"):
        sf.SecAggPlusWorkflow(5, 3, quantization_range=1 << 22, modulus_range=1 << 22)
    with pytest.raises(ValueError, match="power of two"):
        sf.SecAggPlusWorkflow(5, 3, modulus_range=3 << 22)
    # 9 clients of up to 2**22 each can wrap mod 2**24 (at most 3 fit).
    wf = sf.SecAggPlusWorkflow(5, 3, modulus_range=1 << 24)
    with pytest.raises(ValueError, match=r"can wrap .*at most 3 clients"):
        run(9, wf, sf.secaggplus_mod)
    # Flower's own pair accepts the same configuration and returns a wrapped,
    # wrong average without a word.
    # (Elements sit near R / 2, so 9 of them pass 2**24.)
    upd, w = updates(9)
    theirs, _, _, _ = run(
        9, flower_workflows.SecAggPlusWorkflow(5, 3, modulus_range=1 << 24),
        flower_mods.secaggplus_mod, upd=(upd, w),
    )
    want, _ = weighted(upd, w, list(upd))
    assert max(np.abs(a - b).max() for a, b in zip(theirs, want)) > 1.0


def test_a_weight_above_max_weight_is_refused_on_the_client():
    n = 7
    upd, w = updates(n, seed=4)
    w[2] = 5000
    wf = sf.SecAggPlusWorkflow(5, 3)
    ours, grid, _, _ = run(n, wf, sf.secaggplus_mod, upd=(upd, w))
    assert [nid for nid, _ in grid.errors] == [2]
    assert "outside [0, max_weight" in grid.errors[0][1]
    nodes = [i for i in upd if i != 2]
    want, q = weighted(upd, w, nodes)
    assert_close(ours, want, bound(nodes, q))


def test_num_shares_float_and_auto_resolve_at_setup():
    n = 9
    wf = sf.SecAggPlusWorkflow(0.5, 0.6)
    run(n, wf, sf.secaggplus_mod)
    # ceil(0.5 * 9) = 5 holders (k = 4), t = round(0.6 * 5) = 3.
    assert (wf.last_state.params.degree, wf.last_state.params.threshold) == (4, 3)
    auto = sf.SecAggPlusWorkflow("auto")
    upd, w = updates(n)
    ours, _, _, _ = run(n, auto, sf.secaggplus_mod, upd=(upd, w))
    derived = secagg.Params.secagg_plus(n, dim=1 + 11)
    assert (auto.last_state.params.degree, auto.last_state.params.threshold) == (derived.degree, derived.threshold)
    want, q = weighted(upd, w, list(upd))
    assert_close(ours, want, bound(upd, q))


def states_seen(node_apps, wf, node):
    """Runs a round; returns the grid and node ``node``'s sealed state record
    as each stage's message reaches it, by stage."""
    seen = {}

    def fault(msg):
        if msg.metadata.dst_node_id == node and stage_of(msg) is not None:
            seen[stage_of(msg)] = grid.context(node).state.config_records.get(_common.RECORD_STATE)
        return None

    grid = InProcessGrid(node_apps, fault=fault)
    run_workflow(grid, DefaultWorkflow(fit_workflow=wf), Recording(len(node_apps)))
    return grid, seen


def test_state_lives_in_the_context_until_unmask_then_is_gone():
    n = 5
    upd = updates(n)
    grid, seen = states_seen(apps(*upd, sf.secaggplus_mod), sf.SecAggPlusWorkflow(3, 2), 1)
    assert seen["setup"] is None
    assert [seen[s]["phase"] for s in STAGES[1:]] == ["keys", "shares", "unmask"]
    assert isinstance(seen["unmask"]["sealed"], bytes)
    assert _common.RECORD_STATE not in grid.context(1).state.config_records
    # Flower's own mod leaves its secret keys in the Context after the round.
    grid = InProcessGrid(apps(*upd, flower_mods.secaggplus_mod))
    run_workflow(grid, DefaultWorkflow(fit_workflow=flower_workflows.SecAggPlusWorkflow(3, 2)), Recording(n))
    left = grid.context(1).state.config_records["secaggplus_state"]
    assert len(left["sk1"]) > 0 and len(left["sk2"]) > 0


def test_a_stage_replayed_from_an_older_round_is_refused():
    kept = {}
    replies = []

    def fault(msg):
        if msg.metadata.dst_node_id != 1 or stage_of(msg) != "share_keys":
            return None
        group = msg.metadata.group_id
        if group == "1":
            kept["old"] = msg
        else:
            replies.append(grid.deliver(kept["old"]))
        return None

    n = 5
    upd, w = updates(n)
    grid = InProcessGrid(apps(upd, w, sf.secaggplus_mod), fault=fault)
    wf = sf.SecAggPlusWorkflow(3, 2)
    strategy = Recording(n)
    run_workflow(grid, DefaultWorkflow(fit_workflow=wf), strategy, num_rounds=2)
    assert len(replies) == 1 and replies[0].has_error()
    assert "StaleMessage" in replies[0].error.reason and "round '1'" in replies[0].error.reason
    # The refusal left node 1's state intact: it is in round 2's sum.
    assert wf.last_state.survivors == [1, 2, 3, 4, 5]


def test_evaluate_messages_pass_through():
    n = 5
    _, _, ctx, _ = run(n, sf.SecAggPlusWorkflow(3, 2), sf.secaggplus_mod, evaluate=True)
    # Each node reports loss = its id on 10 examples.
    assert ctx.history.losses_distributed == [(1, pytest.approx(3.0))]


def test_fit_metadata_can_stay_on_the_client():
    n = 5
    upd, w = updates(n, seed=5)
    ours, _, _, strategy = run(n, sf.SecAggPlusWorkflow(3, 2, reveal_fit_metadata=False), sf.secaggplus_mod, upd=(upd, w))
    assert strategy.seen and all(num == 1 and metrics == {} for num, metrics in strategy.seen)
    want, q = weighted(upd, w, list(upd))
    assert_close(ours, want, bound(upd, q))
    _, _, _, shown = run(n, sf.SecAggPlusWorkflow(3, 2), sf.secaggplus_mod, upd=(upd, w))
    assert sorted(num for num, _ in shown.seen) == sorted(w.values())


def test_quantiser_maps_the_ends_and_rounds_without_bias():
    v = sf.quantize([np.full(20000, 0.3)], 1000, C, R, 1000.0)
    assert v[0] == R
    step = 2 * C / R
    x = (0.3 + C) / step
    assert set(np.unique(v[1:]).tolist()) == {int(np.floor(x)), int(np.ceil(x))}
    assert abs(v[1:].mean() - x) < 0.02
    back = sf.dequantize(v, 1, [(20000,)], C, R)[0]
    assert np.abs(back - 0.3).max() <= step


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is missing (pip install 'flwr[simulation]')")
def test_run_simulation_with_five_nodes():
    from flwr.server import LegacyContext, ServerApp, ServerConfig
    from flwr.simulation import run_simulation

    n = 5
    upd, w = updates(n, seed=6)
    strategy = Recording(n)
    server = ServerApp()

    @server.main()
    def main(grid, context):
        ctx = LegacyContext(context=context, config=ServerConfig(num_rounds=1), strategy=strategy)
        DefaultWorkflow(fit_workflow=sf.SecAggPlusWorkflow(3, 2))(grid, ctx)
        strategy.final = parameters_to_ndarrays(
            compat.arrayrecord_to_parameters(ctx.state.array_records[MAIN_PARAMS_RECORD], True)
        )

    client = ClientApp(
        client_fn=lambda ctx: Numpy(int(ctx.node_config["partition-id"]) + 1, upd, w).to_client(),
        mods=[sf.secaggplus_mod],
    )
    run_simulation(
        server_app=server, client_app=client, num_supernodes=n,
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}},
    )
    want, q = weighted(upd, w, list(upd))
    assert_close(strategy.final, want, bound(upd, q))


logging.getLogger("flwr").setLevel(logging.WARNING)


def test_distributed_dp_releases_the_noisy_mean_with_a_report():
    n = 7
    upd, w = updates(n, seed=2)
    assert max(np.linalg.norm(np.concatenate([a.ravel() for a in u])) for u in upd.values()) < 5.0
    wf = sf.SecAggPlusWorkflow(5, 3, noise_multiplier=0.01, clipping_norm=5.0, num_sampled_clients=n)
    ours, _, _, _ = run(n, wf, sf.secaggplus_mod, upd=(upd, w))
    # Unweighted mean of the updates (the global model starts at zero; no
    # update's norm reaches the clip), up to the DP noise and rounding (at
    # this epsilon the 32-bit scale's rounding dominates: a max error of 0.06
    # typical, 0.11 the worst in a trial of 200 draws), and far from the weighted mean.
    want = [sum(upd[i][k] for i in upd) / n for k in range(len(SHAPES))]
    err = max(np.abs(a - b).max() for a, b in zip(ours, want))
    weighted_mean, _ = weighted(upd, w, list(upd))
    assert err < 0.25 < 0.6 < max(np.abs(a - b).max() for a, b in zip(weighted_mean, want))
    report = wf.last_state.privacy_report
    eps = np.sqrt(2 * np.log(1.25 / 1e-5)) / 0.01
    assert report.epsilon == pytest.approx(eps) and report.survivors == n
    assert report.epsilon_reached <= eps * (1 + 1e-9)
    # A client dropping before masking takes its noise with it: the report says so.
    dropped = sf.SecAggPlusWorkflow(5, 3, noise_multiplier=0.01, clipping_norm=5.0, num_sampled_clients=n)
    run(n, dropped, sf.secaggplus_mod, fault=dropping(2, "collect_masked_vectors", "drop"), upd=(upd, w))
    late = dropped.last_state.privacy_report
    assert late.survivors == n - 1 and late.epsilon_reached > eps


def test_distributed_dp_arguments_come_together():
    with pytest.raises(ValueError, match="all together"):
        sf.SecAggPlusWorkflow(5, 3, noise_multiplier=1.0)
    with pytest.raises(ValueError, match="all together"):
        sf.SecAggPlusWorkflow(5, 3, noise_multiplier=0.0, clipping_norm=1.0, num_sampled_clients=5)


def test_fedprox_keeps_working():
    from flwr.server.strategy import FedProx

    n = 5
    upd, w = updates(n, seed=9)
    strategy = FedProx(
        proximal_mu=0.1, min_fit_clients=n, min_available_clients=n, fraction_evaluate=0.0,
        initial_parameters=ndarrays_to_parameters([np.zeros(s) for s in SHAPES]),
    )
    grid = InProcessGrid(apps(upd, w, sf.secaggplus_mod))
    ctx = run_workflow(grid, DefaultWorkflow(fit_workflow=sf.SecAggPlusWorkflow(3, 2)), strategy)
    ours = parameters_to_ndarrays(compat.arrayrecord_to_parameters(ctx.state.array_records[MAIN_PARAMS_RECORD], True))
    want, q = weighted(upd, w, list(upd))
    assert_close(ours, want, bound(upd, q))


# -- the malicious-server model -------------------------------------------

IDS = {nid: secagg.Identity.from_secret(bytes([nid]) * 32) for nid in range(1, 10)}


def registered(n):
    """The deployer's directory: every node's verifying key by node id."""
    return {nid: IDS[nid].public_key for nid in range(1, n + 1)}


def malicious_apps(upd, w, directory, identities=None):
    identities = identities or IDS
    return {
        nid: ClientApp(
            client_fn=lambda ctx: Numpy(ctx.node_id, upd, w).to_client(),
            mods=[sf.secaggplus_mod_with_identity(identities[nid], directory)],
        )
        for nid in upd
    }


def run_malicious(n, wf, fault=None, upd=None, nodes=None, directory=None):
    upd = upd or updates(n)
    grid = InProcessGrid(nodes or malicious_apps(*upd, directory or registered(n)), fault=fault)
    ctx = run_workflow(grid, DefaultWorkflow(fit_workflow=wf), Recording(n))
    params = parameters_to_ndarrays(compat.arrayrecord_to_parameters(ctx.state.array_records[MAIN_PARAMS_RECORD], True))
    return params, grid


def test_malicious_round_sums_right_and_runs_the_consistency_stage(monkeypatch):
    n = 7
    upd, w = updates(n, seed=11)
    sent = record_quantized(monkeypatch)
    stages = []
    wf = sf.SecAggPlusWorkflow(5, 3, roster=registered(n))
    ours, grid = run_malicious(
        n, wf, upd=(upd, w), fault=lambda m: stages.append(stage_of(m)) if m.metadata.dst_node_id == 1 else None,
    )
    st = wf.last_state
    assert st.params.malicious and (st.params.degree, st.params.threshold) == (4, 3)
    assert stages == ["setup", "share_keys", "collect_masked_vectors", "consistency", "unmask"]
    assert grid.errors == [] and st.survivors == list(range(1, n + 1))
    total = sum(v.astype(object) for v in sent.values())
    assert len(sent) == n and [int(x) for x in st.sum] == [int(x) % (1 << 32) for x in total]
    want, q = weighted(upd, w, list(upd))
    assert_close(ours, want, bound(upd, q))


@pytest.mark.parametrize("stage", ["share_keys", "collect_masked_vectors", "consistency", "unmask"])
def test_malicious_round_survives_a_drop(stage):
    n, gone = 7, 3
    upd, w = updates(n, seed=12)
    wf = sf.SecAggPlusWorkflow(5, 3, roster=registered(n))
    ours, grid = run_malicious(n, wf, fault=dropping(gone, stage, "drop"), upd=(upd, w))
    # Dropped at R1 (share_keys) or R2 (collect_masked_vectors): out of the
    # sum; after its masked vector (consistency, unmask): in it.
    nodes = [i for i in upd if i != gone] if stage in ("share_keys", "collect_masked_vectors") else list(upd)
    assert wf.last_state.survivors == nodes and grid.errors == []
    want, q = weighted(upd, w, nodes)
    assert_close(ours, want, bound(nodes, q))


def test_malicious_secagg_workflow_and_auto_parameters():
    n = 7
    upd, w = updates(n, seed=13)
    wf = sf.SecAggWorkflow(5, roster=registered(n))  # complete graph: 2t > n + c
    ours, _ = run_malicious(n, wf, upd=(upd, w))
    p = wf.last_state.params
    assert p.malicious and p.degree == n - 1 and p.threshold == 5
    want, q = weighted(upd, w, list(upd))
    assert_close(ours, want, bound(upd, q))
    auto = sf.SecAggPlusWorkflow("auto", roster=lambda nid: IDS[nid].public_key)
    ours, _ = run_malicious(n, auto, upd=(upd, w))
    derived = secagg.Params.secagg_plus(n, dim=1 + 11, malicious=True)
    assert auto.last_state.params.malicious
    assert (auto.last_state.params.degree, auto.last_state.params.threshold) == (derived.degree, derived.threshold)
    assert_close(ours, want, bound(upd, q))


def test_malicious_round_with_distributed_dp():
    n = 7
    upd, w = updates(n, seed=2)
    wf = sf.SecAggPlusWorkflow(
        5, 3, noise_multiplier=0.01, clipping_norm=5.0, num_sampled_clients=n, roster=registered(n)
    )
    ours, grid = run_malicious(n, wf, upd=(upd, w))
    assert grid.errors == [] and wf.last_state.params.malicious and wf.last_state.params.dp is not None
    # The unweighted mean within the DP test's bound (see there).
    want = [sum(upd[i][k] for i in upd) / n for k in range(len(SHAPES))]
    assert max(np.abs(a - b).max() for a, b in zip(ours, want)) < 0.25
    assert wf.last_state.privacy_report.survivors == n


class SubstitutingServer(sf.SecAggPlusWorkflow):
    """A server that takes node 3's place: its roster holds an impostor's key
    for node 3, and it replaces node 3's signed keys by the impostor's."""

    impostor = secagg.Identity.from_secret(b"\x99" * 32)

    def _receive_all(self, state, replies):
        if state.server.phase == "advertise_keys":
            if state.params.malicious:
                keys = [IDS[i].public_key if i != 3 else self.impostor.public_key for i in sorted(state.index_of)]
                fake = secagg.Client(
                    state.params, state.round_id, state.index_of[3], self.impostor, secagg.Roster(keys)
                )
            else:
                fake = secagg.Client(state.params, state.round_id, state.index_of[3])
            replies = [(nid, fake.message if nid == 3 else msg) for nid, msg in replies]
        return super()._receive_all(state, replies)


def test_a_substituted_roster_key_is_refused_by_every_node_and_no_sum_is_released():
    n = 7
    roster = {**registered(n), 3: SubstitutingServer.impostor.public_key}
    wf = SubstitutingServer(5, 3, roster=roster)
    ours, grid = run_malicious(n, wf)
    # Each node checks node 3's signature against the directory's key: the
    # four neighbours of node 3 (k = 4) refuse the broadcast with the crate's
    # SERVER_BAD_SIGNATURE naming client 3, and node 3 sees its own keys
    # replaced ...
    refused = dict(grid.errors)
    assert len(refused) == 5 and "ServerFault" in refused[3] and "SERVER_MISSING_OWN_KEYS" in refused.pop(3)
    assert all("ServerFault" in r and "SERVER_BAD_SIGNATURE" in r and "(client 3)" in r for r in refused.values())
    # ... so too few remain and the round ends without a sum.
    assert any(isinstance(f, secagg.NotEnoughSurvivors) for f in wf.last_state.failures)
    assert wf.last_state.sum is None
    assert all(np.all(a == 0) for a in ours)


def test_the_substitution_goes_unnoticed_by_semi_honest_nodes():
    # The same server in the semi-honest model: nothing is signed, so only
    # node 3 itself can tell; its neighbours mask with the server's keys.
    n = 7
    wf = SubstitutingServer(5, 3)
    _, grid, _, _ = run(n, wf, sf.secaggplus_mod)
    assert [nid for nid, _ in grid.errors] == [3] and "SERVER_MISSING_OWN_KEYS" in grid.errors[0][1]
    assert wf.last_state.sum is not None and wf.last_state.survivors == [1, 2, 4, 5, 6, 7]


class LyingMapping(sf.SecAggPlusWorkflow):
    """A server that sends every node another index-to-node mapping."""

    def __init__(self, *a, mapping, **k):
        super().__init__(*a, **k)
        self.mapping = mapping

    def _content(self, state, stage, to, **extra):
        if "nodes" in extra:
            extra["nodes"] = _common.encode_nodes(self.mapping(sorted(state.index_of)))
        return super()._content(state, stage, to, **extra)


@pytest.mark.parametrize(
    "mapping, why",
    [
        (lambda nodes: nodes[:4] + [99] + nodes[5:], "node 99 is not in this node's directory"),
        (lambda nodes: nodes[:4] + [1] + nodes[5:], "names a node twice"),
        (lambda nodes: nodes[:-1], "has 48 bytes, not 8 for each of its parameters' 7 clients"),
    ],
)
def test_a_bad_mapping_is_refused_by_every_node(mapping, why):
    n = 7
    wf = LyingMapping(5, 3, roster=registered(n), mapping=mapping)
    ours, grid = run_malicious(n, wf)
    assert sorted(nid for nid, _ in grid.errors) == list(range(1, n + 1))
    assert all("RosterMismatch" in r and why in r for _, r in grid.errors)
    assert wf.last_state.sum is None and all(np.all(a == 0) for a in ours)


def assert_refused_and_the_rest_summed(n, wf, refusing, seed, identities=None):
    """Nodes ``refusing`` refuse at setup with RosterMismatch (the key at
    their index is not theirs) and the round sums the others right."""
    upd, w = updates(n, seed=seed)
    ours, grid = run_malicious(n, wf, upd=(upd, w), nodes=malicious_apps(upd, w, registered(n), identities))
    assert sorted(nid for nid, _ in grid.errors) == refusing
    assert all("RosterMismatch" in r and "is not this node's identity" in r for _, r in grid.errors)
    rest = [i for i in upd if i not in refusing]
    assert wf.last_state.survivors == rest
    want, q = weighted(upd, w, rest)
    assert_close(ours, want, bound(rest, q))


def test_a_swapped_mapping_is_refused_by_the_swapped_nodes_and_the_rest_sum_right():
    # k = 6, t = 4: each survivor keeps at least 4 neighbours to certify it.
    n = 9
    wf = LyingMapping(7, 4, roster=registered(n), mapping=lambda nodes: [nodes[1], nodes[0]] + nodes[2:])
    assert_refused_and_the_rest_summed(n, wf, [1, 2], seed=14)


def test_a_node_whose_identity_is_not_the_directorys_is_refused():
    n = 7
    impostor = {**IDS, 4: secagg.Identity.from_secret(b"\x77" * 32)}
    wf = sf.SecAggPlusWorkflow(5, 3, roster=registered(n))
    assert_refused_and_the_rest_summed(n, wf, [4], seed=15, identities=impostor)


def test_a_sampled_node_without_a_registered_key_is_left_out():
    n = 7
    upd, w = updates(n, seed=16)
    roster = {nid: k for nid, k in registered(n).items() if nid != 6}
    wf = sf.SecAggPlusWorkflow(5, 3, roster=roster)
    ours, grid = run_malicious(n, wf, upd=(upd, w))
    nodes = [i for i in upd if i != 6]
    assert grid.errors == [] and wf.last_state.params.clients == n - 1
    assert wf.last_state.survivors == list(range(1, n))  # indices 1..6 of nodes 1-5 and 7
    assert [wf.last_state.node_of[i] for i in wf.last_state.survivors] == nodes
    want, q = weighted(upd, w, nodes)
    assert_close(ours, want, bound(nodes, q))


def test_the_server_model_must_match_the_node():
    n = 5
    upd, w = updates(n, seed=17)
    # A malicious server and plain nodes: every node refuses, and the server
    # stops at once, naming the mismatch.
    with pytest.raises(sf.ProtocolMismatch, match="no identity: use secagg.flower.secaggplus_mod_with_identity"):
        run(n, sf.SecAggPlusWorkflow(3, 2, roster=registered(n)), sf.secaggplus_mod, upd=(upd, w))
    # A semi-honest server and nodes that require the malicious model: the same.
    with pytest.raises(sf.ProtocolMismatch, match="requires the malicious-server model"):
        run_malicious(n, sf.SecAggPlusWorkflow(3, 2), upd=(upd, w))
    # A node that allows a semi-honest round takes part without its identity.
    lenient = {
        nid: ClientApp(
            client_fn=lambda ctx: Numpy(ctx.node_id, upd, w).to_client(),
            mods=[sf.secaggplus_mod_with_identity(IDS[nid], registered(n), require_malicious=False)],
        )
        for nid in upd
    }
    wf = sf.SecAggPlusWorkflow(3, 2)
    ours, grid = run_malicious(n, wf, upd=(upd, w), nodes=lenient)
    assert grid.errors == [] and not wf.last_state.params.malicious
    want, q = weighted(upd, w, list(upd))
    assert_close(ours, want, bound(upd, q))


def test_malicious_state_is_sealed_in_the_context_between_every_stage():
    n = 5
    upd, w = updates(n)
    wf = sf.SecAggPlusWorkflow(3, 2, roster=registered(n))
    grid, seen = states_seen(malicious_apps(upd, w, registered(n)), wf, 2)
    assert seen["setup"] is None
    assert [seen[s]["phase"] for s in ("share_keys", "collect_masked_vectors", "consistency", "unmask")] == [
        "keys", "shares", "consistency", "unmask",
    ]
    assert IDS[2].secret_bytes() not in seen["consistency"]["sealed"]
    assert _common.RECORD_STATE not in grid.context(2).state.config_records


def test_a_replayed_round_id_is_refused_by_every_node(monkeypatch):
    # A server that gives round 2 the round id of round 1 (which would let it
    # replay the nodes' signed keys of round 1).
    import secagg.flower.workflow as workflow_module

    class FixedRoundIds:
        urandom = staticmethod(lambda k: b"\x42" * k)

    monkeypatch.setattr(workflow_module, "os", FixedRoundIds)
    n = 5
    upd, w = updates(n, seed=18)
    grid = InProcessGrid(malicious_apps(upd, w, registered(n)))
    wf = sf.SecAggPlusWorkflow(3, 2, roster=registered(n))
    strategy = Recording(n)
    ctx = run_workflow(grid, DefaultWorkflow(fit_workflow=wf), strategy, num_rounds=2)
    # Round 1 completed; in round 2 every node refused at setup.
    assert sorted(nid for nid, _ in grid.errors) == list(range(1, n + 1))
    assert all("StaleMessage" in r and "already took part in a round with this round id" in r for _, r in grid.errors)
    assert wf.last_state.round_id == b"\x42" * 32 and wf.last_state.sum is None
    ours = parameters_to_ndarrays(compat.arrayrecord_to_parameters(ctx.state.array_records[MAIN_PARAMS_RECORD], True))
    want, q = weighted(upd, w, list(upd))
    assert_close(ours, want, bound(upd, q))
    # Each node's Context holds the one round id it took part with.
    assert grid.context(1).state.config_records[_common.RECORD_ROUNDS]["used"] == b"\x42" * 32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"roster": {1: b"short"}}, "32-byte"),
        ({"roster": [b"\0" * 32]}, "must map node ids"),
        ({"corrupt_clients": 1}, "pass `roster` too"),
        ({"roster": {}, "corrupt_clients": 2}, "raise `reconstruction_threshold`"),
    ],
)
def test_bad_malicious_arguments_fail_at_construction(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        sf.SecAggPlusWorkflow(5, 3, **kwargs)


def test_bad_directories_fail_at_construction():
    with pytest.raises(ValueError, match="32-byte"):
        sf.secaggplus_mod_with_identity(IDS[1], {1: b"\0" * 31})
    with pytest.raises(TypeError, match="secagg.Identity"):
        sf.secaggplus_mod_with_identity(IDS[1].public_key, registered(3))
