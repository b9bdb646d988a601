"""Server side: :class:`SecAggPlusWorkflow` and :class:`SecAggWorkflow`,
drop-in replacements for Flower's classes of the same names."""

from __future__ import annotations

import collections.abc
import os
from dataclasses import dataclass, field
from logging import DEBUG, ERROR, INFO, WARNING
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union, cast

import numpy as np

import flwr.compat.common.recorddict_compat as compat
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.common import FitRes, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.logger import log
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.serverapp.grid import Grid

from .. import ClientFault, DpConfig, Params, PrivacyReport, Roster, SecaggError, Server
from . import _common as c

Number = Union[int, float]
#: The registered verifying keys of the malicious-server model: node id to
#: 32-byte Ed25519 key, as a Mapping or a function (``None`` for a node
#: without one).
RosterSource = Union[Mapping[int, bytes], Callable[[int], Optional[bytes]]]


@dataclass
class WorkflowState:  # pylint: disable=too-many-instance-attributes
    """What the stages of one round share (one object per round)."""

    nid_to_proxies: Dict[int, ClientProxy] = field(default_factory=dict)
    nid_to_fitins: Dict[int, RecordDict] = field(default_factory=dict)
    #: Node id to the crate's client index (1..n, by ascending node id;
    #: in the malicious model, of the sampled nodes with a registered key).
    index_of: Dict[int, int] = field(default_factory=dict)
    #: Client index to node id.
    node_of: Dict[int, int] = field(default_factory=dict)
    active_node_ids: set = field(default_factory=set)
    params: Optional[Params] = None
    server: Optional[Server] = None
    round_id: bytes = b""
    shapes: List[Tuple[int, ...]] = field(default_factory=list)
    #: The messages to send in the next stage, by client index.
    outgoing: Dict[int, bytes] = field(default_factory=dict)
    clipping_range: float = 0.0
    quantization_range: int = 0
    max_weight: float = 0.0
    legacy_results: Dict[int, Tuple[ClientProxy, FitRes]] = field(default_factory=dict)
    failures: List[BaseException] = field(default_factory=list)
    #: After the unmask stage: the integer sum and the indices in it.
    sum: Optional[np.ndarray] = None
    survivors: List[int] = field(default_factory=list)
    #: Distributed DP: the configuration, the round's public rotation seed,
    #: the global model the clients' updates are taken against, and the
    #: privacy report of the released mean.
    dp: Optional[DpConfig] = None
    dp_seed: bytes = b""
    global_arrays: List[np.ndarray] = field(default_factory=list)
    privacy_report: Optional[PrivacyReport] = None


def _check_num_shares(num_shares: object) -> Union[int, float, str]:
    if num_shares == "auto":
        return "auto"
    if isinstance(num_shares, bool) or not isinstance(num_shares, (int, float)):
        raise TypeError("`num_shares` must be an int, a float in (0, 1], or 'auto'")
    if isinstance(num_shares, float):
        if not 0.0 < num_shares <= 1.0:
            raise ValueError(
                f"`num_shares` = {num_shares}: a float is the proportion of the sampled "
                "clients that hold a client's shares, in (0, 1]; pass an odd int for a count"
            )
        return num_shares
    if num_shares == 1:
        return 1.0
    if num_shares < 3 or num_shares % 2 == 0:
        raise ValueError(
            f"`num_shares` = {num_shares}: each client keeps one share and sends one to "
            "each of its k neighbours, and k is even, so num_shares = k + 1 must be an "
            "odd int >= 3 (Flower adds one at run time; here it is refused up front)"
        )
    return num_shares


def _check_roster(roster: object) -> Optional[RosterSource]:
    """``roster`` validated: ``None``, a callable, or a Mapping whose every
    value is a 32-byte key."""
    if roster is None or callable(roster):
        return roster  # type: ignore[return-value]
    if not isinstance(roster, collections.abc.Mapping):
        raise TypeError("`roster` must map node ids to 32-byte verifying keys (a Mapping or a function)")
    for nid, key in roster.items():
        c.verifying_key(key, f"`roster`'s key of node {nid}")
    return roster


class SecAggPlusWorkflow:
    """Flower's SecAgg+ fit workflow on this package's protocol.

    Same constructor and stage methods as ``flwr.server.workflow.
    SecAggPlusWorkflow``; pass it as ``DefaultWorkflow(fit_workflow=...)`` and
    pair it with :func:`secagg.flower.secaggplus_mod` on the clients.

    ``num_shares`` (k + 1: a client and its k neighbours hold its shares) is an
    odd int >= 3, a float in (0, 1] (that proportion of the sampled clients,
    rounded up to odd), 1 for every client (SecAgg), or ``"auto"``: k and t
    derived from ``corrupt_fraction`` and ``dropout_fraction`` as
    :meth:`secagg.Params.secagg_plus` does (then ``reconstruction_threshold``
    must be ``"auto"`` too). ``reconstruction_threshold`` is t, an int, or a
    float proportion of num_shares. Even and fractional counts are refused
    here, not in a failed round.

    Quantisation is Flower's affine map (``clipping_range``,
    ``quantization_range`` R) with the weight ``num_examples / max_weight``
    quantised into the first element of the masked vector; sums are taken mod
    ``modulus_range`` (a power of two up to 2**64), and a round whose n * R
    could reach it is refused at setup. ``reveal_fit_metadata=False`` makes
    the clients replace ``num_examples`` by 1 and drop their fit metrics.
    ``timeout`` is each stage's wait, as in Flower. ``prg`` is the mask PRG
    the server puts in the round's parameters: ``"aes"`` (AES-128-CTR, the
    default: several times faster where the CPU has AES instructions, and
    still correct, only slower, on a client without them) or ``"chacha20"``.

    Distributed differential privacy (spec/dp.md) takes the arguments of
    Flower's client-side DP wrapper: with ``noise_multiplier`` z,
    ``clipping_norm`` C and ``num_sampled_clients``, each client sends its
    update (trained model minus global model) clipped to L2 norm C, rotated,
    quantised and with its share of discrete Gaussian noise; the noise is
    calibrated for the epsilon that Flower's central noise ``z C`` gives at
    ``dp_delta`` by the classic Gaussian bound, ``epsilon = sqrt(2
    ln(1.25 / delta)) / z``, with ``num_sampled_clients`` honest survivors
    assumed. The server releases the plain mean of the updates (not
    weighted: weights would leak through the noise scale), adds it to the
    global model and logs the privacy report of every round (also in
    ``last_state.privacy_report``). The quantisation arguments do not apply
    then; ``modulus_range`` still sets the modulus.

    The malicious-server model (spec/protocol.md section 4.5) is opt-in:
    ``roster`` gives every registered node's 32-byte Ed25519 verifying key
    by node id, as a Mapping or as a function of the node id that returns
    the key (``None`` for a node without one). The round's parameters then
    select the malicious model; the server is built with the roster in the
    order of the client indices (the sampled nodes with a key, by ascending
    node id) and checks every signature against it; and a
    consistency stage (:meth:`consistency_stage`, the survivors sign the
    survivor set) runs between the masked vectors and the unmask stage. A
    sampled node without a registered key is left out of the round (logged
    and counted as a failure). ``corrupt_clients`` is c, the corrupt clients
    tolerated among any client's k neighbours: by default the largest that
    k and t allow (``min(t - 1, 2t - k - 1)``; ``2t - n - 1`` instead of
    ``2t - k - 1`` on the complete graph); ``num_shares="auto"`` derives k,
    t and c from ``corrupt_fraction`` and ``dropout_fraction`` with the
    crate's malicious derivation. A fixed ``num_shares`` needs ``2t > k``
    (``2t > n`` on the complete graph) and ``t <= k`` (the survivor set is
    certified by t of a client's k neighbours). Each node takes part with
    :func:`secagg.flower.secaggplus_mod_with_identity`, its own identity and
    a directory of the same keys given to it out of band; the setup message
    tells it the index-to-node mapping (every sampled node id), which it
    checks against that directory.
    """

    def __init__(  # pylint: disable=too-many-arguments,too-many-locals
        self,
        num_shares: Union[int, float, str],
        reconstruction_threshold: Union[int, float, str] = "auto",
        *,
        max_weight: float = 1000.0,
        clipping_range: float = 8.0,
        quantization_range: int = 4194304,
        modulus_range: int = 4294967296,
        timeout: Optional[float] = None,
        reveal_fit_metadata: bool = True,
        corrupt_fraction: float = 0.05,
        dropout_fraction: float = 0.05,
        noise_multiplier: Optional[float] = None,
        clipping_norm: Optional[float] = None,
        num_sampled_clients: Optional[int] = None,
        dp_delta: float = 1e-5,
        prg: str = "aes",
        roster: Optional[RosterSource] = None,
        corrupt_clients: Optional[int] = None,
    ) -> None:
        if prg not in ("aes", "chacha20"):
            raise ValueError(f"`prg` must be 'aes' or 'chacha20', not {prg!r}")
        self.prg = prg
        dp_args = (noise_multiplier, clipping_norm, num_sampled_clients)
        if any(a is not None for a in dp_args):
            if not (noise_multiplier is not None and noise_multiplier > 0
                    and clipping_norm is not None and clipping_norm > 0
                    and isinstance(num_sampled_clients, int) and num_sampled_clients >= 1
                    and 0 < dp_delta < 1):
                raise ValueError(
                    "distributed DP needs noise_multiplier > 0, clipping_norm > 0, "
                    "num_sampled_clients >= 1 and dp_delta in (0, 1), all together"
                )
            self.dp_epsilon: Optional[float] = float(np.sqrt(2 * np.log(1.25 / dp_delta)) / noise_multiplier)
        else:
            self.dp_epsilon = None
        self.noise_multiplier = noise_multiplier
        self.clipping_norm = clipping_norm
        self.num_sampled_clients = num_sampled_clients
        self.dp_delta = dp_delta
        self.num_shares = _check_num_shares(num_shares)
        t = reconstruction_threshold
        if (t == "auto") != (self.num_shares == "auto"):
            raise ValueError(
                "`num_shares` and `reconstruction_threshold` are 'auto' together or not at all"
            )
        if t != "auto":
            if isinstance(t, bool) or not isinstance(t, (int, float)):
                raise TypeError("`reconstruction_threshold` must be an int or a float")
            if isinstance(t, float):
                if not 0.0 < t <= 1.0:
                    raise ValueError("a float `reconstruction_threshold` must lie in (0, 1]")
            elif t == 1:
                t = 1.0
            elif t < 2:
                raise ValueError("`reconstruction_threshold` must be at least 2")
            elif isinstance(self.num_shares, int) and t > self.num_shares:
                raise ValueError("`reconstruction_threshold` must not exceed `num_shares`")
        self.reconstruction_threshold = t
        if not max_weight > 0:
            raise ValueError("`max_weight` must be greater than 0")
        if not clipping_range > 0:
            raise ValueError("`clipping_range` must be greater than 0")
        if isinstance(quantization_range, bool) or not isinstance(quantization_range, int) or quantization_range <= 0:
            raise ValueError("`quantization_range` must be an int greater than 0")
        if (
            isinstance(modulus_range, bool)
            or not isinstance(modulus_range, int)
            or modulus_range < 2
            or modulus_range & (modulus_range - 1)
            or modulus_range > 1 << 64
        ):
            raise ValueError("`modulus_range` must be a power of two, at most 2**64")
        if c.max_clients(modulus_range, quantization_range) < 2:
            raise ValueError(
                f"`modulus_range` = {modulus_range} leaves no room to sum two vectors of "
                f"elements up to `quantization_range` = {quantization_range}"
            )
        self.max_weight = float(max_weight)
        self.clipping_range = float(clipping_range)
        self.quantization_range = quantization_range
        self.modulus_range = modulus_range
        self.timeout = timeout
        self.reveal_fit_metadata = reveal_fit_metadata
        self.corrupt_fraction = corrupt_fraction
        self.dropout_fraction = dropout_fraction
        self.roster = _check_roster(roster)
        if corrupt_clients is not None:
            if roster is None:
                raise ValueError("`corrupt_clients` applies to the malicious-server model: pass `roster` too")
            if isinstance(corrupt_clients, bool) or not isinstance(corrupt_clients, int) or corrupt_clients < 0:
                raise ValueError("`corrupt_clients` must be an int >= 0")
            if self.num_shares == "auto":
                raise ValueError(
                    "with num_shares='auto' the corrupt count comes from `corrupt_fraction`; "
                    "`corrupt_clients` is for a fixed num_shares"
                )
        self.corrupt_clients = corrupt_clients
        if roster is not None and isinstance(self.num_shares, int) and isinstance(t, int):
            if t >= self.num_shares:
                raise ValueError(
                    "the malicious-server model needs t <= k: a survivor set is certified by t "
                    f"signers among a client's k neighbours (k = {self.num_shares - 1}, t = {t}): "
                    "lower `reconstruction_threshold` or raise `num_shares`"
                )
            if min(t - 1, 2 * t - self.num_shares) < (corrupt_clients or 0):
                raise ValueError(
                    "the malicious-server model needs t > c and 2t - k > c for a unique survivor "
                    f"set (k = {self.num_shares - 1}, t = {t}, c = {corrupt_clients or 0}): "
                    "raise `reconstruction_threshold`"
                )
        self.last_state: Optional[WorkflowState] = None

    def __call__(self, grid: Grid, context: Context) -> None:
        """Runs one round: the stages in turn (the consistency stage only in
        the malicious-server model), stopping at the first that returns
        False."""
        if not isinstance(context, LegacyContext):
            raise TypeError(f"Expect a LegacyContext, but get {type(context).__name__}.")
        state = WorkflowState()
        #: The last round's :class:`WorkflowState` (its ``sum`` and
        #: ``survivors`` after a completed round).
        self.last_state = state
        log(INFO, "Secure aggregation (secagg) commencing.")
        for step in (
            self.setup_stage,
            self.share_keys_stage,
            self.collect_masked_vectors_stage,
            self.consistency_stage,
            self.unmask_stage,
        ):
            if not step(grid, context, state):
                log(INFO, "Secure aggregation halted.")
                return
        log(INFO, "Secure aggregation completed.")

    # -- parameters -----------------------------------------------------

    def _params(self, n: int, dim: int, dp: bool = False) -> Params:
        """The round's parameters for ``n`` clients: semi-honest, or of the
        malicious-server model when the workflow has a roster."""
        params = self._semi_honest_params(n, dim, dp)
        if self.roster is None or params.malicious:
            return params
        t = params.threshold
        # A unique survivor set needs t > c and 2t - k > c (2t - n > c on
        # the complete graph; spec/params.md section 4.7.2).
        if t > params.degree:
            raise ValueError(
                f"the malicious-server model needs t <= k: a survivor set is certified by t "
                f"signers among a client's k neighbours ({n} clients, k = {params.degree}, "
                f"t = {t}): lower `reconstruction_threshold`"
            )
        k = n if params.degree >= n - 1 else params.degree
        most = min(t - 1, 2 * t - k - 1)
        corrupt = most if self.corrupt_clients is None else self.corrupt_clients
        if not 0 <= corrupt <= most:
            raise ValueError(
                f"the malicious-server model needs t > c and 2t - {'n' if k == n else 'k'} > c for a "
                f"unique survivor set ({n} clients, k = {params.degree}, t = {t}, c = {corrupt}): "
                "raise `reconstruction_threshold`"
                + ("" if self.corrupt_clients is None else " or lower `corrupt_clients`")
            )
        return Params._wrap(params._with_malicious(corrupt))  # pylint: disable=protected-access

    def _semi_honest_params(self, n: int, dim: int, dp: bool) -> Params:
        bits = self.modulus_range.bit_length() - 1
        limit = c.max_clients(self.modulus_range, self.quantization_range)
        if not dp and n > limit:
            raise ValueError(
                f"{n} clients with quantization_range = {self.quantization_range} can "
                f"wrap modulo modulus_range = {self.modulus_range} (at most {limit} "
                "clients fit): raise modulus_range or lower quantization_range"
            )
        if self.num_shares == "auto":
            return Params.secagg_plus(
                n, dim, bits, corrupt_fraction=self.corrupt_fraction,
                dropout_fraction=self.dropout_fraction, malicious=self.roster is not None,
                prg=self.prg,
            )
        if isinstance(self.num_shares, float):
            shares = max(3, int(np.ceil(self.num_shares * n)))
            shares += 1 - shares % 2
        else:
            shares = int(self.num_shares)
        complete = shares >= n
        holders = n if complete else shares
        t = self.reconstruction_threshold
        t = max(2, int(round(t * holders))) if isinstance(t, float) else int(t)  # type: ignore[operator]
        if complete:
            return Params(n, t, dim, bits, prg=self.prg)
        return Params(n, t, dim, bits, degree=shares - 1, seed=os.urandom(32), prg=self.prg)

    # -- message plumbing -------------------------------------------------

    def _send(
        self, grid: Grid, context: LegacyContext, state: WorkflowState, stage: str,
        contents: Dict[int, RecordDict],
    ) -> List[Message]:
        cfg = context.state.config_records[MAIN_CONFIGS_RECORD]
        group = str(cfg[WorkflowKey.CURRENT_ROUND])
        msgs = [
            Message(content=content, dst_node_id=nid, message_type=MessageType.TRAIN, group_id=group)
            for nid, content in contents.items()
        ]
        log(DEBUG, "[secagg %s] sending to %s nodes", stage, len(msgs))
        replies = list(grid.send_and_receive(msgs, timeout=self.timeout))
        ok: List[Message] = []
        mismatched: List[Tuple[int, str]] = []
        for r in replies:
            nid = r.metadata.src_node_id
            if nid not in contents:
                continue
            if r.has_error():
                reason = r.error.reason or ""
                if c.PROTOCOL in reason and "expect setup stage" in reason:
                    mismatched.append((nid, "runs Flower's own secaggplus_mod"))
                elif "ProtocolMismatch" in reason or "ModelMismatch" in reason:
                    mismatched.append((nid, reason))
                state.failures.append(Exception(r.error))
                continue
            rec = r.content.config_records.get(c.RECORD_CONFIGS)
            if rec is None or rec.get("stage") != c.stage_tag(stage):
                state.failures.append(
                    Exception(f"node {nid}: reply without the {c.stage_tag(stage)!r} record")
                )
                continue
            ok.append(r)
        if mismatched:
            # One node cannot stop the round by claiming a mismatch; a server
            # that no node understands stops at once, saying why.
            what = "; ".join(f"node {nid}: {why}" for nid, why in mismatched[:3])
            text = (
                f"{len(mismatched)} node(s) do not run the secagg.flower mod of {c.PROTOCOL} "
                f"that pairs with this workflow ({what}): give every node "
                "secagg.flower.secaggplus_mod (secaggplus_mod_with_identity in the "
                "malicious-server model), or run Flower's own workflow with Flower's mod"
            )
            if not ok:
                raise c.ProtocolMismatch(text)
            log(ERROR, "[secagg %s] %s; they count as dropped", stage, text)
        log(DEBUG, "[secagg %s] %s replies, %s failures so far", stage, len(ok), len(state.failures))
        return ok

    def _content(self, state: WorkflowState, stage: str, to: int, **extra: object) -> RecordDict:
        rec = ConfigRecord({"stage": c.stage_tag(stage), "round_id": state.round_id})
        if to in state.outgoing:
            rec["msg"] = state.outgoing[to]
        for k, v in extra.items():
            rec[k] = v  # type: ignore[assignment]
        return RecordDict({c.RECORD_CONFIGS: rec})

    def _receive_all(self, state: WorkflowState, replies: List[Tuple[int, Any]]) -> List[bool]:
        """Hands a stage's replies, ``(node, message)`` in the order they
        came, to the server in one batch (``Server.receive_all``: the same
        results as one by one, the costly checks over the library's
        threads). Whether each was taken; a refused one is a failure of the
        round. A non-client error (a bug) is raised after the batch."""
        server = cast(Server, state.server)
        results = server.receive_all((state.index_of[nid], msg) for nid, msg in replies)
        for e in results:
            if e is not None and not isinstance(e, ClientFault):
                raise e
        state.failures.extend(e for e in results if e is not None)
        return [e is None for e in results]

    def _close(self, state: WorkflowState, stage: str) -> bool:
        try:
            out = cast(Server, state.server).close_phase()
        except SecaggError as e:
            log(ERROR, "[secagg %s] the round cannot continue: %s", stage, e)
            state.failures.append(e)
            return False
        state.outgoing = out or {}
        state.active_node_ids = {state.node_of[i] for i in state.outgoing}
        return True

    def _exchange(
        self, grid: Grid, context: LegacyContext, state: WorkflowState, stage: str,
        contents: Optional[Dict[int, RecordDict]] = None,
    ) -> bool:
        """Sends each active node its message of ``stage`` (or ``contents``),
        hands the replies to the server and closes the phase."""
        if contents is None:
            contents = {nid: self._content(state, stage, state.index_of[nid]) for nid in state.active_node_ids}
        replies = []
        for r in self._send(grid, context, state, stage, contents):
            msg = r.content.config_records[c.RECORD_CONFIGS].get("msg")
            if isinstance(msg, bytes):
                replies.append((r.metadata.src_node_id, msg))
        self._receive_all(state, replies)
        return self._close(state, stage)

    # -- the stages -------------------------------------------------------

    def _registered_keys(self, state: WorkflowState) -> Dict[int, bytes]:
        """Malicious model: each sampled node's registered key; a node
        without one leaves the round (``state`` loses it). Empty in the
        semi-honest model."""
        if self.roster is None:
            return {}
        keys: Dict[int, bytes] = {}
        for nid in sorted(state.nid_to_fitins):
            if callable(self.roster):
                key = self.roster(nid)
            else:
                key = self.roster.get(nid)
            if key is None:
                log(WARNING, "[secagg setup] node %s has no registered key: left out of the round", nid)
                state.failures.append(Exception(f"node {nid}: no registered verifying key"))
                del state.nid_to_fitins[nid], state.nid_to_proxies[nid]
                continue
            keys[nid] = c.verifying_key(key, f"`roster`'s key of node {nid}")
        return keys

    def setup_stage(self, grid: Grid, context: LegacyContext, state: WorkflowState) -> bool:
        """Samples the clients (``strategy.configure_fit``), fixes the round's
        parameters and indices, and collects every client's keys (in the
        malicious model, of the sampled nodes with a registered key, and
        with the index-to-node mapping)."""
        cfg = context.state.config_records[MAIN_CONFIGS_RECORD]
        current_round = cast(int, cfg[WorkflowKey.CURRENT_ROUND])
        parameters = compat.arrayrecord_to_parameters(
            context.state.array_records[MAIN_PARAMS_RECORD], keep_input=True
        )
        proxy_fitins = context.strategy.configure_fit(current_round, parameters, context.client_manager)
        if not proxy_fitins:
            log(INFO, "configure_fit: no clients selected, cancel")
            return False
        log(
            INFO, "configure_fit: strategy sampled %s clients (out of %s)",
            len(proxy_fitins), context.client_manager.num_available(),
        )
        state.nid_to_fitins = {p.node_id: compat.fitins_to_recorddict(f, True) for p, f in proxy_fitins}
        state.nid_to_proxies = {p.node_id: p for p, _ in proxy_fitins}
        keys = self._registered_keys(state)
        nids = sorted(state.nid_to_fitins)
        if len(nids) < 2:
            log(ERROR, "The number of samples should be greater than 1.")
            return False
        state.index_of = {nid: i + 1 for i, nid in enumerate(nids)}
        state.node_of = {i: nid for nid, i in state.index_of.items()}
        state.shapes = [a.shape for a in parameters_to_ndarrays(parameters)]
        dim = 1 + sum(int(np.prod(s, dtype=np.int64)) for s in state.shapes)
        extra: Dict[str, object] = {}
        if self.dp_epsilon is None:
            state.params = self._params(len(nids), dim)
        else:
            state.dp = DpConfig(
                epsilon=self.dp_epsilon, delta=self.dp_delta, clip=float(self.clipping_norm),  # type: ignore[arg-type]
                dim=dim - 1, bits=self.modulus_range.bit_length() - 1, clients=len(nids),
                min_honest=min(len(nids), int(self.num_sampled_clients)),  # type: ignore[arg-type]
            )
            state.params = self._params(len(nids), state.dp.padded_dim, dp=True).with_dp(state.dp)
            state.dp_seed = os.urandom(32)
            state.global_arrays = parameters_to_ndarrays(parameters)
            extra["dp_seed"] = state.dp_seed
        roster = None
        if self.roster is not None:
            roster = Roster([keys[nid] for nid in nids])
            extra["nodes"] = c.encode_nodes(nids)
        state.round_id = os.urandom(32)
        state.server = Server(state.params, state.round_id, roster)
        state.clipping_range = self.clipping_range
        state.quantization_range = self.quantization_range
        state.max_weight = self.max_weight
        log(INFO, "secagg round: %r", state.params)
        params = state.params.to_bytes()
        contents = {}
        for nid in nids:
            content = self._content(
                state, c.SETUP, 0, params=params, index=state.index_of[nid],
                clipping_range=self.clipping_range, target_range=self.quantization_range,
                max_weight=self.max_weight, reveal_fit_metadata=self.reveal_fit_metadata, **extra,
            )
            # Flower's own mod reads this record and fails with a message
            # that names the mismatch.
            content.config_records[c.FLOWER_RECORD_CONFIGS] = ConfigRecord(
                {c.FLOWER_KEY_STAGE: c.MISMATCH_MARKER}
            )
            contents[nid] = content
        return self._exchange(grid, context, state, c.SETUP, contents)

    def share_keys_stage(self, grid: Grid, context: LegacyContext, state: WorkflowState) -> bool:
        """Forwards the key broadcasts and collects the encrypted shares."""
        return self._exchange(grid, context, state, c.SHARE_KEYS)

    def collect_masked_vectors_stage(
        self, grid: Grid, context: LegacyContext, state: WorkflowState
    ) -> bool:
        """Delivers the shares with the fit instructions and collects the
        masked vectors (each in an ArrayRecord)."""
        contents = {}
        for nid in state.active_node_ids:
            content = state.nid_to_fitins[nid]
            extra = self._content(state, c.COLLECT_MASKED_VECTORS, state.index_of[nid])
            content.config_records[c.RECORD_CONFIGS] = extra.config_records[c.RECORD_CONFIGS]
            contents[nid] = content
        kept: List[Message] = []
        replies: List[Tuple[int, Any]] = []
        for r in self._send(grid, context, state, c.COLLECT_MASKED_VECTORS, contents):
            nid = r.metadata.src_node_id
            arr = r.content.array_records.get(c.RECORD_MASKED)
            if arr is None or "masked" not in arr:
                state.failures.append(Exception(f"node {nid}: reply without a masked vector"))
                continue
            masked = arr["masked"].numpy()
            if masked.dtype != np.uint8 or masked.ndim != 1:
                state.failures.append(Exception(f"node {nid}: masked vector is not bytes"))
                continue
            # A view, not a copy: the batch holds every reply's vector.
            replies.append((nid, memoryview(np.ascontiguousarray(masked))))
            kept.append(r)
        for r, taken in zip(kept, self._receive_all(state, replies)):
            if taken:
                nid = r.metadata.src_node_id
                fitres = compat.recorddict_to_fitres(r.content, keep_input=True)
                state.legacy_results[state.index_of[nid]] = (state.nid_to_proxies[nid], fitres)
        state.nid_to_fitins = {}
        return self._close(state, c.COLLECT_MASKED_VECTORS)

    def consistency_stage(self, grid: Grid, context: LegacyContext, state: WorkflowState) -> bool:
        """Malicious-server model only (a no-op otherwise): delivers the
        survivor set to the clients that sent a masked vector and collects
        their signatures on it (spec/protocol.md section 4.5)."""
        if state.params is None or not state.params.malicious:
            return True
        return self._exchange(grid, context, state, c.CONSISTENCY)

    def unmask_stage(self, grid: Grid, context: LegacyContext, state: WorkflowState) -> bool:
        """Collects the unmasking shares, removes the masks, undoes the
        quantisation and hands the weighted average to
        ``strategy.aggregate_fit``."""
        cfg = context.state.config_records[MAIN_CONFIGS_RECORD]
        current_round = cast(int, cfg[WorkflowKey.CURRENT_ROUND])
        if not self._exchange(grid, context, state, c.UNMASK):
            return False
        server = cast(Server, state.server)
        if state.outgoing:
            log(ERROR, "[secagg unmask] the round did not end after the unmask stage")
            return False
        state.sum = server.sum
        state.survivors = server.survivors
        try:
            if state.dp is None:
                aggregated = c.dequantize(
                    state.sum, len(state.survivors), state.shapes, state.clipping_range,
                    state.quantization_range,
                )
            else:
                mean, report = state.dp.decode(state.sum, len(state.survivors), state.dp_seed, mean=True)
                state.privacy_report = report
                log(
                    INFO, "[secagg DP] round %s: epsilon %.4g (reached %.4g), delta %.3g, "
                    "%s survivors, %s assumed honest of %s needed",
                    current_round, report.epsilon, report.epsilon_reached, report.delta,
                    report.survivors, report.honest, report.min_honest,
                )
                aggregated, at = [], 0
                for g in state.global_arrays:
                    aggregated.append(g.astype(np.float64) + mean[at : at + g.size].reshape(g.shape))
                    at += g.size
        except (ValueError, SecaggError) as e:
            log(ERROR, "[secagg unmask] %s", e)
            state.failures.append(e)
            return False
        parameters = ndarrays_to_parameters(aggregated)
        results = []
        for i in state.survivors:
            proxy, fitres = state.legacy_results[i]
            fitres.parameters = parameters
            results.append((proxy, fitres))
        log(INFO, "aggregate_fit: received %s results and %s failures", len(results), len(state.failures))
        params_agg, metrics_agg = context.strategy.aggregate_fit(current_round, results, state.failures)  # type: ignore[arg-type]
        if params_agg:
            context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(params_agg, True)
            context.history.add_metrics_distributed_fit(server_round=current_round, metrics=metrics_agg)
        return True


class SecAggWorkflow(SecAggPlusWorkflow):
    """Flower's SecAgg workflow (every client holds a share of every other)
    on this package's protocol; pair it with :func:`secagg.flower.secagg_mod`.
    Same constructor as ``flwr.server.workflow.SecAggWorkflow``, plus
    ``prg`` and the malicious-server model's ``roster`` and
    ``corrupt_clients`` (see :class:`SecAggPlusWorkflow`; on the complete
    graph it needs ``2t > n + c``)."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        reconstruction_threshold: Union[int, float],
        *,
        max_weight: float = 1000.0,
        clipping_range: float = 8.0,
        quantization_range: int = 4194304,
        modulus_range: int = 4294967296,
        timeout: Optional[float] = None,
        reveal_fit_metadata: bool = True,
        prg: str = "aes",
        roster: Optional[RosterSource] = None,
        corrupt_clients: Optional[int] = None,
    ) -> None:
        super().__init__(
            1.0, reconstruction_threshold, max_weight=max_weight, clipping_range=clipping_range,
            quantization_range=quantization_range, modulus_range=modulus_range, timeout=timeout,
            reveal_fit_metadata=reveal_fit_metadata, prg=prg, roster=roster,
            corrupt_clients=corrupt_clients,
        )


__all__ = ["SecAggPlusWorkflow", "SecAggWorkflow", "WorkflowState", "RosterSource"]
