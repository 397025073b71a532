"""Booking into the clinic's slots: each session at the first free place of its day, capacity never
exceeded (also with many processes at once), a full slot asked for by --time named with the free ones."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.harness import command, run
from tests.test_register import register, screen, verify

__all__ = ["register"]  # the fixture, used by name

ON = "2026-12-01"


@pytest.fixture
def clinic(tmp_path: Path, register: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config.toml"
    config.write_text('[clinic]\nsession_time = "10:30"\nslots = ["09:00", "10:30", "13:00"]\ncapacity = 2\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    return register


def book(patient: str, *args: str) -> tuple[int, str, str]:
    return run("plan", "--patient", patient, "--indication", "fine-lines", "--start", "2026-12-07", "--on", ON,
               "--book", *args)  # fmt: skip


def places() -> Counter[str]:
    code, out, _ = run("due", "--on", "2026-12-07", "--days", "1", "--format", "json")
    assert code == 0
    return Counter(str(i["start"])[11:16] for i in json.loads(out))


def test_sessions_fill_the_slots_in_order_and_never_beyond_capacity(clinic: Path, tmp_path: Path) -> None:
    for n in range(7):
        assert screen(tmp_path, f"P-{n}")[0] == 0
    for n in range(6):
        code, _, err = book(f"P-{n}")
        assert code == 0, err
    assert places() == Counter({"10:30": 2, "09:00": 2, "13:00": 2})
    code, _, err = book("P-6")
    assert code == 2 and "session 1 on 2026-12-07" in err and "free slots that day: none" in err
    code, out, _ = run("export", "P-2", "--format", "json", "--on", ON)
    assert [s["start"][11:16] for s in json.loads(out)["sessions"]] == ["09:00", "09:00", "09:00"]
    assert verify()[0] == 0


def test_a_full_slot_asked_for_names_the_free_ones(clinic: Path, tmp_path: Path) -> None:
    for n in range(3):
        assert screen(tmp_path, f"P-{n}")[0] == 0
    assert book("P-0")[0] == 0 and book("P-1")[0] == 0
    code, _, err = book("P-2", "--time", "10:30")
    assert code == 2 and "the 10:30 slot is full (capacity 2); free slots that day: 09:00, 13:00" in err
    code, _, err = book("P-2", "--time", "11:00")
    assert code == 2 and "11:00 is not a slot" in err
    assert book("P-2", "--time", "13:00")[0] == 0
    assert places()["13:00"] == 1


def test_capacity_holds_with_eight_processes_at_once(clinic: Path, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[clinic]\nsession_time = "10:30"\nslots = ["09:00", "10:30", "13:00"]\n')
    for n in range(8):
        assert screen(tmp_path, f"P-{n}")[0] == 0
    env = dict(os.environ)
    procs = [
        subprocess.Popen(command("plan", "--patient", f"P-{n}", "--indication", "fine-lines", "--start", "2026-12-07",
                                 "--on", ON, "--book"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for n in range(8)
    ]  # fmt: skip
    codes = [p.wait(timeout=120) for p in procs]
    assert all(c in (0, 2, 75) for c in codes), codes
    assert codes.count(0) <= 3
    held = places()
    assert all(n <= 1 for n in held.values()) and sum(held.values()) == codes.count(0)
    assert verify()[0] == 0


def test_slots_and_capacity_are_checked_in_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[clinic]\nslots = ["9am", "10:30", "10:30"]\ncapacity = 0\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(config))
    code, _, err = run("config", "show")
    assert code == 2 and err.count("\n") == 1
    for part in ("clinic.slots[0]", "clinic.slots: a time is given twice", "clinic.capacity"):
        assert part in err, part
    config.write_text('[clinic]\nslots = ["13:00", "09:00"]\ncapacity = 3\n')
    code, out, _ = run("config", "show", "--json")
    values = json.loads(out)["values"]
    assert values["slots"]["value"] == ["09:00", "13:00"] and values["capacity"]["value"] == 3
