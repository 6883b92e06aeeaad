"""Interleaved A/B pairs of one CPU benchmark between two checkouts of Yizhan.

Run from the repository root:

    .venv/bin/python bench/ab.py --base ../before [--pairs 5] -- bench/aliyun_cpu.py --numbers 1

Runs the benchmark script in the base checkout (A, with its own `.venv`) and in this one (B),
alternately, `--pairs` times, and prints each pair and the median of the B/A ratios of the
figure it reads (`--metric`: CPU µs per number for `aliyun_cpu.py`, CPU µs per send for
`pipeline_cpu.py`). Lower is better for both, so a ratio under 1.00 means B is cheaper. On a
shared machine single runs move by ±20 %; interleaving lets A and B see the same load, and
the median of the ratios is the figure a target is judged by.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEND_LINE = re.compile(r"sends\s+([\d.]+) us CPU/send end to end")


def figure(output: str, script: str, metric: str) -> float:
    """The benchmark's figure from its output: the RESULT line's `metric` where there is
    one, else the end-to-end CPU per send of `pipeline_cpu.py`."""
    for line in output.splitlines():
        if line.startswith("RESULT "):
            return float(json.loads(line[len("RESULT "):])[metric])
    found = SEND_LINE.search(output)
    if found is None:
        raise SystemExit(f"{script}: no figure in its output:\n{output[-2000:]}")
    return float(found.group(1))


def run(checkout: Path, command: list[str]) -> str:
    done = subprocess.run([str(checkout / ".venv/bin/python"), *command], cwd=checkout,
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: {' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, required=True, help="the checkout to compare against")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--metric", default="cpu_us_per_number")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- script and its arguments")
    args = parser.parse_args()
    command = [part for part in args.command if part != "--"]
    if not command:
        parser.error("name the benchmark after --")
    ratios = []
    for pair in range(1, args.pairs + 1):
        a = figure(run(args.base.resolve(), command), command[0], args.metric)
        b = figure(run(ROOT, command), command[0], args.metric)
        ratios.append(b / a)
        print(f"pair {pair}: A {a:.2f}  B {b:.2f}  B/A {b / a:.3f}", flush=True)
    print(f"{' '.join(command)}: median B/A {statistics.median(ratios):.3f} "
          f"over {len(ratios)} pairs")


if __name__ == "__main__":
    sys.exit(main())
