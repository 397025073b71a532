"""End-to-end tests of the interactive `needle screen`, driven through a real pseudo-terminal.

The command runs as ``python -m needlecli screen`` under the current interpreter,
with a fixed evaluation date (--on) and a dumb, wide terminal so rich prints
plain, unwrapped text. Prompt texts are read from the bundled protocol, so the
tests follow its question order.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import stat
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

from needlecli import catalog  # noqa: E402
from needlecli.model import Question  # noqa: E402
from tests.harness import command  # noqa: E402

if sys.platform == "win32":  # pragma: no cover
    pytest.skip("pexpect.spawn needs a POSIX pseudo-terminal", allow_module_level=True)

ON = "2026-12-01"
TIMEOUT = 10  # seconds per expected prompt: generous, but a hang fails fast enough
PROTO = catalog.load_screening()
QUESTIONS: dict[str, Question] = {q.id: q for q in PROTO.questions}
NUMBER = {q.id: i for i, q in enumerate(PROTO.questions, 1)}
HINT = {"bool": "(y/n)", "date": "(YYYY-MM-DD, or 'none')", "fitzpatrick": "(1-6 or I-VI)"}
SUMMARY_PROMPT = "Press Enter to confirm these answers, or type a number to change one: "
CANCELLED = "Screening cancelled; nothing was saved."
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


def prompt_of(qid: str) -> str:
    """The prompt line shown for a question (for a gated date question: the gate)."""
    q = QUESTIONS[qid]
    if q.gate_prompt:
        return q.gate_prompt.replace("{months}", str(q.lookback_months)) + " (y/n): "
    return f"{q.prompt} {HINT[q.type]}: "


def date_prompt_of(qid: str) -> str:
    """The date prompt a gated date question asks after a "yes" at its gate."""
    q = QUESTIONS[qid]
    assert q.type == "date" and q.gate_prompt, qid
    return f"{q.prompt} (YYYY-MM-DD): "


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text).replace("\r\n", "\n")


def _syscall_of(pid: int | str) -> list[str] | None:
    """What ``pid`` is doing, from /proc: ``[number, arg1, ...]`` while blocked in a system call,
    ``["running"]`` otherwise; None where /proc does not say (not Linux, or not allowed)."""
    try:
        with open(f"/proc/{pid}/syscall") as fh:
            return fh.read().split()
    except OSError:
        return None


# The number of read(2) on this machine: reading our own /proc entry is itself a read.
_self = _syscall_of("self")
READ_SYSCALL = _self[0] if _self and _self[0].isdigit() else None


def wait_until_reading_stdin(pid: int, seconds: float = TIMEOUT) -> None:
    """Wait until ``pid`` is blocked in read(0, ...), i.e. really waiting for a key.

    A prompt on the screen is not enough before sending a signal: Python writes the
    prompt, then enters input(), and only then blocks in read(). A SIGINT that lands
    in between only sets a flag that nothing looks at while read() blocks, so the
    Ctrl-C is lost and the interview waits for ever. Where /proc cannot tell (not
    Linux), a short pause is the best that can be done.
    """
    if READ_SYSCALL is None or _syscall_of(pid) is None:
        time.sleep(0.5)
        return
    deadline = time.monotonic() + seconds
    call = None
    while time.monotonic() < deadline:
        call = _syscall_of(pid)
        if call and call[0] == READ_SYSCALL and int(call[1], 16) == 0:
            return
        time.sleep(0.005)
    raise AssertionError(f"process {pid} never blocked reading its terminal: {call}")


def write_answers(path: Path, answers: dict[str, object]) -> Path:
    """A TOML answers file (bool, int, ISO date or false only)."""
    lines = []
    for key, value in answers.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        lines.append(f"{key} = {text}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def all_no_except(*skip: str) -> dict[str, object]:
    """A complete, clean answer set (Fitzpatrick II), minus the ids in ``skip``."""
    out: dict[str, object] = {}
    for q in PROTO.questions:
        if q.id not in skip:
            out[q.id] = {"bool": False, "date": False, "fitzpatrick": 2}[q.type]
    return out


class Screen:
    """One `needle screen` run in a pseudo-terminal, with its whole output kept."""

    def __init__(self, cwd: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE")}
        # rich honours COLUMNS on a dumb terminal only when LINES is set too.
        env.update(COLUMNS="200", LINES="50", TERM="dumb", NO_COLOR="1", PYTHONUTF8="1")
        env.pop("NEEDLE_DEBUG", None)
        self.log = io.StringIO()
        needle, *argv = command("screen", "--on", ON, *args)
        self.child = pexpect.spawn(
            needle,
            argv,
            cwd=str(cwd),
            env=env,
            encoding="utf-8",
            codec_errors="replace",
            timeout=TIMEOUT,
            dimensions=(50, 200),
        )
        self.child.delaybeforesend = None  # every send waits for its prompt first
        self.child.logfile_read = self.log

    def expect(self, text: str) -> str:
        """Wait for ``text``; return (ANSI-free) what was printed before it since the last match."""
        try:
            self.child.expect_exact(text)
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            raise AssertionError(f"expected {text!r}; the screen so far:\n{self.transcript}") from exc
        return strip_ansi(self.child.before)

    def interrupt(self, prompt: str) -> str:
        """Wait for ``prompt`` and for the command to be reading its answer, then press Ctrl-C."""
        before = self.expect(prompt)
        wait_until_reading_stdin(self.child.pid)
        self.child.sendintr()
        return before

    def answer(self, prompt: str, reply: str) -> str:
        before = self.expect(prompt)
        self.child.sendline(reply)
        return before

    def interview(self, replies: dict[str, str | tuple[str, str]], order: list[str] | None = None) -> None:
        """Answer questions in protocol order; a tuple is (gate reply, date reply)."""
        for qid in order or [q.id for q in PROTO.questions]:
            reply = replies[qid]
            if isinstance(reply, tuple):
                self.answer(prompt_of(qid), reply[0])
                self.answer(date_prompt_of(qid), reply[1])
            else:
                self.answer(prompt_of(qid), reply)

    def finish(self) -> int:
        """Wait for the command to end; return its exit status."""
        self.expect(pexpect.EOF)  # type: ignore[arg-type]
        self.child.close()
        assert self.child.signalstatus is None, f"killed by signal {self.child.signalstatus}"
        return int(self.child.exitstatus)

    @property
    def transcript(self) -> str:
        return strip_ansi(self.log.getvalue())


@pytest.fixture
def screen(tmp_path: Path) -> Iterator[Callable[..., Screen]]:
    runs: list[Screen] = []

    def start(*args: str) -> Screen:
        run = Screen(tmp_path, *args)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.child.isalive():
            run.child.close(force=True)


def no_replies(**overrides: str | tuple[str, str]) -> dict[str, str | tuple[str, str]]:
    """A reply for every question: "n" (Fitzpatrick "2"), with overrides by id."""
    out: dict[str, str | tuple[str, str]] = {q.id: "2" if q.type == "fitzpatrick" else "n" for q in PROTO.questions}
    out.update(overrides)
    return out


# ------------------------------------------------------------------ 1. full interview


def test_full_interview_with_bad_answers_defers_and_saves_the_record(screen, tmp_path):
    out = tmp_path / "rec.toml"
    run = screen("--out", str(out), "--patient", "P-0042")
    first = QUESTIONS["pregnant"]
    assert PROTO.questions[0] is first  # the bad answers below are placed by protocol order

    # A bad yes/no answer is explained, and the same question is asked again.
    intro = run.answer(prompt_of("pregnant"), "maybe")
    assert "Microneedling screening" in intro and ON in intro
    shown = run.answer(prompt_of("pregnant"), "n")
    assert "Not yes or no." in shown

    # The isotretinoin gate, then an impossible date, then a real one.
    # 2026-08-31 + 6 months is 2027-02-28 (calendar months, clamped to the month's end).
    run.answer(prompt_of("isotretinoin_last_dose"), "y")
    run.answer(date_prompt_of("isotretinoin_last_dose"), "2026-02-30")
    shown = run.answer(date_prompt_of("isotretinoin_last_dose"), "2026-08-31")
    assert "Not a real calendar date." in shown

    rest = [q.id for q in PROTO.questions if q.id not in ("pregnant", "isotretinoin_last_dose", "fitzpatrick")]
    run.interview(no_replies(), order=rest)

    # Fitzpatrick 7 does not exist: explained and asked again.
    run.answer(prompt_of("fitzpatrick"), "7")
    shown = run.answer(prompt_of("fitzpatrick"), "2")
    assert "Not a Fitzpatrick type" in shown

    # The summary lists every question with its answer before anything is evaluated.
    summary = run.answer(SUMMARY_PROMPT, "")
    assert "Answers" in summary
    for q in PROTO.questions:
        shown_as = q.gate_prompt.replace("{months}", str(q.lookback_months)) if q.gate_prompt else q.prompt
        assert shown_as in summary, q.id
    assert re.search(rf"\b{NUMBER['isotretinoin_last_dose']}\s+Medicines\s+.*2026-08-31", summary)
    assert re.search(rf"\b{NUMBER['fitzpatrick']}\s+Skin type\s+.*II \(2\)", summary)
    assert "DEFER" not in summary  # no verdict before the answers are confirmed

    assert run.finish() == 3
    verdict = run.transcript.split(SUMMARY_PROMPT, 1)[1]
    assert "DEFER — do not treat yet" in verdict
    assert "Earliest date: 2027-02-28 (Sun 28 Feb 2027)" in verdict
    assert "Isotretinoin within 6 months" in verdict
    assert "Isotretinoin within 12 months" in verdict
    assert "Screening · P-0042" in verdict
    assert f"Screening record saved to {out} (mode 0600)." in verdict

    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.toml"]  # no leftover temporary file
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    record = tomllib.loads(out.read_text(encoding="utf-8"))
    assert record["verdict"] == "defer"
    assert record["earliest_date"] == dt.date(2027, 2, 28)
    assert record["evaluated_on"] == dt.date(2026, 12, 1)
    assert record["patient"] == "P-0042"
    assert record["answers"]["isotretinoin_last_dose"] == dt.date(2026, 8, 31)
    assert record["answers"]["radiation_last_date"] is False
    assert record["answers"]["pregnant"] is False
    assert record["answers"]["fitzpatrick"] == 2
    assert set(record["answers"]) == set(PROTO.ids)
    assert [(f["id"], f["category"], f["until"]) for f in record["findings"]] == [
        ("isotretinoin_last_dose", "defer", dt.date(2027, 2, 28)),
        ("isotretinoin_last_dose", "caution", dt.date(2027, 8, 31)),
    ]


# ------------------------------------------------------------------ 2. the gate


def test_no_at_the_isotretinoin_gate_skips_the_date(screen):
    run = screen()
    ids = [q.id for q in PROTO.questions]
    after = ids[ids.index("isotretinoin_last_dose") + 1]

    run.answer(prompt_of("pregnant"), "n")
    run.answer(prompt_of("isotretinoin_last_dose"), "n")
    # The next thing asked is the next question, not the date.
    index = run.child.expect_exact([date_prompt_of("isotretinoin_last_dose"), prompt_of(after)])
    assert index == 1, f"the date was asked after 'n' at the gate:\n{run.transcript}"
    assert QUESTIONS["isotretinoin_last_dose"].prompt not in strip_ansi(run.child.before)
    run.child.sendline("n")

    rest = ids[ids.index(after) + 1 :]
    run.interview(no_replies(), order=rest)
    run.answer(SUMMARY_PROMPT, "")
    assert run.finish() == 0

    asked = run.transcript.split(SUMMARY_PROMPT, 1)[0].split("Answers", 1)[0]
    assert date_prompt_of("isotretinoin_last_dose") not in asked
    assert re.search(
        rf"\b{NUMBER['isotretinoin_last_dose']}\s+Medicines\s+Has the patient taken isotretinoin.*\bno\b",
        run.transcript,
    )
    assert "ELIGIBLE — no contraindications found" in run.transcript
    assert f"Earliest date: {ON} (today's evaluation)" in run.transcript


# ------------------------------------------------------------------ 3. editing from the summary


def test_changing_an_answer_at_the_summary_changes_the_verdict(screen, tmp_path):
    answers = write_answers(tmp_path / "p.toml", all_no_except("fitzpatrick"))
    out = tmp_path / "rec.toml"
    run = screen("--answers", str(answers), "--out", str(out))

    run.answer(prompt_of("fitzpatrick"), "II")
    first = run.answer(SUMMARY_PROMPT, "99")
    assert re.search(rf"\b{NUMBER['keloid_history']}\s+History\s+.*\bno\b", first)
    shown = run.answer(SUMMARY_PROMPT, str(NUMBER["keloid_history"]))
    assert f"'99' is not a question number (1-{len(PROTO.questions)})" in shown

    # The chosen question is asked again, although the answers file had answered it.
    run.answer(prompt_of("keloid_history"), "y")
    second = run.answer(SUMMARY_PROMPT, "")
    assert re.search(rf"\b{NUMBER['keloid_history']}\s+History\s+.*\byes\b", second)

    assert run.finish() == 4
    verdict = run.transcript.split(SUMMARY_PROMPT)[-1]
    assert "CONTRAINDICATED — do not treat" in verdict
    assert "Keloid history or tendency" in verdict
    record = tomllib.loads(out.read_text(encoding="utf-8"))
    assert record["verdict"] == "contraindicated"
    assert record["earliest_date"] is False
    assert record["answers"]["keloid_history"] is True
    assert record["answers"]["fitzpatrick"] == 2


def test_changing_a_gated_date_at_the_summary(screen, tmp_path):
    answers = write_answers(tmp_path / "p.toml", all_no_except("radiation_last_date"))
    run = screen("--answers", str(answers))

    run.answer(prompt_of("radiation_last_date"), "n")
    run.answer(SUMMARY_PROMPT, str(NUMBER["radiation_last_date"]))
    # The gate is asked again; "y" then asks the date.
    run.answer(prompt_of("radiation_last_date"), "y")
    run.answer(date_prompt_of("radiation_last_date"), "2026-06-15")
    summary = run.answer(SUMMARY_PROMPT, "")
    assert re.search(rf"\b{NUMBER['radiation_last_date']}\s+History\s+.*2026-06-15", summary)

    assert run.finish() == 3
    assert "Earliest date: 2027-06-15" in run.transcript.split(SUMMARY_PROMPT)[-1]


# ------------------------------------------------------------------ 4. Ctrl-C


@pytest.mark.parametrize("where", ["mid-interview", "at the summary"])
def test_ctrl_c_cancels_and_saves_nothing(screen, tmp_path, where):
    folder = tmp_path / "records"
    folder.mkdir()
    out = folder / "rec.toml"
    if where == "mid-interview":
        run = screen("--out", str(out))
        run.answer(prompt_of("pregnant"), "n")
        run.interrupt(prompt_of("isotretinoin_last_dose"))
    else:
        answers = write_answers(tmp_path / "p.toml", all_no_except("pregnant"))
        run = screen("--answers", str(answers), "--out", str(out))
        run.answer(prompt_of("pregnant"), "y")
        run.interrupt(SUMMARY_PROMPT)

    after = run.expect(CANCELLED)
    assert "Traceback" not in after
    assert run.finish() == 130
    assert "DEFER" not in run.transcript and "ELIGIBLE" not in run.transcript
    assert list(folder.iterdir()) == []  # neither the record nor a hidden temporary file


# ------------------------------------------------------------------ 5. partial answers file


def test_partial_answers_file_asks_only_the_missing_questions(screen, tmp_path):
    missing = ["pregnant", "isotretinoin_last_dose", "fitzpatrick"]
    given = all_no_except(*missing)
    given["herpes_history"] = True  # a caution that only the file knows about
    answers = write_answers(tmp_path / "partial.toml", given)
    run = screen("--answers", str(answers))

    run.interview({"pregnant": "n", "isotretinoin_last_dose": ("y", "2026-03-15"), "fitzpatrick": "IV"}, order=missing)
    summary = run.answer(SUMMARY_PROMPT, "")
    assert run.finish() == 0

    asked = run.transcript.split(SUMMARY_PROMPT, 1)[0][: -len(summary)]
    for qid in given:
        assert QUESTIONS[qid].prompt not in asked, f"{qid} was answered by the file but asked anyway"
    # Only the sections of the asked questions get a heading.
    headings = [line.split(" ─")[0] for line in asked.splitlines() if "──" in line]
    assert headings == ["Pregnancy", "Medicines", "Skin type"]

    # The file's answers and the typed ones are both in the summary and the verdict.
    assert re.search(rf"\b{NUMBER['herpes_history']}\s+History\s+.*\byes\b", summary)
    assert re.search(rf"\b{NUMBER['fitzpatrick']}\s+Skin type\s+.*IV \(4\)", summary)
    verdict = run.transcript.split(SUMMARY_PROMPT, 1)[1]
    assert "CAUTION — may proceed with the precautions below" in verdict
    assert "Herpes simplex history" in verdict
    assert "Fitzpatrick IV-VI" in verdict
    assert "Isotretinoin within 12 months" in verdict  # 2026-03-15: past 6 months, within 12
    assert "Isotretinoin within 6 months" not in verdict


# ------------------------------------------------------------------ bad input edge cases


def test_bad_answers_that_look_like_markup_are_shown_and_asked_again(screen, tmp_path):
    # Typed text must be shown as typed, never read as rich markup (that used to crash with MarkupError).
    answers = write_answers(tmp_path / "p.toml", all_no_except("pregnant"))
    run = screen("--answers", str(answers))

    run.answer(prompt_of("pregnant"), "[/]")
    shown = run.answer(prompt_of("pregnant"), "n")
    assert "Not yes or no." in shown
    run.answer(SUMMARY_PROMPT, "[/red]")
    shown = run.answer(SUMMARY_PROMPT, "")
    assert "'[/red]' is not a question number" in shown

    assert run.finish() == 0
    assert "Traceback" not in run.transcript
    assert "ELIGIBLE" in run.transcript


def test_yes_at_the_gate_then_enter_asks_for_the_date_again(screen, tmp_path):
    answers = write_answers(tmp_path / "p.toml", all_no_except("isotretinoin_last_dose"))
    run = screen("--answers", str(answers))

    run.answer(prompt_of("isotretinoin_last_dose"), "y")
    run.answer(date_prompt_of("isotretinoin_last_dose"), "")
    index = run.child.expect_exact([date_prompt_of("isotretinoin_last_dose"), SUMMARY_PROMPT])
    assert index == 0, "a 'yes' at the gate followed by Enter was recorded as no isotretinoin at all"
    run.child.sendline("2026-08-31")
    run.answer(SUMMARY_PROMPT, "")
    assert run.finish() == 3
