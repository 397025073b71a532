"""Plain, frozen data: protocols, answers, findings and verdicts.

Nothing here does I/O; everything is built by `catalog` (from TOML) or by the
pure core functions in `screening`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from needlecli.recorded import Course

Category = Literal["contraindicated", "defer", "caution"]
Verdict = Literal["contraindicated", "defer", "caution", "eligible"]
QuestionType = Literal["bool", "date", "fitzpatrick", "int"]

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


#: The question ids every screening protocol must define (SPEC.md, screening protocol 2.x).
REQUIRED_QUESTIONS: tuple[str, ...] = (
    "pregnant",
    "breastfeeding",
    "age",
    "isotretinoin_last_dose",
    "active_acne",
    "active_dermatitis",
    "open_wounds",
    "active_infection",
    "sunburn_last_date",
    "skin_cancer_in_area",
    "lesions_in_area",
    "herpes_history",
    "keloid_history",
    "bleeding_disorder",
    "diabetes",
    "uncontrolled_diabetes",
    "immunosuppression",
    "autoimmune_disease",
    "radiation_last_date",
    "anticoagulants",
    "anesthetic_allergy",
    "metal_allergy",
    "topical_allergy",
    "neurotoxin_last_date",
    "filler_last_date",
    "peel_last_date",
    "laser_last_date",
    "surgery_last_date",
    "vaccine_last_date",
    "hyperpigmentation_tendency",
    "photosensitizing_meds",
    "fitzpatrick",
    "uses_retinoids",
)

#: The deepest needle depth any protocol, device or plan may name, in mm (the seed: 0.25-2.5 mm; no
#: pen goes deeper than 3 mm). Defined once: protocols, the config, saved plans and cases check it.
MAX_DEPTH_MM = 3.0

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
    aliases: tuple[str, ...] = ()  # other names a clinic's list gives it ("Microneedling - acne scars")


@dataclass(frozen=True)
class Rule:
    """One screening rule of a question.

    The trigger depends on the question's type: ``when`` (bool); for a date, a wait
    of ``months`` + ``weeks`` + ``days`` (fires while the evaluation date is before
    answer + wait; calendar months) or ``ever`` (fires for any date, with no end);
    ``values`` (fitzpatrick); ``at_least``/``at_most`` inclusive bounds (int).
    """

    category: Category
    message: str
    patient_message: str
    source: str
    when: bool | None = None
    months: int | None = None
    values: tuple[int, ...] = ()
    weeks: int | None = None
    days: int | None = None
    ever: bool = False
    at_least: int | None = None
    at_most: int | None = None

    @property
    def dated(self) -> bool:
        """A date rule with a wait (not ``ever``)."""
        return bool(self.months or self.weeks or self.days)


@dataclass(frozen=True)
class Gate:
    """A yes/no question asked in the interview before a group of follow-ups (never stored).

    "No" answers every question gated by it with none (dates) or no (yes/no questions).
    """

    id: str
    section: str
    prompt: str
    help: str = ""


@dataclass(frozen=True)
class Question:
    id: str
    type: QuestionType
    section: str
    prompt: str
    rules: tuple[Rule, ...] = ()
    gate_prompt: str | None = None
    #: In the interview, asked only when this gate or yes/no question was answered yes.
    asked_if: str | None = None
    #: The range of an int answer, inclusive.
    minimum: int | None = None
    maximum: int | None = None
    #: Words a receptionist can read aloud when the patient asks what the question means.
    help: str = ""
    #: Why this clinic's rules are looser than the standard ones (repeated in screening records).
    override: str | None = None
    #: Asked again before each session (`needle check`): what can change between sessions.
    recheck: bool = False

    @property
    def gate_text(self) -> str:
        """A gated date question's yes/no lead-in (`gate_prompt`), its look-back window filled in."""
        return (self.gate_prompt or self.prompt).replace("{months}", str(self.lookback_months))

    @property
    def lookback_months(self) -> int:
        """For date questions: the longest window any rule looks back over, in whole months (rounded up)."""
        longest = 0
        for r in self.rules:
            days = (r.months or 0) * 31 + (r.weeks or 0) * 7 + (r.days or 0)
            longest = max(longest, -(-days // 31))
        return longest


@dataclass(frozen=True)
class ScreeningProtocol:
    info: ProtocolInfo
    questions: tuple[Question, ...]
    #: A screening older than this many days at planning gets a note to screen again.
    valid_days: int
    gates: tuple[Gate, ...] = ()
    #: `needle done` needs a screening or re-check that same day (else one within ``valid_days``).
    check_each_session: bool = True

    def gate(self, gid: str) -> Gate | None:
        return next((g for g in self.gates if g.id == gid), None)

    @property
    def overrides(self) -> tuple[tuple[str, str], ...]:
        """(question id, reason) for every question whose rules are looser than the standard ones."""
        return tuple((q.id, q.override) for q in self.questions if q.override)

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
    """A window around a session, in days relative to the session day (day 0), inclusive.

    Aftercare windows start on day 0; a caution window (the antiviral one) may start before it.
    """

    id: str
    title: str
    first_day: int
    last_day: int
    items: tuple[str, ...]
    #: A window given in hours after the session: ``last_day`` is the day those hours reach from a
    #: session ending on day 0 (before midnight); a timed plan counts them from the session's real end.
    hours: int | None = None


@dataclass(frozen=True)
class PauseSpec:
    """A pause before every session: from ``days_before`` days before it to the day before."""

    id: str
    title: str
    days_before: int
    items: tuple[str, ...]
    #: The words a calendar event uses: fixed, naming no medicine, never varying with an answer.
    calendar: str = ""
    #: Added unless the screening says the patient uses no retinoids.
    retinoid_items: tuple[str, ...] = ()
    #: What the patient pauses only if their physician approves (never "stop": aspirin or a blood
    #: thinner may be prescribed), each a whole sentence in the patient's words; ``items`` (and
    #: ``retinoid_items``) are things to avoid, which patient documents write as "No ...".
    ask_items: tuple[str, ...] = ()
    #: Calendar months and weeks before the session, on top of ``days_before`` (a procedure's wait).
    months: int = 0
    weeks: int = 0
    #: Built from the screening protocol's wait after an earlier procedure (``procedures``).
    procedure: bool = False

    @property
    def wait_label(self) -> str:
        """``3 months``, ``4 weeks``, ``14 days``: how long before a session the pause starts."""
        parts = []
        for n, unit in ((self.months, "month"), (self.weeks, "week"), (self.days_before, "day")):
            if n:
                parts.append(f"{n} {unit}{'' if n == 1 else 's'}")
        return " ".join(parts) or "0 days"


@dataclass(frozen=True)
class ProcedureItem:
    """An earlier facial procedure the patient must not have within the screening protocol's wait
    for ``question`` before a session, in the patient's words (``item``)."""

    question: str
    item: str


@dataclass(frozen=True)
class Caution:
    """What a caution finding of the screening changes in a plan, with the reason it gives."""

    #: The screening question id whose caution finding triggers this.
    finding: str
    #: For the clinician: what changes and why (plan notes, clinician documents).
    note: str
    #: Every depth one step shallower for the sessions the finding covers.
    shallower: bool = False
    #: A window added around every session (e.g. antiviral medicine), kind ``window_kind``.
    window: WindowSpec | None = None
    window_kind: str = "antiviral"


@dataclass(frozen=True)
class ChecklistGroup:
    """Aftercare to-dos for days first_day..last_day after a session (None: open-ended)."""

    first_day: int
    last_day: int | None
    do: tuple[str, ...]
    #: Facts to tell the patient for these days (not boxes to tick): "redness is normal today".
    facts: tuple[str, ...] = ()
    #: The facts after a deeper pass (``deep_from_mm``), when they differ; None: the same facts.
    deep_facts: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Wording:
    """Patient wording the documents use around a plan (from the protocol's [wording] table)."""

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
    #: How much shallower a caution makes every depth, and the shallowest any depth may become.
    depth_step_mm: float
    depth_floor_mm: float
    #: (zone, note) shown with a zone's depth, e.g. periorbital: outside the orbital rim only.
    depth_notes: tuple[tuple[str, str], ...]
    pauses: tuple[PauseSpec, ...]
    aftercare: tuple[WindowSpec, ...]
    cautions: tuple[Caution, ...]
    #: No session in this many days after a patient's sun trip ends.
    after_sun_trip_days: int
    checklist: tuple[ChecklistGroup, ...]
    warning_signs: tuple[str, ...]
    wording: Wording
    #: Earlier procedures whose screening waits become pauses before every session (see ``procedure_pauses``).
    procedures: tuple[ProcedureItem, ...] = ()
    #: The title and fixed calendar words of those pauses, and the heading of the box that lists them all.
    procedure_title: str = ""
    procedure_calendar: str = ""
    procedure_heading: str = ""
    #: A session deeper than this (over the zones treated) gets the deeper-pass aftercare.
    deep_from_mm: float = 1.5
    #: Deeper-pass aftercare: every aftercare window runs through this day at least.
    deep_through_day: int = 6
    #: Warning signs after a deeper pass, when they differ (None: the same).
    deep_warning_signs: tuple[str, ...] | None = None
    #: The outcome review (`needle due`): this many months after the series' last session or booster.
    review_months: int = 3
    #: The zones a plan treats unless `--zones` says otherwise (empty: every zone).
    default_zones: tuple[str, ...] = ()
    #: Deepest setting a device label covers, and the note a plan deeper than it carries (no device maximum set).
    label_max_mm: float = 1.5
    label_note: str = ""
    #: Pauses built from the screening protocol's procedure waits (``catalog.with_procedure_waits``).
    procedure_pauses: tuple[PauseSpec, ...] = ()
    #: (key path, the clinic's reason) for every part looser than the standard (``needlecli.floors``).
    overrides: tuple[tuple[str, str], ...] = ()

    @property
    def all_pauses(self) -> tuple[PauseSpec, ...]:
        """The pauses the screening's procedure waits make (longest first), then the protocol's own."""
        return self.procedure_pauses + self.pauses

    @property
    def zones(self) -> tuple[str, ...]:
        return tuple(z for z, _, _ in self.depth_mm)


Protocol = ScreeningProtocol | TreatmentProtocol


@dataclass(frozen=True)
class Finding:
    """A rule that applies on the evaluation date."""

    id: str
    category: Category
    message: str
    patient_message: str
    until: dt.date | None = None


def finding_in_file(table: Mapping[str, object], fid: str) -> Finding:
    """A finding as a screening record or saved plan shows it (compared with the answers, never
    trusted): a category the file does not name right counts as the strictest."""
    category, message, until = table.get("category"), table.get("message"), table.get("until")
    return Finding(
        id=fid,
        category=category if category == "defer" or category == "caution" else "contraindicated",
        message=message if isinstance(message, str) else "",
        patient_message="",
        until=until if isinstance(until, dt.date) and not isinstance(until, dt.datetime) else None,
    )


@dataclass(frozen=True)
class ScreeningResult:
    verdict: Verdict
    earliest_date: dt.date | None
    findings: tuple[Finding, ...]
    evaluated_on: dt.date


# ----------------------------------------------------------------- plans

WindowKind = Literal["pause", "aftercare", "antiviral"]
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
    #: For a pause: the protocol's fixed calendar wording (the items may name products or vary by answer).
    calendar: str = ""
    #: A pause made from the screening's wait after an earlier procedure (weeks or months long), and
    #: that wait in words ("3 months").
    procedure: bool = False
    wait: str = ""


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
    #: Needle depth by zone for this appointment (cautions may differ between sessions).
    depth: tuple[DepthZone, ...] = ()
    #: A deeper pass (deeper than the protocol's ``deep_from_mm`` over the zones treated): longer aftercare.
    deep: bool = False
    #: Dated caution findings of the screening still in force on this day (their ids).
    flags: tuple[str, ...] = ()
    #: ``booked``, ``done`` (recorded: its date is the real one, it never moves) or ``cancelled``
    #: (the series is on hold or stopped: exported with STATUS:CANCELLED).
    status: str = "booked"
    #: Done: the depth used in each zone (zone, mm); its aftercare follows it.
    used: tuple[tuple[str, float], ...] = ()

    @property
    def label(self) -> str:
        """``3`` for session 3, ``B1`` for booster 1 (as `--move` takes them)."""
        return str(self.number) if self.kind == "session" else f"B{self.number}"

    def window(self, spec: str) -> Window | None:
        return next((w for w in self.windows if w.spec == spec), None)


@dataclass(frozen=True)
class Note:
    """A note on a plan and what caused it: a finding id, ``schedule``, ``screening`` or ``depth``."""

    cause: str
    text: str


@dataclass(frozen=True)
class Span:
    """Days the patient is unavailable (inclusive), and why."""

    first: dt.date
    last: dt.date
    reason: str

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.first <= day <= self.last


@dataclass(frozen=True)
class ClinicRules:
    """When the clinic is open: weekdays (0 = Monday) minus closed dates (incl. public holidays)."""

    weekdays: frozenset[int]
    closed: frozenset[dt.date]
    holidays: str | None = None
    #: Days the patient cannot come (away, after a sun trip): no session falls in them.
    blocked: tuple[Span, ...] = ()

    def is_open(self, day: dt.date) -> bool:
        return day.weekday() in self.weekdays and day not in self.closed and not any(day in s for s in self.blocked)

    def why_closed(self, day: dt.date) -> str:
        if day.weekday() not in self.weekdays:
            return f"{WEEKDAYS[day.weekday()].capitalize()} is not a clinic day"
        if day in self.closed:
            return "the clinic is closed that day"
        for span in self.blocked:
            if day in span:
                return span.reason
        return "open"


@dataclass(frozen=True)
class ScreeningBasis:
    """The screening a plan is gated by, kept with the plan: its answers are screened again every
    time the plan is read, so nothing derived from them can be edited looser in a file."""

    protocol: ProtocolRef
    evaluated_on: dt.date
    verdict: str
    earliest_date: dt.date | None
    #: The answers as the record holds them (dates, booleans, numbers; none is false).
    answers: tuple[tuple[str, object], ...]


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
    time: dt.time | None = None
    duration_minutes: int = 60
    tz: str = "UTC"
    #: The screening's findings (re-derived from its answers whenever a plan is read).
    findings: tuple[Finding, ...] = ()
    #: `--away` ranges, and `--sun-trip` ranges as given (the days after them are blocked too).
    away: tuple[tuple[dt.date, dt.date], ...] = ()
    sun_trips: tuple[tuple[dt.date, dt.date], ...] = ()
    #: The device's deepest setting (config `device_max_depth_mm`, `--max-depth`).
    max_depth_mm: float | None = None
    #: The screening the plan was made under, if any.
    screening: ScreeningBasis | None = None
    #: The zones treated (`--zones`); empty: the protocol's default zones.
    zones: tuple[str, ...] = ()
    #: The series over time (the register): what happened since it was booked.
    course: Course | None = None
    #: Booked into the clinic's slots: (session label, start time) where it is not ``time``.
    slot_times: tuple[tuple[str, dt.time], ...] = ()


#: What documents call a range capped at the device's deepest setting (plan JSON `reasons`).
DEVICE_MAXIMUM = "device maximum"


@dataclass(frozen=True)
class DepthZone:
    zone: str
    min_mm: float
    max_mm: float
    #: The findings that made the range one step shallower (their ids).
    causes: tuple[str, ...] = ()
    note: str = ""
    #: Capped at the device's deepest setting (`device_max_depth_mm`, `--max-depth`).
    capped: bool = False

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the range differs from the protocol's, as documents list it: the finding ids, then
        "device maximum" when capped."""
        return self.causes + ((DEVICE_MAXIMUM,) if self.capped else ())


@dataclass(frozen=True)
class Cancelled:
    """An item an earlier revision of the plan had and this one does not: kept (and exported with
    STATUS:CANCELLED) so a calendar that imported it removes it instead of keeping a stale event."""

    key: str
    first_day: dt.date
    last_day: dt.date
    revision: int


@dataclass(frozen=True)
class Plan:
    plan_id: str
    revision: int
    created_on: dt.date
    request: PlanRequest
    protocol: ProtocolRef
    sessions: tuple[Appointment, ...]
    boosters: tuple[Appointment, ...]
    #: Needle depth by zone: for each zone, the shallowest range of any appointment.
    depth: tuple[DepthZone, ...]
    #: The protocol's patient wording, for the documents made from the plan.
    wording: Wording
    notes: tuple[Note, ...] = ()
    #: When this revision was made (UTC): calendar DTSTAMP, kept in saved plans so re-exports are identical.
    stamp: dt.datetime | None = None
    cancelled: tuple[Cancelled, ...] = ()

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
Document = Literal["plan", "aftercare", "record"]


@dataclass(frozen=True)
class ExportOptions:
    """What a renderer needs besides the plan (see `needlecli.export`)."""

    document: Document = "plan"
    #: The patient's name, only when asked for (`--include-name`).
    name: str | None = None
    clinic_name: str | None = None
    clinic_phone: str | None = None
    clinic_address: str | None = None
    #: The treatment protocol the plan follows (aftercare checklists and warning signs).
    protocol: TreatmentProtocol | None = None
    #: False for a single session's aftercare (`aftercare --session-date`): no next session is known.
    series: bool = True
    #: X-NEEDLE-SERIES of a calendar saved with --out (`identity.series_mark`, `cli.common.over_calendar`).
    series_mark: str | None = None
    record: object = None  # FHIR: the rest of the patient's record (`render.fhir.ClinicalRecord`)
