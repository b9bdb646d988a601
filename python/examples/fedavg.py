"""Federated averaging of a logistic-regression model among simulated
hospitals with skewed local data, aggregated with secure aggregation and
distributed differential privacy, next to the non-private baseline.

Each round every hospital trains locally from the global model, clips its
update, encodes it with DP noise (secagg.DpConfig.encode) and takes part in
one SecAgg round; the server learns only the noisy sum of the updates, which
it decodes into the mean update (secagg.DpConfig.decode). One hospital drops
out of every round after sharing its keys.

    python examples/fedavg.py --rounds 10
"""

from __future__ import annotations

import argparse
import os
from typing import Dict, List, Tuple

import numpy as np

import secagg


def make_data(hospitals: int, per: int, dim: int, rng: np.random.Generator):
    """Two Gaussian classes; hospital k sees class 1 with its own rate and a
    shifted feature distribution (skewed, non-IID)."""
    w_true = rng.normal(size=dim)
    data = []
    for k in range(hospitals):
        rate = 0.15 + 0.7 * k / max(hospitals - 1, 1)
        x = rng.normal(size=(per, dim)) + rng.normal(scale=0.3, size=dim)
        logits = x @ w_true + np.log(rate / (1 - rate))
        y = (rng.random(per) < 1 / (1 + np.exp(-logits))).astype(np.float64)
        data.append((x, y))
    xt = rng.normal(size=(4000, dim))
    yt = (rng.random(4000) < 1 / (1 + np.exp(-(xt @ w_true)))).astype(np.float64)
    return data, (xt, yt)


def accuracy(w: np.ndarray, test: Tuple[np.ndarray, np.ndarray]) -> float:
    x, y = test
    return float((((x @ w[:-1] + w[-1]) > 0) == (y > 0.5)).mean())


def local_update(w: np.ndarray, x: np.ndarray, y: np.ndarray, steps: int = 5, lr: float = 0.5):
    """A few full-batch gradient steps of logistic regression; the update."""
    v = w.copy()
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ v[:-1] + v[-1])))
        g = np.concatenate([x.T @ (p - y), [np.sum(p - y)]]) / len(y)
        v -= lr * g
    return v - w


def secure_sum(params: secagg.Params, vectors: Dict[int, np.ndarray], drop: int):
    """One SecAgg round over `vectors` (client index -> uint64 vector);
    client `drop` vanishes after sharing its keys. Returns (sum, survivors)."""
    rid = os.urandom(32)
    server = secagg.Server(params, rid)
    clients = {i: secagg.Client(params, rid, i) for i in vectors}
    for i, c in clients.items():
        server.receive(i, c.message)
    out = server.close_phase()
    for i, c in clients.items():
        if i != drop:
            server.receive(i, c.receive_keys(out[i]))
    out = server.close_phase()
    for i, msg in out.items():
        server.receive(i, clients[i].receive_shares(msg, vectors[i]))
    out = server.close_phase()
    for i, msg in out.items():
        server.receive(i, clients[i].receive_unmask(msg))
    assert server.close_phase() is None
    return server.sum, server.survivors


def train(rounds: int, hospitals: int = 20, epsilon: float = 8.0, seed: int = 0,
          verbose: bool = True) -> List[Tuple[float, float]]:
    """Runs both trainings; returns (private, baseline) accuracy per round."""
    rng = np.random.default_rng(seed)
    dim = 10
    data, test = make_data(hospitals, 200, dim, rng)
    clip = 1.0
    dp = secagg.DpConfig(epsilon=epsilon, delta=1e-5, clip=clip, dim=dim + 1, bits=32,
                         clients=hospitals, min_honest=hospitals - 1, rounds=rounds)
    params = secagg.Params(clients=hospitals, threshold=hospitals // 2 + 1,
                           dim=dp.padded_dim).with_dp(dp)
    w_private = np.zeros(dim + 1)
    w_plain = np.zeros(dim + 1)
    history = []
    for r in range(rounds):
        rotation_seed = os.urandom(32)  # public, the same for every client
        encoded = {k + 1: dp.encode(local_update(w_private, *data[k]), rotation_seed)
                   for k in range(hospitals)}
        total, survivors = secure_sum(params, encoded, drop=1 + r % hospitals)
        mean, report = dp.decode(total, len(survivors), rotation_seed, mean=True)
        w_private += mean
        updates = [local_update(w_plain, *data[k]) for k in range(hospitals)]
        w_plain += np.mean(updates, axis=0)
        acc = (accuracy(w_private, test), accuracy(w_plain, test))
        history.append(acc)
        if verbose:
            print(f"round {r + 1:2d}: private {acc[0]:.3f}  baseline {acc[1]:.3f}  "
                  f"(epsilon reached {report.epsilon_reached:.2f} over {rounds} rounds)")
    return history


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--hospitals", type=int, default=20)
    ap.add_argument("--epsilon", type=float, default=8.0)
    args = ap.parse_args()
    train(args.rounds, args.hospitals, args.epsilon)


if __name__ == "__main__":
    main()
