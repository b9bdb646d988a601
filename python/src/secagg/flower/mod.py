"""Client side: :func:`secaggplus_mod` and :func:`secagg_mod`, drop-in
replacements for Flower's mods of the same names."""

from __future__ import annotations

import os
from typing import Tuple

import numpy as np

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.app.message_type import MessageType
from flwr.clientapp.typing import ClientAppCallable
from flwr.common import parameters_to_ndarrays
from flwr.compat.common import recorddict_compat as compat

from .. import Client, Params
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


def secaggplus_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """Answers the four stages of :class:`secagg.flower.SecAggPlusWorkflow`
    (or :class:`~secagg.flower.SecAggWorkflow`) and passes every other
    message (evaluate, query) to ``call_next`` untouched.

    Put it in the ClientApp's ``mods=[...]`` in place of Flower's
    ``secaggplus_mod``. The node's state lives in its Context, sealed and
    bound to the run and round (see ``SECAGG_FLOWER_STATE_KEY``), and is
    deleted after the unmask reply. A message from Flower's own workflow, a
    stale or replayed stage, and a wrapping weight raise (Flower turns the
    exception into an error reply, and the server counts the node as dropped).
    """
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
        params = Params.from_bytes(_bytes(cfg, "params"))
        rid = _bytes(cfg, "round_id")
        index = cfg.get("index")
        if not isinstance(index, int):
            raise TypeError("the setup record lacks the node's index")
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
    else:
        client, bound = _load(msg, ctxt, cfg, stage)
        out = client.receive_unmask(_bytes(cfg, "msg"))
        del ctxt.state.config_records[c.RECORD_STATE]
    reply.config_records[c.RECORD_CONFIGS] = ConfigRecord({"stage": c.stage_tag(stage), "msg": out})
    return Message(reply, reply_to=msg)


def secagg_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """The same as :func:`secaggplus_mod` (the server's choice of graph
    decides between SecAgg and SecAgg+); the drop-in for Flower's
    ``secagg_mod``."""
    return secaggplus_mod(msg, ctxt, call_next)


__all__ = ["secaggplus_mod", "secagg_mod"]
