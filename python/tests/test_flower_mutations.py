"""Claims of secagg.flower (python/README.md "Flower drop-in",
spec/security.md section F, the docstrings) that test_flower.py and
test_flower_review.py left open: each test here fails when the code for
its claim is changed in a way those tests let through."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "flwr", reason="Flower is not installed (pip install 'secagg[flower]'; python/run_flower_tests.sh does)"
)

from flwr.app import ConfigRecord  # noqa: E402
from flwr.server.workflow import DefaultWorkflow  # noqa: E402

import secagg  # noqa: E402
import secagg.flower as sf  # noqa: E402
from secagg.flower import _common  # noqa: E402
from secagg.flower.testing import InProcessGrid, _copy, run_workflow, stage_of  # noqa: E402
from test_flower import SHAPES, Numpy, Recording, apps, train, updates  # noqa: E402
from test_flower_review import Counting, final_model, fresh_context, never, setup_msg, stage_msg  # noqa: E402


def node_3_with(mod, seed, grid=None):
    """A round of 7 nodes under SecAggPlusWorkflow(5, 3), node 3's ClientApp
    with ``mod`` outside its secagg mod (after it when ``mod`` is a pair
    ``(None, inner)``); returns the grid (``grid`` is its class) and the
    workflow."""
    from flwr.client import ClientApp

    n = 7
    upd, w = updates(n, seed=seed)
    nodes = apps(upd, w, sf.secaggplus_mod)
    mods = [sf.secaggplus_mod, mod[1]] if isinstance(mod, tuple) else [mod, sf.secaggplus_mod]
    nodes[3] = ClientApp(client_fn=lambda ctx: Numpy(ctx.node_id, upd, w).to_client(), mods=mods)
    g = (grid or InProcessGrid)(nodes)
    wf = sf.SecAggPlusWorkflow(5, 3)
    run_workflow(g, DefaultWorkflow(fit_workflow=wf), Recording(n))
    return g, wf


def test_a_tag_of_this_version_naming_no_stage_is_a_mismatch():
    """parse_stage_tag accepts exactly the five stages of this version: a
    tag of the right prefix naming another stage is a ProtocolMismatch, at
    the mod too, before any state is read or the ClientApp runs."""
    for stage in _common.STAGES:
        assert _common.parse_stage_tag(_common.stage_tag(stage)) == stage
    for bad in ("secagg.flower/1/", "secagg.flower/1/fit", "secagg.flower/1/unmask/", "secagg.flower/1/Setup"):
        with pytest.raises(sf.ProtocolMismatch, match="different versions"):
            _common.parse_stage_tag(bad)
        ctx = fresh_context()
        msg = train({_common.RECORD_CONFIGS: ConfigRecord({"stage": bad, "round_id": bytes(32), "msg": b"\x00"})})
        with pytest.raises(sf.ProtocolMismatch, match="different versions"):
            sf.secaggplus_mod(msg, ctx, never)
        assert dict(ctx.state.config_records) == {}


def test_an_index_to_node_mapping_is_whole_8_byte_ids():
    """decode_nodes refuses bytes that are not a whole number of 8-byte
    big-endian ids (its docstring); encode_nodes writes them big-endian."""
    assert _common.encode_nodes([1, 2]) == bytes(7) + b"\x01" + bytes(7) + b"\x02"
    assert _common.decode_nodes(b"") == []
    for size in (1, 7, 9, 15):
        with pytest.raises(ValueError, match="not 8 bytes per node"):
            _common.decode_nodes(bytes(size))


def test_a_context_key_of_another_length_is_replaced():
    """Without SECAGG_FLOWER_STATE_KEY the sealing key is a random 32-byte
    key kept in the Context; a key record that is not 32 bytes is replaced
    by a fresh one, never used."""
    ctx = fresh_context()
    ctx.state.config_records[_common.RECORD_KEY] = ConfigRecord({"key": bytes(31)})
    sf.secaggplus_mod(setup_msg(), ctx, never)
    key = ctx.state.config_records[_common.RECORD_KEY]["key"]
    assert isinstance(key, bytes) and len(key) == 32 and key != bytes(32)


def test_a_node_dropped_at_a_stage_gets_no_later_message():
    """Only the clients the server still addresses get the next stage's
    message: a node whose share-keys reply never came gets nothing after
    share keys, one dropped at setup nothing after setup, and the others
    run every stage."""
    n = 7
    upd, w = updates(n, seed=31)
    drops = {2: "share_keys", 5: "setup"}

    def fault(msg):
        return "drop" if drops.get(msg.metadata.dst_node_id) == stage_of(msg) else None

    grid = Counting(apps(upd, w, sf.secaggplus_mod), fault=fault)
    wf = sf.SecAggPlusWorkflow(5, 3)
    run_workflow(grid, DefaultWorkflow(fit_workflow=wf), Recording(n))
    stages = ["setup", "share_keys", "collect_masked_vectors", "unmask"]
    assert grid.got == {1: stages, 2: ["setup"], 3: stages, 4: stages, 6: stages, 7: stages}
    assert wf.last_state.survivors == [1, 3, 4, 6, 7]


def test_every_quantised_element_lies_in_the_range_whatever_the_draw(monkeypatch):
    """quantize's docstring: every element lies in [0, R]. With c = 0.3 and
    R = 100 the top of the map computes as 100.00000000000001 in floating
    point; a draw just below 1 keeps its ceiling, 101, which the final clip
    must bring back to R (one above R is what the wrap bound excludes)."""
    top = (2**53 - 1) / 2**53
    monkeypatch.setattr(_common, "uniform", lambda n: np.full(n, top))
    v = _common.quantize([np.array([1e9, -1e9, 0.3, -0.3])], 10, 0.3, 100, 10.0)
    assert v.tolist() == [100, 100, 0, 100, 0]


def test_a_single_sampled_node_halts_the_round_before_any_message():
    """Flower's contract: fewer than two sampled clients halt the round at
    setup (logged, no exception), no node gets a message and the model is
    unchanged."""
    upd, w = updates(1, seed=32)
    grid = Counting(apps(upd, w, sf.secaggplus_mod))
    wf = sf.SecAggPlusWorkflow(3, 2)
    ctx = run_workflow(grid, DefaultWorkflow(fit_workflow=wf), Recording(1))
    assert grid.got == {}
    assert wf.last_state.params is None and wf.last_state.sum is None
    assert all(np.all(a == 0) for a in final_model(ctx))


def test_a_state_key_of_another_length_is_refused_naming_the_variable(monkeypatch):
    """SECAGG_FLOWER_STATE_KEY must be 64 hex digits: 31 or 33 bytes are
    refused with a ValueError that names the variable, before any state is
    sealed."""
    for bad in ("ab" * 31, "ab" * 33):
        monkeypatch.setenv(_common.ENV_STATE_KEY, bad)
        ctx = fresh_context()
        with pytest.raises(ValueError, match="SECAGG_FLOWER_STATE_KEY must be 64 hex digits"):
            sf.secaggplus_mod(setup_msg(), ctx, never)
        assert _common.RECORD_STATE not in ctx.state.config_records


def test_a_stage_of_another_flower_round_is_refused_even_with_the_same_round_id():
    """The node's state is bound to the run, the Flower round (the
    message's group id) and the round id: a stage message whose group id is
    another round's is refused although it carries the state's round id,
    and the state is unchanged."""
    ctx = fresh_context()
    sf.secaggplus_mod(setup_msg(), ctx, never)
    before = dict(ctx.state.config_records[_common.RECORD_STATE])
    msg = stage_msg("share_keys")
    msg.metadata.__dict__["_group_id"] = "2"
    with pytest.raises(sf.StaleMessage, match="round '2' refused: the node's state belongs to run 1, round '1'"):
        sf.secaggplus_mod(msg, ctx, never)
    assert dict(ctx.state.config_records[_common.RECORD_STATE]) == before


def test_an_error_reply_of_the_clientapp_is_passed_on_as_it_is():
    """When the ClientApp under the mod answers the fit with an error reply,
    the mod returns that reply unchanged (no exception in the node, nothing
    masked): the server counts the node as dropped with the ClientApp's own
    error, and the others sum."""
    from flwr.app import Error, Message

    def failing(msg, ctxt, call_next):
        return Message(Error(code=0, reason="the fit failed on node 3"), reply_to=msg)

    grid, wf = node_3_with((None, failing), 33, Counting)
    assert grid.errors == []
    assert grid.replies["collect_masked_vectors"][3].error.reason == "the fit failed on node 3"
    assert [str(f) for f in wf.last_state.failures if "node 3" in str(f)]
    assert wf.last_state.survivors == [1, 2, 4, 5, 6, 7]


def bad_update_round(bad):
    """A round of 5 in which node 3's fit returns ``bad``: node 3 alone
    replies with an error and the others sum; returns its reason."""
    n = 5
    upd, w = updates(n, seed=34)
    upd[3] = bad
    grid = InProcessGrid(apps(upd, w, sf.secaggplus_mod))
    wf = sf.SecAggPlusWorkflow(3, 2)
    run_workflow(grid, DefaultWorkflow(fit_workflow=wf), Recording(n))
    assert [nid for nid, _ in grid.errors] == [3]
    assert wf.last_state.survivors == [1, 2, 4, 5]
    return grid.errors[0][1]


def test_an_update_of_another_size_is_refused_on_the_node_saying_so():
    """A fit result with more elements than the global model is refused on
    the node, naming both sizes, before the crate sees it; the others sum."""
    reason = bad_update_round([np.zeros((3, 2)), np.zeros(6)])
    assert "the update encodes to 13 elements, the round expects 12 (the global model's)" in reason


def test_dp_releases_the_global_model_plus_the_mean_update_from_a_nonzero_model():
    """Distributed DP: each client sends its update (trained minus global
    model, array by array) and the server adds the released mean to the
    global model. From a global model of 3s the new model is the mean of the
    trained models (up to the noise and rounding, below 0.25 at this
    epsilon), not the global model plus that mean. A node whose result has
    the model's size but other shapes is refused on the node as such (not
    broadcast against the model) and the others sum. With
    num_sampled_clients above the n sampled the noise is calibrated for n
    honest clients."""
    from flwr.common import ndarrays_to_parameters

    n = 5
    upd, w = updates(n, seed=35)
    upd = {nid: [3.0 + a / 4 for a in arrays] for nid, arrays in upd.items()}
    upd[3] = [np.zeros((2, 3)), np.zeros(5)]
    grid = InProcessGrid(apps(upd, w, sf.secaggplus_mod))
    strategy = Recording(n)
    strategy.initial_parameters = ndarrays_to_parameters([np.full(s, 3.0) for s in SHAPES])
    wf = sf.SecAggPlusWorkflow(3, 2, noise_multiplier=0.01, clipping_norm=5.0, num_sampled_clients=20)
    ctx = run_workflow(grid, DefaultWorkflow(fit_workflow=wf), strategy)
    # num_sampled_clients above the n sampled: the noise is calibrated for n.
    assert wf.last_state.privacy_report.min_honest == n
    assert [nid for nid, _ in grid.errors] == [3]
    assert "the update's shapes differ from the global model's" in grid.errors[0][1]
    nodes = [1, 2, 4, 5]
    assert wf.last_state.survivors == nodes
    want = [sum(upd[i][k] for i in nodes) / len(nodes) for k in range(len(SHAPES))]
    assert max(np.abs(a - b).max() for a, b in zip(final_model(ctx), want)) < 0.25


def test_a_small_float_threshold_is_at_least_two():
    """A float reconstruction_threshold is the proportion of num_shares, at
    least 2: 0.1 of 5 holders is t = 2, and the round runs."""
    n = 7
    upd, w = updates(n, seed=36)
    grid = InProcessGrid(apps(upd, w, sf.secaggplus_mod))
    wf = sf.SecAggPlusWorkflow(5, 0.1)
    run_workflow(grid, DefaultWorkflow(fit_workflow=wf), Recording(n))
    assert (wf.last_state.params.degree, wf.last_state.params.threshold) == (4, 2)
    assert wf.last_state.survivors == list(range(1, n + 1))


def test_a_reply_from_a_node_not_asked_is_ignored():
    """Each stage takes replies only from the nodes it sent to: a reply that
    claims to come from a node outside the round (here a copy of node 1's
    share-keys reply from node 99) is dropped, and the round sums the five."""

    class Forging(InProcessGrid):
        def send_and_receive(self, messages, *, timeout=None):
            replies = list(super().send_and_receive(messages, timeout=timeout))
            if replies and stage_of(replies[0]) == "share_keys":
                forged = _copy(replies[0])
                forged.metadata.__dict__["_src_node_id"] = 99
                replies.append(forged)
            return replies

    n = 5
    upd, w = updates(n, seed=37)
    grid = Forging(apps(upd, w, sf.secaggplus_mod))
    wf = sf.SecAggPlusWorkflow(3, 2)
    run_workflow(grid, DefaultWorkflow(fit_workflow=wf), Recording(n))
    assert wf.last_state.survivors == [1, 2, 3, 4, 5] and wf.last_state.failures == []


def test_a_reply_tagged_with_another_stage_counts_as_dropped():
    """A reply must carry the stage tag of the message it answers: node 3's
    share-keys reply re-tagged as an unmask reply is not handed to the
    server; node 3 counts as dropped before masking and the others sum."""

    def retag(msg, ctxt, call_next):
        reply = call_next(msg, ctxt)
        rec = reply.content.config_records.get(_common.RECORD_CONFIGS)
        if rec is not None and rec["stage"] == _common.stage_tag(_common.SHARE_KEYS):
            rec["stage"] = _common.stage_tag(_common.UNMASK)
        return reply

    _, wf = node_3_with(retag, 38)
    assert wf.last_state.survivors == [1, 2, 4, 5, 6, 7]
    assert any("node 3: reply without the 'secagg.flower/1/share_keys' record" in str(f)
               for f in wf.last_state.failures)


def test_an_error_of_the_server_that_is_not_a_client_fault_is_raised(monkeypatch):
    """A result of Server.receive_all that is not a ClientFault is a bug of
    the workflow, not a node's fault: it is raised, not counted as a
    dropped node."""
    real = secagg.Server.receive_all

    def broken(self, messages):
        results = real(self, messages)
        return [secagg.InternalError(secagg.CODES["PANIC"])] + results[1:]

    monkeypatch.setattr(secagg.Server, "receive_all", broken)
    n = 5
    upd, w = updates(n, seed=39)
    with pytest.raises(secagg.InternalError):
        run_workflow(InProcessGrid(apps(upd, w, sf.secaggplus_mod)),
                     DefaultWorkflow(fit_workflow=sf.SecAggPlusWorkflow(3, 2)), Recording(n))


def test_a_masked_vector_that_is_not_uint8_is_refused():
    """The masked vector travels as a 1-D uint8 array: node 3's sent as int8
    (the same bytes) is refused before the server reads it, counted as a
    failure, and the round goes on without node 3's input."""
    from flwr.app import Array

    def as_int8(msg, ctxt, call_next):
        reply = call_next(msg, ctxt)
        rec = reply.content.array_records.get(_common.RECORD_MASKED) if reply.has_content() else None
        if rec is not None:
            rec["masked"] = Array(rec["masked"].numpy().view(np.int8))
        return reply

    _, wf = node_3_with(as_int8, 40)
    assert wf.last_state.survivors == [1, 2, 4, 5, 6, 7]
    assert [str(f) for f in wf.last_state.failures] == ["node 3: masked vector is not bytes"]


def test_a_modulus_above_2_to_the_64_is_refused_at_construction():
    """modulus_range is a power of two up to 2**64: 2**64 is taken, 2**65
    refused when the workflow is built, not at a round's setup."""
    assert sf.SecAggPlusWorkflow(5, 3, modulus_range=1 << 64).modulus_range == 1 << 64
    for bad in (1 << 65, 1 << 128, 3 << 62):
        with pytest.raises(ValueError, match="a power of two, at most 2\\*\\*64"):
            sf.SecAggPlusWorkflow(5, 3, modulus_range=bad)
