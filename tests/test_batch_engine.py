"""The batch engine as a library: one `engine.run`, worker processes started by fork or spawn."""

from __future__ import annotations

import datetime as dt
import io
import pickle
from pathlib import Path

import pytest

from needlecli.batch import engine
from needlecli.batch.context import Context
from needlecli.batch.results import RowResult
from needlecli.batch.rows import check_header, read_rows
from needlecli.config import Config, with_uid_key

LIST = (
    "patient_id,indication,start,time,tz\n"
    + "".join(
        f"P{n},{ind},2027-01-{4 + n % 20:02d},10:30,Europe/London\n"
        for n, ind in enumerate(["fine-lines", "texture", "acne-scars", "deep-scars"] * 10)
    )
    + "P99,nothing,2027-01-04,,\n"
)


def _run(out: Path, jobs: int, method: str | None) -> tuple[dict[str, int], list[RowResult]]:
    header, rows = read_rows(io.StringIO(LIST))
    columns = check_header(header, ()).columns
    cfg = with_uid_key(Config(path=out.parent / "none.toml", exists=False))
    lock, empty = engine.open_folder(out, "ics")
    ctx = Context(on=dt.date(2026, 12, 1), fmt="ics", out_dir=out, header=columns, screening=None, config=cfg,
                  empty_folder=empty)  # fmt: skip
    seen: list[RowResult] = []
    counts = engine.run(ctx, rows, jobs=jobs, locked=lock is not None, on_result=seen.append, start_method=method)
    return counts, seen


def test_the_context_pickles_with_its_settings_and_empty_caches() -> None:
    cfg = Config(path=Path("none.toml"), exists=False)
    ctx = Context(on=dt.date(2026, 12, 1), fmt="ics", out_dir=Path("out"), header=["patient_id"], screening=None,
                  config=cfg, allow_past=True)  # fmt: skip
    ctx.protocol("fine-lines")
    back = pickle.loads(pickle.dumps(ctx))
    assert (back.on, back.fmt, back.out_dir, back.allow_past, back.config) == (
        ctx.on, ctx.fmt, ctx.out_dir, True, cfg)  # fmt: skip
    assert back._protocols == {} and back.series == {}
    assert back.protocol("fine-lines") == ctx.protocol("fine-lines")


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_workers_started_either_way_write_what_one_process_writes(tmp_path: Path, method: str) -> None:
    one_counts, one = _run(tmp_path / "one", 1, None)
    counts, many = _run(tmp_path / method, 2, method)
    assert counts == one_counts == {"planned": 40, "refused": 0, "error": 1, "reused": 0}
    assert [(r.row, r.status, r.patient_id, r.file) for r in many] == [
        (r.row, r.status, r.patient_id, r.file) for r in one
    ]
    assert many[-1].error.startswith("row 42: unknown indication 'nothing'")
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / method).iterdir()) and len(names) == 41
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / method / name).read_bytes(), name
