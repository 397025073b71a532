"""Plain, frozen data: protocols, answers, findings and verdicts.

Nothing here does I/O; everything is built by `catalog` (from TOML) or by the
pure core functions in `screening`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Category = Literal["contraindicated", "defer", "caution"]
Verdict = Literal["contraindicated", "defer", "caution", "eligible"]
QuestionType = Literal["bool", "date", "fitzpatrick"]

CATEGORIES: tuple[Category, ...] = ("contraindicated", "defer", "caution")
#: Higher is more restrictive.
SEVERITY: dict[Verdict, int] = {"eligible": 0, "caution": 1, "defer": 2, "contraindicated": 3}


def as_verdict(name: str) -> Verdict:
    """A verdict named in a file; an unknown name counts as the most restrictive."""
    for verdict in ("eligible", "caution", "defer", "contraindicated"):
        if name == verdict:
            return verdict
    return "contraindicated"


def severity_of(verdict: str) -> int:
    """How restrictive a verdict (or category) named in a file is; an unknown name counts as the most."""
    return SEVERITY[verdict] if verdict in SEVERITY else SEVERITY["contraindicated"]


#: The question ids every screening protocol must define (SPEC.md).
REQUIRED_QUESTIONS: tuple[str, ...] = (
    "pregnant",
    "isotretinoin_last_dose",
    "active_acne",
    "active_dermatitis",
    "open_wounds",
    "active_infection",
    "herpes_history",
    "keloid_history",
    "bleeding_disorder",
    "uncontrolled_diabetes",
    "immunosuppression",
    "radiation_last_date",
    "anticoagulants",
    "hyperpigmentation_tendency",
    "photosensitizing_meds",
    "fitzpatrick",
    "uses_retinoids",
)

#: An answer: bool for yes/no, a date or None for "date or none", int 1-6 for Fitzpatrick.
AnswerValue = bool | dt.date | int | None


@dataclass(frozen=True)
class ProtocolInfo:
    """Identity of a protocol file: what it calls itself and where it came from."""

    name: str
    kind: Literal["screening", "treatment"]
    version: str
    title: str
    sources: tuple[str, ...]
    sha256: str
    origin: str


@dataclass(frozen=True)
class Rule:
    """One screening rule of a question.

    Exactly one trigger applies, by question type: ``when`` (bool), ``months``
    (date: fires while the evaluation date is before answer + months) or
    ``values`` (fitzpatrick).
    """

    category: Category
    message: str
    patient_message: str
    source: str
    when: bool | None = None
    months: int | None = None
    values: tuple[int, ...] = ()


@dataclass(frozen=True)
class Question:
    id: str
    type: QuestionType
    section: str
    prompt: str
    rules: tuple[Rule, ...] = ()
    gate_prompt: str | None = None

    @property
    def lookback_months(self) -> int:
        """For date questions: the longest window any rule looks back over."""
        return max((r.months or 0 for r in self.rules), default=0)


@dataclass(frozen=True)
class ScreeningProtocol:
    info: ProtocolInfo
    questions: tuple[Question, ...]
    #: A screening older than this many days at planning gets a note to screen again.
    valid_days: int

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.questions)


@dataclass(frozen=True)
class Range:
    min: int
    max: int
    default: int


@dataclass(frozen=True)
class WindowSpec:
    """An aftercare window, in days relative to the session day (day 0), inclusive."""

    id: str
    title: str
    first_day: int
    last_day: int
    items: tuple[str, ...]


@dataclass(frozen=True)
class ChecklistGroup:
    """Aftercare to-dos for days first_day..last_day after a session (None: open-ended)."""

    first_day: int
    last_day: int | None
    do: tuple[str, ...]


@dataclass(frozen=True)
class Wording:
    """Patient wording the documents use around a plan (from the protocol's [wording] table)."""

    #: The title of the pause window before every session.
    pause_title: str
    #: What to do on the day of a session, in every session's calendar event.
    arrive: str
    #: What to do every day of the series (sun protection), atop checklists and plan sheets.
    daily: str


@dataclass(frozen=True)
class TreatmentProtocol:
    info: ProtocolInfo
    sessions: Range
    interval_weeks: Range
    booster_months: Range
    depth_mm: tuple[tuple[str, float, float], ...]
    pause_days_before: int
    pause_items: tuple[str, ...]
    pause_retinoid_items: tuple[str, ...]
    aftercare: tuple[WindowSpec, ...]
    #: Fitzpatrick types for which every depth is one step shallower (PIH precautions).
    pih_fitzpatrick: tuple[int, ...]
    pih_step_mm: float
    pih_floor_mm: float
    pih_note: str
    checklist: tuple[ChecklistGroup, ...]
    warning_signs: tuple[str, ...]
    wording: Wording


Protocol = ScreeningProtocol | TreatmentProtocol


@dataclass(frozen=True)
class Finding:
    """A rule that applies on the evaluation date."""

    id: str
    category: Category
    message: str
    patient_message: str
    until: dt.date | None = None


@dataclass(frozen=True)
class ScreeningResult:
    verdict: Verdict
    earliest_date: dt.date | None
    findings: tuple[Finding, ...]
    evaluated_on: dt.date


# ----------------------------------------------------------------- plans

WindowKind = Literal["pause", "aftercare"]
AppointmentKind = Literal["session", "booster"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class ProtocolRef:
    """Which protocol a plan or record was made with."""

    name: str
    version: str
    sha256: str
    origin: str


@dataclass(frozen=True)
class Window:
    """A pause or aftercare window around one appointment, days inclusive.

    ``spec`` names the protocol's window it comes from (``pause``, or an aftercare
    window's id such as ``no-heat``), so the same window of every appointment lines
    up in tables. ``key`` is the item's stable identity within its plan (used for
    calendar UIDs); ``revision`` counts how often its dates changed (calendar SEQUENCE).
    """

    kind: WindowKind
    spec: str
    session: int
    first_day: dt.date
    last_day: dt.date
    title: str
    items: tuple[str, ...]
    key: str
    revision: int = 0


@dataclass(frozen=True)
class Appointment:
    """A session of the series or a booster after it, owning the windows around it."""

    kind: AppointmentKind
    number: int
    date: dt.date
    key: str
    windows: tuple[Window, ...] = ()
    revision: int = 0
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    @property
    def label(self) -> str:
        """``3`` for session 3, ``B1`` for booster 1 (as `--move` takes them)."""
        return str(self.number) if self.kind == "session" else f"B{self.number}"

    def window(self, spec: str) -> Window | None:
        return next((w for w in self.windows if w.spec == spec), None)


@dataclass(frozen=True)
class ClinicRules:
    """When the clinic is open: weekdays (0 = Monday) minus closed dates (incl. public holidays)."""

    weekdays: frozenset[int]
    closed: frozenset[dt.date]
    holidays: str | None = None

    def is_open(self, day: dt.date) -> bool:
        return day.weekday() in self.weekdays and day not in self.closed

    def why_closed(self, day: dt.date) -> str:
        if day.weekday() not in self.weekdays:
            return f"{WEEKDAYS[day.weekday()].capitalize()} is not a clinic day"
        if day in self.closed:
            return "the clinic is closed that day"
        return "open"


@dataclass(frozen=True)
class PlanRequest:
    """Everything a plan is computed from; kept in saved plans so a reschedule uses the same rules."""

    patient: str
    indication: str
    start: dt.date
    sessions: int
    interval_weeks: int
    clinic: ClinicRules
    boosters: int = 0
    not_before: dt.date | None = None
    uses_retinoids: bool | None = None
    pih: bool = False
    time: dt.time | None = None
    duration_minutes: int = 60
    tz: str = "UTC"


@dataclass(frozen=True)
class DepthZone:
    zone: str
    min_mm: float
    max_mm: float


@dataclass(frozen=True)
class Plan:
    plan_id: str
    revision: int
    created_on: dt.date
    request: PlanRequest
    protocol: ProtocolRef
    sessions: tuple[Appointment, ...]
    boosters: tuple[Appointment, ...]
    depth: tuple[DepthZone, ...]
    #: The protocol's patient wording, for the documents made from the plan.
    wording: Wording
    notes: tuple[str, ...] = ()

    @property
    def appointments(self) -> tuple[Appointment, ...]:
        """Every session, then every booster."""
        return self.sessions + self.boosters

    @property
    def windows(self) -> tuple[Window, ...]:
        """The windows around the sessions of the series (boosters keep their own)."""
        return tuple(w for s in self.sessions for w in s.windows)

    def window_specs(self) -> list[tuple[str, str]]:
        """(spec, title) of each window around the first session, in order: the columns of a plan table."""
        return [(w.spec, w.title) for w in self.sessions[0].windows] if self.sessions else []


# ----------------------------------------------------------------- exports

#: What a document is about: a whole plan, or the aftercare around its sessions.
Document = Literal["plan", "aftercare"]


@dataclass(frozen=True)
class ExportOptions:
    """What a renderer needs besides the plan (see `needlecli.export`)."""

    document: Document = "plan"
    #: The patient's name, only when asked for (`--include-name`).
    name: str | None = None
    clinic_name: str | None = None
    clinic_phone: str | None = None
    #: The treatment protocol the plan follows (aftercare checklists and warning signs).
    protocol: TreatmentProtocol | None = None
    #: False for a single session's aftercare (`aftercare --session-date`): no next session is known.
    series: bool = True
