"""An in-process Flower ``Grid`` for tests and benchmarks.

:class:`InProcessGrid` delivers each message to a node's ``ClientApp`` in
this process, the way a SuperLink and SuperNodes would: every message and
every reply crosses Flower's own protobuf serialisation (a deep copy), and
each node's ``Context`` is serialised with Flower's ``context_to_proto``
after each call and rebuilt before the next, so nothing survives between
stages except what the Context holds. A ClientApp exception becomes an error
reply (and the Context is not updated), as in Flower's runtime.

It runs this package's pair and Flower's own pair alike::

    grid = InProcessGrid({nid: client_app for nid in range(1, 6)})
    run_workflow(grid, DefaultWorkflow(fit_workflow=SecAggPlusWorkflow(5, 3)), strategy)

``fault`` decides per message whether it is delivered: return ``None`` to
deliver, ``"drop"`` for no reply (the node vanished), ``"error"`` for an
error reply without running the node.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Optional

from flwr.app import Context, Error, Message, RecordDict
from flwr.common.constant import ErrorCode
from flwr.common.serde import context_from_proto, context_to_proto, message_from_proto, message_to_proto
from flwr.proto.message_pb2 import Context as ProtoContext  # pylint: disable=E0611
from flwr.proto.message_pb2 import Message as ProtoMessage  # pylint: disable=E0611
from flwr.serverapp.grid import Grid
from flwr.supercore.run import Run

from ._common import FLOWER_RECORD_CONFIGS, RECORD_CONFIGS, parse_stage_tag

if TYPE_CHECKING:
    from flwr.server import LegacyContext

Fault = Callable[[Message], Optional[str]]


def _copy(msg: Message) -> Message:
    return message_from_proto(ProtoMessage.FromString(message_to_proto(msg).SerializeToString()))


class InProcessGrid(Grid):
    """A Grid whose nodes are ClientApps (or any ``app(message, context)``
    callable) in this process, by node id.

    ``stage_times`` accumulates, per call of :meth:`send_and_receive`, the
    seconds spent in the nodes (``"clients"``, summed over nodes) so that a
    benchmark can separate client from server time.
    """

    def __init__(
        self,
        apps: Dict[int, Callable[[Message, Context], Message]],
        run_id: int = 1,
        fault: Optional[Fault] = None,
        node_config: Optional[dict] = None,
    ) -> None:
        self.apps = dict(apps)
        self.fault = fault
        self._run = Run.create_empty(run_id)
        self._contexts: Dict[int, bytes] = {
            nid: context_to_proto(
                Context(run_id=run_id, node_id=nid, node_config=dict(node_config or {}),
                        state=RecordDict(), run_config={})
            ).SerializeToString()
            for nid in self.apps
        }
        self._replies: Dict[str, Message] = {}
        #: Seconds spent in each node call, in order.
        self.calls: List[float] = []
        #: ``(node id, reason)`` of every error reply a node produced.
        self.errors: List[tuple] = []

    def set_run(self, run: Run) -> None:
        """Sets the run (only its id matters here)."""
        self._run = run

    @property
    def run(self) -> Run:
        """The run."""
        return self._run

    def create_message(  # pylint: disable=too-many-arguments
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
        ttl: Optional[float] = None,
    ) -> Message:
        """A new message (Flower's deprecated helper)."""
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        """The node ids."""
        return list(self.apps)

    def context(self, node_id: int) -> Context:
        """A copy of the node's current Context (as it would be loaded)."""
        return context_from_proto(ProtoContext.FromString(self._contexts[node_id]))

    def set_context(self, node_id: int, context: Context) -> None:
        """Replaces the node's stored Context (tests)."""
        self._contexts[node_id] = context_to_proto(context).SerializeToString()

    def deliver(self, msg: Message) -> Message:
        """Runs one message on its node now and returns the reply (copied)."""
        nid = msg.metadata.dst_node_id
        inbound = _copy(msg)
        ctx = self.context(nid)
        start = time.perf_counter()
        try:
            reply = self.apps[nid](inbound, ctx)
            self._contexts[nid] = context_to_proto(ctx).SerializeToString()
        except Exception as ex:  # pylint: disable=broad-exception-caught
            reason = str(type(ex)) + ":<'" + str(ex) + "'>"
            reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason),
                            reply_to=inbound)
            self.errors.append((nid, reason))
        self.calls.append(time.perf_counter() - start)
        reply.metadata.__dict__["_message_id"] = str(uuid.uuid4())
        return _copy(reply)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Runs every message on its node; the replies wait for
        :meth:`pull_messages`."""
        ids = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = mid = str(uuid.uuid4())
            msg.metadata.__dict__["_run_id"] = self._run.run_id
            ids.append(mid)
            if msg.metadata.dst_node_id not in self.apps:
                continue
            what = self.fault(msg) if self.fault is not None else None
            if what == "drop":
                continue
            if what == "error":
                err = Message(Error(code=ErrorCode.NODE_UNAVAILABLE, reason="injected fault"),
                              reply_to=_copy(msg))
                err.metadata.__dict__["_message_id"] = str(uuid.uuid4())
                self._replies[mid] = err
                continue
            if what is not None:
                raise ValueError(f"fault must return None, 'drop' or 'error', not {what!r}")
            self._replies[mid] = self.deliver(msg)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """The replies available for these message ids."""
        return [self._replies.pop(m) for m in message_ids if m in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: Optional[float] = None
    ) -> Iterable[Message]:
        """Pushes and pulls at once (a dropped node's reply never comes; the
        timeout is not waited)."""
        return list(self.pull_messages(list(self.push_messages(messages))))


def stage_of(msg: Message) -> Optional[str]:
    """The secure-aggregation stage a train message belongs to (``"setup"``,
    ``"share_keys"``, ``"collect_masked_vectors"``, ``"unmask"``), for this
    package's workflow and Flower's own alike; ``None`` for other messages.
    Handy in a ``fault`` function."""
    recs = msg.content.config_records if msg.has_content() else {}
    if RECORD_CONFIGS in recs:
        return parse_stage_tag(recs[RECORD_CONFIGS].get("stage"))
    if FLOWER_RECORD_CONFIGS in recs:
        stage = recs[FLOWER_RECORD_CONFIGS].get("stage")
        return stage if isinstance(stage, str) else None
    return None


def run_workflow(grid: Grid, workflow: Callable, strategy: object, num_rounds: int = 1,
                 run_id: int = 1) -> "LegacyContext":
    """Runs a server workflow (e.g. ``DefaultWorkflow(fit_workflow=...)``)
    on ``grid`` with a legacy ``strategy`` for ``num_rounds`` rounds, the way
    Flower's ServerApp does (it also sets this process's task identity, which
    stamps the run id on new messages); returns the LegacyContext (its
    ``history`` and ``state`` hold the results)."""
    from flwr.common.constant import SUPERLINK_NODE_ID
    from flwr.server import LegacyContext, ServerConfig
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.run_id = run_id
    TaskIdentity.node_id = SUPERLINK_NODE_ID
    TaskIdentity.task_id = 1
    ctx = LegacyContext(
        context=Context(run_id=run_id, node_id=0, node_config={}, state=RecordDict(), run_config={}),
        config=ServerConfig(num_rounds=num_rounds),
        strategy=strategy,  # type: ignore[arg-type]
    )
    workflow(grid, ctx)
    return ctx
