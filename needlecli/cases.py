"""Protocol test cases: a clinic's example patients and what its protocols must say about them.

`needle protocols test CASES.toml` reads a case file (see the README, "Testing a protocol"):
each case has answers, an evaluation date and the expected verdict and earliest date, and
optionally the facts a treatment plan for that patient must show. Three steps, all pure (no
file, clock, environment or printing: whatever must be read is handed in by the caller):

* `parse_case_file(raw)`: check a parsed case file, collecting every problem with its key
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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from needlecli import documents, planning
from needlecli.answers import read_answers
from needlecli.dates import BadAnswer, parse_date
from needlecli.errors import Contraindicated, Deferred, NeedleError
from needlecli.model import (
    MAX_DEPTH_MM,
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

#: `[defaults] answers = "all-clear"`: every yes/no question no, every date none, age 35, Fitzpatrick II.
ALL_CLEAR = "all-clear"
VERDICTS: tuple[Verdict, ...] = ("eligible", "caution", "defer", "contraindicated")
Refusal = Literal["contraindicated", "defer"]
REFUSALS: tuple[Refusal, ...] = ("contraindicated", "defer")
#: Plan note causes besides the treatment protocol's caution findings.
OTHER_NOTE_CAUSES: tuple[str, ...] = (
    "screening",
    "schedule",
    "device",
    "device-label",
    "moved",
    "sun-trip",
    "not-screened",
    "override",
)
#: The preferred all-clear value of a whole-number or Fitzpatrick question (a value no rule fires for).
_ALL_CLEAR_PREFERRED = {"age": 35}
_ALL_CLEAR_FITZPATRICK = 2
MAX_NAME = 200

_TOP_KEYS = ("defaults", "cases")
_DEFAULT_KEYS = ("answers", "answers_file", "on", "protocol")
_CASE_KEYS = ("name", "answers", "answers_file", "on", "protocol", "expect", "plan")
_EXPECT_KEYS = ("verdict", "earliest", "findings", "findings_absent")
_PLAN_KEYS = ("indication", "start", "sessions", "interval_weeks", "max_depth", "zones", "expect")
_PLAN_EXPECT_KEYS = (
    "refused",
    "first_session",
    "antiviral",
    "shallower",
    "depth_max",
    "depth",
    "notes",
    "notes_absent",
    "deep",
    "cautions_in_force",
    "pause_from",
)


class CaseFileError(NeedleError):
    """A case file that cannot be used (exit 2); ``problems`` lists every problem with its key path."""

    def __init__(self, origin: str, problems: list[str]) -> None:
        self.origin = origin
        self.problems = list(problems)
        super().__init__(f"{origin}: {documents.summary(self.problems)}")


# ----------------------------------------------------------------- the file, typed


@dataclass(frozen=True)
class Expect:
    """What the screening must give: the verdict and earliest date (None: no date), and findings."""

    verdict: Verdict
    earliest: dt.date | None
    findings: tuple[str, ...] = ()
    findings_absent: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanExpect:
    """Facts a plan must show. None (or empty) means "not checked", except ``refused``:
    without it the screening must allow a plan."""

    refused: Refusal | None = None
    first_session: dt.date | None = None
    #: True: every session has an antiviral window; False: none has.
    antiviral: bool | None = None
    #: True/False: every/no session is one step shallower; a tuple: exactly those session numbers are.
    shallower: bool | tuple[int, ...] | None = None
    #: (zone, mm): every session's deepest depth in the zone is at most this.
    depth_max: tuple[tuple[str, float], ...] = ()
    #: (zone, min, max): every session's range in the zone is exactly this.
    depth: tuple[tuple[str, float, float], ...] = ()
    notes: tuple[str, ...] = ()
    notes_absent: tuple[str, ...] = ()
    #: True/False: every/no session gets the deeper-pass aftercare; a tuple: exactly those session numbers do.
    deep: bool | tuple[int, ...] | None = None
    #: (finding, session numbers): the sessions a dated caution of that finding is still in force on.
    cautions_in_force: tuple[tuple[str, tuple[int, ...]], ...] = ()
    #: (pause id, date): session 1's pause of that id starts on that date (e.g. a procedure's wait).
    pause_from: tuple[tuple[str, dt.date], ...] = ()


@dataclass(frozen=True)
class PlanCase:
    """A plan to make for the case's patient (a treatment protocol name or path) and its facts."""

    indication: str
    start: dt.date | None = None
    sessions: int | None = None
    interval_weeks: int | None = None
    max_depth: float | None = None
    expect: PlanExpect = field(default_factory=PlanExpect)
    #: The zones treated (empty: the protocol's default zones).
    zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    """One example patient, as written (answers not yet checked against a protocol)."""

    #: Where it is in the file: ``cases[3]``.
    path: str
    name: str
    on: dt.date
    #: The screening protocol (a name or path) and the key that gave it (for messages).
    protocol: str
    protocol_key: str
    answers: Mapping[str, object]
    answers_file: str | None
    expect: Expect
    plan: PlanCase | None = None


@dataclass(frozen=True)
class Defaults:
    all_clear: bool = False
    answers: Mapping[str, object] = field(default_factory=dict)
    answers_file: str | None = None
    on: dt.date | None = None
    protocol: str | None = None


@dataclass(frozen=True)
class CaseFile:
    defaults: Defaults
    cases: tuple[Case, ...]


def parse_case_file(raw: Mapping[str, Any]) -> tuple[CaseFile, list[str]]:
    """Check a parsed case file: the cases that could be read, and every problem with its key path
    (`prepare` checks those cases further and raises for them all)."""
    c = _Checker()
    return c.case_file(raw), c.problems


class _Checker(documents.Checker):
    def case_file(self, raw: Mapping[str, Any]) -> CaseFile:
        self.unknown(raw, "", _TOP_KEYS)
        defaults = self.defaults(raw)
        out: list[Case] = []
        names: dict[str, str] = {}
        for path, tab in self.tables(raw, "cases", ""):
            case = self.case(tab, path, defaults)
            if case.name in names:
                self.err(f"{path}.name", f"the same name as {names[case.name]}; give every case its own name")
            names.setdefault(case.name, path)
            out.append(case)
        return CaseFile(defaults, tuple(out))

    def defaults(self, raw: Mapping[str, Any]) -> Defaults:
        tab = self.table(raw, "defaults", "", required=False)
        if tab is None:
            return Defaults()
        self.unknown(tab, "defaults", _DEFAULT_KEYS)
        all_clear = False
        answers: Mapping[str, object] = {}
        val = tab.get("answers")
        if isinstance(val, str):
            if val == ALL_CLEAR:
                all_clear = True
            else:
                self.err("defaults.answers", f'must be "{ALL_CLEAR}" or a table of answers, not the string {val!r}')
        elif val is not None:
            answers = self.answer_table(tab, "answers", "defaults") or {}
        return Defaults(
            all_clear=all_clear,
            answers=answers,
            answers_file=self.file_name(tab, "answers_file", "defaults"),
            on=self.day(tab, "on", "defaults", required=False),
            protocol=self.ref(tab, "protocol", "defaults"),
        )

    def case(self, tab: Mapping[str, Any], path: str, defaults: Defaults) -> Case:
        self.unknown(tab, path, _CASE_KEYS)
        name = self.string(tab, "name", path)
        if name and (len(name) > MAX_NAME or not name.isprintable()):
            self.err(f"{path}.name", f"must be one line of printable text, at most {MAX_NAME} characters")
        on = self.day(tab, "on", path, required=False)
        if on is None and defaults.on is None and "on" not in tab:
            self.err(f"{path}.on", "missing (the evaluation date; or give on in [defaults])")
        protocol = self.ref(tab, "protocol", path)
        answers = self.answer_table(tab, "answers", path) if "answers" in tab else {}
        answers_file = self.file_name(tab, "answers_file", path)
        expect = self.expect(tab, path)
        plan = self.plan(tab, f"{path}.plan") if "plan" in tab else None
        # A case with a problem here is still checked against its protocols (so every problem is
        # reported at once); the problem already recorded keeps it from running.
        on = on or defaults.on or dt.date.max
        expect = expect or Expect("eligible", None)
        if protocol is not None:
            ref, key = protocol, f"{path}.protocol"
        elif defaults.protocol is not None:
            ref, key = defaults.protocol, "defaults.protocol"
        else:
            ref, key = "screening", f"{path}.protocol"
        return Case(path, name, on, ref, key, answers or {}, answers_file, expect, plan)

    def expect(self, tab: Mapping[str, Any], path: str) -> Expect | None:
        p = f"{path}.expect"
        sub = self.table(tab, "expect", path)
        if sub is None:
            return None
        self.unknown(sub, p, _EXPECT_KEYS)
        verdict = self.choice(sub, "verdict", p, VERDICTS)
        if "earliest" not in sub:
            self.err(f"{p}.earliest", "missing (the earliest date, or false for none)")
            earliest, ok = None, False
        else:
            earliest, ok = self.day_or_none(sub, "earliest", p)
        findings = self.ids(sub, "findings", p)
        absent = self.ids(sub, "findings_absent", p)
        if verdict is None or not ok:
            return None
        return Expect(cast(Verdict, verdict), earliest, findings, absent)

    def plan(self, tab: Mapping[str, Any], path: str) -> PlanCase | None:
        sub = self.table(tab, "plan", path.rpartition(".")[0])
        if sub is None:
            return None
        self.unknown(sub, path, _PLAN_KEYS)
        indication = self.string(sub, "indication", path)
        start = self.day(sub, "start", path, required=False)
        sessions = self.integer(sub, "sessions", path, 1, 20, required=False)
        interval = self.integer(sub, "interval_weeks", path, 1, 52, required=False)
        max_depth = self.number(sub, "max_depth", path, required=False, unit="mm")
        if max_depth is not None and not 0 < max_depth <= MAX_DEPTH_MM:
            self.err(f"{path}.max_depth", f"must be more than 0 and at most {MAX_DEPTH_MM} mm, got {max_depth:g}")
        expect = PlanExpect()
        if "expect" in sub:
            expect = self.plan_expect(sub, f"{path}.expect") or expect
        zones = self.ids(sub, "zones", path)
        if not indication:
            return None
        return PlanCase(indication, start, sessions, interval, max_depth, expect, zones)

    def plan_expect(self, tab: Mapping[str, Any], path: str) -> PlanExpect | None:
        sub = self.table(tab, "expect", path.rpartition(".")[0])
        if sub is None:
            return None
        self.unknown(sub, path, _PLAN_EXPECT_KEYS)
        refused: Refusal | None = None
        if sub.get("refused") is not False:
            refused = cast("Refusal | None", self.choice(sub, "refused", path, REFUSALS, required=False, none=True))
        shallower = self.sessions_or_bool(sub, "shallower", path)
        deep = self.sessions_or_bool(sub, "deep", path)
        in_force: list[tuple[str, tuple[int, ...]]] = []
        tab_in_force = self.table(sub, "cautions_in_force", path, required=False)
        for finding, numbers in (tab_in_force or {}).items():
            if isinstance(numbers, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in numbers):
                in_force.append((finding, tuple(sorted(set(cast(list[int], numbers))))))
            else:
                self.err(f"{path}.cautions_in_force.{finding}", "must be a list of session numbers, e.g. [1]")
        pause_from: list[tuple[str, dt.date]] = []
        tab_from = self.table(sub, "pause_from", path, required=False)
        for pid in tab_from or {}:
            day = self.day(tab_from or {}, pid, f"{path}.pause_from", required=True)
            if day is not None:
                pause_from.append((pid, day))
        depth_max: list[tuple[str, float]] = []
        dm = self.table(sub, "depth_max", path, required=False)
        for zone in dm or {}:
            mm = self.number(dm or {}, zone, f"{path}.depth_max", unit="mm")
            if mm is not None:
                depth_max.append((zone, mm))
        depth: list[tuple[str, float, float]] = []
        dr = self.table(sub, "depth", path, required=False)
        for zone, pair in (dr or {}).items():
            if (
                isinstance(pair, list)
                and len(pair) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in pair)
                and pair[0] <= pair[1]
            ):
                depth.append((zone, float(pair[0]), float(pair[1])))
            else:
                self.err(f"{path}.depth.{zone}", "must be [shallowest, deepest] in mm, e.g. [1.25, 2.25]")
        return PlanExpect(
            refused=refused,
            first_session=self.day(sub, "first_session", path, required=False),
            antiviral=self.boolean(sub, "antiviral", path, required=False),
            shallower=shallower,
            depth_max=tuple(depth_max),
            depth=tuple(depth),
            notes=self.ids(sub, "notes", path),
            notes_absent=self.ids(sub, "notes_absent", path),
            deep=deep,
            cautions_in_force=tuple(in_force),
            pause_from=tuple(pause_from),
        )

    def sessions_or_bool(self, sub: Mapping[str, Any], key: str, path: str) -> bool | tuple[int, ...] | None:
        """true, false, or a list of session numbers."""
        val = sub.get(key)
        if val is None or isinstance(val, bool):
            return val
        if isinstance(val, list) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in val):
            return tuple(sorted(set(cast(list[int], val))))
        self.err(f"{path}.{key}", "must be true, false or a list of session numbers, e.g. [1, 2]")
        return None

    # -- typed getters ------------------------------------------------------

    def day(self, tbl: Mapping[str, Any], key: str, path: str, required: bool = True) -> dt.date | None:
        """A TOML date or an ISO ``YYYY-MM-DD`` string."""
        val = tbl.get(key)
        if isinstance(val, str):
            try:
                return parse_date(val)
            except BadAnswer as exc:
                self.err(documents.join(path, key), str(exc))
                return None
        day = self.date(tbl, key, path, required)
        if day is not None and not 1900 <= day.year <= 2200:
            self.err(documents.join(path, key), "out of range (years 1900-2200)")
            return None
        return day

    def day_or_none(self, tbl: Mapping[str, Any], key: str, path: str) -> tuple[dt.date | None, bool]:
        """(date or None for false, whether the value was usable)."""
        val = tbl.get(key)
        if val is False:
            return None, True
        if isinstance(val, (str, dt.date)):
            day = self.day(tbl, key, path)
            return day, day is not None
        self.err(documents.join(path, key), f"must be a date (YYYY-MM-DD) or false for none, not {documents.kind(val)}")
        return None, False

    def choice(
        self,
        tbl: Mapping[str, Any],
        key: str,
        path: str,
        allowed: Sequence[str],
        required: bool = True,
        none: bool = False,
    ) -> str | None:
        val = self.string(tbl, key, path, required)
        if not val:
            return None
        if val not in allowed:
            hint = difflib.get_close_matches(val, allowed, n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            more = " or false" if none else ""
            self.err(documents.join(path, key), f"must be one of {', '.join(allowed)}{more}, not {val!r}{extra}")
            return None
        return val

    def ids(self, tbl: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        return self.strings(tbl, key, path, required=False, allow_empty=True) if key in tbl else ()

    def ref(self, tbl: Mapping[str, Any], key: str, path: str) -> str | None:
        val = self.optional_string(tbl, key, path)
        if val is not None and not val.strip():
            self.err(documents.join(path, key), "must not be empty (a protocol name or a path to a .toml file)")
            return None
        return val

    def file_name(self, tbl: Mapping[str, Any], key: str, path: str) -> str | None:
        val = self.optional_string(tbl, key, path)
        if val is not None and (not val.strip() or not val.isprintable()):
            self.err(documents.join(path, key), "must be a file name (relative to the case file)")
            return None
        return val

    def answer_table(self, tbl: Mapping[str, Any], key: str, path: str) -> Mapping[str, object] | None:
        val = tbl.get(key)
        if not isinstance(val, dict):
            self.err(documents.join(path, key), f"must be a table of answers, not {documents.kind(val)}")
            return None
        return cast(Mapping[str, object], val)


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
