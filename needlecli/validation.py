"""Protocol validation: a protocol file's TOML to a `Protocol`, every problem collected before
failing, each naming its key path (``sessions.max: must be >= sessions.min (3)``). What a rule
may be; whether it is looser than the standard is `catalog`'s and `floors`' question.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

from needlecli import documents
from needlecli.model import (
    CATEGORIES,
    MAX_DEPTH_MM,
    REQUIRED_QUESTIONS,
    Category,
    Caution,
    ChecklistGroup,
    Gate,
    PauseSpec,
    ProcedureItem,
    Protocol,
    ProtocolInfo,
    Question,
    QuestionType,
    Range,
    Rule,
    ScreeningProtocol,
    TreatmentProtocol,
    WindowSpec,
    Wording,
)

QUESTION_TYPES: tuple[QuestionType, ...] = ("bool", "date", "fitzpatrick", "int")
#: The keys that trigger a screening rule, by question type.
TRIGGERS: dict[str, tuple[str, ...]] = {
    "bool": ("when",),
    "date": ("months", "weeks", "days", "ever"),
    "fitzpatrick": ("values",),
    "int": ("at_least", "at_most"),
}
DEPTH_ZONES: tuple[str, ...] = (
    "forehead",
    "periorbital",
    "nose",
    "cheeks",
    "perioral",
    "jaw",
    "neck",
    "scars",
)


class Validator(documents.Checker):
    """The protocol checks, built on the shared checker's primitives."""

    def range_(self, tbl: Mapping[str, Any], key: str, lo: int, hi: int, names: tuple[str, str, str]) -> Range | None:
        sub = self.table(tbl, key, "")
        if sub is None:
            return None
        self.unknown(sub, key, (*names, "override"))
        a, b, d = (self.integer(sub, n, key, lo, hi) for n in names)
        if a is None or b is None or d is None:
            return None
        ok = True
        if b < a:
            self.err(f"{key}.{names[1]}", f"must be >= {key}.{names[0]} ({a}), got {b}")
            ok = False
        elif not a <= d <= b:
            self.err(f"{key}.{names[2]}", f"must lie in {key}.{names[0]}..{key}.{names[1]} ({a}..{b}), got {d}")
            ok = False
        return Range(a, b, d) if ok else None

    # -- documents ----------------------------------------------------------

    def protocol(self, raw: Mapping[str, Any], sha: str, origin: str) -> Protocol | None:
        if not raw:
            self.err("protocol", "missing table (a protocol file must name itself: [protocol] name = ...)")
            return None
        head = self.table(raw, "protocol", "")
        if head is None:
            return None
        self.unknown(head, "protocol", ("name", "kind", "version", "title", "sources", "aliases"))
        name = self.string(head, "name", "protocol")
        if name and (name != name.strip() or any(c in name for c in "/\\ \t")):
            self.err("protocol.name", f"must be a plain name without spaces or slashes, got {name!r}")
        kind = self.string(head, "kind", "protocol")
        version = self.string(head, "version", "protocol")
        title = self.string(head, "title", "protocol")
        # Shown at the terminal and saved into records and plans: one line of printable text.
        for key, text, longest in (("name", name, 100), ("version", version, 100), ("title", title, 200)):
            if not text.isprintable() or len(text) > longest:
                self.err(f"protocol.{key}", f"must be printable text on one line, at most {longest} characters")
        sources = self.strings(head, "sources", "protocol")
        aliases = self.strings(head, "aliases", "protocol", required=False, allow_empty=True)
        for n, alias in enumerate(aliases):
            if not alias.isprintable() or len(alias) > 200:
                self.err(f"protocol.aliases[{n}]", "must be printable text on one line, at most 200 characters")
        if kind and kind not in ("screening", "treatment"):
            self.err("protocol.kind", f"must be 'screening' or 'treatment', got {kind!r}")
            return None
        info = ProtocolInfo(
            name=name,
            kind="screening" if kind == "screening" else "treatment",
            version=version,
            title=title,
            sources=sources,
            sha256=sha,
            origin=origin,
            aliases=aliases,
        )
        if kind == "screening":
            self.unknown(raw, "", ("protocol", "record", "gates", "questions"))
            return self.screening(raw, info)
        if kind == "treatment":
            self.unknown(
                raw,
                "",
                (
                    "protocol",
                    "sessions",
                    "interval_weeks",
                    "boosters",
                    "depth_mm",
                    "depth",
                    "pause",
                    "aftercare",
                    "cautions",
                    "patient_dates",
                    "review",
                    "checklist",
                    "warning_signs",
                    "wording",
                    "procedures",
                    "zones",
                ),
            )
            return self.treatment(raw, info)
        return None

    def screening(self, raw: Mapping[str, Any], info: ProtocolInfo) -> ScreeningProtocol:
        gates: list[Gate] = []
        for path, g in self.tables(raw, "gates", "", required=False):
            self.unknown(g, path, ("id", "section", "prompt", "help"))
            gates.append(
                Gate(
                    id=self.string(g, "id", path),
                    section=self.string(g, "section", path),
                    prompt=self.string(g, "prompt", path),
                    help=self.string(g, "help", path, required=False),
                )
            )
        questions: list[Question] = []
        seen: dict[str, str] = {}
        kinds: dict[str, str] = {g.id: "gate" for g in gates}
        for path, q in self.tables(raw, "questions", ""):
            self.unknown(
                q,
                path,
                (
                    "id",
                    "type",
                    "section",
                    "prompt",
                    "gate_prompt",
                    "asked_if",
                    "min",
                    "max",
                    "help",
                    "override",
                    "recheck",
                    "rules",
                ),
            )
            qid = self.string(q, "id", path)
            if qid and not qid.replace("_", "").isalnum():
                self.err(f"{path}.id", f"must be letters, digits and underscores, got {qid!r}")
            if qid in seen or (qid in kinds and kinds[qid] == "gate"):
                self.err(f"{path}.id", f"duplicate question id {qid!r} (first at {seen.get(qid, 'gates')})")
            elif qid:
                seen[qid] = path
            qtype = self.string(q, "type", path)
            if qtype and qtype not in QUESTION_TYPES:
                self.err(f"{path}.type", f"must be one of {', '.join(QUESTION_TYPES)}, got {qtype!r}")
            section = self.string(q, "section", path)
            prompt = self.string(q, "prompt", path)
            gate = self.string(q, "gate_prompt", path, required=False) or None
            if gate is not None and qtype != "date":
                self.err(f"{path}.gate_prompt", "only date questions have a gate prompt")
            asked_if = self.string(q, "asked_if", path, required=False) or None
            if asked_if is not None:
                if kinds.get(asked_if) not in ("gate", "bool"):
                    self.err(f"{path}.asked_if", f"must name a gate or an earlier yes/no question, got {asked_if!r}")
                if qtype not in ("bool", "date"):
                    self.err(f"{path}.asked_if", "only yes/no and date questions can be gated")
            low = self.integer(q, "min", path, 0, 100_000, required=False) if "min" in q else None
            high = self.integer(q, "max", path, 0, 100_000, required=False) if "max" in q else None
            if qtype == "int" and (low is None or high is None):
                self.err(path, "an int question needs min and max (the range of a real answer)")
            elif qtype != "int" and ("min" in q or "max" in q):
                self.err(f"{path}.min", "only int questions have min and max")
            elif low is not None and high is not None and high < low:
                self.err(f"{path}.max", f"must be >= {path}.min ({low}), got {high}")
            override = self.reason(q, path)
            rules = self.rules(q, path, qtype, low, high)
            kinds[qid] = qtype
            questions.append(
                Question(
                    id=qid,
                    type=cast(QuestionType, qtype),
                    section=section,
                    prompt=prompt,
                    rules=tuple(rules),
                    gate_prompt=gate,
                    asked_if=asked_if,
                    minimum=low,
                    maximum=high,
                    help=self.string(q, "help", path, required=False),
                    override=override,
                    recheck=bool(self.boolean(q, "recheck", path, required=False)),
                )
            )
        for rid in REQUIRED_QUESTIONS:
            if rid not in seen:
                self.err("questions", f"missing required question {rid!r}")
        record = self.table(raw, "record", "")
        valid_days, each = 0, True
        if record is not None:
            self.unknown(record, "record", ("valid_days", "check_before_each_session", "override"))
            valid_days = self.integer(record, "valid_days", "record", 1, 3650) or 0
            found = self.boolean(record, "check_before_each_session", "record", required=False)
            each = True if found is None else found
            if not each and self.reason(record, "record") is None:  # looser than the guide: say why
                self.err(
                    "record.check_before_each_session",
                    "false lets `needle done` go without that day's check; give the clinic's reason as "
                    'override = "..." in [record]',
                )
        return ScreeningProtocol(
            info=info, questions=tuple(questions), valid_days=valid_days, gates=tuple(gates), check_each_session=each
        )

    def rules(self, q: Mapping[str, Any], path: str, qtype: str, low: int | None, high: int | None) -> list[Rule]:
        if "rules" not in q:
            return []
        raw_rules = q["rules"]
        rpath = f"{path}.rules"
        if not isinstance(raw_rules, list) or not all(isinstance(x, dict) for x in raw_rules):
            self.err(rpath, "must be an array of tables ([[questions.rules]])")
            return []
        out: list[Rule] = []
        triggers = TRIGGERS.get(qtype, ())
        every = tuple(t for ts in TRIGGERS.values() for t in ts)
        for i, r in enumerate(raw_rules):
            p = f"{rpath}[{i}]"
            self.unknown(r, p, ("category", "message", "patient_message", "source", *every))
            category = self.string(r, "category", p)
            if category and category not in CATEGORIES:
                self.err(f"{p}.category", f"must be one of {', '.join(CATEGORIES)}, got {category!r}")
            message = self.string(r, "message", p)
            patient = self.string(r, "patient_message", p)
            source = self.string(r, "source", p)
            for other in every:
                if other not in triggers and other in r:
                    self.err(f"{p}.{other}", f"does not apply to a {qtype or 'typeless'} question")
            rule = Rule(cast(Category, category), message, patient, source)
            if qtype == "bool":
                if "when" not in r:
                    self.err(f"{p}.when", "missing (true or false)")
                else:
                    when = self.boolean(r, "when", p)
                    rule = dataclasses.replace(rule, when=when)
            elif qtype == "date":
                waits = {
                    k: self.integer(r, k, p, 1, 1200, required=False) for k in ("months", "weeks", "days") if k in r
                }
                ever = bool(self.boolean(r, "ever", p, required=False)) if "ever" in r else False
                if ever and waits:
                    self.err(p, "a date rule has either a wait (months, weeks, days) or ever = true, not both")
                elif not ever and not waits:
                    self.err(p, "missing its wait: months, weeks or days after the date (or ever = true)")
                rule = dataclasses.replace(
                    rule, months=waits.get("months"), weeks=waits.get("weeks"), days=waits.get("days"), ever=ever
                )
            elif qtype == "fitzpatrick":
                vals = r.get("values")
                if vals is None:
                    self.err(f"{p}.values", "missing (a list of Fitzpatrick types 1-6)")
                elif (
                    not isinstance(vals, list)
                    or not vals
                    or not all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 6 for x in vals)
                ):
                    self.err(f"{p}.values", "must be a non-empty list of Fitzpatrick types 1-6")
                else:
                    rule = dataclasses.replace(rule, values=tuple(sorted(set(vals))))
            elif qtype == "int":
                lo = (
                    self.integer(r, "at_least", p, low or 0, high or 100_000, required=False)
                    if "at_least" in r
                    else None
                )
                hi = (
                    self.integer(r, "at_most", p, low or 0, high or 100_000, required=False) if "at_most" in r else None
                )
                if lo is None and hi is None:
                    self.err(p, "missing its bounds: at_least, at_most or both")
                elif lo is not None and hi is not None and hi < lo:
                    self.err(f"{p}.at_most", f"must be >= {p}.at_least ({lo}), got {hi}")
                rule = dataclasses.replace(rule, at_least=lo, at_most=hi)
            out.append(rule)
        return out

    def treatment(self, raw: Mapping[str, Any], info: ProtocolInfo) -> TreatmentProtocol | None:
        sessions = self.range_(raw, "sessions", 1, 20, ("min", "max", "default"))
        interval = self.range_(raw, "interval_weeks", 1, 52, ("min", "max", "default"))
        boosters = self.range_(raw, "boosters", 1, 36, ("min_months", "max_months", "default_months"))
        depth: list[tuple[str, float, float]] = []
        dtab = self.table(raw, "depth_mm", "")
        if dtab is not None:
            self.unknown(dtab, "depth_mm", (*DEPTH_ZONES, "override"))
            for zone in DEPTH_ZONES:
                p = f"depth_mm.{zone}"
                val = dtab.get(zone)
                if val is None:
                    self.err(p, "missing ([shallowest, deepest] in mm)")
                    continue
                if (
                    not isinstance(val, list)
                    or len(val) != 2
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in val)
                ):
                    self.err(p, "must be [shallowest, deepest] in mm, e.g. [0.5, 1.0]")
                    continue
                lo, hi = float(val[0]), float(val[1])
                if not 0 < lo <= hi <= MAX_DEPTH_MM:
                    self.err(p, f"must satisfy 0 < shallowest <= deepest <= {MAX_DEPTH_MM} mm, got [{lo}, {hi}]")
                    continue
                depth.append((zone, lo, hi))
        step, floor, depth_notes = self.depth(raw)
        deep = self.deep(raw)
        default_zones = self.zones(raw)
        procedures, procedure_title, procedure_calendar, procedure_heading = self.procedures(raw)
        pauses = self.pauses(raw)
        windows: list[WindowSpec] = []
        ids: dict[str, str] = {}
        for p, w in self.tables(raw, "aftercare", ""):
            spec = self.window(w, p, first_allowed=0)
            if spec is None:
                continue
            if spec.id in ids:
                self.err(f"{p}.id", f"duplicate window id {spec.id!r} (first at {ids[spec.id]})")
            else:
                ids[spec.id] = p
                windows.append(spec)
        cautions = self.cautions(raw, set(ids) | {f"pause-{x.id}" for x in pauses})
        checklist = self.checklist(raw)
        warn = self.table(raw, "warning_signs", "")
        warning_signs: tuple[str, ...] = ()
        deep_signs: tuple[str, ...] | None = None
        if warn is not None:
            self.unknown(warn, "warning_signs", ("items", "deep_items"))
            warning_signs = self.strings(warn, "items", "warning_signs")
            if "deep_items" in warn:
                deep_signs = self.strings(warn, "deep_items", "warning_signs")
        self.windows_match_checklist(windows, checklist)
        ends = {g.last_day for g in checklist if g.last_day is not None}
        if checklist and deep[1] not in ends and deep[1] > min((w.last_day for w in windows), default=0):
            self.err(
                "depth.deep_through_day",
                f"{deep[1]} does not end a checklist group (groups end on days {', '.join(map(str, sorted(ends)))})",
            )
        wording = self.wording(raw)
        patient = self.table(raw, "patient_dates", "")
        after_trip = 0
        if patient is not None:
            self.unknown(patient, "patient_dates", ("after_sun_trip_days", "override"))
            after_trip = self.integer(patient, "after_sun_trip_days", "patient_dates", 0, 365) or 0
        review = self.table(raw, "review", "", required=False)
        review_months = 3
        if review is not None:
            self.unknown(review, "review", ("after_months",))
            review_months = self.integer(review, "after_months", "review", 1, 24) or 3
        if sessions is None or interval is None or boosters is None or wording is None:
            return None
        return TreatmentProtocol(
            review_months=review_months,
            info=info,
            sessions=sessions,
            interval_weeks=interval,
            booster_months=boosters,
            depth_mm=tuple(depth),
            depth_step_mm=step,
            depth_floor_mm=floor,
            depth_notes=depth_notes,
            pauses=pauses,
            aftercare=tuple(windows),
            cautions=cautions,
            after_sun_trip_days=after_trip,
            checklist=checklist,
            warning_signs=warning_signs,
            wording=wording,
            procedures=procedures,
            procedure_title=procedure_title,
            procedure_calendar=procedure_calendar,
            procedure_heading=procedure_heading,
            deep_from_mm=deep[0],
            deep_through_day=deep[1],
            deep_warning_signs=deep_signs,
            default_zones=default_zones,
            label_max_mm=deep[2],
            label_note=deep[3],
        )

    def reason(self, tbl: Mapping[str, Any], path: str) -> str | None:
        """An ``override`` line: the clinic's reason for a rule looser than the standard one (text
        that says something: whitespace is no reason)."""
        if "override" not in tbl:
            return None
        text = self.string(tbl, "override", path, required=False)
        if not text.strip() or not text.isprintable():
            self.err(documents.join(path, "override"), "must give the clinic's reason in words (one line)")
            return None
        return text.strip()

    def zones(self, raw: Mapping[str, Any]) -> tuple[str, ...]:
        """``[zones] default``: the zones a plan treats unless `--zones` says otherwise."""
        tab = self.table(raw, "zones", "", required=False)
        if tab is None:
            return ()
        self.unknown(tab, "zones", ("default",))
        zones = self.strings(tab, "default", "zones")
        for zone in zones:
            if zone not in DEPTH_ZONES:
                self.err("zones.default", f"unknown zone {zone!r} (zones: {', '.join(DEPTH_ZONES)})")
        if len(set(zones)) != len(zones):
            self.err("zones.default", "names a zone twice")
        return zones

    def deep(self, raw: Mapping[str, Any]) -> tuple[float, int, float, str]:
        """Deeper-pass settings in ``[depth]``: (deep_from_mm, deep_through_day, label_max_mm, label_note)."""
        tab = raw.get("depth")
        if not isinstance(tab, Mapping):
            return 1.5, 6, 1.5, ""
        deep_from = self.millimetres(tab, "deep_from_mm", "depth") if "deep_from_mm" in tab else 1.5
        through = (
            self.integer(tab, "deep_through_day", "depth", 0, 60, required=False) if "deep_through_day" in tab else 6
        )
        label = self.millimetres(tab, "label_max_mm", "depth") if "label_max_mm" in tab else 1.5
        note = self.string(tab, "label_note", "depth") if "label_note" in tab else ""
        return deep_from, through if through is not None else 6, label, note or ""

    def procedures(self, raw: Mapping[str, Any]) -> tuple[tuple[ProcedureItem, ...], str, str, str]:
        """``[procedures]``: earlier procedures whose screening waits become pauses before each session."""
        tab = self.table(raw, "procedures", "", required=False)
        if tab is None:
            return (), "", "", ""
        self.unknown(tab, "procedures", ("title", "calendar", "heading", "items", "override"))
        title = self.string(tab, "title", "procedures")
        calendar = self.string(tab, "calendar", "procedures")
        heading = self.string(tab, "heading", "procedures", required=False) or title
        items: list[ProcedureItem] = []
        for p, item in self.tables(tab, "items", "procedures"):
            self.unknown(item, p, ("question", "item"))
            question = self.string(item, "question", p)
            if any(i.question == question for i in items):
                self.err(f"{p}.question", f"{question!r} is named twice")
            items.append(ProcedureItem(question, self.string(item, "item", p)))
        return tuple(items), title, calendar, heading

    def window(self, w: Mapping[str, Any], p: str, first_allowed: int) -> WindowSpec | None:
        """A window in days around the session (day 0): ``first_day``/``last_day``, or from day 0
        for ``days`` days, or for ``hours`` hours after the session (every day those hours touch)."""
        self.unknown(w, p, ("id", "title", "first_day", "last_day", "days", "hours", "items", "override"))
        wid = self.string(w, "id", p)
        title = self.string(w, "title", p)
        items = self.strings(w, "items", p)
        forms = [k for k in ("last_day", "days", "hours") if k in w]
        if len(forms) != 1:
            self.err(p, "give exactly one of last_day, days (from the session day) or hours (after the session)")
            return None
        first: int | None = 0
        if "first_day" in w:
            first = self.integer(w, "first_day", p, first_allowed, 365)
        elif forms[0] == "last_day":
            self.err(f"{p}.first_day", "missing (with last_day)")
            return None
        if forms[0] == "last_day":
            last = self.integer(w, "last_day", p, first_allowed, 365)
        elif forms[0] == "days":
            days = self.integer(w, "days", p, 1, 365)
            last = None if days is None else days - 1
        else:
            hours = self.integer(w, "hours", p, 1, 365 * 24)
            # Counted from the session's end, hours touch every day up to the one they end in:
            # 72 h after a session on day 0 reach into day 3.
            last = None if hours is None else -(-hours // 24)
        if first is None or last is None:
            return None
        hours_given = self.integer(w, "hours", p, 1, 365 * 24) if forms[0] == "hours" else None
        if last < first:
            self.err(f"{p}.last_day", f"must be >= {p}.first_day ({first}), got {last}")
            return None
        if wid and not wid.replace("-", "").isalnum():
            self.err(f"{p}.id", f"must be letters, digits and dashes, got {wid!r}")
        return WindowSpec(wid, title, first, last, items, hours=hours_given)

    def pauses(self, raw: Mapping[str, Any]) -> tuple[PauseSpec, ...]:
        out: list[PauseSpec] = []
        for p, tab in self.tables(raw, "pause", ""):
            self.unknown(
                tab, p, ("id", "title", "days_before", "items", "calendar", "retinoid_items", "ask_items", "override")
            )
            pid = self.string(tab, "id", p)
            if any(x.id == pid for x in out):
                self.err(f"{p}.id", f"duplicate pause id {pid!r}")
            days = self.integer(tab, "days_before", p, 1, 60) or 0
            out.append(
                PauseSpec(
                    id=pid,
                    title=self.string(tab, "title", p),
                    days_before=days,
                    items=self.strings(tab, "items", p),
                    calendar=self.string(tab, "calendar", p),
                    retinoid_items=self.strings(tab, "retinoid_items", p, allow_empty=True)
                    if "retinoid_items" in tab
                    else (),
                    ask_items=self.strings(tab, "ask_items", p, allow_empty=True) if "ask_items" in tab else (),
                )
            )
        return tuple(out)

    def cautions(self, raw: Mapping[str, Any], taken: set[str]) -> tuple[Caution, ...]:
        out: list[Caution] = []
        for p, tab in self.tables(raw, "cautions", "", required=False):
            self.unknown(tab, p, ("finding", "note", "shallower", "window", "window_kind", "override"))
            finding = self.string(tab, "finding", p)
            note = self.string(tab, "note", p)
            shallower = bool(self.boolean(tab, "shallower", p, required=False)) if "shallower" in tab else False
            window = None
            sub = self.table(tab, "window", p, required=False)
            if sub is not None:
                window = self.window(sub, f"{p}.window", first_allowed=-60)
                if window is not None and window.id in taken:
                    self.err(f"{p}.window.id", f"{window.id!r} is already the id of another window")
                elif window is not None:
                    taken.add(window.id)
            kind = self.string(tab, "window_kind", p, required=False) or "antiviral"
            if kind != "antiviral":
                self.err(f"{p}.window_kind", f"must be 'antiviral', got {kind!r}")
            if not (shallower or window is not None):
                pass  # a note alone is a change too: it reaches the plan and the clinician's sheet
            out.append(Caution(finding, note, shallower, window, kind))
        return tuple(out)

    def depth(self, raw: Mapping[str, Any]) -> tuple[float, float, tuple[tuple[str, str], ...]]:
        tab = self.table(raw, "depth", "")
        if tab is None:
            return 0.0, 0.0, ()
        self.unknown(
            tab,
            "depth",
            (
                "step_mm",
                "floor_mm",
                "notes",
                "deep_from_mm",
                "deep_through_day",
                "label_max_mm",
                "label_note",
                "override",
            ),
        )
        step, floor = (self.millimetres(tab, key, "depth") for key in ("step_mm", "floor_mm"))
        notes: list[tuple[str, str]] = []
        ntab = self.table(tab, "notes", "depth", required=False)
        if ntab is not None:
            self.unknown(ntab, "depth.notes", DEPTH_ZONES)
            notes = [(zone, self.string(ntab, zone, "depth.notes")) for zone in DEPTH_ZONES if zone in ntab]
        return step, floor, tuple(notes)

    def wording(self, raw: Mapping[str, Any]) -> Wording | None:
        tab = self.table(raw, "wording", "")
        if tab is None:
            return None
        keys = ("arrive", "daily")
        self.unknown(tab, "wording", keys)
        arrive, daily = (self.string(tab, k, "wording") for k in keys)
        return Wording(arrive, daily)

    def windows_match_checklist(self, windows: list[WindowSpec], groups: tuple[ChecklistGroup, ...]) -> None:
        """Each aftercare window must start and end on checklist group boundaries, so the day-by-day
        checklist (which lists a window's items in the groups it covers) says what the calendar says."""
        if not groups:
            return
        starts = {g.first_day for g in groups}
        ends = {g.last_day for g in groups if g.last_day is not None}
        for i, w in enumerate(windows):
            if w.first_day not in starts:
                self.err(
                    f"aftercare[{i}].first_day",
                    f"{w.first_day} does not start a checklist group (groups start "
                    f"on days {', '.join(map(str, sorted(starts)))})",
                )
            if w.last_day not in ends:
                self.err(
                    f"aftercare[{i}].last_day",
                    f"{w.last_day} does not end a checklist group (groups end "
                    f"on days {', '.join(map(str, sorted(ends)))}); the checklist would miss days of it",
                )

    def checklist(self, raw: Mapping[str, Any]) -> tuple[ChecklistGroup, ...]:
        groups: list[ChecklistGroup] = []
        expected = 0
        for p, g in self.tables(raw, "checklist", ""):
            self.unknown(g, p, ("first_day", "last_day", "do", "facts", "deep_facts"))
            first = self.integer(g, "first_day", p, 0, 365)
            last = self.integer(g, "last_day", p, 0, 365) if "last_day" in g else None
            do = self.strings(g, "do", p)
            facts = self.strings(g, "facts", p, allow_empty=True) if "facts" in g else ()
            deep_facts = self.strings(g, "deep_facts", p, allow_empty=True) if "deep_facts" in g else None
            if first is None:
                continue
            if groups and groups[-1].last_day is None:
                self.err(f"{p}", "comes after an open-ended group (one without last_day)")
            if first != expected:
                self.err(f"{p}.first_day", f"must be {expected}, the day after the previous group, got {first}")
            if last is not None and last < first:
                self.err(f"{p}.last_day", f"must be >= {p}.first_day ({first}), got {last}")
            expected = (last if last is not None else first) + 1
            groups.append(ChecklistGroup(first, last, do, facts, deep_facts))
        return tuple(groups)

    def millimetres(self, tbl: Mapping[str, Any], key: str, path: str) -> float:
        val = self.number(tbl, key, path, unit="mm")
        if val is None:
            return 0.0
        if not 0 < val <= MAX_DEPTH_MM:
            self.err(documents.join(path, key), f"must be more than 0 and at most {MAX_DEPTH_MM} mm, got {val:g}")
            return 0.0
        return val
