"""End-to-end tests of the interactive `needle screen`, driven through a real pseudo-terminal.

The command runs as ``python -m needlecli screen`` under the current interpreter,
with a fixed evaluation date (--on) and a dumb, wide terminal so rich prints
plain, unwrapped text. Prompt texts are read from the bundled protocol, so the
tests follow its question order, sections, gates and follow-ups.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import select
import stat
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

from needlecli import catalog  # noqa: E402
from needlecli.cli.interactive import review_numbers  # noqa: E402
from needlecli.model import Question  # noqa: E402
from tests.harness import command  # noqa: E402
from tests.harness import run as run_cli  # noqa: E402

if sys.platform == "win32":  # pragma: no cover
    pytest.skip("pexpect.spawn needs a POSIX pseudo-terminal", allow_module_level=True)

ON = "2026-12-01"
TIMEOUT = 10  # seconds per expected prompt: generous, but a hang fails fast enough
PROTO = catalog.load_screening()
QUESTIONS: dict[str, Question] = {q.id: q for q in PROTO.questions}
GATES = {g.id: g for g in PROTO.gates}
NUMBER = review_numbers(PROTO)
SUMMARY_PROMPT = "Press Enter to confirm these answers, or type a number to change one: "
CANCELLED = "Screening cancelled; nothing was saved."
NOT_SAVED = "Not saved: no patient id was given (rerun with --patient, or --out FILE.toml for a record file)."
KEEP_PROMPT = "Patient id to keep this screening under (Enter: keep nothing): "
FUTURE = f"That date is after the evaluation date ({ON}); give the date it happened."
PROCEDURES = [q.id for q in PROTO.questions if q.asked_if == "recent_procedures"]
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


def hint_of(q: Question) -> str:
    if q.type == "int":
        return f"({q.minimum}-{q.maximum})"
    return {"bool": "(y/n)", "date": "(YYYY-MM-DD, or 'none')", "fitzpatrick": "(1-6 or I-VI)"}[q.type]


def prompt_of(qid: str) -> str:
    """The prompt line shown for a question (for a gated date question: its gate; for a gate: the gate)."""
    if qid in GATES:
        return GATES[qid].prompt + " (y/n): "
    q = QUESTIONS[qid]
    if q.gate_prompt:
        return q.gate_prompt.replace("{months}", str(q.lookback_months)) + " (y/n): "
    hint = hint_of(q)
    return f"{q.prompt}: " if q.prompt.endswith(hint) else f"{q.prompt} {hint}: "


def date_prompt_of(qid: str) -> str:
    """The date prompt a gated date question asks after a "yes" at its gate."""
    q = QUESTIONS[qid]
    assert q.type == "date" and q.gate_prompt, qid
    return f"{q.prompt} (YYYY-MM-DD, 'none', or 'back'): "


def label_of(q: Question) -> str:
    """How a question reads in the summary table."""
    return q.gate_prompt.replace("{months}", str(q.lookback_months)) if q.gate_prompt else q.prompt


#: Every prompt the interview can show, by key: a question id, a gate id, or "<id>.date".
PROMPTS: dict[str, str] = {qid: prompt_of(qid) for qid in [*QUESTIONS, *GATES]}
PROMPTS.update({f"{q.id}.date": date_prompt_of(q.id) for q in PROTO.questions if q.gate_prompt})
assert not [(a, b) for a in PROMPTS.values() for b in PROMPTS.values() if a != b and a in b], "ambiguous prompts"


def is_main(key: str) -> bool:
    """A numbered question of the interview: a gate, or a question that is no follow-up."""
    return key in GATES or (key in QUESTIONS and not QUESTIONS[key].asked_if)


def default_reply(key: str) -> str:
    """Nothing to report: no, none, age 40, Fitzpatrick II."""
    if key in GATES or QUESTIONS[key].gate_prompt:
        return "n"
    q = QUESTIONS[key]
    return {"bool": "n", "date": "none", "fitzpatrick": "2", "int": "40"}[q.type]


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


def _select_syscall() -> str | None:
    """The number of the system call select() blocks in here (``select`` or ``pselect6``): a thread
    of ours blocks in select.select(), which uses the same C library call as readline's wait for a key."""
    if READ_SYSCALL is None:
        return None
    r, w = os.pipe()
    thread = threading.Thread(target=select.select, args=([r], [], []), daemon=True)
    thread.start()
    found = None
    deadline = time.monotonic() + 2
    while found is None and time.monotonic() < deadline:
        call = _syscall_of(f"self/task/{thread.native_id}")
        if call and call[0].isdigit() and len(call) > 1 and int(call[1], 16) == r + 1:
            found = call[0]
        time.sleep(0.001)
    os.write(w, b"x")
    thread.join()
    os.close(r)
    os.close(w)
    return found


# The number of read(2) on this machine: reading our own /proc entry is itself a read.
_self = _syscall_of("self")
READ_SYSCALL = _self[0] if _self and _self[0].isdigit() else None
SELECT_SYSCALL = _select_syscall()


def wait_until_reading_stdin(pid: int, seconds: float = TIMEOUT) -> None:
    """Wait until ``pid`` is blocked waiting for a key: in read(0, ...), or, with readline, in a
    select() that watches stdin only (its first argument, the highest fd + 1, is 1).

    A prompt on the screen is not enough before sending a signal: Python writes the
    prompt, then enters input(), and only then blocks. A SIGINT or SIGTERM that lands
    in between only sets a flag that nothing looks at while the process blocks, so the
    signal is lost and the interview waits for ever. Where /proc cannot tell (not
    Linux), a short pause is the best that can be done.
    """
    if READ_SYSCALL is None or _syscall_of(pid) is None:
        time.sleep(0.5)
        return
    deadline = time.monotonic() + seconds
    call = None
    while time.monotonic() < deadline:
        call = _syscall_of(pid)
        if call and len(call) > 1 and call[0] in (READ_SYSCALL, SELECT_SYSCALL):
            fd_or_nfds = int(call[1], 16)
            if (call[0] == READ_SYSCALL and fd_or_nfds == 0) or (call[0] == SELECT_SYSCALL and fd_or_nfds == 1):
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
    """A complete, clean answer set (age 40, Fitzpatrick II), minus the ids in ``skip``."""
    out: dict[str, object] = {}
    for q in PROTO.questions:
        if q.id not in skip:
            out[q.id] = {"bool": False, "date": False, "fitzpatrick": 2, "int": 40}[q.type]
    return out


Replies = dict[str, str | list[str]]


class Screen:
    """One `needle screen` run in a pseudo-terminal, with its whole output kept."""

    def __init__(self, cwd: Path, *args: str, size: tuple[int, int] = (50, 200)) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE")}
        # rich honours COLUMNS on a dumb terminal only when LINES is set too.
        env.update(COLUMNS=str(size[1]), LINES=str(size[0]), TERM="dumb", NO_COLOR="1", PYTHONUTF8="1")
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
            dimensions=size,
        )
        self.child.delaybeforesend = None  # every send waits for its prompt first
        self.child.logfile_read = self.log
        self.before = ""

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

    def respond(self, replies: Replies | None = None, until: str = SUMMARY_PROMPT) -> list[str]:
        """Answer whatever the interview asks until ``until`` shows (not answered); return the keys asked,
        in order (a question id, a gate id, or "<id>.date" for the date after a gate prompt).

        A reply is a string, or a list of strings for a question asked again after a refused reply;
        any question without one gets "no" / "none" / 40 / II (``default_reply``).
        """
        pending = {k: ([v] if isinstance(v, str) else list(v)) for k, v in (replies or {}).items()}
        keys = list(PROMPTS)
        patterns = list(PROMPTS.values())
        if until not in patterns:
            keys.append("")
            patterns.append(until)
        asked: list[str] = []
        while True:
            try:
                index = self.child.expect_exact(patterns)
            except (pexpect.TIMEOUT, pexpect.EOF) as exc:
                raise AssertionError(f"expected a prompt or {until!r}; the screen so far:\n{self.transcript}") from exc
            if patterns[index] == until:
                self.before = strip_ansi(self.child.before)
                return asked
            key = keys[index]
            asked.append(key)
            queue = pending.get(key)
            if queue is None:
                assert not key.endswith(".date"), f"{key} was asked without a reply for it"
                assert asked.count(key) == 1, f"{key} refused its default reply:\n{self.transcript}"
                self.child.sendline(default_reply(key))
            else:
                assert queue, f"{key} was asked more often than expected:\n{self.transcript}"
                self.child.sendline(queue.pop(0))

    def reply(self, text: str) -> str:
        """Answer the prompt ``respond`` stopped at; return what was printed before that prompt."""
        self.child.sendline(text)
        return self.before

    def finish(self, keep_as: str = "") -> int:
        """Wait for the command to end (answering the register's question at the end, asked when no
        --patient was given, with ``keep_as``: "" keeps nothing); return its exit status."""
        try:
            found = self.child.expect_exact([KEEP_PROMPT, pexpect.EOF])
        except pexpect.TIMEOUT as exc:
            raise AssertionError(f"expected the end; the screen so far:\n{self.transcript}") from exc
        if found == 0:
            wait_until_reading_stdin(self.child.pid)
            self.child.sendline(keep_as)
            self.expect(pexpect.EOF)  # type: ignore[arg-type]
        self.child.close()
        assert self.child.signalstatus is None, f"killed by signal {self.child.signalstatus}"
        return int(self.child.exitstatus)

    @property
    def transcript(self) -> str:
        return strip_ansi(self.log.getvalue())

    @property
    def verdict(self) -> str:
        """What was printed after the last summary."""
        return self.transcript.split(SUMMARY_PROMPT)[-1]


@pytest.fixture
def screen(tmp_path: Path) -> Iterator[Callable[..., Screen]]:
    runs: list[Screen] = []

    def start(*args: str, size: tuple[int, int] = (50, 200)) -> Screen:
        run = Screen(tmp_path, *args, size=size)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.child.isalive():
            run.child.close(force=True)


def row(qid: str, answer: str) -> str:
    """A summary-table row: number, section, the question's words, then the answer."""
    q = QUESTIONS[qid]
    return rf"\b{NUMBER[qid]}\s+{re.escape(q.section)}\s+{re.escape(label_of(q))}\s+{re.escape(answer)}\s"


# ------------------------------------------------------------------ 1. full interview


def test_full_interview_with_bad_answers_defers_and_saves_the_record(screen, tmp_path):
    out = tmp_path / "rec.toml"
    run = screen("--out", str(out), "--patient", "P-0042")
    asked = run.respond(
        {
            # A bad yes/no answer is explained, and the same question is asked again.
            "pregnant": ["maybe", "n"],
            # The isotretinoin gate, then an impossible date, then a real one.
            # 2026-08-31 + 6 months is 2027-02-28 (calendar months, clamped to the month's end).
            "isotretinoin_last_dose": "y",
            "isotretinoin_last_dose.date": ["2026-02-30", "2026-08-31"],
            # Fitzpatrick 7 does not exist: explained and asked again.
            "fitzpatrick": ["7", "2"],
        }
    )
    asking = run.transcript
    assert "Microneedling contraindication screening · screening 2.1.1 · evaluated on 2026-12-01" in asking
    assert "Microneedling screening · Microneedling" not in asking  # the title once
    assert "Not yes or no." in asking
    assert "Not a real calendar date." in asking
    assert "Not a Fitzpatrick type" in asking
    # Questions in protocol order; the no at the procedures gate and at diabetes skipped their follow-ups.
    main = [k for k in asked if is_main(k)]
    expected = []
    for q in PROTO.questions:
        if q.asked_if in GATES and q.asked_if not in expected:
            expected.append(q.asked_if)
        if not q.asked_if:
            expected.append(q.id)
    assert list(dict.fromkeys(main)) == expected
    assert not set(asked) & {*PROCEDURES, "uncontrolled_diabetes"}

    # The summary lists every question with its answer before anything is evaluated.
    summary = run.reply("")
    assert "Answers" in summary
    for q in PROTO.questions:
        assert label_of(q) in summary, q.id
    assert re.search(row("isotretinoin_last_dose", "2026-08-31"), summary)
    assert re.search(row("fitzpatrick", "II (2)"), summary)
    assert re.search(row("age", "40"), summary)
    for qid in PROCEDURES:  # the procedures gate answered no by default: never asked
        assert re.search(row(qid, "— not asked"), summary), qid
    assert "DEFER" not in summary  # no verdict before the answers are confirmed

    assert run.finish() == 3
    verdict = run.verdict
    assert "DEFER — do not treat yet" in verdict
    assert "Earliest date: 2027-02-28 (Sun 28 Feb 2027)" in verdict
    assert "Isotretinoin within 6 months" in verdict
    assert "Isotretinoin within 12 months" in verdict
    assert "Screening · P-0042" in verdict
    assert f"Screening record saved to {out} (mode 0600)." in verdict
    assert NOT_SAVED not in verdict

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
    assert record["answers"]["age"] == 40
    assert record["answers"]["uncontrolled_diabetes"] is False
    assert all(record["answers"][qid] is False for qid in PROCEDURES)
    assert set(record["answers"]) == set(PROTO.ids)
    assert [(f["id"], f["category"], f["until"]) for f in record["findings"]] == [
        ("isotretinoin_last_dose", "defer", dt.date(2027, 2, 28)),
        ("isotretinoin_last_dose", "caution", dt.date(2027, 8, 31)),
    ]


# ------------------------------------------------------------------ 2. gates and follow-ups


def test_no_at_the_isotretinoin_gate_skips_the_date(screen):
    run = screen()
    ids = [q.id for q in PROTO.questions]
    after = ids[ids.index("isotretinoin_last_dose") + 1]

    run.respond(until=prompt_of("isotretinoin_last_dose"))
    run.child.sendline("n")
    # The next thing asked is the next question, not the date.
    index = run.child.expect_exact([date_prompt_of("isotretinoin_last_dose"), prompt_of(after)])
    assert index == 1, f"the date was asked after 'n' at the gate:\n{run.transcript}"
    assert QUESTIONS["isotretinoin_last_dose"].prompt not in strip_ansi(run.child.before)
    run.child.sendline("n")

    run.respond()
    run.reply("")
    assert run.finish() == 0

    asked = run.transcript.split(SUMMARY_PROMPT, 1)[0].split("Answers", 1)[0]
    assert date_prompt_of("isotretinoin_last_dose") not in asked
    assert re.search(row("isotretinoin_last_dose", "no"), run.transcript)
    assert "ELIGIBLE — no contraindications found" in run.transcript


def test_no_at_the_procedures_gate_skips_the_five_dates(screen, tmp_path):
    out = tmp_path / "rec.toml"
    run = screen("--out", str(out))
    asked = run.respond({"recent_procedures": "n"})
    assert asked.count("recent_procedures") == 1
    assert not set(asked) & set(PROCEDURES)
    summary = run.reply("")
    for qid in PROCEDURES:
        assert re.search(row(qid, "— not asked"), summary), qid
    assert run.finish() == 0
    answers = tomllib.loads(out.read_text(encoding="utf-8"))["answers"]
    assert [answers[qid] for qid in PROCEDURES] == [False] * len(PROCEDURES)


def test_yes_at_the_procedures_gate_asks_each_date(screen, tmp_path):
    out = tmp_path / "rec.toml"
    run = screen("--out", str(out))
    asked = run.respond({"recent_procedures": "y", "filler_last_date": "2026-11-20", "laser_last_date": "no"})
    # The gate once, then each of the five dates in protocol order, right after it.
    start = asked.index("recent_procedures")
    assert asked[start : start + 1 + len(PROCEDURES)] == ["recent_procedures", *PROCEDURES]
    run.reply("")
    assert run.finish() == 3
    assert "Earliest date: 2026-12-18" in run.verdict  # 2026-11-20 + 4 weeks
    answers = tomllib.loads(out.read_text(encoding="utf-8"))["answers"]
    assert answers["filler_last_date"] == dt.date(2026, 11, 20)
    assert answers["laser_last_date"] is False and answers["neurotoxin_last_date"] is False


@pytest.mark.parametrize(("diabetes", "uncontrolled", "code"), [("n", None, 0), ("y", "n", 0), ("y", "y", 4)])
def test_uncontrolled_diabetes_is_asked_only_after_diabetes(screen, tmp_path, diabetes, uncontrolled, code):
    out = tmp_path / "rec.toml"
    run = screen("--out", str(out))
    replies: Replies = {"diabetes": diabetes}
    if uncontrolled is not None:
        replies["uncontrolled_diabetes"] = uncontrolled
    asked = run.respond(replies)
    if uncontrolled is None:
        assert "uncontrolled_diabetes" not in asked
    else:
        assert asked[asked.index("diabetes") + 1] == "uncontrolled_diabetes"
    summary = run.reply("")
    expected = {"y": "yes", "n": "no", None: "— not asked"}[uncontrolled]
    assert re.search(row("uncontrolled_diabetes", expected), summary)
    assert run.finish() == code
    answers = tomllib.loads(out.read_text(encoding="utf-8"))["answers"]
    assert answers["diabetes"] is (diabetes == "y")
    assert answers["uncontrolled_diabetes"] is (uncontrolled == "y")


def test_a_follow_up_of_a_file_answer_follows_it(screen, tmp_path):
    # diabetes = false in the file: the missing uncontrolled_diabetes is answered no without asking.
    answers = write_answers(tmp_path / "p.toml", all_no_except("uncontrolled_diabetes", "keloid_history"))
    run = screen("--answers", str(answers))
    asked = run.respond()
    assert asked == ["keloid_history"]
    summary = run.reply("")
    assert re.search(row("uncontrolled_diabetes", "— not asked"), summary)
    assert run.finish() == 0

    # diabetes = true in the file: it is asked, as a question of its own.
    given = all_no_except("uncontrolled_diabetes") | {"diabetes": True}
    run = screen("--answers", str(write_answers(tmp_path / "q.toml", given)))
    assert run.respond({"uncontrolled_diabetes": "y"}) == ["uncontrolled_diabetes"]
    assert "1/1 Is the diabetes poorly controlled?" in run.transcript
    run.reply("")
    assert run.finish() == 4


# ------------------------------------------------------------------ 3. refused answers, help, progress


def test_a_date_after_the_evaluation_date_is_asked_again(screen, tmp_path):
    out = tmp_path / "rec.toml"
    run = screen("--out", str(out))
    run.respond(
        {
            "sunburn_last_date": "y",
            "sunburn_last_date.date": ["2027-11-20", "2026-11-20"],  # a year typo, then the real date
            "recent_procedures": "y",
            "neurotoxin_last_date": ["2026-12-02", ON],  # the day after: refused; the same day: fine
        }
    )
    asking = run.transcript
    assert asking.count(FUTURE) == 2
    refused = asking.split(date_prompt_of("sunburn_last_date"))
    assert len(refused) == 3 and FUTURE in refused[1]  # said once, then the date is asked again
    assert "Traceback" not in asking
    run.reply("")
    assert run.finish() == 3
    answers = tomllib.loads(out.read_text(encoding="utf-8"))["answers"]
    assert answers["sunburn_last_date"] == dt.date(2026, 11, 20)
    assert answers["neurotoxin_last_date"] == dt.date(2026, 12, 1)


def test_a_future_date_in_the_answers_file_is_refused_before_any_question(screen, tmp_path):
    given = all_no_except("pregnant") | {"filler_last_date": "2027-01-05"}
    run = screen("--answers", str(write_answers(tmp_path / "p.toml", given)))
    assert run.finish() == 2
    assert "filler_last_date: the date is after the evaluation date (2026-12-01)" in run.transcript
    assert prompt_of("pregnant") not in run.transcript and "Traceback" not in run.transcript


def test_question_mark_prints_the_help_and_asks_again(screen):
    run = screen()
    run.respond(
        {"age": ["?", "40"], "recent_procedures": ["?", "n"], "radiation_last_date": ["?", "n"]},
        until=prompt_of("fitzpatrick"),
    )
    # Fitzpatrick: the help, then the same prompt again.
    run.reply("?")
    fitz = run.expect(prompt_of("fitzpatrick"))
    assert "I always burns, never tans" in fitz and "VI never burns" in fitz
    run.child.sendline("2")
    run.respond()
    asking = run.transcript
    assert "Type ? at any question" in asking
    for text in (QUESTIONS["age"].help, GATES["recent_procedures"].help, QUESTIONS["radiation_last_date"].help):
        assert text and text in asking
    for qid in ("age", "recent_procedures", "radiation_last_date", "fitzpatrick"):
        assert asking.count(prompt_of(qid)) == 2, qid  # asked again after the help
    assert "Not yes or no" not in asking and "Please answer" not in asking
    run.reply("")
    assert run.finish() == 0


def test_progress_counts_the_main_questions_and_names_the_sections(screen):
    run = screen()
    asked = run.respond({"diabetes": "y", "recent_procedures": "y"})
    asking = run.transcript
    main = sum(1 for q in PROTO.questions if not q.asked_if) + len(PROTO.gates)
    sections = list(dict.fromkeys(q.section for q in PROTO.questions))
    follow_ups = sum(1 for q in PROTO.questions if q.asked_if)
    assert f"{main} questions in {len(sections)} sections, and up to {follow_ups} follow-ups" in asking
    assert f" 1/{main} {prompt_of('age')}" in asking
    assert f"{main}/{main} {prompt_of('fitzpatrick')}" in asking
    number = [k for k in asked if is_main(k)].index("recent_procedures") + 1
    assert f"{number}/{main} {prompt_of('recent_procedures')}" in asking
    for i, section in enumerate(sections, 1):
        assert f"{section} (section {i} of {len(sections)})" in asking
    # Follow-ups are marked as such, not numbered.
    for qid in (*PROCEDURES, "uncontrolled_diabetes"):
        assert re.search(rf"\n +↳ {re.escape(prompt_of(qid))}", asking), qid
    run.reply("")
    assert run.finish() == 0


def test_age_takes_a_whole_number_in_range(screen, tmp_path):
    out = tmp_path / "rec.toml"
    run = screen("--out", str(out))
    run.respond({"age": ["200", "forty", "-3", "17.5", "17"]})
    asking = run.transcript
    assert asking.count("Must be a whole number from 0 to 120.") == 1
    assert asking.count("Not a whole number.") == 3
    run.reply("")
    assert run.finish() == 3  # under 18: defer
    assert "Under 18" in run.verdict
    assert tomllib.loads(out.read_text(encoding="utf-8"))["answers"]["age"] == 17


def test_arrow_keys_edit_the_line(screen, tmp_path):
    out = tmp_path / "rec.toml"
    run = screen("--out", str(out))
    run.expect(prompt_of("age"))
    # "4", left arrow, "2" gives "24"; an up arrow with no history changes nothing.
    run.child.send("4\x1b[D2\x1b[A\r")
    run.respond()
    run.reply("")
    assert run.finish() == 0
    assert "^[[" not in run.transcript and "Not a whole number" not in run.transcript
    assert tomllib.loads(out.read_text(encoding="utf-8"))["answers"]["age"] == 24


# ------------------------------------------------------------------ 4. editing from the summary


def test_changing_an_answer_at_the_summary_changes_the_verdict(screen, tmp_path):
    answers = write_answers(tmp_path / "p.toml", all_no_except("fitzpatrick"))
    out = tmp_path / "rec.toml"
    run = screen("--answers", str(answers), "--out", str(out))

    run.answer(prompt_of("fitzpatrick"), "II")
    first = run.answer(SUMMARY_PROMPT, "99")
    assert re.search(row("keloid_history", "no"), first)
    shown = run.answer(SUMMARY_PROMPT, str(NUMBER["keloid_history"]))
    assert f"'99' is not a question number (1-{max(int(n.split('.')[0]) for n in NUMBER.values())}, or 21.1" in shown

    # The chosen question is asked again, although the answers file had answered it.
    run.answer(prompt_of("keloid_history"), "y")
    second = run.answer(SUMMARY_PROMPT, "")
    assert re.search(row("keloid_history", "yes"), second)

    assert run.finish() == 4
    verdict = run.verdict
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
    assert re.search(row("radiation_last_date", "2026-06-15"), summary)

    assert run.finish() == 3
    assert "Earliest date: 2027-06-15" in run.verdict


def test_changing_diabetes_at_the_summary_keeps_its_follow_up_consistent(screen, tmp_path):
    out = tmp_path / "rec.toml"
    run = screen("--out", str(out))
    run.respond({"diabetes": "y", "uncontrolled_diabetes": "y"})

    # No: the follow-up becomes no without being asked.
    run.reply(str(NUMBER["diabetes"]))
    run.answer(prompt_of("diabetes"), "n")
    summary = run.expect(SUMMARY_PROMPT)
    assert re.search(row("diabetes", "no"), summary) and re.search(row("uncontrolled_diabetes", "— not asked"), summary)
    assert prompt_of("uncontrolled_diabetes") not in summary

    # The follow-up alone cannot be changed while diabetes is no.
    run.child.sendline(str(NUMBER["uncontrolled_diabetes"]))
    shown = run.expect(SUMMARY_PROMPT)
    assert (
        f"{NUMBER['uncontrolled_diabetes']} is asked only after a yes to {NUMBER['diabetes']} "
        f"({QUESTIONS['diabetes'].prompt}); change {NUMBER['diabetes']} first."
    ) in shown

    # Yes again: the follow-up is asked right away.
    run.child.sendline(str(NUMBER["diabetes"]))
    run.answer(prompt_of("diabetes"), "y")
    run.answer(prompt_of("uncontrolled_diabetes"), "n")
    summary = run.answer(SUMMARY_PROMPT, "")
    assert re.search(row("diabetes", "yes"), summary) and re.search(row("uncontrolled_diabetes", "no"), summary)

    assert run.finish() == 0  # diabetes, controlled: caution
    answers = tomllib.loads(out.read_text(encoding="utf-8"))["answers"]
    assert answers["diabetes"] is True and answers["uncontrolled_diabetes"] is False


def test_changing_a_procedure_date_at_the_summary(screen):
    run = screen()
    run.respond({"recent_procedures": "n"})
    run.reply(str(NUMBER["surgery_last_date"]))
    # The date itself is asked (the gate is not an answer of its own); a future date is still refused.
    run.answer(prompt_of("surgery_last_date"), "2027-09-01")
    shown = run.answer(prompt_of("surgery_last_date"), "2026-09-01")
    assert FUTURE in shown
    summary = run.answer(SUMMARY_PROMPT, "")
    assert re.search(row("surgery_last_date", "2026-09-01"), summary)
    assert run.finish() == 3
    assert "Earliest date: 2027-03-01" in run.verdict


# ------------------------------------------------------------------ 5. the verdict


def test_the_verdict_lists_the_most_severe_first_and_names_the_clinician(screen, tmp_path):
    given = all_no_except("keloid_history") | {"age": 17, "herpes_history": True}
    run = screen("--answers", str(write_answers(tmp_path / "p.toml", given)), "--clinician", "Dr Rao")
    run.respond({"keloid_history": "y"})
    run.reply("")
    assert run.finish() == 4
    verdict = run.verdict
    assert "CONTRAINDICATED — do not treat" in verdict
    assert "Clinician: Dr Rao" in verdict
    # In protocol order age (defer), herpes (caution), keloid (contraindicated): shown by severity.
    findings = [verdict.index(text) for text in ("Keloid history or tendency", "Under 18", "Herpes simplex history")]
    assert findings == sorted(findings)
    # For the patient: the contraindication's words alone, no "extra care" beside "not suitable".
    patient = verdict.split("For the patient:", 1)[1]
    keloid = QUESTIONS["keloid_history"].rules[0].patient_message
    assert keloid.split(".")[0] in patient
    assert "cold sores" not in patient and "guardian" not in patient
    assert NOT_SAVED in verdict


def test_a_deferral_tells_the_patient_the_reasons_then_the_cautions(screen, tmp_path, no_user_config):
    no_user_config.write_text('[clinic]\nclinician = "Dr A. Rao"\n', encoding="utf-8")
    given = all_no_except("pregnant") | {"herpes_history": True}
    run = screen("--answers", str(write_answers(tmp_path / "p.toml", given)))
    run.respond({"pregnant": "y"})
    run.reply("")
    assert run.finish() == 3
    verdict = run.verdict
    assert "Clinician: Dr A. Rao" in verdict  # from the config
    patient = verdict.split("For the patient:", 1)[1]
    wait = QUESTIONS["pregnant"].rules[0].patient_message
    care = QUESTIONS["herpes_history"].rules[0].patient_message
    assert wait[:40] in patient and care[:40] in patient
    assert patient.index(wait[:40]) < patient.index(care[:40])


def test_an_eligible_verdict_for_another_day_says_so(screen, tmp_path):
    run = screen("--answers", str(write_answers(tmp_path / "p.toml", all_no_except("pregnant"))))
    run.respond()
    run.reply("")
    assert run.finish() == 0
    verdict = run.verdict
    assert "ELIGIBLE — no contraindications found" in verdict
    if dt.date.today().isoformat() != ON:
        assert f"Earliest date: {ON} (evaluated on {ON})" in verdict
    else:  # pragma: no cover - the day the tests run on ON
        assert f"Earliest date: {ON} (today's evaluation)" in verdict
    assert "Clinician:" not in verdict and "For the patient:" not in verdict


def test_not_saved_is_said_only_without_out_and_never_with_json(screen, tmp_path):
    answers = str(write_answers(tmp_path / "p.toml", all_no_except("pregnant")))
    run = screen("--answers", answers)
    run.respond()
    run.reply("")
    assert run.finish() == 0
    assert run.verdict.strip().splitlines()[-1] == NOT_SAVED

    run = screen("--answers", answers, "--json")
    run.respond()
    run.reply("")
    assert run.finish() == 0
    assert NOT_SAVED not in run.transcript and '"verdict": "eligible"' in run.transcript


def test_an_id_given_at_the_end_keeps_the_screening_in_the_register(screen, tmp_path, monkeypatch):
    register = tmp_path / "register.sqlite3"
    monkeypatch.setenv("NEEDLE_REGISTER", str(register))
    answers = str(write_answers(tmp_path / "p.toml", all_no_except("pregnant")))
    run = screen("--answers", answers)
    run.respond({"pregnant": "y"})
    run.reply("")
    assert run.finish(keep_as="P-0042") == 3
    assert "screening kept in the register under P-0042 (entry 1)" in run.transcript
    assert NOT_SAVED not in run.transcript
    code, out, _ = run_cli("history", "P-0042", "--json")
    assert code == 0 and [(e["event"], e["verdict"]) for e in json.loads(out)] == [("screened", "defer")]
    run = screen("--answers", answers, "--no-register")  # a practice run: not even asked
    run.respond()
    run.reply("")
    assert run.finish() == 0 and KEEP_PROMPT not in run.transcript


# ------------------------------------------------------------------ 6. Ctrl-C


@pytest.mark.parametrize("where", ["mid-interview", "at a gate", "at the summary"])
def test_ctrl_c_cancels_and_saves_nothing(screen, tmp_path, where):
    folder = tmp_path / "records"
    folder.mkdir()
    out = folder / "rec.toml"
    if where == "mid-interview":
        run = screen("--out", str(out))
        run.respond(until=prompt_of("isotretinoin_last_dose"))
        wait_until_reading_stdin(run.child.pid)
        run.child.sendintr()
    elif where == "at a gate":
        run = screen("--out", str(out))
        run.respond(until=prompt_of("recent_procedures"))
        wait_until_reading_stdin(run.child.pid)
        run.child.sendintr()
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


# ------------------------------------------------------------------ 7. partial answers file


def test_partial_answers_file_asks_only_the_missing_questions(screen, tmp_path):
    missing = ["pregnant", "isotretinoin_last_dose", "fitzpatrick"]
    given = all_no_except(*missing)
    given["herpes_history"] = True  # a caution that only the file knows about
    answers = write_answers(tmp_path / "partial.toml", given)
    run = screen("--answers", str(answers))

    asked = run.respond(
        {
            "pregnant": "n",
            "isotretinoin_last_dose": "y",
            "isotretinoin_last_dose.date": "2026-03-15",
            "fitzpatrick": "IV",
        }
    )
    assert asked == ["pregnant", "isotretinoin_last_dose", "isotretinoin_last_dose.date", "fitzpatrick"]
    summary = run.reply("")
    assert run.finish() == 0

    asking = run.transcript.split(SUMMARY_PROMPT, 1)[0][: -len(summary)]
    assert "3 questions in 3 sections." in asking
    for qid in given:
        assert QUESTIONS[qid].prompt not in asking, f"{qid} was answered by the file but asked anyway"
    assert GATES["recent_procedures"].prompt not in asking  # its dates are all in the file
    # Only the sections of the asked questions get a heading.
    headings = [line.split(" ─")[0] for line in asking.splitlines() if "──" in line]
    assert headings == [
        "About the patient (section 1 of 3)",
        "Medicines (section 2 of 3)",
        "Skin type (section 3 of 3)",
    ]

    # The file's answers and the typed ones are both in the summary and the verdict.
    assert re.search(row("herpes_history", "yes"), summary)
    assert re.search(row("fitzpatrick", "IV (4)"), summary)
    verdict = run.verdict
    assert "CAUTION — may proceed with the precautions below" in verdict
    assert "Herpes simplex history" in verdict
    assert "Fitzpatrick IV-VI" in verdict
    assert "Isotretinoin within 12 months" in verdict  # 2026-03-15: past 6 months, within 12
    assert "Isotretinoin within 6 months" not in verdict


def test_a_procedure_date_in_the_file_opens_the_gate_for_the_others(screen, tmp_path):
    given = {k: v for k, v in all_no_except(*PROCEDURES[1:]).items()} | {PROCEDURES[0]: "2026-06-01"}
    run = screen("--answers", str(write_answers(tmp_path / "p.toml", given)))
    asked = run.respond()
    assert asked == PROCEDURES[1:]  # no gate: the file already says yes to it
    run.reply("")
    assert run.finish() == 0


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


# ------------------------------------------------------------------ dates in the clinic's order


def test_dates_in_the_clinic_order_are_read_and_echoed(screen, tmp_path, no_user_config):
    no_user_config.write_text('[clinic]\ndate_order = "DMY"\n', encoding="utf-8")
    out = tmp_path / "rec.toml"
    given = all_no_except("isotretinoin_last_dose", *PROCEDURES)
    run = screen("--answers", str(write_answers(tmp_path / "p.toml", given)), "--out", str(out))
    run.answer(prompt_of("isotretinoin_last_dose"), "y")
    # The prompts say the clinic's order, and the date understood is echoed in words.
    run.answer(f"{QUESTIONS['isotretinoin_last_dose'].prompt} (DD/MM/YYYY, 'none', or 'back'): ", "31/08/2026")
    echoed = run.answer(prompt_of("recent_procedures"), "y")
    assert "→ Mon 31 Aug 2026" in echoed
    run.answer(f"{QUESTIONS[PROCEDURES[0]].prompt} (DD/MM/YYYY, or 'none'): ", "none")
    run.answer(f"{QUESTIONS['filler_last_date'].prompt} (DD/MM/YYYY, or 'none'): ", "20 Nov 2026")
    echoed = run.answer(f"{QUESTIONS[PROCEDURES[2]].prompt} (DD/MM/YYYY, or 'none'): ", "none")
    assert "→ Fri 20 Nov 2026" in echoed
    for qid in PROCEDURES[3:]:
        run.answer(f"{QUESTIONS[qid].prompt} (DD/MM/YYYY, or 'none'): ", "none")
    summary = run.answer(SUMMARY_PROMPT, "")
    assert re.search(row("isotretinoin_last_dose", "2026-08-31"), summary)
    assert run.finish() == 3
    assert "Earliest date: 28/02/2027" in run.verdict  # 31 August + 6 months, not 8 March (in the clinic order)
    answers = tomllib.loads(out.read_text(encoding="utf-8"))["answers"]
    assert answers["isotretinoin_last_dose"] == dt.date(2026, 8, 31)
    assert answers["filler_last_date"] == dt.date(2026, 11, 20)
    assert "Note:" not in run.transcript  # both dates lie inside what their gates asked about


def test_an_ambiguous_date_is_asked_again_without_an_order(screen, tmp_path):
    answers = write_answers(tmp_path / "p.toml", all_no_except("isotretinoin_last_dose"))
    run = screen("--answers", str(answers))
    run.answer(prompt_of("isotretinoin_last_dose"), "y")
    run.answer(date_prompt_of("isotretinoin_last_dose"), "03/05/2026")
    refused = run.answer(date_prompt_of("isotretinoin_last_dose"), "3 May 2026")
    assert "Ambiguous (day and month as numbers need date_order DMY or MDY in the clinic config)" in refused
    echoed = run.answer(SUMMARY_PROMPT, "")
    assert "→ Sun 3 May 2026" in echoed
    assert run.finish() == 0  # past the 6-month deferral, within the 12-month caution
    assert "Isotretinoin within 12 months" in run.verdict


def test_a_date_outside_its_gate_is_kept_with_a_warning(screen, tmp_path):
    out = tmp_path / "rec.toml"
    run = screen("--out", str(out))
    run.respond(
        {
            "isotretinoin_last_dose": "y",
            "isotretinoin_last_dose.date": "2024-08-31",  # "in the last 12 months?" yes, then two years ago
            "recent_procedures": "y",
            "filler_last_date": "2026-09-01",  # past its own 4 weeks, inside the gate's 6 months: fine
            "surgery_last_date": "2026-01-10",  # "in the last 6 months?" yes, then 11 months ago
        }
    )
    asking = run.transcript
    assert (
        "Note: Sat 31 Aug 2024 is 12 months or more before the evaluation date, but the question was about the "
        "last 12 months. Check the year; the date is kept (you can change it at the review)."
    ) in asking
    assert (
        "Note: Sat 10 Jan 2026 is 6 months or more before the evaluation date, but the question was about the "
        "last 6 months." in asking
    )
    assert asking.count("Note:") == 2
    summary = run.reply("")
    assert re.search(row("isotretinoin_last_dose", "2024-08-31"), summary)  # warned, not refused
    assert run.finish() == 0
    answers = tomllib.loads(out.read_text(encoding="utf-8"))["answers"]
    assert answers["isotretinoin_last_dose"] == dt.date(2024, 8, 31)
    assert answers["surgery_last_date"] == dt.date(2026, 1, 10)


def test_an_ever_gate_never_warns(screen, tmp_path):
    answers = write_answers(tmp_path / "p.toml", all_no_except("radiation_last_date"))
    run = screen("--answers", str(answers))
    run.answer(prompt_of("radiation_last_date"), "y")
    run.answer(date_prompt_of("radiation_last_date"), "1990-06-15")  # "ever had radiation therapy?": any date fits
    echoed = run.answer(SUMMARY_PROMPT, "")
    assert "→ Fri 15 Jun 1990" in echoed and "Note:" not in echoed
    assert run.finish() == 0


# ------------------------------------------------------------------ 7. the re-check before a session


def test_check_asks_the_recheck_questions_with_the_answers_on_record(tmp_path, monkeypatch):
    """`needle check` at a terminal: only the recheck questions, each with the answer on record as
    what Enter keeps; a change (pregnant) is screened and puts the booked series on hold."""
    monkeypatch.setenv("NEEDLE_REGISTER", str(tmp_path / "register.sqlite3"))
    answers = write_answers(tmp_path / "p.toml", all_no_except())
    assert run_cli("screen", "--answers", str(answers), "--on", ON, "--patient", "P-7")[0] == 0
    booked = run_cli("plan", "--patient", "P-7", "--indication", "fine-lines", "--start", "2026-12-07",
                     "--on", ON, "--book")  # fmt: skip
    assert booked[0] == 0, booked
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE")}
    env.update(COLUMNS="200", LINES="50", TERM="dumb", NO_COLOR="1", PYTHONUTF8="1")
    needle, *argv = command("check", "P-7", "--on", "2026-12-07")
    child = pexpect.spawn(needle, argv, cwd=str(tmp_path), env=env, encoding="utf-8", timeout=TIMEOUT,
                          dimensions=(50, 200))  # fmt: skip
    log = io.StringIO()
    child.logfile_read = log
    recheck = [q for q in PROTO.questions if q.recheck]
    asked = 0
    try:
        while True:
            found = child.expect([r"; Enter keeps: (yes|no|none)\): ", re.escape(SUMMARY_PROMPT), pexpect.EOF])
            if found == 2:
                break
            if found == 1:
                child.sendline("")
                continue
            asked += 1
            assert child.match.group(1) in ("no", "none"), strip_ansi(log.getvalue())  # the answer on record
            child.sendline("y" if "pregnant" in child.before else "")
    finally:
        child.close()
    transcript = strip_ansi(log.getvalue())
    assert child.exitstatus == 3, transcript
    # Every main recheck question asked once (gated follow-ups only after a yes): none other.
    gates = {q.asked_if for q in recheck if q.asked_if in GATES}  # one yes/no before their dates: "no"
    assert asked == len([q for q in recheck if not q.asked_if]) + len(gates), transcript
    assert "age" not in {q.id for q in recheck} and prompt_of("age") not in transcript
    code, out, _ = run_cli("history", "P-7", "--json")
    assert code == 0
    events = json.loads(out)
    assert [e["event"] for e in events][-2:] == ["rechecked", "booked"]
    assert events[-2]["verdict"] == "defer" and events[-2]["findings"] == ["pregnant"]


def test_a_mistaken_yes_can_be_taken_back_at_the_date(screen, tmp_path):
    """After "y" at a lead-in, `back` asks the yes/no again and `none` (or `no`) answers none."""
    answers = write_answers(tmp_path / "p.toml", all_no_except("isotretinoin_last_dose", "sunburn_last_date"))
    run = screen("--answers", str(answers))
    run.answer(prompt_of("sunburn_last_date"), "y")
    run.answer(date_prompt_of("sunburn_last_date"), "back")
    run.answer(prompt_of("sunburn_last_date"), "n")  # asked again: the "yes" is taken back
    run.answer(prompt_of("isotretinoin_last_dose"), "y")
    run.answer(date_prompt_of("isotretinoin_last_dose"), "none")
    summary = run.answer(SUMMARY_PROMPT, "")
    assert "Not a date" not in run.transcript
    assert re.search(row("isotretinoin_last_dose", "no"), summary) and re.search(
        row("sunburn_last_date", "no"), summary
    )
    assert run.finish() == 0


def test_the_review_fits_an_80_column_terminal_and_keeps_errors_by_the_prompt(screen, tmp_path):
    """On 80x24 the whole review fits (two answers a line, no section column, a long question cut
    with "…"), and a mistyped number is said next to the prompt without printing it again."""
    answers = write_answers(tmp_path / "p.toml", all_no_except("keloid_history"))
    run = screen("--answers", str(answers), size=(24, 80))
    run.answer(prompt_of("keloid_history"), "n")
    table = run.expect(SUMMARY_PROMPT)
    shown = table[table.index("Answers") :]
    assert len(shown.splitlines()) <= 22, shown  # the whole review and its prompt on 24 lines
    numbers = re.findall(r"(?:^|\s)(\d+(?:\.\d)?)\s", shown)
    assert set(NUMBER.values()) <= set(numbers), sorted(set(NUMBER.values()) - set(numbers))
    assert all(len(line.rstrip()) <= 80 for line in table.splitlines()), table
    assert "Recent procedures" not in table  # no section column when narrow
    run.child.sendline("99")
    shown = run.expect(SUMMARY_PROMPT)
    assert "'99' is not a question number" in shown and "Answers" not in shown
    run.child.sendline("")
    assert run.finish() == 0
