#!/usr/bin/env python3
"""Flower 1.41's own SecAgg+ against this crate, on the same rounds.

For each point (k, t, n, m, dropout) it runs, in this process and through
secagg.flower.testing.InProcessGrid (every message and node Context crosses
Flower's protobuf serialisation):

* Flower's own ``SecAggPlusWorkflow`` + ``secaggplus_mod``;
* this package's drop-in ``secagg.flower.SecAggPlusWorkflow`` +
  ``secaggplus_mod`` (ChaCha20, the Python package's PRG);

and, before them, ``secagg simulate`` (the Rust CLI, its own process, no
Flower or Python) with ``--prg aes`` and ``--prg chacha20``. The dropped clients
(``dropout`` * n) vanish after sending their shares, before their masked
vector: the case where the server must rebuild their pairwise masks. Each
result is checked (Flower's and the drop-in's against the exact weighted
average within the quantisation bound, the CLI's by its own exact check),
then per-stage times and the ratios are printed:

* server unmask: Flower's server time in its unmask stage over the CLI's
  server R3 time;
Here k is Flower's ``num_shares`` (the client and its k - 1 neighbours hold
its shares): the crate's degree is k - 1.

* client share keys + masking: Flower's mean per-client time in its
  share-keys and masked-vector stages over the CLI's R1 + R2 client mean.

Usage (from the repository root)::

    python3 benches/flower_compare.py            # the two default points
    python3 benches/flower_compare.py --quick    # small sizes, a smoke run
    python3 benches/flower_compare.py --point 21,11,500,100000,0.1

Without Flower importable it makes a virtual environment (``--venv``,
default target/flower-bench-venv), installs ``flwr==1.41.0`` and this
package (``pip install ./python``) into it, and reruns itself there. It
builds the CLI with ``cargo build --release --features cli`` unless
``--secagg`` names a binary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLWR = "flwr==1.41.0"
# k is Flower's `num_shares`: the k share holders of a client are the client
# and its k - 1 neighbours (Flower's ring of +-(k // 2) positions), the
# crate's Harary graph of degree k - 1 (`secagg simulate --degree k-1`); k odd.
DEFAULT_POINTS = [(21, 11, 500, 100_000, 0.1), (21, 11, 100, 1_000_000, 0.1)]
QUICK_POINTS = [(5, 3, 20, 1_000, 0.1), (5, 3, 10, 10_000, 0.1)]


def ensure_environment(venv_dir: Path) -> None:
    """Reruns this script in a venv with Flower and secagg.flower, making it
    when needed."""
    try:
        import flwr  # noqa: F401
        import secagg.flower  # noqa: F401

        if flwr.__version__ == FLWR.split("==")[1]:
            return
    except ImportError:
        pass
    if os.environ.get("FLOWER_COMPARE_CHILD"):
        sys.exit(f"flower_compare: {FLWR} and secagg.flower are still not importable in {sys.prefix}")
    py = venv_dir / "bin" / "python"
    if not py.exists():
        print(f"making {venv_dir}", file=sys.stderr)
        venv.create(venv_dir, with_pip=True)
    pip = [str(py), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, FLWR, "numpy", "cffi"], check=True)
    probe = subprocess.run([str(py), "-c", "import secagg.flower"], capture_output=True)
    if probe.returncode != 0:
        print("installing ./python (builds the crate)", file=sys.stderr)
        subprocess.run([*pip, str(ROOT / "python")], check=True)
    env = dict(os.environ, FLOWER_COMPARE_CHILD="1")
    os.execve(str(py), [str(py), __file__, *sys.argv[1:]], env)


def value(nid: int) -> float:
    """Client ``nid``'s update: every element equal to this (cheap to make,
    so the fit call costs nothing next to the protocol)."""
    return ((nid * 7919) % 1000) / 1000.0 - 0.5


def run_grid(kind: str, k: int, t: int, n: int, m: int, dropout: float, seed: int) -> dict:
    """One round of Flower's pair (``kind="flower"``) or the drop-in
    (``"secagg.flower"``) on the in-process Grid; per-stage times."""
    import numpy as np
    import flwr.client.mod as flower_mods
    import flwr.server.workflow as flower_workflows
    import flwr.compat.common.recorddict_compat as compat
    from flwr.client import ClientApp, NumPyClient
    from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.server.strategy import FedAvg
    from flwr.server.workflow import DefaultWorkflow
    from flwr.server.workflow.constant import MAIN_PARAMS_RECORD

    import secagg.flower as sf
    from secagg.flower.testing import InProcessGrid, run_workflow, stage_of

    class Fixed(NumPyClient):
        def __init__(self, nid: int) -> None:
            self.nid = nid

        def fit(self, parameters, config):
            return [np.full(m, value(self.nid))], 100, {}

    if kind == "flower":
        wf, mod = flower_workflows.SecAggPlusWorkflow(k, t), flower_mods.secaggplus_mod
    else:
        wf, mod = sf.SecAggPlusWorkflow(k, t), sf.secaggplus_mod
    nodes = list(range(1, n + 1))
    dropped = set(random.Random(seed).sample(nodes, int(dropout * n)))

    def fault(msg):
        if msg.metadata.dst_node_id in dropped and stage_of(msg) == "collect_masked_vectors":
            return "drop"
        return None

    app = ClientApp(client_fn=lambda ctx: Fixed(ctx.node_id).to_client(), mods=[mod])
    grid = InProcessGrid({nid: app for nid in nodes}, fault=fault)
    pushing = [0.0]
    push = grid.push_messages

    def timed_push(messages):
        start = time.perf_counter()
        try:
            return push(messages)
        finally:
            pushing[0] += time.perf_counter() - start

    grid.push_messages = timed_push  # type: ignore[method-assign]
    times: dict = {}
    for name in ("setup_stage", "share_keys_stage", "collect_masked_vectors_stage", "unmask_stage"):
        stage = getattr(wf, name)

        def timed(grid_, context, state, _stage=stage, _name=name):
            calls0, push0 = len(grid.calls), pushing[0]
            start = time.perf_counter()
            ok = _stage(grid_, context, state)
            wall = time.perf_counter() - start
            calls = grid.calls[calls0:]
            times[_name[: -len("_stage")]] = {
                "server": wall - (pushing[0] - push0),
                "client_mean": sum(calls) / max(1, len(calls)),
                "grid": pushing[0] - push0 - sum(calls),
            }
            return ok

        setattr(wf, name, timed)
    strategy = FedAvg(
        min_fit_clients=n, min_available_clients=n, fraction_evaluate=0.0,
        initial_parameters=ndarrays_to_parameters([np.zeros(m)]),
    )
    start = time.perf_counter()
    ctx = run_workflow(grid, DefaultWorkflow(fit_workflow=wf), strategy)
    wall = time.perf_counter() - start
    got = parameters_to_ndarrays(
        compat.arrayrecord_to_parameters(ctx.state.array_records[MAIN_PARAMS_RECORD], True)
    )[0]
    survivors = [i for i in nodes if i not in dropped]
    want = sum(value(i) for i in survivors) / len(survivors)
    # Equal weights q = round(100 / 1000 * R): each survivor's rounding moves
    # its element by < 1 step of 2c/R, which the average scales by R / (n q).
    tol = 2 * 8.0 / round(100 / 1000 * (1 << 22)) * 1.01
    err = float(np.abs(got - want).max())
    return {"ok": len(times) == 4 and err <= tol, "max_error": err, "wall": wall, "times": times}


def run_cli(binary: Path, k: int, t: int, n: int, m: int, dropout: float, prg: str, repeat: int) -> dict:
    """``secagg simulate`` ``repeat`` times; the run with the median server
    unmask time."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [str(binary), "simulate", "--clients", str(n), "--dim", str(m), "--degree", str(k - 1),
             "--threshold", str(t), "--dropout", str(dropout), "--prg", prg, "--json"],
            capture_output=True, text=True,
        )
        if out.returncode != 0:
            sys.exit(f"secagg simulate failed ({out.returncode}): {out.stderr or out.stdout}")
        runs.append(json.loads(out.stdout))
    runs.sort(key=lambda j: j["timings_ms"]["unmask"]["server"])
    return runs[len(runs) // 2]


def build_cli() -> Path:
    subprocess.run(["cargo", "build", "--release", "--features", "cli", "--quiet"], cwd=ROOT, check=True)
    return ROOT / "target" / "release" / "secagg"


def fmt(x: float) -> str:
    return f"{x * 1e3:.1f}" if x < 10 else f"{x:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    ap.add_argument("--point", action="append", default=[], metavar="K,T,N,M,DROPOUT",
                    help="K = Flower's num_shares (odd; the crate's degree is K - 1)")
    ap.add_argument("--venv", type=Path, default=ROOT / "target" / "flower-bench-venv")
    ap.add_argument("--secagg", type=Path, help="the secagg CLI binary (default: build it)")
    ap.add_argument("--repeat", type=int, default=3, help="secagg simulate runs per point (median)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-dropin", action="store_true", help="skip the secagg.flower round")
    args = ap.parse_args()
    ensure_environment(args.venv)
    import logging

    logging.getLogger("flwr").setLevel(logging.WARNING)
    import flwr

    points = [tuple(float(x) if i == 4 else int(x) for i, x in enumerate(p.split(","))) for p in args.point]
    points = points or (QUICK_POINTS if args.quick else DEFAULT_POINTS)
    binary = args.secagg or build_cli()
    rows = []
    failed = False
    print(f"flwr {flwr.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs", flush=True)
    for k, t, n, m, d in points:
        if k % 2 == 0 or not 2 <= t <= k:
            sys.exit(f"flower_compare: k = {k} (Flower's num_shares) must be odd and t in 2..k")
        print(f"\n== k={k} t={t} n={n} m={m} dropout={d}", flush=True)
        # The CLI first, so that nothing the Python rounds leave behind in
        # this process (heap, threads) can weigh on its timings.
        cli = {prg: run_cli(binary, k, t, n, m, d, prg, args.repeat) for prg in ("aes", "chacha20")}
        for prg, j in cli.items():
            print(f"secagg simulate --prg {prg}: ok={j['ok']} survivors {j['survivors']['u3']}", flush=True)
        fl = run_grid("flower", k, t, n, m, d, args.seed)
        print(f"Flower SecAgg+: ok={fl['ok']} max error {fl['max_error']:.2e}, {fl['wall']:.1f} s wall", flush=True)
        ours = None if args.no_dropin else run_grid("secagg.flower", k, t, n, m, d, args.seed)
        if ours is not None:
            print(f"secagg.flower: ok={ours['ok']} max error {ours['max_error']:.2e}, {ours['wall']:.1f} s wall", flush=True)
        failed |= not fl["ok"] or (ours is not None and not ours["ok"]) or not all(j["ok"] for j in cli.values())
        ft = fl["times"]
        print(f"\n{'stage':<24}{'Flower server':>16}{'Flower client':>16}", end="")
        if ours:
            print(f"{'drop-in server':>16}{'drop-in client':>16}", end="")
        print(f"{'CLI aes server':>16}{'aes client':>12}{'chacha server':>15}{'chacha client':>15}  (ms)")
        cli_keys = {"setup": "advertise_keys", "share_keys": "share_keys",
                    "collect_masked_vectors": "masked_input", "unmask": "unmask"}
        for st in ("setup", "share_keys", "collect_masked_vectors", "unmask"):
            line = f"{st:<24}{ft[st]['server'] * 1e3:>16.1f}{ft[st]['client_mean'] * 1e3:>16.2f}"
            if ours:
                line += f"{ours['times'][st]['server'] * 1e3:>16.1f}{ours['times'][st]['client_mean'] * 1e3:>16.2f}"
            a, c = cli["aes"]["timings_ms"][cli_keys[st]], cli["chacha20"]["timings_ms"][cli_keys[st]]
            line += f"{a['server']:>16.1f}{a['client_mean']:>12.2f}{c['server']:>15.1f}{c['client_mean']:>15.2f}"
            print(line)
        fl_unmask = ft["unmask"]["server"] * 1e3
        fl_client = (ft["share_keys"]["client_mean"] + ft["collect_masked_vectors"]["client_mean"]) * 1e3
        row = {"k": k, "t": t, "n": n, "m": m, "dropout": d, "flower_unmask_ms": fl_unmask,
               "flower_client_ms": fl_client}
        for prg, j in cli.items():
            tm = j["timings_ms"]
            unmask = tm["unmask"]["server"]
            client = tm["share_keys"]["client_mean"] + tm["masked_input"]["client_mean"]
            row[f"{prg}_unmask_ms"], row[f"{prg}_client_ms"] = unmask, client
            print(f"ratio Flower / secagg ({prg}): server unmask {fl_unmask / unmask:.0f}x "
                  f"({fl_unmask:.0f} / {unmask:.1f} ms), client share keys + masking "
                  f"{fl_client / client:.1f}x ({fl_client:.1f} / {client:.2f} ms)")
        if ours:
            du = ours["times"]["unmask"]["server"] * 1e3
            dc = (ours["times"]["share_keys"]["client_mean"] + ours["times"]["collect_masked_vectors"]["client_mean"]) * 1e3
            row["dropin_unmask_ms"], row["dropin_client_ms"] = du, dc
            print(f"ratio Flower / secagg.flower drop-in (aes, via Python): server unmask "
                  f"{fl_unmask / du:.0f}x, client share keys + masking {fl_client / dc:.1f}x")
        rows.append(row)
    print("\n| k (num_shares) | t | n | m | drop | Flower unmask | AES unmask | ratio | ChaCha20 unmask | ratio "
          "| Flower client | AES client | ratio | ChaCha20 client | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['k']} | {r['t']} | {r['n']} | {r['m']:,} | {r['dropout']:.0%} "
            f"| {r['flower_unmask_ms'] / 1e3:.2f} s | {r['aes_unmask_ms']:.1f} ms "
            f"| {r['flower_unmask_ms'] / r['aes_unmask_ms']:.0f}x "
            f"| {r['chacha20_unmask_ms']:.1f} ms | {r['flower_unmask_ms'] / r['chacha20_unmask_ms']:.0f}x "
            f"| {r['flower_client_ms']:.1f} ms | {r['aes_client_ms']:.2f} ms "
            f"| {r['flower_client_ms'] / r['aes_client_ms']:.1f}x "
            f"| {r['chacha20_client_ms']:.2f} ms | {r['flower_client_ms'] / r['chacha20_client_ms']:.1f}x |"
        )
    print(json.dumps(rows), file=sys.stderr)
    if failed:
        sys.exit("flower_compare: a result was wrong (see ok= above)")


if __name__ == "__main__":
    main()
