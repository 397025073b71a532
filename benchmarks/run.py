#!/usr/bin/env python3
"""Start-up and batch throughput of `needle` as users install it: a wheel in a fresh venv.

    .venv/bin/python benchmarks/run.py            # full: 1k, 10k and 100k rows (several minutes)
    .venv/bin/python benchmarks/run.py --large    # ... and 1M rows for ICS (long)
    .venv/bin/python benchmarks/run.py --smoke    # seconds of measuring: tiny sizes, for CI

It builds the wheel (`pip wheel --no-deps`) and installs it, non-editable, into a fresh
temporary venv (an editable install adds ~8 ms to every start and halves every ratio), with
the dependency versions of the venv running this script (`pip freeze` as constraints; with
`--offline`, and always with `--smoke`, the dependencies are not installed but read from this
venv's site-packages through a .pth file, so nothing is downloaded). Then:

(a) start-up: `needle --help`, `needle plan ... --format json` and `... --format ics --time
    10:30 --tz Europe/London`, each as a ratio to `python -c pass` of the same venv: the runs
    are interleaved (pass, command, pass, command, ...) and the ratio is the median of each
    round's ratios, so the machine's load moves both sides together;
(b) `needle batch` to one file per patient (5 sessions, pause and aftercare windows, alarms,
    times in Europe/London): patients per second, CPU per patient and the peak RSS of the
    largest process, at 1k, 10k and 100k rows (1M with --large) for ICS, and for md, html
    and json at up to 10k rows (--other-sizes);
(b') `needle batch --book --jobs 2` (ICS) into a fresh register each round: patients per second
    (median of the rounds), CPU per patient, the peak RSS of the largest process (the highest of
    the rounds) and the register's size per patient, at 10k rows of the shared list and of the list
    with no shared series (--book-sizes, --book-distinct-sizes);
(c) ICS rendering in one process: `ics.export` (icalendar builds and serialises every
    calendar) against the batch renderer (`ics_fast.CalendarRenderer`), same plans, same bytes.

It ends with a Markdown section (date, machine, the baseline's absolute time) for the README.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INDICATIONS = ("fine-lines", "acne-scars", "texture", "deep-scars")
PLAN = ["plan", "--patient", "P1", "--indication", "fine-lines", "--start", "2027-01-04", "--on", "2026-12-01"]
STARTUP = {
    "`needle --help`": ["--help"],
    "`needle plan … --format json`": [*PLAN, "--format", "json"],
    "`needle plan … --format ics --time 10:30 --tz Europe/London`": [
        *PLAN,
        "--format",
        "ics",
        "--time",
        "10:30",
        "--tz",
        "Europe/London",
    ],
}
GOALS = {"`needle --help`": "≤ 6×", "`needle plan … --format ics --time 10:30 --tz Europe/London`": "≤ 12×"}
#: What one batch row costs, in the wrapper that runs it: wall seconds, the largest process's peak RSS
#: (KiB; Linux counts every waited-for descendant, so the pool's workers too), CPU seconds, exit status.
WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter(); rc = subprocess.run(sys.argv[1:]).returncode; t = time.perf_counter() - t\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(t, u.ru_maxrss, u.ru_utime + u.ru_stime, rc)\n"
)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ----------------------------------------------------------------- the install


def install(work: Path, offline: bool) -> Path:
    """Build the wheel, make a fresh venv, install the wheel into it (not editable); its bin folder."""
    dist = work / "dist"
    log("building the wheel ...")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "-w", str(dist), str(REPO)], check=True)
    wheel = next(dist.glob("needle-*.whl"))
    venv = work / "venv"
    log("making a fresh venv ...")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    target = [*pip, "--python", str(python), "install", "--quiet"]
    if offline:
        subprocess.run([*target, "--no-deps", str(wheel)], check=True)
        # The dependencies of this venv, read through a .pth (a path in a .pth is not a site folder:
        # this venv's editable install of needle is not seen there).
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        ours = subprocess.run(
            [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        (Path(site) / "needle-bench-deps.pth").write_text(ours + "\n")
    else:
        frozen = subprocess.run([*pip, "freeze", "--exclude-editable"], capture_output=True, text=True, check=True)
        constraints = work / "constraints.txt"
        constraints.write_text(
            "".join(line + "\n" for line in frozen.stdout.splitlines() if not line.lower().startswith("needle"))
        )
        log("installing the wheel and its dependencies (this venv's versions) ...")
        subprocess.run([*target, "-c", str(constraints), str(wheel)], check=True)
    return venv / "bin"


# ----------------------------------------------------------------- (a) start-up


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd, check=False)
    return time.perf_counter() - t0


def startup(bin_dir: Path, rounds: int, env: dict[str, str], cwd: Path) -> tuple[float, dict[str, tuple[float, float]]]:
    """(median seconds of `python -c pass`, {label: (median seconds, median per-round ratio)})."""
    base_cmd = [str(bin_dir / "python"), "-c", "pass"]
    needle = str(bin_dir / "needle")
    for args in STARTUP.values():  # check each runs, and warm the caches
        r = subprocess.run([needle, *args], capture_output=True, env=env, cwd=cwd, check=False)
        if r.returncode != 0:
            raise SystemExit(f"needle {' '.join(args)} failed:\n{r.stderr.decode(errors='replace')}")
    bases: list[float] = []
    times: dict[str, list[float]] = {label: [] for label in STARTUP}
    ratios: dict[str, list[float]] = {label: [] for label in STARTUP}
    for _ in range(rounds):
        for label, args in STARTUP.items():
            base = timed(base_cmd, env, cwd)
            t = timed([needle, *args], env, cwd)
            bases.append(base)
            times[label].append(t)
            ratios[label].append(t / base)
    return statistics.median(bases), {
        label: (statistics.median(times[label]), statistics.median(ratios[label])) for label in STARTUP
    }


# ----------------------------------------------------------------- (b) batch


def synthetic_list(path: Path, n: int, distinct: bool = False) -> None:
    """The list: four indications in turn, starts over a year, all at 10:30 (84 different series: many
    patients share one, as in a clinic's list where patients start on the same days); with ``distinct``
    no two rows share a series (start days over four years, times every 15 minutes from 08:00): the
    worst case, where batch cannot reuse one patient's plan and file for another."""
    with path.open("w") as fh:
        fh.write("patient_id,indication,start,sessions,time,tz\n")
        for i in range(n):
            if distinct:
                day = dt.date(2027, 1, 1) + dt.timedelta(days=i // 4 % 1460)
                minutes = 8 * 60 + 15 * (i // 5840 % 40)
                start, at = day.isoformat(), f"{minutes // 60:02d}:{minutes % 60:02d}"
            else:
                start, at = f"2027-{1 + i % 12:02d}-{1 + i % 28:02d}", "10:30"
            fh.write(f"P{i:07d},{INDICATIONS[i % 4]},{start},5,{at},Europe/London\n")


def run_batch(
    bin_dir: Path,
    csv_path: Path,
    out: Path,
    fmt: str,
    env: dict[str, str],
    jobs: int | None,
    cwd: Path,
    extra: tuple[str, ...] = (),
) -> tuple[float, int, float, int]:
    """(wall seconds, peak RSS in KiB of the largest process, CPU seconds, exit status)."""
    cmd = [str(bin_dir / "needle"), "batch", str(csv_path), "--out-dir", str(out), "--format", fmt, "--quiet"]
    cmd += ["--on", "2026-12-01", *extra]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    res = subprocess.run(
        [str(bin_dir / "python"), "-c", WRAPPER, *cmd], capture_output=True, text=True, env=env, cwd=cwd, check=True
    )
    secs, rss, cpu, rc = res.stdout.split()
    return float(secs), int(rss), float(cpu), int(rc)


def book_speed(
    bin_dir: Path, csv_path: Path, n: int, rounds: int, jobs: int, env: dict[str, str], cwd: Path, work: Path
) -> dict[str, float | str]:
    """`batch --book` of the ``n`` rows of ``csv_path`` (ICS), each round into a fresh register: median
    seconds and CPU seconds, the highest peak RSS (KiB) of the rounds, the register's bytes per row,
    and a note unless every round exited 0 with every row booked."""
    import sqlite3

    register, out = work / "book.sqlite3", work / "out-book"
    secs: list[float] = []
    cpus: list[float] = []
    peak, size, note = 0, 0, ""
    for _ in range(rounds):
        for path in (register, Path(f"{register}-wal"), Path(f"{register}-shm")):
            path.unlink(missing_ok=True)
        shutil.rmtree(out, ignore_errors=True)
        benv = {**env, "NEEDLE_REGISTER": str(register)}
        t, rss, cpu, rc = run_batch(bin_dir, csv_path, out, "ics", benv, jobs, cwd, ("--book",))
        booked = 0
        if register.exists():
            db = sqlite3.connect(register)
            booked = db.execute("SELECT count(*) FROM bookings").fetchone()[0]
            db.close()
            size = register.stat().st_size
        if rc != 0 or booked != n:
            note = f"exit {rc}, {booked} of {n} rows booked!"
        log(f"  {t:.2f} s ({n / t:,.0f} patients/s), CPU {cpu:.2f} s, peak RSS {rss / 1024:.1f} MiB, {booked} booked")
        secs.append(t)
        cpus.append(cpu)
        peak = max(peak, rss)
    shutil.rmtree(out, ignore_errors=True)
    return {
        "secs": statistics.median(secs),
        "cpu": statistics.median(cpus),
        "rss_kib": peak,
        "bytes_per_row": size / n,
        "note": note,
    }


# ----------------------------------------------------------------- (c) rendering in one process

RENDER = r"""
import datetime as dt, json, statistics, sys, time
from pathlib import Path
from needlecli import catalog, planning
from needlecli.config import Config
from needlecli.model import ExportOptions
from needlecli.render import ics, ics_fast

n, rounds = int(sys.argv[1]), int(sys.argv[2])
config = Config(path=Path("<bench>"), exists=False, uid_key="bench-key")
protocols = {name: catalog.load_treatment(name) for name in catalog.indications()}
names = list(protocols)
plans = []
t = time.process_time()
for i in range(n):
    flags = planning.PlanFlags(patient=f"P{i:07d}", start=dt.date(2027, 1 + i % 12, 1 + i % 28), sessions=5,
                               time=dt.time(10, 30), tz="Europe/London")
    plans.append(planning.new_plan(protocols[names[i % 4]], flags, config, dt.date(2026, 12, 1)))
planning_s = (time.process_time() - t) / n
options = ExportOptions(document="plan")
ics.export(plans[0], options)  # the zone's VTIMEZONE, made and checked once for both
renderer = ics_fast.CalendarRenderer()
old, new = [], []
for _ in range(rounds):  # interleaved, CPU time of this process
    t = time.process_time(); a = [ics.export(p, options) for p in plans]; old.append(time.process_time() - t)
    t = time.process_time(); b = [renderer.render(p, options) for p in plans]; new.append(time.process_time() - t)
    assert a == b, "the renderer's bytes differ from ics.export's"
print(json.dumps({"planning": planning_s, "old": statistics.median(old) / n, "new": statistics.median(new) / n,
                  "ratio": statistics.median(o / w for o, w in zip(old, new)), "bytes": sum(map(len, a)) / n}))
"""


def render_speed(bin_dir: Path, n: int, rounds: int, env: dict[str, str], cwd: Path) -> dict[str, float]:
    import json

    res = subprocess.run(
        [str(bin_dir / "python"), "-c", RENDER, str(n), str(rounds)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=True,
    )
    result: dict[str, float] = json.loads(res.stdout)
    return result


# ----------------------------------------------------------------- (d) the clinic register

FILL = r"""
import datetime as dt, sys, tomli_w
from pathlib import Path
from needlecli import catalog, export, planning
from needlecli.config import Config, export_options
from needlecli.register import journal
from needlecli.register.diary import items_of
from needlecli.register.events import insert_booking, insert_screening
from needlecli.register.store import open_for_writing

path, n, key = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
config = Config(path=Path("<bench>"), exists=False, uid_key=key)
protocol = catalog.load_treatment("fine-lines")
at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
record = journal.pack(tomli_w.dumps({"record": "needle-screening", "patient": "P", "verdict": "eligible"}))
register = open_for_writing(path)
with register.writing() as db:
    for i in range(n):
        pid = f"P{i:07d}"
        flags = planning.PlanFlags(patient=pid, start=dt.date(2027, 1 + i % 12, 1 + i % 28), sessions=5,
                                   time=dt.time(10, 30), tz="Europe/London")
        plan = planning.new_plan(protocol, flags, config, dt.date(2026, 12, 1))
        text = export.render("toml", plan, export_options(config, "plan", protocol=protocol)).decode()
        insert_booking(db, key=key, patient=pid, indication="fine-lines", booked_on="2026-12-01",
                       blob=journal.pack(text), revision_of=0, protocol=protocol.info.sha256, at=at, where="bench",
                       items=items_of(plan, protocol.review_months), plan_id=plan.plan_id)
register.close()
"""


def register_speed(bin_dir: Path, n: int, rounds: int, env: dict[str, str], cwd: Path, work: Path) -> dict[str, float]:
    """A register of ``n`` booked series (each a 5-session plan, written through needle's own code in
    one transaction): its size per series; `history` and `export --format ics` times beyond their
    own start-up (the same command run against no register, interleaved; medians), and `register
    verify`'s time."""
    import statistics

    path = work / "register.sqlite3"
    key = "bench-register-key-0123456789"
    renv = {**env, "NEEDLE_REGISTER": str(path)}
    (work / "data").mkdir(exist_ok=True)
    (work / "data" / "uid_key").write_text(key + "\n")
    (work / "data" / "uid_key").chmod(0o600)
    subprocess.run([str(bin_dir / "python"), "-c", FILL, str(path), str(n), key], env=renv, cwd=cwd, check=True)
    pid = f"P{n // 2:07d}"
    needle = str(bin_dir / "needle")
    commands = {
        "history": [needle, "history", pid],
        "export": [needle, "export", pid, "--format", "ics", "--on", "2026-12-01"],
        "due": [needle, "due", "--on", "2027-01-04", "--days", "7", "--format", "json"],  # a week of 5-session series
    }
    # Start-up: the same command against a register that does not exist (it stops after loading).
    empty = {**renv, "NEEDLE_REGISTER": str(work / "no-register.sqlite3")}
    beyond: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(rounds):
        for k, cmd in commands.items():
            start = timed(cmd, empty, cwd)
            beyond[k].append(timed(cmd, renv, cwd) - start)
    verify = timed([needle, "register", "verify"], renv, cwd)
    due_wall = statistics.median(timed(commands["due"], renv, cwd) for _ in range(rounds))
    return {
        "due_ms": statistics.median(beyond["due"]) * 1000,
        "due_wall_ms": due_wall * 1000,
        "series": n,
        "bytes_per_series": path.stat().st_size / n,
        "history_ms": statistics.median(beyond["history"]) * 1000,
        "export_ms": statistics.median(beyond["export"]) * 1000,
        "verify_s": verify,
    }


# ----------------------------------------------------------------- the report


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {platform.system()}, Python {platform.python_version()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and few runs, nothing downloaded (for CI)")
    ap.add_argument("--large", action="store_true", help="add 1,000,000 rows to the ICS batch")
    ap.add_argument("--sizes", type=int, nargs="*", help="ICS batch sizes (default 1000 10000 100000)")
    ap.add_argument("--other-sizes", type=int, nargs="*", help="md/html/json batch sizes (default 1000 10000)")
    ap.add_argument(
        "--distinct-sizes", type=int, nargs="*", help="ICS sizes of a list where no two rows share a series (10000)"
    )
    ap.add_argument("--formats", nargs="*", default=["ics", "md", "html", "json"], help="batch formats")
    ap.add_argument("--jobs", type=int, help="batch --jobs (default: needle's, the CPU count)")
    ap.add_argument("--rounds", type=int, help="start-up rounds (default 21; 3 with --smoke)")
    ap.add_argument("--render", type=int, help="plans for the in-process rendering test (default 3000; 50 smoke)")
    ap.add_argument("--offline", action="store_true", help="do not install dependencies: use this venv's")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (wheel, venv, lists)")
    ap.add_argument("--register-series", type=int, help="series in the register test (default 100000; 200 smoke)")
    ap.add_argument(
        "--book-sizes", type=int, nargs="*", help="batch --book sizes of the shared list (default 10000; 200 smoke)"
    )
    ap.add_argument(
        "--book-distinct-sizes",
        type=int,
        nargs="*",
        help="batch --book sizes of the list with no shared series (default: --book-sizes)",
    )
    ap.add_argument(
        "--book-placed-sizes",
        type=int,
        nargs="*",
        help="batch --book sizes of the list without times, placed in 8 slots x 15 (default 2000; 200 smoke)",
    )
    ap.add_argument("--book-rounds", type=int, help="batch --book runs of each size (default 3; 1 smoke)")
    ap.add_argument("--book-jobs", type=int, default=2, help="batch --book --jobs (default 2)")
    args = ap.parse_args()
    if args.smoke:
        sizes, other, rounds, render_n, render_rounds = [50, 200], [50], args.rounds or 3, args.render or 50, 2
        distinct = [50]
    else:
        distinct = args.distinct_sizes if args.distinct_sizes is not None else [10_000]
        sizes = args.sizes or [1_000, 10_000, 100_000]
        other = args.other_sizes if args.other_sizes is not None else [1_000, 10_000]
        rounds, render_n, render_rounds = args.rounds or 21, args.render or 3000, 5
    if args.large:
        sizes = [*sizes, 1_000_000]
    book = args.book_sizes if args.book_sizes is not None else [200 if args.smoke else 10_000]
    book_distinct = args.book_distinct_sizes if args.book_distinct_sizes is not None else book
    book_placed = args.book_placed_sizes if args.book_placed_sizes is not None else [200 if args.smoke else 2_000]
    book_rounds = args.book_rounds or (1 if args.smoke else 3)
    work = Path(tempfile.mkdtemp(prefix="needle-bench-"))
    cwd = work / "cwd"
    cwd.mkdir()
    env = {
        **os.environ,
        "NEEDLE_CONFIG": os.devnull,  # no clinic config: every value the default
        "NEEDLE_DATA_DIR": str(work / "data"),
    }
    for name in ("PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(name, None)
    failed = False
    try:
        bin_dir = install(work, offline=args.offline or args.smoke)
        version = subprocess.run(
            [str(bin_dir / "needle"), "--version"], capture_output=True, text=True, env=env, cwd=cwd, check=True
        ).stdout.strip()
        log(f"start-up: {rounds} interleaved rounds ...")
        base, starts = startup(bin_dir, rounds, env, cwd)
        rows: list[tuple[str, int, float, float, float, str]] = []
        runs = [(fmt, n, False) for fmt in args.formats for n in (sizes if fmt == "ics" else other)]
        runs += [("ics", n, True) for n in distinct if "ics" in args.formats]
        for fmt, n, unshared in runs:
            csv_path = work / f"list-{n}{'-distinct' if unshared else ''}.csv"
            if not csv_path.exists():
                synthetic_list(csv_path, n, unshared)
            out = work / f"out-{fmt}-{n}"
            log(f"batch: {n} rows to {fmt}{' (no shared series)' if unshared else ''} ...")
            secs, rss_kib, cpu, rc = run_batch(bin_dir, csv_path, out, fmt, env, args.jobs, cwd)
            files = sum(1 for f in out.iterdir() if f.suffix == f".{fmt}") if out.exists() else 0
            note = "" if rc == 0 and files == n else f"exit {rc}, {files} files of {n}!"
            failed |= bool(note)
            rows.append((f"{fmt}, no shared series" if unshared else fmt, n, secs, cpu, rss_kib / 1024, note))
            shutil.rmtree(out, ignore_errors=True)
        booked: list[tuple[str, int, dict[str, float | str]]] = []
        # Booking counts the places of each slot (a slot every 15 minutes, the list's times): the synthetic
        # list puts hundreds of patients at one start, so the clinic here runs them all at once (the
        # measure is the slot search's throughput). *placed*: the list without its times, in a clinic of
        # 8 slots x 15 places: each row takes the earliest free slot of each session's day, and a row the
        # workers planned elsewhere is placed again by the parent.
        quarter = ", ".join(f'"{(480 + 15 * k) // 60:02d}:{(480 + 15 * k) % 60:02d}"' for k in range(40))
        clinics = {
            "big": f"[clinic]\nslots = [{quarter}]\ncapacity = 100000\n",
            "placed": '[clinic]\nsession_time = "09:00"\ntime_zone = "Europe/London"\ncapacity = 15\n'
            'slots = ["09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"]\n',
        }
        book_runs = [(n, "shared series", "big") for n in book]
        book_runs += [(n, "no shared series", "big") for n in book_distinct]
        book_runs += [(n, "shared series, placed in slots", "placed") for n in book_placed]
        for n, label, clinic in book_runs:
            unshared = label == "no shared series"
            csv_path = work / f"list-{n}{'-distinct' if unshared else ''}.csv"
            if not csv_path.exists():
                synthetic_list(csv_path, n, unshared)
            if clinic == "placed":
                timed, csv_path = csv_path, work / f"list-{n}-untimed.csv"
                with timed.open() as src, csv_path.open("w") as dst:
                    dst.writelines(",".join(line.rstrip("\n").split(",")[:4]) + "\n" for line in src)
            log(f"batch --book: {n} rows ({label}), {book_rounds} rounds, --jobs {args.book_jobs} ...")
            config = work / f"{clinic}-clinic.toml"
            config.write_text(clinics[clinic])
            book_env = {**env, "NEEDLE_CONFIG": str(config)}
            result = book_speed(bin_dir, csv_path, n, book_rounds, args.book_jobs, book_env, cwd, work)
            failed |= bool(result["note"])
            booked.append((label, n, result))
        log(f"rendering {render_n} plans in one process, {render_rounds} rounds ...")
        render = render_speed(bin_dir, render_n, render_rounds, env, cwd)
        series_n = args.register_series or (200 if args.smoke else 100_000)
        log(f"register: {series_n} booked series ...")
        reg = register_speed(bin_dir, series_n, max(3, rounds // 3), env, cwd, work)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"### {version}, measured {dt.date.today().isoformat()}")
    print()
    print(f"{machine()}; `needle` installed from its wheel into a fresh venv (not editable).")
    print(f"`python -c pass` of that venv: **{base * 1000:.1f} ms** (median of {rounds * len(STARTUP)} runs).")
    print()
    print("| start-up | median ms | × `python -c pass` | goal |")
    print("|---|---:|---:|---|")
    for label, (t, ratio) in starts.items():
        print(f"| {label} | {t * 1000:.0f} | {ratio:.1f}× | {GOALS.get(label, '')} |")
    print()
    print(
        f"Ratios: median of {rounds} per-round ratios, each command run right after `python -c pass` "
        "(interleaved). `plan` is `--patient P1 --indication fine-lines --start 2027-01-04`."
    )
    print()
    jobs = args.jobs or os.cpu_count()
    print(f"| batch (`--jobs {jobs}`) | rows | seconds | patients/s | CPU ms/patient | peak RSS, largest process |")
    print("|---|---:|---:|---:|---:|---:|")
    for fmt, n, secs, cpu, rss, note in rows:
        print(
            f"| {fmt} | {n:,} | {secs:.2f} | {n / secs:,.0f} | {cpu / n * 1000:.2f} | {rss:.1f} MiB"
            + (f" ({note})" if note else "")
            + " |"
        )
    print()
    print(
        "Rows: 5 sessions each, Europe/London, four indications in turn; starts over a year at 10:30 (84 "
        "different series, each shared by many patients), or, *no shared series*, every row a series of its "
        "own (starts over four years, times every 15 minutes). One file per patient, written atomically and "
        "fsynced. Wall time includes start-up."
    )
    if booked:
        print()
        print(
            f"| batch --book (`--jobs {args.book_jobs}`, ICS) | rows | seconds | patients/s | CPU ms/patient "
            "| peak RSS, largest process | register per patient |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, n, b in booked:
            secs, cpu, rss, per = (float(b[k]) for k in ("secs", "cpu", "rss_kib", "bytes_per_row"))
            note = f" ({b['note']})" if b["note"] else ""
            print(
                f"| {label} | {n:,} | {secs:.2f} | {n / secs:,.0f} | {cpu / n * 1000:.2f} | {rss / 1024:.1f} MiB{note} "
                f"| {per / 1024:.2f} KiB |"
            )
        print()
        print(
            f"Rows as above; each run books every row into a fresh register. Seconds and CPU: the median of "
            f"{book_rounds} runs; peak RSS: the highest of them. Wall time includes start-up."
        )
    print()
    print(
        f"ICS rendering in one process ({render_n:,} plans, {render['bytes'] / 1024:.1f} KiB each, "
        f"median of {render_rounds} interleaved rounds, CPU time): `ics.export` "
        f"{render['old'] * 1000:.2f} ms/patient ({1 / render['old']:,.0f}/s), the batch renderer "
        f"{render['new'] * 1000:.2f} ms/patient ({1 / render['new']:,.0f}/s): **{render['ratio']:.1f}×**, "
        f"same bytes; planning a patient: {render['planning'] * 1000:.2f} ms."
    )
    print()
    print(
        f"Clinic register of {int(reg['series']):,} booked series: {reg['bytes_per_series'] / 1024:.2f} KiB per "
        f"series (goal < 4 KiB); beyond start-up, `history` {reg['history_ms']:.0f} ms and "
        f"`export --format ics` {reg['export_ms']:.0f} ms (goal < 100 ms; each minus the same command run "
        "against no register, interleaved, medians); "
        f"`register verify` of its {int(reg['series']):,} entries {reg['verify_s']:.1f} s; "
        f"`due --days 7` {reg['due_wall_ms']:.0f} ms wall (goal < 300 ms), {reg['due_ms']:.0f} ms beyond start-up."
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
