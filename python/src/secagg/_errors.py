"""Exceptions, one class per error family of the C ABI's status codes.

The classes are built from the ``SECAGG_STATUS_*`` constants of the header
(include/secagg.h) that the native module exposes: a code's family is its
name's prefix. Every exception carries ``code`` (the number), ``name`` (the
constant without ``SECAGG_STATUS_``) and ``index`` (the client at fault, or
the peer a server fault names; 0 when there is none). A :class:`ClientFault`
raised by the server also carries ``outcome``, an :class:`Outcome`: what the
server did about that client.
"""

from __future__ import annotations

import enum
from typing import Dict, Optional, Type

from ._native import ffi, lib

__all__ = [
    "SecaggError",
    "ApiError",
    "OutOfOrderError",
    "NotFoundError",
    "InternalError",
    "RandomnessError",
    "DecodeError",
    "ClientFault",
    "Outcome",
    "ServerFault",
    "NotEnoughSurvivors",
    "ParamsError",
    "MisuseError",
    "DpError",
    "StateError",
    "CODES",
    "exception_for",
]


class SecaggError(Exception):
    """Base class of every error the library reports.

    >>> import secagg
    >>> try:
    ...     secagg.Params(clients=4, threshold=1, dim=3)
    ... except secagg.ParamsError as e:
    ...     print(e.name)
    PARAMS_THRESHOLD
    """

    def __init__(self, code: int, index: int = 0) -> None:
        self.code = code
        self.name = NAMES.get(code, "UNKNOWN")
        self.index = index
        text = ffi.string(lib.secagg_status_message(code)).decode()
        suffix = f" (client {index})" if index else ""
        super().__init__(f"{self.name}: {text}{suffix}")


class ApiError(SecaggError):
    """A call the binding made wrongly (NULL, short buffer, bad argument)."""


class OutOfOrderError(SecaggError):
    """A call that does not apply in the handle's current phase."""


class NotFoundError(SecaggError):
    """No such item (no message for a client, no DP configuration)."""


class InternalError(SecaggError):
    """A panic caught at the C boundary (a bug in the library)."""


class RandomnessError(SecaggError):
    """The operating system's random source failed."""


class DecodeError(SecaggError):
    """Bytes that do not decode (standalone decoding)."""


class Outcome(enum.IntEnum):
    """What the server did about a client whose message it refused
    (spec/protocol.md section 5.4; the C ABI's ``SecaggOutcome``).

    >>> from secagg import Outcome
    >>> Outcome.EXCLUDED.name, int(Outcome.EXCLUDED)
    ('EXCLUDED', 2)
    """

    #: Nothing recorded: the message was dropped, the sender keeps its
    #: standing (a late message, a sender outside the roster).
    IGNORED = lib.SECAGG_OUTCOME_IGNORED
    #: Named in ``Server.misbehaved`` and removed from the rest of the round
    #: (its input is not in the sum if excluded before its masked input was
    #: accepted, and stays in it after).
    EXCLUDED = lib.SECAGG_OUTCOME_EXCLUDED
    #: Named in ``Server.misbehaved`` but still in the round: the offending
    #: message is discarded, what it sent before stands.
    NAMED = lib.SECAGG_OUTCOME_NAMED
    #: ``Server.close_phase`` failed because of this client: the round is
    #: over.
    ABORTED = lib.SECAGG_OUTCOME_ABORTED


class ClientFault(SecaggError):
    """A client broke the protocol; ``index`` is the client at fault and
    ``outcome`` (an :class:`Outcome`, ``None`` when the fault was not
    raised by a server) what the server did about it.

    >>> import secagg
    >>> params = secagg.Params(clients=3, threshold=2, dim=2)
    >>> server = secagg.Server(params, bytes(32))
    >>> try:
    ...     server.receive(2, b"garbage")
    ... except secagg.ClientFault as e:
    ...     print(e.name, e.index, e.outcome.name)
    CLIENT_MALFORMED 2 EXCLUDED
    """

    def __init__(self, code: int, index: int = 0, outcome: Optional[Outcome] = None) -> None:
        super().__init__(code, index)
        self.outcome = outcome


class ServerFault(SecaggError):
    """A client refused the server's message; ``index`` names the peer
    concerned where there is one."""


class NotEnoughSurvivors(SecaggError):
    """Too few clients remained to finish a phase: the round is over."""


class ParamsError(SecaggError):
    """Invalid parameters, or parameters below a client's policy."""


class MisuseError(SecaggError):
    """A call the protocol does not allow (wrong input, wrong index,
    round over, identity or roster missing)."""


class DpError(SecaggError):
    """A differential-privacy configuration, input or release failed."""


class StateError(SecaggError):
    """A sealed client or server state was refused: another round, phase or
    role, an unknown version, or bytes that do not authenticate."""


_FAMILIES = [
    ("DECODE_", DecodeError),
    ("CLIENT_", ClientFault),
    ("SERVER_", ServerFault),
    ("PARAMS_", ParamsError),
    ("MISUSE_", MisuseError),
    ("DP_", DpError),
    ("STATE_", StateError),
    ("NOT_ENOUGH_SURVIVORS", NotEnoughSurvivors),
    ("OUT_OF_ORDER", OutOfOrderError),
    ("NOT_FOUND", NotFoundError),
    ("PANIC", InternalError),
    ("RANDOMNESS", RandomnessError),
    ("", ApiError),
]

#: Every status code of the header: name (without ``SECAGG_STATUS_``) -> code.
CODES: Dict[str, int] = {
    n[len("SECAGG_STATUS_") :]: getattr(lib, n) for n in dir(lib) if n.startswith("SECAGG_STATUS_")
}
NAMES: Dict[int, str] = {v: k for k, v in CODES.items()}


def _family(name: str) -> Type[SecaggError]:
    for prefix, cls in _FAMILIES:
        if name.startswith(prefix):
            return cls
    return ApiError


_BY_CODE: Dict[int, Type[SecaggError]] = {code: _family(name) for name, code in CODES.items()}


def exception_for(code: int) -> Type[SecaggError]:
    """The exception class of a status code (``ApiError`` for unknown codes).

    >>> from secagg import exception_for, CODES, ClientFault
    >>> exception_for(CODES["CLIENT_BAD_SIGNATURE"]) is ClientFault
    True
    """
    return _BY_CODE.get(code, ApiError)


def error(status: int, index: int = 0, outcome: Optional[Outcome] = None) -> Optional[SecaggError]:
    """The exception of ``status``, not raised (a :class:`ClientFault` with
    ``outcome``); ``None`` when it is OK.

    >>> from secagg._errors import error, CODES
    >>> error(0) is None
    True
    >>> e = error(CODES["CLIENT_MALFORMED"], 2)
    >>> type(e).__name__, e.name, e.index
    ('ClientFault', 'CLIENT_MALFORMED', 2)
    """
    if status == 0:
        return None
    cls = exception_for(status)
    if issubclass(cls, ClientFault):
        return cls(status, index, outcome)
    return cls(status, index)


def check(status: int, index: int = 0, outcome: Optional[Outcome] = None) -> None:
    """Raises the exception of ``status`` unless it is OK (a
    :class:`ClientFault` with ``outcome``)."""
    e = error(status, index, outcome)
    if e is not None:
        raise e
