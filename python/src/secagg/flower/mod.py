"""Client side: :func:`secaggplus_mod` and :func:`secagg_mod`, drop-in
replacements for Flower's mods of the same names, and
:func:`secaggplus_mod_with_identity`, the mod of a node in the
malicious-server model."""

from __future__ import annotations

import collections.abc
import hmac
import os
from typing import Callable, List, Mapping, Optional, Tuple

import numpy as np

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.app.message_type import MessageType
from flwr.clientapp.typing import ClientAppCallable
from flwr.common import parameters_to_ndarrays
from flwr.compat.common import recorddict_compat as compat

from .. import Client, Identity, Params, Roster
from . import _common as c


def _state_key(ctxt: Context) -> bytes:
    """The node's state-sealing key: ``SECAGG_FLOWER_STATE_KEY`` (64 hex
    digits) when set, else a random key kept in the node's Context."""
    env = os.environ.get(c.ENV_STATE_KEY)
    if env:
        key = bytes.fromhex(env)
        if len(key) != 32:
            raise ValueError(f"{c.ENV_STATE_KEY} must be 64 hex digits")
        return key
    rec = ctxt.state.config_records.get(c.RECORD_KEY)
    if rec is None or not isinstance(rec.get("key"), bytes) or len(rec["key"]) != 32:
        rec = ConfigRecord({"key": os.urandom(32)})
        ctxt.state.config_records[c.RECORD_KEY] = rec
    return rec["key"]  # type: ignore[return-value]


def _save(ctxt: Context, key: bytes, client: Client, bound: ConfigRecord) -> None:
    rec = ConfigRecord(dict(bound))
    rec["sealed"] = client.export(key)
    rec["phase"] = client.phase
    ctxt.state.config_records[c.RECORD_STATE] = rec


def _load(msg: Message, ctxt: Context, cfg: ConfigRecord, stage: str) -> Tuple[Client, ConfigRecord]:
    """Opens the node's state for ``stage``'s message, refusing a message of
    another run or round and an out-of-order stage."""
    rec = ctxt.state.config_records.get(c.RECORD_STATE)
    if rec is None:
        raise c.StaleMessage(
            f"stage {stage!r}: this node holds no secure-aggregation state "
            "(no setup in this round, or the round already ended)"
        )
    rid = cfg.get("round_id")
    if (
        rec.get("run_id") != msg.metadata.run_id
        or rec.get("group_id") != msg.metadata.group_id
        or not isinstance(rid, bytes)
        or rid != rec.get("round_id")
    ):
        raise c.StaleMessage(
            f"stage {stage!r} of run {msg.metadata.run_id}, round {msg.metadata.group_id!r} "
            f"refused: the node's state belongs to run {rec.get('run_id')}, "
            f"round {rec.get('group_id')!r} (a stale or replayed message)"
        )
    want = c.PHASE_FOR_STAGE[stage]
    if rec.get("phase") != want:
        raise c.StaleMessage(
            f"stage {stage!r} refused: the node's state awaits phase "
            f"{rec.get('phase')!r}, this stage needs {want!r} (out of order or replayed)"
        )
    client = Client.from_state(rec["sealed"], _state_key(ctxt), rid, want)  # type: ignore[arg-type]
    return client, rec


def _bytes(cfg: ConfigRecord, name: str) -> bytes:
    v = cfg.get(name)
    if not isinstance(v, bytes):
        raise TypeError(f"the {c.RECORD_CONFIGS!r} record lacks bytes under {name!r}")
    return v


def _claim_round_id(ctxt: Context, rid: bytes) -> None:
    """Records ``rid`` as used by this node in this run; refuses a round id
    it already took part with (spec/protocol.md section 2: a server that
    replays a round id could replay the node's signed keys of that round)."""
    if len(rid) != 32:
        raise ValueError("the setup record's round id must be 32 bytes")
    rec = ctxt.state.config_records.get(c.RECORD_ROUNDS)
    used = rec.get("used") if rec is not None else b""
    if not isinstance(used, bytes) or len(used) % 32:
        raise ValueError(f"the node's {c.RECORD_ROUNDS!r} record is malformed")
    if any(used[at : at + 32] == rid for at in range(0, len(used), 32)):
        raise c.StaleMessage(
            "setup refused: this node already took part in a round with this round id "
            "(a replayed round)"
        )
    ctxt.state.config_records[c.RECORD_ROUNDS] = ConfigRecord({"used": used + rid})


def _roster(cfg: ConfigRecord, params: Params, index: int, identity: Identity,
            directory: Mapping[int, bytes]) -> Roster:
    """The round's roster from the server's index-to-node mapping and this
    node's own directory of registered keys (never keys from the server)."""
    raw = _bytes(cfg, "nodes")
    if len(raw) != 8 * params.clients:
        raise c.RosterMismatch(
            f"the server's index-to-node mapping has {len(raw)} bytes, not 8 for each of "
            f"its parameters' {params.clients} clients"
        )
    nodes = c.decode_nodes(raw)
    if len(set(nodes)) != len(nodes):
        raise c.RosterMismatch("the server's index-to-node mapping names a node twice")
    if not 1 <= index <= len(nodes):
        raise c.RosterMismatch(f"index {index} is outside the round's 1..{len(nodes)}")
    keys: List[bytes] = []
    for i, nid in enumerate(nodes, start=1):
        key = directory.get(nid)
        if key is None:
            raise c.RosterMismatch(
                f"the server puts node {nid} at index {i}, and node {nid} is not in "
                "this node's directory of registered keys: refused"
            )
        keys.append(c.verifying_key(key, f"the directory's key of node {nid}"))
    if len(set(keys)) != len(keys):
        raise c.RosterMismatch("this node's directory gives two of the round's nodes one key")
    if not hmac.compare_digest(keys[index - 1], identity.public_key):
        raise c.RosterMismatch(
            f"the server puts node {nodes[index - 1]} at this node's index {index}, and "
            "the key registered for it is not this node's identity: refused"
        )
    return Roster(keys)


def _setup(msg: Message, ctxt: Context, cfg: ConfigRecord, identity: Optional[Identity],
           directory: Optional[Mapping[int, bytes]], require_malicious: bool) -> bytes:
    """Answers the setup stage: the new client's AdvertiseKeys."""
    params = Params.from_bytes(_bytes(cfg, "params"))
    rid = _bytes(cfg, "round_id")
    index = cfg.get("index")
    if not isinstance(index, int):
        raise TypeError("the setup record lacks the node's index")
    _claim_round_id(ctxt, rid)
    if params.malicious:
        if identity is None or directory is None:
            raise c.ModelMismatch(
                "the server runs the malicious-server model and this node has no "
                "identity: use secagg.flower.secaggplus_mod_with_identity(identity, "
                "directory) on the node, or drop `roster=` from the server's workflow"
            )
        client = Client(params, rid, index, identity, _roster(cfg, params, index, identity, directory))
    elif require_malicious:
        raise c.ModelMismatch(
            "the server runs the semi-honest model and this node requires the "
            "malicious-server model: pass `roster=` to the server's workflow, or "
            "require_malicious=False on the node"
        )
    else:
        client = Client(params, rid, index)
    out = client.message
    bound = ConfigRecord(
        {
            "run_id": msg.metadata.run_id,
            "group_id": msg.metadata.group_id,
            "round_id": rid,
            "clipping_range": float(cfg["clipping_range"]),  # type: ignore[arg-type]
            "target_range": int(cfg["target_range"]),  # type: ignore[arg-type]
            "max_weight": float(cfg["max_weight"]),  # type: ignore[arg-type]
            "reveal_fit_metadata": bool(cfg.get("reveal_fit_metadata", True)),
            "dim": params.dim,
        }
    )
    if params.dp is not None:
        bound["params"] = params.to_bytes()
        bound["dp_seed"] = _bytes(cfg, "dp_seed")
    _save(ctxt, _state_key(ctxt), client, bound)
    return out


def _handle(
    msg: Message, ctxt: Context, call_next: ClientAppCallable,
    identity: Optional[Identity] = None, directory: Optional[Mapping[int, bytes]] = None,
    require_malicious: bool = False,
) -> Message:
    if msg.metadata.message_type != MessageType.TRAIN:
        return call_next(msg, ctxt)
    records = msg.content.config_records
    if c.RECORD_CONFIGS not in records:
        if c.FLOWER_RECORD_CONFIGS in records:
            raise c.ProtocolMismatch(
                "this node runs secagg.flower.secaggplus_mod but the server runs "
                "Flower's own SecAggPlusWorkflow (record 'secaggplus_configs'): "
                "use secagg.flower.SecAggPlusWorkflow on the server, or flwr's mod here"
            )
        raise c.ProtocolMismatch(
            "a train message without the 'secagg.flower' record reached "
            "secagg.flower.secaggplus_mod: the server does not run secagg.flower's "
            "workflow, and the update is not sent in the clear"
        )
    cfg = records[c.RECORD_CONFIGS]
    stage = c.parse_stage_tag(cfg.get("stage"))
    reply = RecordDict()
    if stage == c.SETUP:
        out = _setup(msg, ctxt, cfg, identity, directory, require_malicious)
    elif stage == c.SHARE_KEYS:
        client, bound = _load(msg, ctxt, cfg, stage)
        out = client.receive_keys(_bytes(cfg, "msg"))
        _save(ctxt, _state_key(ctxt), client, bound)
    elif stage == c.COLLECT_MASKED_VECTORS:
        client, bound = _load(msg, ctxt, cfg, stage)
        delivery = _bytes(cfg, "msg")
        del records[c.RECORD_CONFIGS]
        dp = Params.from_bytes(bound["params"]).dp if "params" in bound else None  # type: ignore[arg-type]
        if dp is not None:
            start = compat.recorddict_to_fitins(msg.content, keep_input=True).parameters
            global_model = parameters_to_ndarrays(start)
        trained = call_next(msg, ctxt)
        if trained.has_error():
            return trained
        reply = trained.content
        fitres = compat.recorddict_to_fitres(reply, keep_input=True)
        arrays = parameters_to_ndarrays(fitres.parameters)
        if dp is None:
            vector = c.quantize(
                arrays,
                fitres.num_examples,
                float(bound["clipping_range"]),  # type: ignore[arg-type]
                int(bound["target_range"]),  # type: ignore[arg-type]
                float(bound["max_weight"]),  # type: ignore[arg-type]
            )
        else:
            if [a.shape for a in arrays] != [g.shape for g in global_model]:
                raise ValueError("the update's shapes differ from the global model's")
            update = np.concatenate(
                [(a.astype(np.float64) - g).ravel() for a, g in zip(arrays, global_model)]
            )
            vector = dp.encode(update, _bytes(bound, "dp_seed"))
        if vector.size != bound["dim"]:
            raise ValueError(
                f"the update encodes to {vector.size} elements, the round expects "
                f"{bound['dim']} (the global model's)"
            )
        out = client.receive_shares(delivery, vector)
        for arr_record in reply.array_records.values():
            arr_record.clear()
        reply.array_records[c.RECORD_MASKED] = ArrayRecord(
            {"masked": Array(np.frombuffer(out, dtype=np.uint8).copy())}
        )
        out = b""
        if not bound["reveal_fit_metadata"]:
            reply.metric_records["fitres.num_examples"] = MetricRecord({"num_examples": 1})
            reply.config_records["fitres.metrics"] = ConfigRecord({})
        _save(ctxt, _state_key(ctxt), client, bound)
    elif stage == c.CONSISTENCY:
        client, bound = _load(msg, ctxt, cfg, stage)
        out = client.receive_consistency(_bytes(cfg, "msg"))
        _save(ctxt, _state_key(ctxt), client, bound)
    else:
        client, bound = _load(msg, ctxt, cfg, stage)
        out = client.receive_unmask(_bytes(cfg, "msg"))
        del ctxt.state.config_records[c.RECORD_STATE]
    reply.config_records[c.RECORD_CONFIGS] = ConfigRecord({"stage": c.stage_tag(stage), "msg": out})
    return Message(reply, reply_to=msg)


def secaggplus_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """Answers the stages of :class:`secagg.flower.SecAggPlusWorkflow`
    (or :class:`~secagg.flower.SecAggWorkflow`) and passes every other
    message (evaluate, query) to ``call_next`` untouched.

    Put it in the ClientApp's ``mods=[...]`` in place of Flower's
    ``secaggplus_mod``. The node's state lives in its Context, sealed and
    bound to the run and round (see ``SECAGG_FLOWER_STATE_KEY``), and is
    deleted after the unmask reply. A message from Flower's own workflow, a
    stale or replayed stage, and a wrapping weight raise (Flower turns the
    exception into an error reply, and the server counts the node as dropped).
    A round of the malicious-server model (a workflow with ``roster=``) is
    refused at setup with :class:`~secagg.flower.ModelMismatch`: such a
    node needs :func:`secaggplus_mod_with_identity`.
    """
    return _handle(msg, ctxt, call_next)


def secagg_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """The same as :func:`secaggplus_mod` (the server's choice of graph
    decides between SecAgg and SecAgg+); the drop-in for Flower's
    ``secagg_mod``."""
    return secaggplus_mod(msg, ctxt, call_next)


Mod = Callable[[Message, Context, ClientAppCallable], Message]


def secaggplus_mod_with_identity(
    identity: Identity, directory: Mapping[int, bytes], *, require_malicious: bool = True
) -> Mod:
    """The mod of a node in the malicious-server model: :func:`secaggplus_mod`
    that takes part with its long-term Ed25519 ``identity`` (a
    :class:`secagg.Identity`) and checks the server's roster against
    ``directory``, every registered node's 32-byte verifying key by node id
    (a dict, or any Mapping), which the deployer gives the node out of band:
    the keys never come from the server, so the server cannot substitute
    one. Pair it with a workflow given ``roster=`` (the same keys).

    At setup the node receives its index and the server's index-to-node
    mapping and builds the roster from ``directory`` in that order. It
    refuses with :class:`~secagg.flower.RosterMismatch` when a node of the
    mapping is not in ``directory`` (or is named twice), or when the key
    registered for the node at its own index is not ``identity``'s; a
    semi-honest round is refused with :class:`~secagg.flower.ModelMismatch`
    unless ``require_malicious=False``, which lets the node take part in
    it without its identity (the other way round, a node with the plain
    :func:`secaggplus_mod` refuses a malicious round). Flower turns each
    refusal into an error reply, and the server counts the node as dropped.

    The sealed state in the node's Context then holds the identity's secret
    key as well: set ``SECAGG_FLOWER_STATE_KEY`` on such a node (otherwise
    the sealing key sits in the same Context).

    >>> import secagg
    >>> me = secagg.Identity.generate()
    >>> mod = secaggplus_mod_with_identity(me, {7: me.public_key})
    >>> callable(mod)
    True
    """
    if not isinstance(identity, Identity):
        raise TypeError(f"`identity` must be a secagg.Identity, not {type(identity).__name__}")
    if not isinstance(directory, collections.abc.Mapping):
        raise TypeError(f"`directory` must map node ids to keys, not {type(directory).__name__}")
    for nid, key in directory.items():
        c.verifying_key(key, f"the directory's key of node {nid}")

    def mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
        return _handle(msg, ctxt, call_next, identity, directory, require_malicious)

    return mod


def secagg_mod_with_identity(
    identity: Identity, directory: Mapping[int, bytes], *, require_malicious: bool = True
) -> Mod:
    """The same as :func:`secaggplus_mod_with_identity` (the server's choice
    of graph decides between SecAgg and SecAgg+)."""
    return secaggplus_mod_with_identity(identity, directory, require_malicious=require_malicious)


__all__ = ["secaggplus_mod", "secagg_mod", "secaggplus_mod_with_identity", "secagg_mod_with_identity"]
