"""Records: screening records written atomically with mode 0600 and checked when read back;
answers files read strictly (one clear line for a file that cannot be used)."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path

from needlecli import catalog
from tests.harness import run
from tests.plan_helpers import ALL_NO_FALSE, ON, json_answers, screening_record

# ----------------------------------------------------------------- screening records


def test_record_is_written_atomically_with_mode_0600(tmp_path: Path) -> None:
    out = tmp_path / "rec.toml"
    code, _, err = run(
        "screen",
        "-a",
        str(json_answers(tmp_path, isotretinoin_last_dose="2026-08-31")),
        "--on",
        ON,
        "--patient",
        "P-0042",
        "--clinician",
        "Dr Rao",
        "--out",
        str(out),
    )
    assert code == 3, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rec = tomllib.loads(out.read_text())
    assert rec["patient"] == "P-0042"
    assert rec["clinician"] == "Dr Rao"
    assert rec["verdict"] == "defer"
    assert str(rec["earliest_date"]) == "2027-02-28"
    assert str(rec["evaluated_on"]) == ON
    assert str(rec["answers"]["isotretinoin_last_dose"]) == "2026-08-31"
    assert rec["answers"]["radiation_last_date"] is False
    proto = catalog.load_screening()
    assert rec["protocol"] == {
        "name": "screening",
        "version": proto.info.version,
        "sha256": proto.info.sha256,
        "origin": "bundled:screening",
    }
    assert [f["category"] for f in rec["findings"]] == ["defer", "caution"]
    assert sorted(os.listdir(tmp_path)) == ["answers.json", "rec.toml"]  # no temp file left


def test_hand_edited_screening_verdict_is_refused(tmp_path: Path) -> None:
    import tomli_w

    rec = screening_record(tmp_path, keloid_history=True)
    doc = tomllib.loads(rec.read_text())
    doc.update(verdict="eligible", earliest_date=doc["evaluated_on"], findings=[])
    rec.write_text(tomli_w.dumps(doc))
    code, _, err = run("plan", "--on", ON, "--indication", "fine-lines", "--screening", str(rec))
    assert code == 2 and "the verdict does not match the answers (was it edited?)" in err
    del doc["answers"]["keloid_history"]
    rec.write_text(tomli_w.dumps(doc))
    code, _, err = run("plan", "--on", ON, "--indication", "fine-lines", "--screening", str(rec))
    assert code == 2 and "answers: missing keloid_history" in err
    del doc["findings"]
    rec.write_text(tomli_w.dumps(doc))
    code, _, err = run("plan", "--on", ON, "--indication", "fine-lines", "--screening", str(rec))
    assert code == 2 and "findings: missing" in err


# ----------------------------------------------------------------- answers files


def test_binary_garbage_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_bytes(b"\x00\xff\xfe\x80garbage")
    code, _, err = run("screen", "--answers", str(path))
    assert code == 2 and "not UTF-8 text" in err


def test_missing_answers_file(tmp_path: Path) -> None:
    code, _, err = run("screen", "--answers", str(tmp_path / "none.toml"))
    assert code == 2 and err.strip() == f"needle: error: {tmp_path / 'none.toml'}: no such file"


def test_duplicate_json_keys_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    body = json.dumps(ALL_NO_FALSE)[1:-1]
    path.write_text('{"pregnant": true, ' + body + "}")
    code, _, err = run("screen", "--answers", str(path), "--on", ON)
    assert code == 2 and "question 'pregnant' is answered twice" in err


def test_a_failing_close_is_reported_once_and_leaves_no_temp_file(tmp_path: Path, monkeypatch: object) -> None:
    """close() can fail after releasing the descriptor (EIO, a full quota on NFS): the error is the
    one raised, the number is never closed twice (another thread may have it by then), and the temp
    file is removed; the target keeps what it had."""
    import errno

    import pytest

    from needlecli.records import replace_file

    target = tmp_path / "P1.ics"
    target.write_bytes(b"before")
    closed: list[int] = []
    real_close = os.close

    def failing_close(fd: int) -> None:
        closed.append(fd)
        real_close(fd)
        if len(closed) == 1:
            raise OSError(errno.EIO, "Input/output error")

    mp = pytest.MonkeyPatch()
    mp.setattr(os, "close", failing_close)
    try:
        with pytest.raises(OSError) as info:
            replace_file(target, [b"after"])
    finally:
        mp.undo()
    assert info.value.errno == errno.EIO
    assert len(closed) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["P1.ics"]
    assert target.read_bytes() == b"before"
