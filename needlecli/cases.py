"""Protocol test cases: a clinic's example patients and what its protocols must say about them.

`needle protocols test CASES.toml` reads a case file (see the README, "Testing a protocol"):
each case has answers, an evaluation date and the expected verdict and earliest date, and
optionally the facts a treatment plan for that patient must show. Three steps, all pure (no
file, clock, environment or printing: whatever must be read is handed in by the caller):

* `case_file.parse_case_file(raw)`: check a parsed case file, collecting every problem with its key
  path, into a `CaseFile`.
* `prepare(case_file, loaders)`: resolve each case's protocols and answers (the `Loaders`
  read the files) and check the answers and expectations against those protocols, into
  `ReadyCase`s; again every problem with its key path. A case file that fails here is a bad
  file (exit 2), never a failing case.
* `run_case(ready, config)`: screen the answers, plan when asked, and compare, into a
  `CaseResult` with one `Mismatch` per expectation that does not hold. `report_lines`,
  `summary_line` and `as_json` say it the way the command prints it.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from needlecli import planning
from needlecli.answers import read_answers
from needlecli.case_file import (
    _ALL_CLEAR_FITZPATRICK,
    _ALL_CLEAR_PREFERRED,
    ALL_CLEAR,
    OTHER_NOTE_CAUSES,
    Case,
    CaseFile,
    CaseFileError,
    PlanCase,
)
from needlecli.errors import Contraindicated, Deferred, NeedleError
from needlecli.model import (
    AnswerValue,
    Plan,
    Question,
    ScreeningProtocol,
    TreatmentProtocol,
    Verdict,
)
from needlecli.screening import evaluate, future_dates

if TYPE_CHECKING:
    from needlecli.config import Config

# ----------------------------------------------------------------- resolving against the protocols


@dataclass(frozen=True)
class Loaders:
    """What `prepare` may read, each raising a NeedleError for a reference it cannot use:
    a screening protocol, a treatment protocol (by name or path) and an answers file's mapping."""

    screening: Callable[[str], ScreeningProtocol]
    treatment: Callable[[str], TreatmentProtocol]
    answers_file: Callable[[str], Mapping[str, object]]


@dataclass(frozen=True)
class ReadyCase:
    """A case with its protocols loaded and its answers checked and complete."""

    case: Case
    screening: ScreeningProtocol
    answers: dict[str, AnswerValue]
    treatment: TreatmentProtocol | None = None


def prepare(case_file: CaseFile, loaders: Loaders, origin: str, problems: Sequence[str] = ()) -> list[ReadyCase]:
    """Resolve every case; raise CaseFileError listing every problem (each with its key path),
    ``problems`` (from `parse_case_file`) first."""
    problems = list(problems)
    cache: dict[tuple[str, str], object] = {}

    def load(kind: str, ref: str, key: str, fn: Callable[[str], Any]) -> Any:
        if (kind, ref) not in cache:
            try:
                cache[kind, ref] = fn(ref)
            except NeedleError as exc:
                cache[kind, ref] = exc
        got = cache[kind, ref]
        if isinstance(got, NeedleError):
            problems.append(f"{key}: {got}")
            return None
        return got

    out: list[ReadyCase] = []
    d = case_file.defaults
    for case in case_file.cases:
        screening = load("screening", case.protocol, case.protocol_key, loaders.screening)
        treatment = None
        if case.plan is not None:
            treatment = load("treatment", case.plan.indication, f"{case.path}.plan.indication", loaders.treatment)
            if treatment is not None:
                problems += _check_plan(case, treatment)
        if screening is None:
            continue
        answers: dict[str, AnswerValue] = all_clear(screening) if d.all_clear else {}
        layers: list[tuple[str, Mapping[str, object] | None]] = [("defaults.answers", d.answers)]
        if d.answers_file is not None:
            layers.append(
                (
                    "defaults.answers_file",
                    load("answers", d.answers_file, "defaults.answers_file", loaders.answers_file),
                )
            )
        if case.answers_file is not None:
            key = f"{case.path}.answers_file"
            layers.append((key, load("answers", case.answers_file, key, loaders.answers_file)))
        layers.append((f"{case.path}.answers", case.answers))
        usable = True
        for key, raw in layers:
            if raw is None:
                usable = False
                continue
            try:
                typed, _ = read_answers(screening, raw, key)
            except NeedleError as exc:
                problems.append(str(exc))
                usable = False
                continue
            answers.update(typed)
        problems += _check_findings(case, screening)
        if not usable:
            continue
        missing = [q for q in screening.ids if q not in answers]
        if missing:
            more = f" and {len(missing) - 6} more" if len(missing) > 6 else ""
            problems.append(
                f"{case.path}.answers: no answer for {', '.join(missing[:6])}{more} "
                f'(answer every question, or start from answers = "{ALL_CLEAR}" in [defaults])'
            )
            continue
        later = future_dates(screening, answers, case.on)
        if later:
            problems.append(
                f"{case.path}.answers: {', '.join(later)}: the date is after the evaluation date "
                f"({case.on.isoformat()}); check the year"
            )
            continue
        out.append(ReadyCase(case, screening, answers, treatment))
    if problems or not case_file.cases:
        raise CaseFileError(origin, list(dict.fromkeys(problems)) or ["cases: must not be empty"])
    return out


def _unknown_ids(found: Sequence[str], known: Sequence[str], path: str, what: str) -> list[str]:
    out = []
    for i, fid in enumerate(found):
        if fid not in known:
            hint = difflib.get_close_matches(fid, known, n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            out.append(f"{path}[{i}]: unknown {what} {fid!r}{extra}")
    return out


def _check_findings(case: Case, screening: ScreeningProtocol) -> list[str]:
    p = f"{case.path}.expect"
    return _unknown_ids(case.expect.findings, screening.ids, f"{p}.findings", "question") + _unknown_ids(
        case.expect.findings_absent, screening.ids, f"{p}.findings_absent", "question"
    )


def _check_plan(case: Case, treatment: TreatmentProtocol) -> list[str]:
    plan = cast(PlanCase, case.plan)
    p = f"{case.path}.plan"
    name = treatment.info.name
    problems = []
    for key, value, rng in (
        ("sessions", plan.sessions, treatment.sessions),
        ("interval_weeks", plan.interval_weeks, treatment.interval_weeks),
    ):
        if value is not None and not rng.min <= value <= rng.max:
            problems.append(f"{p}.{key}: must be between {rng.min} and {rng.max} for {name}, got {value}")
    zones = [z for z, _, _ in treatment.depth_mm]
    for key, named in (
        ("depth_max", [z for z, _ in plan.expect.depth_max]),
        ("depth", [z for z, _, _ in plan.expect.depth]),
    ):
        for zone in named:
            if zone not in zones:
                hint = difflib.get_close_matches(zone, zones, n=1)
                extra = f" (did you mean '{hint[0]}'?)" if hint else f" ({name}'s zones: {', '.join(zones)})"
                problems.append(f"{p}.expect.{key}.{zone}: unknown zone{extra}")
    causes = list(dict.fromkeys([*(c.finding for c in treatment.cautions), *OTHER_NOTE_CAUSES]))
    problems += _unknown_ids(plan.expect.notes, causes, f"{p}.expect.notes", "note cause")
    problems += _unknown_ids(plan.expect.notes_absent, causes, f"{p}.expect.notes_absent", "note cause")
    return problems


def all_clear(protocol: ScreeningProtocol) -> dict[str, AnswerValue]:
    """Answers with nothing to report: yes/no questions no, dates none, age 35, Fitzpatrick II (or,
    where a protocol's rules fire for those, the nearest value that fires none)."""
    out: dict[str, AnswerValue] = {}
    for q in protocol.questions:
        if q.type == "bool":
            out[q.id] = False
        elif q.type == "date":
            out[q.id] = None
        elif q.type == "fitzpatrick":
            out[q.id] = _quiet(q, _ALL_CLEAR_FITZPATRICK, 1, 6)
        else:
            low = q.minimum if q.minimum is not None else 0
            high = q.maximum if q.maximum is not None else low + 100
            out[q.id] = _quiet(q, _ALL_CLEAR_PREFERRED.get(q.id, (low + high) // 2), low, high)
    return out


def _quiet(q: Question, preferred: int, low: int, high: int) -> int:
    def fires(value: int) -> bool:
        for r in q.rules:
            if q.type == "fitzpatrick" and value in r.values:
                return True
            if q.type == "int" and (r.at_least is not None or r.at_most is not None):
                lo = r.at_least if r.at_least is not None else value
                hi = r.at_most if r.at_most is not None else value
                if lo <= value <= hi:
                    return True
        return False

    preferred = min(max(preferred, low), high)
    for value in sorted(range(low, high + 1), key=lambda v: (abs(v - preferred), v)):
        if not fires(value):
            return value
    return preferred


# ----------------------------------------------------------------- running and comparing


@dataclass(frozen=True)
class Mismatch:
    """An expectation that does not hold: its key (``verdict``, ``plan.antiviral``) and both sides, as text."""

    key: str
    expected: str
    got: str

    def line(self) -> str:
        return f"  {self.key}: expected {self.expected}, got {self.got}"


@dataclass(frozen=True)
class CaseResult:
    name: str
    verdict: Verdict
    earliest: dt.date | None
    findings: tuple[str, ...]
    mismatches: tuple[Mismatch, ...]
    #: The plan's session dates, when the case asked for a plan and got one.
    sessions: tuple[dt.date, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.mismatches


def run_case(ready: ReadyCase, config: Config) -> CaseResult:
    """Screen the case's answers on its date, plan when it asks for a plan, and compare."""
    case = ready.case
    result = evaluate(ready.screening, ready.answers, case.on)
    ids = tuple(dict.fromkeys(f.id for f in result.findings))
    exp = case.expect
    out: list[Mismatch] = []
    if result.verdict != exp.verdict:
        out.append(Mismatch("verdict", exp.verdict, result.verdict))
    if result.earliest_date != exp.earliest:
        out.append(Mismatch("earliest", _day(exp.earliest), _day(result.earliest_date)))
    out += _includes("findings", exp.findings, ids)
    out += _excludes("findings_absent", exp.findings_absent, ids)
    sessions: tuple[dt.date, ...] = ()
    if case.plan is not None and ready.treatment is not None:
        mismatches, sessions = _plan_facts(ready, case.plan, ready.treatment, config)
        out += mismatches
    return CaseResult(case.name, result.verdict, result.earliest_date, ids, tuple(out), sessions)


def _plan_facts(
    ready: ReadyCase, want: PlanCase, treatment: TreatmentProtocol, config: Config
) -> tuple[list[Mismatch], tuple[dt.date, ...]]:
    on = ready.case.on
    exp = want.expect
    flags = planning.PlanFlags(
        start=want.start,
        sessions=want.sessions,
        interval_weeks=want.interval_weeks,
        max_depth=want.max_depth,
        zones=want.zones,
    )
    refused: str | None = None
    plan: Plan | None = None
    try:
        terms = planning.screen_answers(ready.screening, ready.answers, on)
        plan = planning.new_plan(treatment, flags, config, on, screening=terms)
    except Contraindicated:
        refused = "contraindicated"
    except Deferred:
        refused = "defer"
    except NeedleError as exc:
        return [Mismatch("plan", _wanted(exp.refused), f"an error: {exc}")], ()
    if refused is not None or exp.refused is not None:
        if refused != exp.refused:
            got = f"refused ({refused})" if refused else "a plan"
            return [Mismatch("plan", _wanted(exp.refused), got)], ()
        return [], ()
    assert plan is not None
    sessions = plan.sessions
    out: list[Mismatch] = []
    if exp.first_session is not None and sessions[0].date != exp.first_session:
        out.append(Mismatch("plan.first_session", exp.first_session.isoformat(), sessions[0].date.isoformat()))
    numbers = [s.number for s in sessions]
    if exp.antiviral is not None:
        have = [s.number for s in sessions if any(w.kind == "antiviral" for w in s.windows)]
        if have != (numbers if exp.antiviral else []):
            out.append(
                Mismatch("plan.antiviral", "every session" if exp.antiviral else "no session", _which(have, numbers))
            )
    shallower = [s.number for s in sessions if any(z.causes for z in s.depth)]
    out += _sessions_fact("plan.shallower", exp.shallower, shallower, numbers)
    out += _sessions_fact("plan.deep", exp.deep, [s.number for s in sessions if s.deep], numbers)
    for finding, want_numbers in exp.cautions_in_force:
        have = [s.number for s in sessions if finding in s.flags]
        if have != list(want_numbers):
            out.append(
                Mismatch(
                    f"plan.cautions_in_force.{finding}", _which(list(want_numbers), numbers), _which(have, numbers)
                )
            )
    for pid, day in exp.pause_from:
        window = sessions[0].window(f"pause-{pid}")
        got = window.first_day.isoformat() if window is not None else "no such pause"
        if window is None or window.first_day != day:
            out.append(Mismatch(f"plan.pause_from.{pid}", day.isoformat(), got))
    for zone, mm in exp.depth_max:
        deepest = [(z.max_mm, s.number) for s in sessions for z in s.depth if z.zone == zone]
        over = [n for hi, n in deepest if hi > mm + 1e-9]
        if over:
            worst = max(hi for hi, _ in deepest)
            out.append(
                Mismatch(f"plan.depth_max.{zone}", f"at most {mm:g} mm", f"{worst:g} mm in {_which(over, numbers)}")
            )
    for zone, lo, hi in exp.depth:
        for s in sessions:
            z = next((x for x in s.depth if x.zone == zone), None)
            if z is None:
                out.append(Mismatch(f"plan.depth.{zone}", f"{lo:g}-{hi:g} mm", "not a zone the plan treats (zones)"))
                break
            if abs(z.min_mm - lo) > 1e-9 or abs(z.max_mm - hi) > 1e-9:
                out.append(
                    Mismatch(
                        f"plan.depth.{zone}", f"{lo:g}-{hi:g} mm", f"{z.min_mm:g}-{z.max_mm:g} mm in session {s.number}"
                    )
                )
                break
    causes = tuple(dict.fromkeys(n.cause for n in plan.notes))
    out += _includes("plan.notes", exp.notes, causes)
    out += _excludes("plan.notes_absent", exp.notes_absent, causes)
    return out, tuple(s.date for s in sessions)


def _sessions_fact(
    key: str, expected: bool | tuple[int, ...] | None, have: list[int], numbers: list[int]
) -> list[Mismatch]:
    """A fact about which sessions show something: true (every), false (none) or exactly these numbers."""
    if expected is None:
        return []
    want = (numbers if expected else []) if isinstance(expected, bool) else list(expected)
    if have == want:
        return []
    shown = _which(want, numbers) if not isinstance(expected, bool) else ("every session" if expected else "no session")
    return [Mismatch(key, shown, _which(have, numbers))]


def _wanted(refused: str | None) -> str:
    return f"refused ({refused})" if refused else "a plan"


def _day(day: dt.date | None) -> str:
    return day.isoformat() if day else "none"


def _names(ids: Sequence[str]) -> str:
    return ", ".join(ids) if ids else "none"


def _which(have: Sequence[int], every: Sequence[int]) -> str:
    if not have:
        return "no session"
    if list(have) == list(every):
        return "every session"
    return f"session{'s' if len(have) > 1 else ''} {', '.join(map(str, have))}"


def _includes(key: str, wanted: Sequence[str], got: Sequence[str]) -> list[Mismatch]:
    if all(w in got for w in wanted):
        return []
    return [Mismatch(key, f"to include {_names(wanted)}", _names(got))]


def _excludes(key: str, unwanted: Sequence[str], got: Sequence[str]) -> list[Mismatch]:
    present = [u for u in unwanted if u in got]
    if not present:
        return []
    return [Mismatch(key, f"none of {_names(unwanted)}", _names(got))]


# ----------------------------------------------------------------- reporting


def report_lines(result: CaseResult, label: str = "") -> list[str]:
    """``ok   NAME``, or ``FAIL NAME`` and a line per mismatch (``  verdict: expected defer, got caution``)."""
    name = f"{label}: {result.name}" if label else result.name
    if result.passed:
        return [f"ok   {name}"]
    return [f"FAIL {name}", *(m.line() for m in result.mismatches)]


def summary_line(results: Sequence[CaseResult]) -> str:
    passed = sum(r.passed for r in results)
    return f"{passed} passed, {len(results) - passed} failed"


def as_json(results: Sequence[tuple[str, CaseResult]]) -> dict[str, Any]:
    """The results as one JSON document: each case with its file, what it got and every mismatch."""
    cases = [
        {
            "file": label,
            "name": r.name,
            "passed": r.passed,
            "verdict": r.verdict,
            "earliest_date": r.earliest.isoformat() if r.earliest else None,
            "findings": list(r.findings),
            "sessions": [d.isoformat() for d in r.sessions],
            "mismatches": [{"key": m.key, "expected": m.expected, "got": m.got} for m in r.mismatches],
        }
        for label, r in results
    ]
    passed = sum(r.passed for _, r in results)
    return {"passed": passed, "failed": len(results) - passed, "cases": cases}
