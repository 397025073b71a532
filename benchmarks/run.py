#!/usr/bin/env python3
"""Start-up and batch throughput of the installed `needle`, measured side by side.

    .venv/bin/python benchmarks/run.py            # full: 1k, 10k and 100k rows (several minutes)
    .venv/bin/python benchmarks/run.py --smoke    # seconds: tiny sizes, for CI

(a) `needle --help` and `needle plan ... --format ics` wall time, median of
    repeated runs, each as a ratio to `python -c pass` in the same interpreter;
(b) `needle batch` to one ICS file per patient (5 sessions each, with pause
    and aftercare windows and alarms, times in Europe/London): patients per
    second and peak RSS of the largest process, for each list size.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NEEDLE = [sys.executable, "-m", "needlecli"]
INDICATIONS = ("fine-lines", "acne-scars", "texture", "deep-scars")


def median_seconds(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def synthetic_list(path: Path, n: int) -> None:
    with path.open("w") as fh:
        fh.write("patient_id,indication,start,sessions,time,tz\n")
        for i in range(n):
            fh.write(f"P{i:06d},{INDICATIONS[i % 4]},2027-{1 + i % 12:02d}-{1 + i % 28:02d},5,10:30,Europe/London\n")


def run_batch(csv_path: Path, out: Path, env: dict[str, str], jobs: int | None) -> tuple[float, int, int]:
    """(seconds, peak RSS in KiB of the largest process, exit status), measured in a fresh wrapper."""
    cmd = [*NEEDLE, "batch", str(csv_path), "--out-dir", str(out), "--format", "ics", "--quiet", "--on", "2026-12-01"]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter(); rc = subprocess.run(sys.argv[1:]).returncode\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)\n"
    )
    res = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, env=env, check=True)
    secs, rss, rc = res.stdout.split()
    return float(secs), int(rss), int(rc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and few runs (for CI)")
    ap.add_argument("--sizes", type=int, nargs="*", help="list sizes (default 1000 10000 100000)")
    ap.add_argument("--jobs", type=int, help="batch --jobs (default: CPU count)")
    args = ap.parse_args()
    sizes = args.sizes or ([50, 200] if args.smoke else [1_000, 10_000, 100_000])
    runs = 5 if args.smoke else 21
    work = Path(tempfile.mkdtemp(prefix="needle-bench-"))
    env = {**os.environ, "NEEDLE_CONFIG": str(work / "no-config.toml")}
    try:
        base = median_seconds([sys.executable, "-c", "pass"], runs, env)
        print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        print(f"python -c pass: {base * 1000:.1f} ms")
        print("\n(a) start-up                                     ms   x python -c pass")
        plan = [*NEEDLE, "plan", "--patient", "P1", "--indication", "fine-lines", "--start", "2027-03-01",
                "--sessions", "5", "--time", "10:30", "--tz", "Europe/London", "--format", "ics", "--on", "2026-12-01"]
        for label, cmd in (("needle --help", [*NEEDLE, "--help"]), ("needle plan ... --format ics", plan)):
            t = median_seconds(cmd, runs, env)
            print(f"    {label:<42} {t * 1000:6.1f}   {t / base:5.1f}x")
        print("\n(b) batch to per-patient ICS          rows   seconds   patients/s   peak RSS")
        for n in sizes:
            csv_path = work / f"list-{n}.csv"
            synthetic_list(csv_path, n)
            out = work / f"out-{n}"
            secs, rss_kib, rc = run_batch(csv_path, out, env, args.jobs)
            files = sum(1 for f in out.iterdir() if f.suffix == ".ics")
            status = "" if rc == 0 and files == n else f"   (exit {rc}, {files} files!)"
            print(f"    {'':<30} {n:>7}   {secs:7.2f}   {n / secs:10.0f}   {rss_kib / 1024:6.1f} MiB{status}")
            shutil.rmtree(out)
            if rc != 0 or files != n:
                return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
