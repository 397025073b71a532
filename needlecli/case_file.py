"""A protocol case file, typed: `parse_case_file(raw)` checks a parsed case file, collecting every
problem with its key path, into a `CaseFile` of `Case`s (see `cases` for the rest of the steps).
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from needlecli import documents
from needlecli.dates import BadAnswer, parse_date
from needlecli.errors import NeedleError
from needlecli.model import (
    MAX_DEPTH_MM,
    Verdict,
)

if TYPE_CHECKING:
    pass


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
