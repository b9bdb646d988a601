#!/usr/bin/env python3
"""Regenerates the README's performance table from `secagg simulate --json`.

    cargo build --release --features cli --bin secagg
    python3 benches/readme_table.py [--runs N]

Each configuration runs N times (default 5) in this one process's lifetime,
one after another; the table gives the median of each figure and the ratio
to the PRG floor that `secagg simulate` measures on the same machine in the
same run (DESIGN.md section 8). Run it on a quiet machine: nothing else
should compete for the cores.
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "secagg"

CONFIGS = [
    ("n=100, m=10^5 (defaults)", []),
    ("n=100, m=10^5, 10% drop after R1", ["--dropout", "0.1"]),
    ("n=100, m=10^6", ["--dim", "1000000"]),
    ("n=1000, m=10^4", ["--clients", "1000", "--dim", "10000"]),
    ("n=100, m=10^6, AES-128-CTR", ["--dim", "1000000", "--prg", "aes"]),
    ("n=1000, m=10^4, AES-128-CTR", ["--clients", "1000", "--dim", "10000", "--prg", "aes"]),
    ("n=100, m=10^5, complete graph", ["--complete"]),
    ("malicious: n=100, m=10^5", ["--malicious"]),
    ("malicious: n=100, m=10^5, 10% drop after R1", ["--malicious", "--dropout", "0.1"]),
    ("malicious: n=100, m=10^6", ["--malicious", "--dim", "1000000"]),
    ("malicious: n=1000, m=10^4", ["--malicious", "--clients", "1000", "--dim", "10000"]),
    ("malicious: n=100, m=10^5, complete graph", ["--malicious", "--complete"]),
]


def run(args, binary=BINARY):
    out = subprocess.run(
        [str(binary), "simulate", "--json", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    if not BINARY.exists():
        sys.exit(f"build first: {BINARY} is missing")

    print("| round | k, t | server R2 (ms) | consistency server / client (ms) "
          "| server R3 (ms) | R3 / floor "
          "| client R1 (ms) | client R2 (ms) | R2 / floor | client R3 (ms) "
          "| upload / packed | download (KB) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, args in CONFIGS:
        runs = [run(args) for _ in range(opts.runs)]
        if not all(r["ok"] for r in runs):
            sys.exit(f"{name}: a round did not give the plaintext sum")

        def med(get):
            return statistics.median(get(r) for r in runs)

        t = lambda phase, who: med(lambda r: r["timings_ms"][phase][who])
        first = runs[0]
        print(
            f"| {name} | {first['k']}, {first['t']} "
            f"| {t('masked_input', 'server'):.1f} "
            f"| {t('consistency', 'server'):.1f} / {t('consistency', 'client_mean'):.2f} "
            f"| {t('unmask', 'server'):.1f} "
            f"| {med(lambda r: r['floor']['server_ratio']):.2f}x "
            f"| {t('share_keys', 'client_mean'):.2f} | {t('masked_input', 'client_mean'):.2f} "
            f"| {med(lambda r: r['floor']['client_ratio']):.2f}x "
            f"| {t('unmask', 'client_mean'):.2f} "
            f"| {med(lambda r: r['bytes']['upload_per_client'] / r['bytes']['packed_vector']):.4f} "
            f"| {med(lambda r: r['bytes']['download_per_client']) / 1000:.1f} |"
        )


if __name__ == "__main__":
    main()
