"""Masked secure aggregation (SecAgg / SecAgg+) for federated learning.

A server learns the sum of many clients' integer vectors and nothing else
about any one of them, even when clients drop out. The library is sans-IO:
every message is ``bytes`` and your framework moves them. This package is a
thin layer over the crate's C ABI (spec/ffi.md).

A whole round, in one process:

>>> import numpy as np, secagg
>>> params = secagg.Params(clients=3, threshold=2, bits=32, dim=4)
>>> rid = bytes(32)  # a fresh round id for every round
>>> server = secagg.Server(params, rid)
>>> clients = {i: secagg.Client(params, rid, i) for i in (1, 2, 3)}
>>> for i, c in clients.items():
...     server.receive(i, c.message)
>>> out = server.close_phase()                       # key broadcasts
>>> for i, c in clients.items():
...     server.receive(i, c.receive_keys(out[i]))
>>> out = server.close_phase()                       # share deliveries
>>> for i, c in clients.items():
...     server.receive(i, c.receive_shares(out[i], np.full(4, i, dtype=np.uint64)))
>>> out = server.close_phase()                       # unmask requests
>>> for i, c in clients.items():
...     server.receive(i, c.receive_unmask(out[i]))
>>> server.close_phase() is None                     # the round is over
True
>>> server.sum.tolist()
[6, 6, 6, 6]
"""

from __future__ import annotations

import threading
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

from ._errors import (
    CODES,
    ApiError,
    ClientFault,
    DecodeError,
    DpError,
    InternalError,
    MisuseError,
    NotEnoughSurvivors,
    NotFoundError,
    OutOfOrderError,
    Outcome,
    ParamsError,
    RandomnessError,
    SecaggError,
    ServerFault,
    StateError,
    check,
    error,
    exception_for,
)
from ._native import ffi, lib

__all__ = [
    "Params",
    "Rng",
    "Identity",
    "Roster",
    "DpConfig",
    "PrivacyReport",
    "Client",
    "Server",
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
    "version",
]

_SHORT = CODES["SHORT_BUFFER"]


def version() -> str:
    """The native library's version."""
    return ffi.string(lib.secagg_version()).decode()


@contextmanager
def _held(*objects: Any) -> Iterator[None]:
    """Holds the lock of each :class:`Client`, :class:`Server` or
    :class:`Rng` given (``None`` skipped), in order: a handle's first, then
    the random source's, which takes no other lock, so two calls never wait
    on each other. The native calls release the GIL and a handle must not
    be used by two of them at once (spec/ffi.md section 4): the lock runs
    the calls of several threads on one object one at a time."""
    with ExitStack() as stack:
        for o in objects:
            if o is not None:
                stack.enter_context(o._lock)
        yield


def _bytes_in(data: Any, what: str = "message") -> Any:
    """``data``'s bytes as a ``uint8_t[]`` (no copy). Its length, ``len()``
    of the result, is the byte count: ``len()`` of a memoryview counts its
    items (or rows), not its bytes."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, not {type(data).__name__}")
    if isinstance(data, memoryview) and not data.c_contiguous:
        raise TypeError(f"{what} must be contiguous bytes, not a strided memoryview")
    return ffi.from_buffer("uint8_t[]", data)


def _fixed32(data: Any, what: str) -> Any:
    if not isinstance(data, (bytes, bytearray, memoryview)) or (
        isinstance(data, memoryview) and not data.c_contiguous
    ):
        raise ValueError(f"{what} must be 32 bytes")
    buf = ffi.from_buffer("uint8_t[]", data)
    if len(buf) != 32:
        raise ValueError(f"{what} must be 32 bytes")
    return buf


def _read(fn: Any, *args: Any, ctype: str = "uint8_t") -> Any:
    """Calls a buffer-filling function: size query, then the real call."""
    n = ffi.new("size_t *")
    status = fn(*args, ffi.NULL, 0, n)
    if status == 0:
        return ffi.new(f"{ctype}[]", 0), 0
    if status != _SHORT:
        check(status)
    buf = ffi.new(f"{ctype}[]", n[0])
    check(fn(*args, buf, n[0], n))
    return buf, n[0]


def _read_bytes(fn: Any, *args: Any) -> bytes:
    buf, n = _read(fn, *args)
    return bytes(ffi.buffer(buf, n))


def _read_u32(fn: Any, *args: Any) -> List[int]:
    buf, n = _read(fn, *args, ctype="uint32_t")
    return list(buf[0:n])


def _uint_vector(values: Any, what: str = "input") -> "npt.NDArray[np.uint64]":
    """A contiguous uint64 copy of an integer array; refuses floats, bools,
    negative values and non-1-D shapes (no per-element Python loop for an
    array).

    A sequence of Python ints with one of ``2**63`` or more beside smaller
    ones is what numpy alone reads as float64 (and one of ``2**64`` or more
    as objects): it is read as integers instead, refused only for a value
    outside ``0 .. 2**64 - 1``.
    """
    arr = np.asarray(values)
    if arr.ndim == 1 and arr.dtype.kind in "fO" and not isinstance(values, np.ndarray):
        items = list(values)
        if items and all(type(x) is int for x in items):
            if min(items) < 0:
                raise ValueError(f"{what} must not hold negative values")
            if max(items) >> 64:
                raise ValueError(f"{what} must hold values below 2**64")
            arr = np.array(items, dtype=np.uint64)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, not of shape {arr.shape}")
    if arr.dtype.kind not in "ui":
        raise TypeError(f"{what} must hold integers, not {arr.dtype}")
    if arr.dtype.kind == "i" and arr.size and int(arr.min()) < 0:
        raise ValueError(f"{what} must not hold negative values")
    return np.ascontiguousarray(arr, dtype=np.uint64)


def _float_vector(values: Any, what: str = "input") -> "npt.NDArray[np.float64]":
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, not of shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{what} must hold numbers, not {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


#: The mask PRGs by ``SecaggPrg`` value.
_PRGS = ("chacha20", "aes")


def _prg_code(prg: str) -> int:
    if prg not in _PRGS:
        raise ValueError(f"prg must be one of {_PRGS}, not {prg!r}")
    return _PRGS.index(prg)


class Params:
    """The parameters of one round (spec/params.md), validated.

    ``clients`` n, ``threshold`` t, sums mod ``2**bits`` of vectors of
    ``dim`` elements; the complete graph unless ``degree`` and ``seed`` (32
    bytes) select the Harary graph of SecAgg+; the malicious-server model
    when ``corrupt`` (the corrupt clients tolerated) is given. ``prg`` is
    the mask PRG (spec/crypto.md section 5): ``"chacha20"`` (the default)
    or ``"aes"`` (AES-128-CTR, faster on CPUs with AES instructions); the
    encoding carries it to the clients.

    >>> p = Params(clients=7, threshold=5, dim=10, corrupt=1)
    >>> (p.clients, p.threshold, p.bits, p.dim, p.malicious, p.prg)
    (7, 5, 32, 10, True, 'chacha20')
    >>> Params.from_bytes(p.to_bytes()).to_bytes() == p.to_bytes()
    True
    >>> Params.from_bytes(Params(clients=3, threshold=2, dim=4, prg="aes").to_bytes()).prg
    'aes'
    """

    def __init__(
        self,
        clients: int,
        threshold: int,
        dim: int,
        bits: int = 32,
        *,
        degree: Optional[int] = None,
        seed: Optional[bytes] = None,
        corrupt: Optional[int] = None,
        prg: str = "chacha20",
    ) -> None:
        code = _prg_code(prg)
        out = ffi.new("SecaggParams **")
        if degree is None:
            check(lib.secagg_params_new(clients, threshold, bits, dim, out))
        else:
            check(
                lib.secagg_params_new_harary(
                    clients, threshold, bits, dim, degree, _fixed32(seed, "seed"), out
                )
            )
        self._ptr = ffi.gc(out[0], lib.secagg_params_free)
        if corrupt is not None:
            self._ptr = Params._wrap(self._with_malicious(corrupt))._ptr
        if code != lib.SECAGG_PRG_CHACHA20:
            self._ptr = self.with_prg(prg)._ptr

    @classmethod
    def _wrap(cls, ptr: Any) -> "Params":
        p = cls.__new__(cls)
        p._ptr = ffi.gc(ptr, lib.secagg_params_free)
        return p

    def _with_malicious(self, corrupt: int) -> Any:
        out = ffi.new("SecaggParams **")
        check(lib.secagg_params_with_malicious(self._ptr, corrupt, out))
        return out[0]

    @classmethod
    def secagg_plus(
        cls,
        clients: int,
        dim: int,
        bits: int = 32,
        corrupt_fraction: float = 0.05,
        dropout_fraction: float = 0.05,
        malicious: bool = False,
        prg: str = "chacha20",
    ) -> "Params":
        """SecAgg+ parameters derived from the fractions of corrupt and
        dropped clients to tolerate (spec/params.md section 4), with the
        mask PRG ``prg`` (``"chacha20"`` or ``"aes"``).

        >>> p = Params.secagg_plus(1000, dim=10)
        >>> (p.degree, p.threshold)
        (30, 17)
        """
        _prg_code(prg)
        out = ffi.new("SecaggParams **")
        check(
            lib.secagg_params_secagg_plus(
                clients, bits, dim, corrupt_fraction, dropout_fraction, malicious, out
            )
        )
        p = cls._wrap(out[0])
        return p if prg == "chacha20" else p.with_prg(prg)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Params":
        """Decodes the canonical encoding (as a client receives it)."""
        out = ffi.new("SecaggParams **")
        buf = _bytes_in(data, "params")
        check(lib.secagg_params_decode(buf, len(buf), out))
        return cls._wrap(out[0])

    def to_bytes(self) -> bytes:
        """The canonical encoding."""
        return _read_bytes(lib.secagg_params_encode, self._ptr)

    def with_prg(self, prg: str) -> "Params":
        """These parameters with the mask PRG ``prg``: ``"chacha20"`` or
        ``"aes"`` (``ValueError`` otherwise).

        >>> p = Params(clients=3, threshold=2, dim=4)
        >>> p.with_prg("aes").prg, p.prg
        ('aes', 'chacha20')
        """
        out = ffi.new("SecaggParams **")
        check(lib.secagg_params_with_prg(self._ptr, _prg_code(prg), out))
        return Params._wrap(out[0])

    @property
    def prg(self) -> str:
        """The mask PRG: ``"chacha20"`` or ``"aes"``."""
        out = ffi.new("SecaggPrg *")
        check(lib.secagg_params_prg(self._ptr, out))
        return _PRGS[int(out[0])]

    def with_dp(self, config: "DpConfig") -> "Params":
        """These parameters carrying a DP configuration (n, b and the padded
        dimension must match)."""
        out = ffi.new("SecaggParams **")
        check(lib.secagg_params_with_dp(self._ptr, config._ptr, out))
        return Params._wrap(out[0])

    @property
    def dp(self) -> Optional["DpConfig"]:
        """The DP configuration these parameters carry, if any."""
        out = ffi.new("SecaggDpConfig **")
        status = lib.secagg_params_dp(self._ptr, out)
        if status == CODES["NOT_FOUND"]:
            return None
        check(status)
        return DpConfig._wrap(out[0])

    def check_policy(
        self, min_threshold: int = 0, min_clients: int = 0, require_malicious: bool = False
    ) -> None:
        """Raises :class:`ParamsError` when these parameters fall below a
        client's own policy."""
        check(lib.secagg_params_check_policy(self._ptr, min_threshold, min_clients, require_malicious))

    def _info(self) -> Tuple[int, int, int, int, int, bool]:
        c, t, d, k = (ffi.new("uint32_t *") for _ in range(4))
        b = ffi.new("uint8_t *")
        mal = ffi.new("bool *")
        check(lib.secagg_params_info(self._ptr, c, t, b, d, k, mal))
        return c[0], t[0], b[0], d[0], k[0], bool(mal[0])

    @property
    def clients(self) -> int:
        """n, the roster size."""
        return self._info()[0]

    @property
    def threshold(self) -> int:
        """t, the Shamir threshold."""
        return self._info()[1]

    @property
    def bits(self) -> int:
        """b: sums are taken mod 2**b."""
        return self._info()[2]

    @property
    def dim(self) -> int:
        """m, the vector length."""
        return self._info()[3]

    @property
    def degree(self) -> int:
        """k, each client's number of neighbours."""
        return self._info()[4]

    @property
    def malicious(self) -> bool:
        """Whether the round runs in the malicious-server model."""
        return self._info()[5]

    def __repr__(self) -> str:
        """The parameters' fields, the mask PRG included.

        >>> Params(clients=3, threshold=2, bits=16, dim=4, prg="aes")
        Params(clients=3, threshold=2, bits=16, dim=4, degree=2, malicious=False, prg='aes')
        """
        c, t, b, d, k, mal = self._info()
        return (
            f"Params(clients={c}, threshold={t}, bits={b}, dim={d}, degree={k}, "
            f"malicious={mal}, prg={self.prg!r})"
        )


class Rng:
    """A deterministic random source (ChaCha20 from a 64-bit seed, the
    stream of spec/conformance.md) for tests and for replaying the
    conformance vectors. Never use it in production: leave ``rng`` unset and
    the operating system's source is used.

    >>> Rng(1).bytes(4) == Rng(1).bytes(4)
    True
    """

    def __init__(self, seed: int) -> None:
        out = ffi.new("SecaggRng **")
        check(lib.secagg_rng_new_seeded(seed, out))
        self._ptr = ffi.gc(out[0], lib.secagg_rng_free)
        self._lock = threading.Lock()

    def bytes(self, n: int) -> bytes:
        """The next ``n`` bytes of the stream."""
        buf = ffi.new("uint8_t[]", n)
        with _held(self):
            check(lib.secagg_rng_fill(self._ptr, buf, n))
        return bytes(ffi.buffer(buf, n))


def _rng(rng: Optional[Rng]) -> Any:
    return rng._ptr if rng is not None else ffi.NULL


class Identity:
    """A client's long-term Ed25519 identity (malicious-server model).

    >>> a = Identity.generate()
    >>> b = Identity.from_secret(a.secret_bytes())
    >>> a.public_key == b.public_key and len(a.public_key) == 32
    True
    """

    def __init__(self, ptr: Any) -> None:
        self._ptr = ffi.gc(ptr, lib.secagg_identity_free)

    @classmethod
    def generate(cls, rng: Optional[Rng] = None) -> "Identity":
        """A fresh identity from the operating system's random source (or a
        test :class:`Rng`)."""
        out = ffi.new("SecaggIdentity **")
        with _held(rng):
            check(lib.secagg_identity_generate(_rng(rng), out))
        return cls(out[0])

    @classmethod
    def from_secret(cls, secret: bytes) -> "Identity":
        """An identity from its 32-byte secret key."""
        out = ffi.new("SecaggIdentity **")
        check(lib.secagg_identity_from_secret(_fixed32(secret, "secret"), out))
        return cls(out[0])

    @property
    def public_key(self) -> bytes:
        """The 32-byte verifying key (what goes in the :class:`Roster`)."""
        buf = ffi.new("uint8_t[32]")
        check(lib.secagg_identity_public_key(self._ptr, buf))
        return bytes(buf)

    def secret_bytes(self) -> bytes:
        """The 32-byte secret key, to store it. Python cannot wipe the
        returned bytes (spec/ffi.md section 5): keep them short-lived."""
        buf = ffi.new("uint8_t[32]")
        check(lib.secagg_identity_export_secret(self._ptr, buf))
        out = bytes(buf)
        ffi.memmove(buf, b"\0" * 32, 32)
        return out

    def __repr__(self) -> str:
        return f"Identity(public_key={self.public_key.hex()[:16]}...)"


class Roster:
    """Every client's verifying key, client ``i`` at position ``i - 1``.

    >>> ids = [Identity.generate() for _ in range(3)]
    >>> len(Roster([i.public_key for i in ids]))
    3
    """

    def __init__(self, keys: Iterable[bytes]) -> None:
        keys = list(keys)
        for k in keys:
            if not isinstance(k, (bytes, bytearray)) or len(k) != 32:
                raise ValueError("each roster key must be 32 bytes")
        joined = b"".join(bytes(k) for k in keys)
        out = ffi.new("SecaggRoster **")
        check(lib.secagg_roster_new(ffi.from_buffer("uint8_t[]", joined), len(keys), out))
        self._ptr = ffi.gc(out[0], lib.secagg_roster_free)

    def __len__(self) -> int:
        return int(lib.secagg_roster_len(self._ptr))


@dataclass(frozen=True)
class PrivacyReport:
    """The privacy guarantee of a released sum (spec/dp.md section 5)."""

    epsilon: float
    delta: float
    epsilon_reached: float
    survivors: int
    honest: int
    min_honest: int
    rounds: int


class DpConfig:
    """A distributed-DP configuration (spec/dp.md), validated and calibrated.

    ``dim`` is the length of a client's float vector; the round's integer
    vectors have the padded length :attr:`padded_dim`. Further fields
    (``mechanism`` "gaussian" or "skellam", ``min_honest``, ``corrupt``,
    ``rounds``, ``beta``, ``wrap_probability``, ``epsilon_limit``) are
    keyword arguments.

    >>> import numpy as np
    >>> dp = DpConfig(epsilon=1.0, delta=1e-5, clip=1.0, dim=6, bits=24, clients=5)
    >>> dp.padded_dim
    8
    >>> enc = dp.encode(np.zeros(6), seed=bytes(32))
    >>> enc.dtype, enc.shape
    (dtype('uint64'), (8,))
    """

    _FIELDS = ("min_honest", "corrupt", "rounds", "beta", "wrap_probability", "epsilon_limit")

    def __init__(
        self,
        epsilon: float,
        delta: float,
        clip: float,
        dim: int,
        bits: int,
        clients: int,
        *,
        mechanism: str = "gaussian",
        **fields: Any,
    ) -> None:
        opts = ffi.new("SecaggDpOptions *")
        check(lib.secagg_dp_options_default(epsilon, delta, clip, dim, bits, clients, opts))
        if mechanism not in ("gaussian", "skellam"):
            raise ValueError("mechanism must be 'gaussian' or 'skellam'")
        opts.mechanism = 0 if mechanism == "gaussian" else 1
        for k, v in fields.items():
            if k not in self._FIELDS:
                raise TypeError(f"unknown DP field {k!r}")
            setattr(opts, k, v)
        out = ffi.new("SecaggDpConfig **")
        check(lib.secagg_dp_config_new(opts, out))
        self._ptr = ffi.gc(out[0], lib.secagg_dp_config_free)

    @classmethod
    def _wrap(cls, ptr: Any) -> "DpConfig":
        c = cls.__new__(cls)
        c._ptr = ffi.gc(ptr, lib.secagg_dp_config_free)
        return c

    @classmethod
    def from_bytes(cls, data: bytes) -> "DpConfig":
        """Decodes the canonical encoding."""
        out = ffi.new("SecaggDpConfig **")
        buf = _bytes_in(data, "config")
        check(lib.secagg_dp_config_decode(buf, len(buf), out))
        return cls._wrap(out[0])

    def to_bytes(self) -> bytes:
        """The canonical encoding (spec/dp.md section 6)."""
        return _read_bytes(lib.secagg_dp_config_encode, self._ptr)

    @property
    def options(self) -> Dict[str, Any]:
        """Every field, as a dict."""
        o = ffi.new("SecaggDpOptions *")
        check(lib.secagg_dp_config_options(self._ptr, o))
        names = ("mechanism", "epsilon", "delta", "clip", "beta", "wrap_probability", "dim",
                 "bits", "clients", "min_honest", "corrupt", "rounds", "epsilon_limit")
        return {n: getattr(o, n) for n in names}

    @property
    def padded_dim(self) -> int:
        """d, the length of the round's integer vectors."""
        d = ffi.new("size_t *")
        check(lib.secagg_dp_config_padded_dim(self._ptr, d))
        return int(d[0])

    def encode(self, x: "npt.ArrayLike", seed: bytes) -> "npt.NDArray[np.uint64]":
        """Client side: clip, rotate with the public 32-byte ``seed`` (the
        same for every client of the round), scale, round and add noise;
        returns the d integers to pass to :meth:`Client.receive_shares`."""
        arr = _float_vector(x)
        d = self.padded_dim
        out = np.empty(d, dtype=np.uint64)
        n = ffi.new("size_t *")
        check(
            lib.secagg_dp_encode(
                self._ptr,
                ffi.from_buffer("double[]", arr),
                arr.size,
                _fixed32(seed, "seed"),
                ffi.from_buffer("uint64_t[]", out, require_writable=True),
                d,
                n,
            )
        )
        return out

    def decode(
        self, total: "npt.ArrayLike", survivors: int, seed: bytes, mean: bool = False
    ) -> Tuple["npt.NDArray[np.float64]", PrivacyReport]:
        """Server side: the float sum (or mean) of the round's integer sum,
        and its privacy report; raises :class:`DpError` (``DP_RELEASE_REFUSED``)
        when the epsilon reached exceeds the configured limit."""
        arr = _uint_vector(total, "sum")
        m = int(self.options["dim"])
        out = np.empty(m, dtype=np.float64)
        n = ffi.new("size_t *")
        rep = ffi.new("SecaggPrivacyReport *")
        check(
            lib.secagg_dp_decode(
                self._ptr,
                ffi.from_buffer("uint64_t[]", arr),
                arr.size,
                survivors,
                _fixed32(seed, "seed"),
                mean,
                ffi.from_buffer("double[]", out, require_writable=True),
                m,
                n,
                rep,
            )
        )
        report = PrivacyReport(
            rep.epsilon, rep.delta, rep.epsilon_reached, rep.survivors, rep.honest,
            rep.min_honest, rep.rounds,
        )
        return out[: n[0]], report


_CLIENT_PHASES = ("keys", "shares", "unmask", "consistency", "done", "over")


class Client:
    """One client of one round: each ``receive_*`` takes the server's
    message of that phase and returns this client's answer (bytes).

    In the malicious-server model pass ``identity`` and ``roster``; ``rng``
    is for tests only (:class:`Rng`), production uses the OS source. Calls
    on one client from several threads run one at a time. A refused server
    message raises :class:`ServerFault`; one that does not decode leaves
    the client usable, as does a refused consistency request and, once the
    unmask request is answered (phase ``"done"``), any request but its
    byte-identical repeat; any other refusal ends its round (phase
    ``"over"``).
    """

    def __init__(
        self,
        params: Params,
        round_id: bytes,
        index: int,
        identity: Optional[Identity] = None,
        roster: Optional[Roster] = None,
        rng: Optional[Rng] = None,
    ) -> None:
        self._rng = rng
        self._lock = threading.RLock()
        out = ffi.new("SecaggClient **")
        with _held(rng):
            check(
                lib.secagg_client_new(
                    params._ptr,
                    _fixed32(round_id, "round_id"),
                    index,
                    identity._ptr if identity is not None else ffi.NULL,
                    roster._ptr if roster is not None else ffi.NULL,
                    _rng(rng),
                    out,
                )
            )
        self._ptr = ffi.gc(out[0], lib.secagg_client_free)
        self.index = index

    @classmethod
    def from_state(
        cls,
        state: bytes,
        key: bytes,
        round_id: bytes,
        phase: str,
        rng: Optional[Rng] = None,
    ) -> "Client":
        """Opens a state sealed by :meth:`export`: it must be a client's, of
        round ``round_id``, in ``phase`` (the :attr:`phase` recorded with
        it), sealed under the 32-byte ``key``. Raises :class:`StateError`
        for anything else (its ``name`` says why: ``STATE_ROUND``,
        ``STATE_PHASE``, ``STATE_ROLE``, ``STATE_AUTHENTICATION``,
        ``STATE_VERSION``, ``STATE_MALFORMED``), and ``ValueError`` for an
        unknown phase name. The new client has no
        :attr:`message` until its next ``receive_*``.

        >>> import secagg
        >>> params = secagg.Params(clients=3, threshold=2, bits=16, dim=2)
        >>> rid, key = bytes(32), bytes(range(32))
        >>> c = secagg.Client(params, rid, 2)
        >>> sealed = c.export(key)
        >>> again = secagg.Client.from_state(sealed, key, rid, c.phase)
        >>> again.index, again.phase
        (2, 'keys')
        >>> try:
        ...     secagg.Client.from_state(sealed, key, rid, "shares")
        ... except secagg.StateError as e:
        ...     print(e.name)
        STATE_PHASE
        """
        if phase not in _CLIENT_PHASES:
            raise ValueError(f"phase must be one of {_CLIENT_PHASES}")
        sealed = _bytes_in(state, "state")
        out = ffi.new("SecaggClient **")
        check(
            lib.secagg_client_import(
                sealed,
                len(sealed),
                _fixed32(key, "key"),
                _fixed32(round_id, "round_id"),
                _CLIENT_PHASES.index(phase),
                out,
            )
        )
        self = cls.__new__(cls)
        self._rng = rng
        self._lock = threading.RLock()
        self._ptr = ffi.gc(out[0], lib.secagg_client_free)
        idx = ffi.new("uint32_t *")
        check(lib.secagg_client_index(self._ptr, idx))
        self.index = int(idx[0])
        return self

    def export(self, key: bytes, rng: Optional[Rng] = None) -> bytes:
        """Seals this client's state under the 32-byte ``key``
        (ChaCha20-Poly1305; spec/state.md) for the host's store, bound to
        its round and its :attr:`phase`: record the phase with it and open
        it with :meth:`from_state`. Read :attr:`message` first: it is not in
        the export. ``rng`` (tests only) draws the nonce.

        A host must answer from at most one copy of a state: never open an
        older export once a newer one, or the live client, has answered a
        message (spec/state.md section 6).

        >>> import secagg
        >>> params = secagg.Params(clients=3, threshold=2, bits=16, dim=2)
        >>> c = secagg.Client(params, bytes(32), 1)
        >>> sealed = c.export(bytes(32))
        >>> isinstance(sealed, bytes) and len(sealed) > 60
        True
        """
        with _held(self, rng):
            return _read_bytes(lib.secagg_client_export, self._ptr, _fixed32(key, "key"), _rng(rng))

    @property
    def message(self) -> bytes:
        """The message to send now (AdvertiseKeys right after creation)."""
        with _held(self):
            return _read_bytes(lib.secagg_client_message, self._ptr)

    @property
    def phase(self) -> str:
        """What the client awaits: ``"keys"``, ``"shares"``,
        ``"consistency"`` (malicious model), ``"unmask"``; then ``"done"``
        once it answered the unmask request, or ``"over"`` after it refused
        a server message."""
        p = ffi.new("SecaggClientPhase *")
        with _held(self):
            check(lib.secagg_client_phase(self._ptr, p))
        return _CLIENT_PHASES[int(p[0])]

    def _call(self, fn: Any, data: bytes, *extra: Any, rng: Optional[Rng] = None) -> bytes:
        fault = ffi.new("uint32_t *")
        buf = _bytes_in(data)
        with _held(self, rng):
            check(fn(self._ptr, buf, len(buf), *extra, fault), fault[0])
            return self.message

    def receive_keys(self, broadcast: bytes) -> bytes:
        """R1: the KeyBroadcast in, the ShareKeys message out."""
        return self._call(lib.secagg_client_receive_keys, broadcast, _rng(self._rng), rng=self._rng)

    def receive_shares(self, delivery: bytes, values: "npt.ArrayLike") -> bytes:
        """R2: the ShareDelivery and this client's input (``dim`` integers
        below ``2**bits``, any integer dtype) in, the MaskedInput out."""
        arr = _uint_vector(values)
        return self._call(
            lib.secagg_client_receive_shares, delivery, ffi.from_buffer("uint64_t[]", arr), arr.size
        )

    def receive_consistency(self, request: bytes) -> bytes:
        """Malicious model: the ConsistencyRequest in, the signed
        ConsistencyResponse out."""
        return self._call(lib.secagg_client_receive_consistency, request)

    def receive_unmask(self, request: bytes) -> bytes:
        """R3: the UnmaskRequest in, the UnmaskResponse out."""
        return self._call(lib.secagg_client_receive_unmask, request)

    def __repr__(self) -> str:
        return f"Client(index={self.index}, phase={self.phase!r})"


_PHASES = ("advertise_keys", "share_keys", "masked_input", "consistency", "unmask", "over")


class Server:
    """The server of one round: :meth:`receive` each client's message of the
    phase, then :meth:`close_phase` at the deadline.

    A client's bad message raises :class:`ClientFault` with ``index`` the
    client and ``outcome`` what the server did about it (an
    :class:`Outcome`); the round carries on. Calls on one server from
    several threads run one at a time.
    """

    def __init__(
        self,
        params: Params,
        round_id: bytes,
        roster: Optional[Roster] = None,
        rng: Optional[Rng] = None,
    ) -> None:
        self._lock = threading.RLock()
        out = ffi.new("SecaggServer **")
        with _held(rng):
            check(
                lib.secagg_server_new(
                    params._ptr,
                    _fixed32(round_id, "round_id"),
                    roster._ptr if roster is not None else ffi.NULL,
                    _rng(rng),
                    out,
                )
            )
        self._ptr = ffi.gc(out[0], lib.secagg_server_free)

    @classmethod
    def from_state(cls, state: bytes, key: bytes, round_id: bytes, phase: str) -> "Server":
        """Opens a state sealed by :meth:`export`: a server's, of round
        ``round_id``, in ``phase`` (the :attr:`phase` recorded with it,
        ``"over"`` for an ended round), under the 32-byte ``key``. Raises
        :class:`StateError` otherwise, ``ValueError`` for an unknown phase
        name. The new server has no messages to deliver and no result until
        its next :meth:`close_phase`.

        >>> import secagg
        >>> params = secagg.Params(clients=3, threshold=2, bits=16, dim=2)
        >>> rid, key = bytes(32), bytes(range(32))
        >>> sealed = secagg.Server(params, rid).export(key)
        >>> secagg.Server.from_state(sealed, key, rid, "advertise_keys").phase
        'advertise_keys'
        >>> try:
        ...     secagg.Server.from_state(sealed, bytes(32), rid, "advertise_keys")
        ... except secagg.StateError as e:
        ...     print(e.name)
        STATE_AUTHENTICATION
        """
        if phase not in _PHASES:
            raise ValueError(f"phase must be one of {_PHASES}")
        sealed = _bytes_in(state, "state")
        out = ffi.new("SecaggServer **")
        check(
            lib.secagg_server_import(
                sealed,
                len(sealed),
                _fixed32(key, "key"),
                _fixed32(round_id, "round_id"),
                _PHASES.index(phase),
                out,
            )
        )
        self = cls.__new__(cls)
        self._lock = threading.RLock()
        self._ptr = ffi.gc(out[0], lib.secagg_server_free)
        return self

    def export(self, key: bytes, rng: Optional[Rng] = None) -> bytes:
        """Seals this server's state under the 32-byte ``key`` (a checkpoint
        between receives or phases), bound to its round and :attr:`phase`.
        The messages of the last :meth:`close_phase` and the result of an
        ended round are not in it: deliver or read them first. Never run two
        servers from copies of one state (spec/state.md section 6).
        ``rng`` (tests only) draws the nonce.
        """
        with _held(self, rng):
            return _read_bytes(lib.secagg_server_export, self._ptr, _fixed32(key, "key"), _rng(rng))

    def _check(self, status: int) -> None:
        """Raises the exception of ``status``; a :class:`ClientFault` with
        the client and the :class:`Outcome` the server reports."""
        if status == 0:
            return
        outcome = ffi.new("SecaggOutcome *")
        index = ffi.new("uint32_t *")
        check(lib.secagg_server_outcome(self._ptr, outcome, index))
        code = int(outcome[0])
        check(status, int(index[0]), Outcome(code) if code else None)

    def receive(self, sender: int, message: bytes) -> None:
        """Takes client ``sender``'s message of the current phase (a
        byte-identical resend is a no-op). A bad message raises
        :class:`ClientFault` with ``index`` the sender and ``outcome`` what
        the server did about it: ``Outcome.EXCLUDED`` (out of the round),
        ``Outcome.NAMED`` (recorded, still in the round) or
        ``Outcome.IGNORED`` (dropped, nothing recorded); the round goes on
        either way."""
        buf = _bytes_in(message)
        with _held(self):  # the outcome read describes this call
            self._check(lib.secagg_server_receive(self._ptr, sender, buf, len(buf), ffi.NULL))

    def receive_all(self, messages: Iterable[Tuple[int, bytes]]) -> List[Optional[SecaggError]]:
        """Takes a batch of ``(sender, message)`` pairs of the current phase:
        the same results, in order, and the same server as :meth:`receive`
        on each in turn, but the checks that depend only on a message's
        bytes run for the whole batch over the library's threads
        (``secagg_server_receive_all``, spec/protocol.md section 5.1). One
        result per message: ``None`` when it was taken, else the exception
        :meth:`receive` would raise for it (a :class:`ClientFault` with
        ``index`` and ``outcome``), returned, not raised. A sender outside
        ``uint32`` or a message that is not bytes raises before any message
        is taken.

        >>> import secagg
        >>> params = secagg.Params(clients=3, threshold=2, dim=2)
        >>> server = secagg.Server(params, bytes(32))
        >>> client = secagg.Client(params, bytes(32), 1)
        >>> results = server.receive_all([(2, b"garbage"), (1, client.message), (9, b"x")])
        >>> [None if e is None else (e.name, e.index, e.outcome.name) for e in results]
        [('CLIENT_MALFORMED', 2, 'EXCLUDED'), None, ('CLIENT_UNKNOWN_SENDER', 9, 'IGNORED')]
        """
        batch = list(messages)
        n = len(batch)
        senders = ffi.new("uint32_t[]", [sender for sender, _ in batch])
        buffers = [_bytes_in(message) for _, message in batch]  # alive during the call
        pointers = ffi.new("const uint8_t *[]", buffers)
        lens = ffi.new("size_t[]", [len(buf) for buf in buffers])
        statuses = ffi.new("SecaggStatus[]", n)
        faults = ffi.new("uint32_t[]", n)
        outcomes = ffi.new("SecaggOutcome[]", n)
        with _held(self):
            check(
                lib.secagg_server_receive_all(
                    self._ptr, n, senders, pointers, lens, statuses, faults, outcomes
                )
            )
        return [
            error(int(statuses[k]), int(faults[k]), Outcome(int(outcomes[k])) if outcomes[k] else None)
            for k in range(n)
        ]

    def close_phase(self) -> Optional[Dict[int, bytes]]:
        """Closes the phase: the messages to deliver, by client index, or
        ``None`` when the round is over (read :attr:`sum`). Raises
        :class:`NotEnoughSurvivors` when too few clients remain, and
        :class:`ClientFault` with ``outcome`` ``Outcome.ABORTED`` when a
        client's shares make the round fail; the round is over then."""
        with _held(self):
            self._check(lib.secagg_server_close_phase(self._ptr))
            if self.phase == "over":
                return None
            return {
                i: _read_bytes(lib.secagg_server_message, self._ptr, i)
                for i in _read_u32(lib.secagg_server_recipients, self._ptr)
            }

    @property
    def phase(self) -> str:
        """The phase whose messages :meth:`receive` accepts."""
        p = ffi.new("SecaggServerPhase *")
        with _held(self):
            check(lib.secagg_server_phase(self._ptr, p))
        return _PHASES[int(p[0])]

    def _list(self, which: int) -> List[int]:
        with _held(self):
            return _read_u32(lib.secagg_server_clients, self._ptr, which)

    @property
    def pending(self) -> List[int]:
        """The clients whose message of this phase is still awaited."""
        return self._list(lib.SECAGG_CLIENT_LIST_PENDING)

    @property
    def excluded(self) -> List[int]:
        """The clients excluded so far."""
        return self._list(lib.SECAGG_CLIENT_LIST_EXCLUDED)

    @property
    def survivors(self) -> List[int]:
        """The clients whose inputs are in the sum (after the round)."""
        return self._list(lib.SECAGG_CLIENT_LIST_SURVIVORS)

    @property
    def sum(self) -> "npt.NDArray[np.uint64]":
        """The sum mod 2**b of the survivors' inputs (after the round)."""
        n = ffi.new("size_t *")
        with _held(self):
            status = lib.secagg_server_sum(self._ptr, ffi.NULL, 0, n)
            if status not in (0, _SHORT):
                check(status)
            out = np.empty(n[0] if status == _SHORT else 0, dtype=np.uint64)
            if out.size:
                check(lib.secagg_server_sum(self._ptr, ffi.from_buffer("uint64_t[]", out, require_writable=True), out.size, n))
        return out

    @property
    def misbehaved(self) -> List[Tuple[int, str]]:
        """The clients that broke the protocol, with their fault's name."""
        with _held(self):
            buf, n = _read(lib.secagg_server_misbehaved, self._ptr, ctype="SecaggFault")
        names = {v: k for k, v in CODES.items()}
        return [(buf[k].index, names.get(buf[k].code, "UNKNOWN")) for k in range(n)]

    @property
    def session(self) -> bytes:
        """The 32-byte session id (zero before the first phase closes)."""
        buf = ffi.new("uint8_t[32]")
        with _held(self):
            check(lib.secagg_server_session(self._ptr, buf))
        return bytes(buf)
