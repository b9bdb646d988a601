#!/usr/bin/env python3
"""Prints the floor ratios at the performance targets' points (README.md).

    cargo build --release --features cli --bin secagg
    python3 benches/targets.py [--runs N]

For each PRG and each point, N seeded runs of `secagg simulate --json`
(seeds 1..N); the table gives the medians of client R2 and server R3, their
ratios to the keystream floor that the same run measures (client: R2 / its
floor; server: R3 / (its floor / threads)), the same ratios against the
keystream plus the public-key work no implementation avoids (a client's
2kt commitment points, decoded and checked in one multiscalar
multiplication; the server's X25519 agreements and the check of the
secrets it rebuilt), the least ratio to the keystream floor that work
allows ((floor + pk) / floor, per side), the server's R1
and R2, the upload per client against the packed vector (measured
without dropout, since a client that drops after R1 sends no vector), and
the server's own peak heap (`server_peak_heap_bytes`, counted by the CLI's
allocator) against its target 2 m lane + 64 MiB. Run it on a quiet
machine.

    python3 benches/targets.py --runs 5 --against OTHER/secagg

compares two builds in one run: for each seed, this tree's binary and then
OTHER's run the same round, and the table has one row per build (column
`build`: `this` or `against`), so both see the same machine.
"""

import argparse
import statistics
import sys
from pathlib import Path

from readme_table import BINARY, run

MIB = 1 << 20

POINTS = [
    ("n=100, m=10^6, 10% drop", ["--clients", "100", "--dim", "1000000", "--dropout", "0.1"]),
    ("n=1000, m=10^5, 10% drop", ["--clients", "1000", "--dim", "100000", "--dropout", "0.1"]),
    ("n=1000, m=10^4, 10% drop", ["--clients", "1000", "--dim", "10000", "--dropout", "0.1"]),
    ("n=1000, m=10^4", ["--clients", "1000", "--dim", "10000"]),
    ("n=100, m=10^6 (upload)", ["--clients", "100", "--dim", "1000000"]),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another secagg binary, run in turn")
    parser.add_argument("--point", action="append",
                        help="run only this point (its name as printed, e.g. 'n=1000, m=10^4'); "
                        "repeat for several")
    opts = parser.parse_args()
    names = [name for name, _ in POINTS]
    for wanted in opts.point or []:
        if wanted not in names:
            sys.exit(f"no point {wanted!r}; the points are: {', '.join(names)}")
    if not BINARY.exists():
        sys.exit(f"build first: {BINARY} is missing")
    builds = [("this", BINARY)]
    if opts.against is not None:
        if not opts.against.exists():
            sys.exit(f"{opts.against} is missing")
        builds.append(("against", opts.against))
    lead = "| build " if opts.against is not None else ""
    print(f"{lead}| PRG | point | k, t | client R2 (ms) | R2 / floor | R2 / (floor + pk) "
          "| least R2 / floor | server R3 (ms) | R3 / floor | R3 / (floor + pk) "
          "| least R3 / floor | server R1 (ms) "
          "| server R2 (ms) | upload / packed | server heap (MiB) | heap target (MiB) |")
    print(f"{'| --- ' if lead else ''}| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: | ---: | ---: | ---: |")
    for prg in ["chacha20", "aes"]:
        for name, args in POINTS:
            if opts.point and name not in opts.point:
                continue
            by_build = {label: [] for label, _ in builds}
            for seed in range(1, opts.runs + 1):
                for label, binary in builds:
                    by_build[label].append(
                        run([*args, "--prg", prg, "--seed", str(seed)], binary)
                    )
            for label, runs in by_build.items():
                if not all(r["ok"] for r in runs):
                    sys.exit(f"{label} {prg} {name}: a round did not give the plaintext sum")
                row(f"| {label} " if lead else "", prg, name, runs)


def row(lead, prg, name, runs):
    """One row of the table: the medians over `runs` of one point."""

    def med(get):
        return statistics.median(get(r) for r in runs)

    t = lambda phase, who: med(lambda r: r["timings_ms"][phase][who])
    f = lambda key: med(lambda r: r["floor"][key])
    first = runs[0]
    heaps = [r["server_peak_heap_bytes"] for r in runs]
    heap = "n/a" if None in heaps else f"{statistics.median(heaps) / MIB:.1f}"
    print(
        f"{lead}| {prg} | {name} | {first['k']}, {first['t']} "
        f"| {t('masked_input', 'client_mean'):.2f} | {f('client_ratio'):.2f}x "
        f"| {f('client_ratio_with_public_key'):.2f}x "
        f"| {f('client_with_public_key_ms') / f('client_ms'):.2f}x "
        f"| {t('unmask', 'server'):.1f} | {f('server_ratio'):.2f}x "
        f"| {f('server_ratio_with_public_key'):.2f}x "
        f"| {f('server_with_public_key_ms') / f('server_ms'):.2f}x "
        f"| {t('share_keys', 'server'):.1f} | {t('masked_input', 'server'):.1f} "
        f"| {med(lambda r: r['bytes']['upload_per_client'] / r['bytes']['packed_vector']):.4f} "
        f"| {heap} | {first['server_heap_target_bytes'] / MIB:.1f} |"
    )


if __name__ == "__main__":
    main()
