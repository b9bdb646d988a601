"""python/README.md's claims that no other test checks value by value: its
example runs, ``import secagg`` works without Flower, and
``Server.receive_all`` gives the same results and the same server as
``Server.receive`` on each message in turn, hostile messages included."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

import secagg
from secagg import Outcome, Params, Rng, Server

README = Path(__file__).resolve().parents[1] / "README.md"


def test_state_example_runs() -> None:
    """The example of "State that survives a process" runs and ends with its
    assertion (the client reopened from its export awaits the keys), and
    its comment holds: the AdvertiseKeys is not in the export (the reopened
    client has no message to send)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    example = next(b for b in blocks if "Client.from_state" in b)
    scope: dict = {}
    exec(compile(example, "python/README.md", "exec"), scope)
    assert scope["client"].phase == "keys" and scope["client"].index == 1
    assert len(scope["advertise"]) > 0 and scope["client"].message == b""


def test_import_secagg_works_without_flower() -> None:
    """"`import secagg` works without Flower": with flwr unimportable, a
    round's first message is built, and only ``secagg.flower`` fails, with
    an ImportError that says how to install it."""
    code = (
        "import sys\n"
        "sys.modules['flwr'] = None\n"  # import flwr raises ImportError
        "import secagg\n"
        "p = secagg.Params(clients=3, threshold=2, dim=2)\n"
        "assert len(secagg.Client(p, bytes(32), 1).message) > 0\n"
        "try:\n"
        "    import secagg.flower\n"
        "except ImportError as e:\n"
        "    print('refused:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "refused:" in out.stdout and "secagg[flower]" in out.stdout, out


Result = Optional[Tuple[str, int, Optional[Outcome]]]


def summary(e: Optional[BaseException]) -> Result:
    """A result as comparable values: None, or (name, index, outcome)."""
    if e is None:
        return None
    assert isinstance(e, secagg.SecaggError)
    return (e.name, getattr(e, "index", 0), getattr(e, "outcome", None))


def test_receive_all_is_receive_in_turn() -> None:
    """"Mask PRG and client faults": ``receive_all`` returns, per message,
    None or the ClientFault ``receive`` would have raised, and leaves the
    server as ``receive`` in turn does. Each phase's batch holds the honest
    answers, garbage from client 4 in R1 instead of its ShareKeys (it is
    excluded, its pairwise masks removed), an unknown sender 9
    (ignored) and client 1's answer twice (a byte-identical resend, taken);
    both servers end with the same sets and the same exact sum."""
    n, m = 4, 3
    params = Params(clients=n, threshold=2, dim=m, bits=16)
    rid = bytes(range(32))

    def run(batched: bool) -> tuple:
        server = Server(params, rid, rng=Rng(1))
        clients = {i: secagg.Client(params, rid, i, rng=Rng(10 + i)) for i in range(1, n + 1)}
        sent = {i: c.message for i, c in clients.items()}
        results: List[List[Result]] = []
        for phase in range(4):
            batch = [(i, b"garbage" if (phase, i) == (1, 4) else msg) for i, msg in sorted(sent.items())]
            batch.append((1, sent[1]))
            batch.append((9, b"garbage"))
            if batched:
                got = [summary(e) for e in server.receive_all(batch)]
            else:
                got = []
                for i, msg in batch:
                    try:
                        server.receive(i, msg)
                        got.append(None)
                    except secagg.ClientFault as e:
                        got.append(summary(e))
            results.append(got)
            state = (server.phase, server.pending, server.excluded)
            out = server.close_phase()
            results.append([state])  # type: ignore[list-item]
            if out is None:
                break
            answer = {
                0: lambda c, msg: c.receive_keys(msg),
                1: lambda c, msg: c.receive_shares(msg, np.full(m, c.index * 7, dtype=np.uint64)),
                2: lambda c, msg: c.receive_unmask(msg),
            }[phase]
            sent = {i: answer(clients[i], msg) for i, msg in out.items()}
        return results, server.survivors, server.excluded, server.sum.tolist()

    one_by_one, batched = run(False), run(True)
    assert batched == one_by_one
    results, survivors, excluded, total = batched
    # The faults are the ones named above, not just equal to each other.
    assert results[0][-1] == ("CLIENT_UNKNOWN_SENDER", 9, Outcome.IGNORED)
    assert results[2][3] == ("CLIENT_MALFORMED", 4, Outcome.EXCLUDED)
    assert [r for phase in results[::2] for r in phase if r is not None] == [
        ("CLIENT_UNKNOWN_SENDER", 9, Outcome.IGNORED),
        ("CLIENT_MALFORMED", 4, Outcome.EXCLUDED),
        ("CLIENT_UNKNOWN_SENDER", 9, Outcome.IGNORED),
        ("CLIENT_UNKNOWN_SENDER", 9, Outcome.IGNORED),
        ("CLIENT_UNKNOWN_SENDER", 9, Outcome.IGNORED),
    ]
    assert survivors == [1, 2, 3] and excluded == [4]
    assert total == [7 * (1 + 2 + 3)] * m
