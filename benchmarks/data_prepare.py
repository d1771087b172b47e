"""Benchmark `prepare_dataset`: Amazon Beauty 5-core (when present) and a synthetic 1,000,000-interaction /
100,000-user CSV table. Each run is a fresh subprocess (imports included in the wall time); peak RSS is the
subprocess's own ``ru_maxrss``. Prints the median of ``--runs`` runs.

    python benchmarks/data_prepare.py                     # both, 3 runs each
    python benchmarks/data_prepare.py --only synthetic --runs 1

Goal on a 2-core machine: 1M interactions in < 30 s with < 2 GB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from hf_delrec.data import prepare_dataset
source, path, out, opts = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
t1 = time.perf_counter()
r1 = resource.getrusage(resource.RUSAGE_SELF)
stats = prepare_dataset(source, path, out, overwrite=True, **opts)
t2 = time.perf_counter()
r2 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r2.ru_utime + r2.ru_stime) - (r1.ru_utime + r1.ru_stime)
print(json.dumps({"import_s": t1 - t0, "prepare_s": t2 - t1, "prepare_cpu_s": cpu,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "num_users": stats["num_users"], "num_items": stats["num_items"],
                  "num_interactions": stats["num_interactions"], "timings_s": stats["timings_s"]}))
"""


def make_synthetic(path: Path, interactions: int, users: int, items: int, seed: int = 0) -> None:
    """user_id,item_id,timestamp CSV; Zipf-like item popularity, every user with >= 3 interactions."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    # lengths: 3 + a geometric-ish tail, rescaled to sum exactly to `interactions`
    extra = rng.exponential(1.0, users)
    extra = np.floor(extra / extra.sum() * (interactions - 3 * users)).astype(np.int64)
    extra[: interactions - 3 * users - int(extra.sum())] += 1
    lengths = 3 + extra
    user = np.repeat(np.arange(users, dtype=np.int64), lengths)
    weights = 1.0 / np.arange(1, items + 1) ** 0.8
    item = rng.choice(items, size=interactions, p=weights / weights.sum())
    ts = 1_500_000_000 + rng.integers(0, 10**8, size=interactions)
    table = pa.table(
        {"user_id": pa.array([f"u{u}" for u in user.tolist()]), "item_id": pa.array(item), "timestamp": ts}
    )
    pacsv.write_csv(table, path)


def run(source: str, path: str, options: dict, runs: int, workdir: Path) -> dict:
    results = []
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    for k in range(runs):
        out = workdir / f"out-{source}-{k}"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, source, path, str(out), json.dumps(options)],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{source} run failed:\n{proc.stderr[-3000:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["wall_s"] = wall
        results.append(res)
        shutil.rmtree(out, ignore_errors=True)
        print(f"  run {k + 1}: wall {wall:.2f} s (import {res['import_s']:.2f} s, prepare {res['prepare_s']:.2f} s, "
              f"prepare CPU {res['prepare_cpu_s']:.2f} s), peak RSS {res['peak_rss_mb']:.0f} MB,"
              f" stages {res['timings_s']}", flush=True)  # fmt: skip
    med = {key: statistics.median(r[key] for r in results)
           for key in ("wall_s", "import_s", "prepare_s", "prepare_cpu_s", "peak_rss_mb")}  # fmt: skip
    med.update({k: results[0][k] for k in ("num_users", "num_items", "num_interactions")})
    return med


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("DELREC_DATA_DIR", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--only", choices=["beauty", "synthetic"], default=None)
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a new temp dir)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="hf_delrec_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    beauty = Path(args.data) / "amazon-beauty-5core"
    if args.only in (None, "beauty"):
        if (beauty / "user_sequence.txt").is_file():
            print(f"Beauty 5-core ({beauty}):", flush=True)
            rows.append(("beauty-5core", run("amazon", str(beauty), {}, args.runs, workdir)))
        else:
            print(f"Beauty 5-core: skipped ({beauty}/user_sequence.txt not found)")
    if args.only in (None, "synthetic"):
        csv = workdir / f"synthetic_{args.interactions}_{args.users}.csv"
        if not csv.is_file():
            t0 = time.perf_counter()
            make_synthetic(csv, args.interactions, args.users, args.items)
            print(f"wrote {csv} ({csv.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")
        print(f"synthetic {args.interactions:,} interactions / {args.users:,} users:", flush=True)
        rows.append(("synthetic", run("interactions", str(csv), {}, args.runs, workdir)))
    print(f"\nmedian of {args.runs} run(s)")
    print(
        f"{'dataset':<14} {'users':>9} {'items':>8} {'interactions':>13} {'wall s':>8} {'import s':>9} "
        f"{'prepare s':>10} {'prepare CPU s':>14} {'peak RSS MB':>12}"
    )
    for name, r in rows:
        print(
            f"{name:<14} {r['num_users']:>9,} {r['num_items']:>8,} {r['num_interactions']:>13,} {r['wall_s']:>8.2f} "
            f"{r['import_s']:>9.2f} {r['prepare_s']:>10.2f} {r['prepare_cpu_s']:>14.2f} {r['peak_rss_mb']:>12.0f}"
        )
    # the machine may be shared: a high load average explains slow runs
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
