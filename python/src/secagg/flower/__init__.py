"""Flower drop-in: this package's secure aggregation behind Flower's own
SecAgg+ interface (flwr 1.41), switched with one import on each side.

Server (``ServerApp``)::

    # from flwr.server.workflow import SecAggPlusWorkflow
    from secagg.flower import SecAggPlusWorkflow

Client (``ClientApp(..., mods=[secaggplus_mod])``)::

    # from flwr.client.mod import secaggplus_mod
    from secagg.flower import secaggplus_mod

The workflow keeps Flower's constructor arguments and its four stage
methods (each returns False to halt the round); the mod keeps each node's
state sealed in its ``Context``. The malicious-server model is opt-in: the
workflow's ``roster=`` (node id to registered Ed25519 verifying key) on the
server, :func:`secaggplus_mod_with_identity` (the node's identity and its
own directory of the same keys) on each node. :mod:`secagg.flower.testing` has an
in-process Grid that runs both (or Flower's own pair) in one process.
Needs ``pip install secagg[flower]``; ``import secagg`` works without it.
"""

from __future__ import annotations

try:
    import flwr  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised without flwr only
    raise ImportError(
        "secagg.flower needs Flower: pip install 'secagg[flower]' (flwr 1.41)"
    ) from e

from ._common import (
    PROTOCOL,
    RECORD_CONFIGS,
    RECORD_MASKED,
    RECORD_STATE,
    ModelMismatch,
    ProtocolMismatch,
    RosterMismatch,
    StaleMessage,
    dequantize,
    quantize,
)
from .mod import secagg_mod, secagg_mod_with_identity, secaggplus_mod, secaggplus_mod_with_identity
from .workflow import RosterSource, SecAggPlusWorkflow, SecAggWorkflow, WorkflowState

__all__ = [
    "SecAggPlusWorkflow",
    "SecAggWorkflow",
    "WorkflowState",
    "secaggplus_mod",
    "secagg_mod",
    "secaggplus_mod_with_identity",
    "secagg_mod_with_identity",
    "RosterSource",
    "ProtocolMismatch",
    "ModelMismatch",
    "RosterMismatch",
    "StaleMessage",
    "quantize",
    "dequantize",
    "PROTOCOL",
    "RECORD_CONFIGS",
    "RECORD_MASKED",
    "RECORD_STATE",
]
