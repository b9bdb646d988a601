"""Record names, stage tags and the quantiser shared by the workflow and the
mod (no Flower import here, so the quantiser is usable without ``flwr``)."""

from __future__ import annotations

import os
from typing import List, Sequence, Tuple

import numpy as np
import numpy.typing as npt

#: Version of the message layout between :mod:`secagg.flower`'s workflow and
#: mod; both sides refuse any other.
PROTOCOL = "secagg.flower/1"

#: Name of the ConfigRecord that carries this package's small messages (and
#: never Flower's own ``"secaggplus_configs"``).
RECORD_CONFIGS = "secagg.flower"
#: Name of the ArrayRecord that carries a client's masked vector.
RECORD_MASKED = "secagg.flower.masked"
#: Name of the ConfigRecord in a node's ``Context`` that holds its sealed
#: client state between stages (deleted after the unmask reply).
RECORD_STATE = "secagg.flower.state"
#: Name of the ConfigRecord in a node's ``Context`` that holds the key its
#: state is sealed under when ``SECAGG_FLOWER_STATE_KEY`` is not set.
RECORD_KEY = "secagg.flower.key"
#: Name of the ConfigRecord in a node's ``Context`` that holds every round
#: id the node took part in during the run (32 bytes each, under
#: ``"used"``): a node never takes part in two rounds with one round id
#: (spec/protocol.md section 2).
RECORD_ROUNDS = "secagg.flower.rounds"
#: Environment variable: a node's 32-byte state-sealing key, 64 hex digits.
ENV_STATE_KEY = "SECAGG_FLOWER_STATE_KEY"

#: Flower's own record name and stage key (flwr.common.secure_aggregation).
FLOWER_RECORD_CONFIGS = "secaggplus_configs"
FLOWER_KEY_STAGE = "stage"

SETUP = "setup"
SHARE_KEYS = "share_keys"
COLLECT_MASKED_VECTORS = "collect_masked_vectors"
#: The malicious-server model's consistency round (spec/protocol.md section
#: 4.5), between the masked vectors and the unmask stage; a semi-honest
#: round has no such stage.
CONSISTENCY = "consistency"
UNMASK = "unmask"
STAGES = (SETUP, SHARE_KEYS, COLLECT_MASKED_VECTORS, CONSISTENCY, UNMASK)

#: The client phase (``secagg.Client.phase``) a stage's message needs.
PHASE_FOR_STAGE = {
    SHARE_KEYS: "keys",
    COLLECT_MASKED_VECTORS: "shares",
    CONSISTENCY: "consistency",
    UNMASK: "unmask",
}

#: The text Flower's ``secaggplus_mod`` receives as its stage when this
#: package's workflow talks to it; it ends up in the node's error reply.
MISMATCH_MARKER = (
    f"{PROTOCOL} (this server runs secagg.flower.SecAggPlusWorkflow: "
    "the node needs secagg.flower.secaggplus_mod, not flwr's)"
)


class ProtocolMismatch(RuntimeError):
    """The server and a node run different secure-aggregation layers (Flower's
    own workflow against this package's mod, or the reverse), or different
    versions of this package's layout."""


class ModelMismatch(ProtocolMismatch):
    """The server's round and a node disagree on the server model: the
    server runs the malicious-server model and the node has no identity
    (plain :func:`~secagg.flower.secaggplus_mod`), or the server runs the
    semi-honest model and the node requires the malicious one."""


class RosterMismatch(RuntimeError):
    """A node refused the round's roster (malicious-server model): the
    server's index-to-node mapping names a node that is not in the node's
    directory of registered keys, names a node twice, or puts at the node's
    own index a node whose registered key is not the node's identity."""


class StaleMessage(RuntimeError):
    """A node refused a stage message that does not belong to the round its
    state is bound to (another run, an older round, or a replay)."""


def stage_tag(stage: str) -> str:
    """The versioned tag of ``stage``, e.g. ``"secagg.flower/1/setup"``."""
    return f"{PROTOCOL}/{stage}"


def parse_stage_tag(tag: object) -> str:
    """The stage named by a tag of this version; raises
    :class:`ProtocolMismatch` for anything else."""
    if isinstance(tag, str) and tag.startswith(PROTOCOL + "/"):
        stage = tag[len(PROTOCOL) + 1 :]
        if stage in STAGES:
            return stage
    raise ProtocolMismatch(
        f"secure-aggregation stage tag {tag!r} is not one of {PROTOCOL}: "
        "server and node run different versions of secagg.flower"
    )


def encode_nodes(nodes: Sequence[int]) -> bytes:
    """The index-to-node mapping of a malicious round: node ``nodes[i - 1]``
    is client ``i``, each id as 8 bytes big-endian (Flower's node ids are
    unsigned 64-bit integers, wider than a ConfigRecord's signed ints).

    >>> decode_nodes(encode_nodes([3, 1 << 63])) == [3, 1 << 63]
    True
    """
    return b"".join(int(nid).to_bytes(8, "big") for nid in nodes)


def decode_nodes(data: bytes) -> List[int]:
    """The node ids of :func:`encode_nodes`; ``ValueError`` when ``data`` is
    not a whole number of 8-byte ids."""
    if len(data) % 8:
        raise ValueError(f"an index-to-node mapping of {len(data)} bytes is not 8 bytes per node")
    return [int.from_bytes(data[at : at + 8], "big") for at in range(0, len(data), 8)]


def verifying_key(key: object, what: str) -> bytes:
    """``key`` as 32 bytes (an Ed25519 verifying key); ``ValueError``
    otherwise."""
    if not isinstance(key, (bytes, bytearray)) or len(key) != 32:
        raise ValueError(f"{what} must be a 32-byte Ed25519 verifying key")
    return bytes(key)


def uniform(n: int) -> "npt.NDArray[np.float64]":
    """``n`` floats uniform in [0, 1) with 53 random bits each, drawn from the
    operating system's cryptographic source (``os.urandom``)."""
    raw = np.frombuffer(os.urandom(8 * n), dtype=np.uint64)
    return (raw >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def weight_factor(num_examples: float, max_weight: float, target_range: int) -> int:
    """Flower's quantised weight ``round(num_examples / max_weight *
    target_range)``; raises ``ValueError`` when the weight exceeds
    ``max_weight`` (its quantised value would exceed the range the wrap check
    assumes) or is negative."""
    if not 0 <= num_examples <= max_weight:
        raise ValueError(
            f"num_examples = {num_examples} is outside [0, max_weight = {max_weight}]: "
            "the weighted sum could wrap; raise max_weight on the server"
        )
    return int(round(num_examples / max_weight * target_range))


def quantize(
    arrays: Sequence["npt.ArrayLike"],
    num_examples: float,
    clipping_range: float,
    target_range: int,
    max_weight: float,
) -> "npt.NDArray[np.uint64]":
    """One client's integer vector: its quantised weight
    ``q = round(num_examples / max_weight * R)`` followed by every element of
    ``arrays`` (flattened, in order) scaled by ``q / R``, clipped to
    ``[-c, c]`` and mapped affinely onto ``[0, R]`` with stochastic rounding
    (Flower's map, ``R`` = ``target_range``, ``c`` = ``clipping_range``);
    the rounding draws from :func:`uniform`. Every element lies in ``[0, R]``.

    >>> import numpy as np
    >>> v = quantize([np.array([-8.0, 0.0, 8.0])], 10, 8.0, 1 << 22, 10.0)
    >>> v.tolist() == [1 << 22, 0, 1 << 21, 1 << 22]
    True
    """
    q = weight_factor(num_examples, max_weight, target_range)
    flat = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    x = np.concatenate(flat) if flat else np.zeros(0)
    if not np.all(np.isfinite(x)):
        raise ValueError("the update holds a NaN or an infinity")
    scaled = (np.clip(x * (q / target_range), -clipping_range, clipping_range) + clipping_range) * (
        target_range / (2.0 * clipping_range)
    )
    up = np.ceil(scaled)
    up -= uniform(up.size) < (up - scaled)
    np.clip(up, 0, target_range, out=up)
    out = np.empty(x.size + 1, dtype=np.uint64)
    out[0] = q
    out[1:] = up.astype(np.uint64)
    return out


def dequantize(
    total: "npt.NDArray[np.uint64]",
    survivors: int,
    shapes: Sequence[Tuple[int, ...]],
    clipping_range: float,
    target_range: int,
) -> List["npt.NDArray[np.float64]"]:
    """The weighted average from the sum of ``survivors`` vectors made by
    :func:`quantize`: ``(S * 2c / R - survivors * c) * R / q_total``, split
    into ``shapes`` (Flower's inverse map)."""
    q_total = int(total[0])
    if q_total == 0:
        raise ValueError("the survivors' weights sum to zero: no weighted average exists")
    body = total[1:].astype(np.float64) * (2.0 * clipping_range / target_range)
    body -= survivors * clipping_range
    body *= target_range / q_total
    out, at = [], 0
    for s in shapes:
        size = int(np.prod(s, dtype=np.int64))
        out.append(body[at : at + size].reshape(s))
        at += size
    return out


def max_clients(modulus_range: int, target_range: int) -> int:
    """The most clients whose vectors (elements up to ``target_range``) sum
    below ``modulus_range`` without wrapping."""
    return (modulus_range - 1) // target_range
