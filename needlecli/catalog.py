"""Load and validate protocol files (bundled in the package, or a clinic's own).

Validation collects every problem before failing, and each problem names its
key path, e.g. ``sessions.max: must be >= sessions.min (3)``.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, cast

from needlecli import documents
from needlecli.errors import ProtocolError
from needlecli.model import (
    CATEGORIES,
    REQUIRED_QUESTIONS,
    Category,
    ChecklistGroup,
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

QUESTION_TYPES: tuple[QuestionType, ...] = ("bool", "date", "fitzpatrick")
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
INDICATIONS: tuple[str, ...] = ("fine-lines", "acne-scars", "texture", "deep-scars")
MAX_DEPTH_MM = 3.0
_PACKAGE = "needlecli.protocols"


# ----------------------------------------------------------------- finding files


def bundled_names() -> list[str]:
    """Names of the protocols shipped inside the package, sorted."""
    root = resources.files(_PACKAGE)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def clinic_names(protocols_dir: Path | None) -> list[str]:
    """Names of the protocol files (NAME.toml) in a clinic's own folder, sorted."""
    if protocols_dir is None:
        return []
    try:
        entries = list(protocols_dir.iterdir())
    except OSError as exc:
        raise ProtocolError(str(protocols_dir), [f"cannot list the protocols folder: {exc.strerror or exc}"]) from None
    return sorted(p.name[:-5] for p in entries if p.name.endswith(".toml") and not p.name.startswith("."))


def names(protocols_dir: Path | None = None) -> list[str]:
    """Every protocol name a command accepts: the clinic's own and the bundled ones, sorted."""
    return sorted(set(bundled_names()) | set(clinic_names(protocols_dir)))


def _looks_like_path(ref: str) -> bool:
    return "/" in ref or "\\" in ref or ref.endswith(".toml") or ref.startswith(".")


def locate(ref: str, protocols_dir: Path | None = None) -> str:
    """Where a protocol reference points: the path itself for a path; for a name, the clinic's
    ``protocols_dir/NAME.toml`` (as an absolute path) if there is one, else ``bundled:NAME``."""
    if _looks_like_path(ref):
        return ref
    if protocols_dir is not None:
        own = protocols_dir / f"{ref}.toml"
        if os.path.lexists(own):
            return os.path.abspath(own)
    known = bundled_names()
    if ref in known:
        return f"bundled:{ref}"
    everything = names(protocols_dir)
    hint = difflib.get_close_matches(ref, everything, n=1)
    extra = f"did you mean '{hint[0]}'? " if hint else ""
    mine = clinic_names(protocols_dir)
    where = f"bundled: {', '.join(known)}" + (f"; in {protocols_dir}: {', '.join(mine)}" if mine else "")
    raise ProtocolError(ref, [f"unknown protocol ({extra}{where}; or give a path to a .toml file)"])


def read_source(ref: str, protocols_dir: Path | None = None) -> tuple[bytes, str]:
    """Return (file bytes, origin) for a protocol name (the clinic's folder first) or a file path."""
    origin = locate(ref, protocols_dir)
    if origin.startswith("bundled:"):
        return resources.files(_PACKAGE).joinpath(f"{ref}.toml").read_bytes(), origin
    return read_file(Path(origin))


def read_file(path: Path) -> tuple[bytes, str]:
    """Return (file bytes, origin) for a protocol file path (within the shared limits)."""
    try:
        return documents.read_bytes(path, "a protocol file"), str(path)
    except documents.DocumentError as exc:
        raise ProtocolError(str(path), [str(exc)]) from None


def ref_of(origin: str) -> str:
    """The name or path to load a protocol again from a record's `origin` (`bundled:NAME` or a path)."""
    return origin.removeprefix("bundled:") if origin.startswith("bundled:") else origin


def load(ref: str, protocols_dir: Path | None = None) -> Protocol:
    """Load and validate a protocol by name (the clinic's folder first, then bundled) or path."""
    data, origin = read_source(ref, protocols_dir)
    return parse(data, origin)


def load_screening(ref: str = "screening", protocols_dir: Path | None = None) -> ScreeningProtocol:
    proto = load(ref, protocols_dir)
    if not isinstance(proto, ScreeningProtocol):
        raise ProtocolError(
            proto.info.origin,
            [f"protocol.kind: '{proto.info.name}' is a treatment protocol, not a screening protocol"],
        )
    return proto


def load_treatment(ref: str, protocols_dir: Path | None = None) -> TreatmentProtocol:
    proto = load(ref, protocols_dir)
    if not isinstance(proto, TreatmentProtocol):
        raise ProtocolError(
            proto.info.origin,
            [f"protocol.kind: '{proto.info.name}' is a screening protocol, not a treatment protocol"],
        )
    return proto


def parse(data: bytes, origin: str) -> Protocol:
    """Parse and validate protocol bytes; raise ProtocolError listing every problem."""
    problems, proto = check(data, origin)
    if problems or proto is None:
        raise ProtocolError(origin, problems or ["invalid protocol"])
    return proto


def check(data: bytes, origin: str) -> tuple[list[str], Protocol | None]:
    """Validate protocol bytes: (problems, protocol-or-None). Never raises for bad content."""
    try:
        raw = documents.parse_toml(data)
    except documents.DocumentError as exc:
        return [str(exc)], None
    v = _Validator()
    sha = hashlib.sha256(data).hexdigest()
    proto = v.protocol(raw, sha, origin)
    return v.problems, (proto if not v.problems else None)


# ----------------------------------------------------------------- validation


class _Validator(documents.Checker):
    """The protocol checks, built on the shared checker's primitives."""

    def range_(self, tbl: Mapping[str, Any], key: str, lo: int, hi: int, names: tuple[str, str, str]) -> Range | None:
        sub = self.table(tbl, key, "")
        if sub is None:
            return None
        self.unknown(sub, key, names)
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
        self.unknown(head, "protocol", ("name", "kind", "version", "title", "sources"))
        name = self.string(head, "name", "protocol")
        if name and (name != name.strip() or any(c in name for c in "/\\ \t")):
            self.err("protocol.name", f"must be a plain name without spaces or slashes, got {name!r}")
        kind = self.string(head, "kind", "protocol")
        version = self.string(head, "version", "protocol")
        title = self.string(head, "title", "protocol")
        sources = self.strings(head, "sources", "protocol")
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
        )
        if kind == "screening":
            self.unknown(raw, "", ("protocol", "record", "questions"))
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
                    "pih",
                    "pause",
                    "aftercare",
                    "checklist",
                    "warning_signs",
                    "wording",
                ),
            )
            return self.treatment(raw, info)
        return None

    def screening(self, raw: Mapping[str, Any], info: ProtocolInfo) -> ScreeningProtocol:
        questions: list[Question] = []
        seen: dict[str, str] = {}
        for path, q in self.tables(raw, "questions", ""):
            self.unknown(q, path, ("id", "type", "section", "prompt", "gate_prompt", "rules"))
            qid = self.string(q, "id", path)
            if qid and not qid.replace("_", "").isalnum():
                self.err(f"{path}.id", f"must be letters, digits and underscores, got {qid!r}")
            if qid in seen:
                self.err(f"{path}.id", f"duplicate question id {qid!r} (first at {seen[qid]})")
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
            rules = self.rules(q, path, qtype)
            questions.append(
                Question(
                    id=qid,
                    type=cast(QuestionType, qtype),
                    section=section,
                    prompt=prompt,
                    rules=tuple(rules),
                    gate_prompt=gate,
                )
            )
        for rid in REQUIRED_QUESTIONS:
            if rid not in seen:
                self.err("questions", f"missing required question {rid!r}")
        record = self.table(raw, "record", "")
        valid_days = 0
        if record is not None:
            self.unknown(record, "record", ("valid_days",))
            valid_days = self.integer(record, "valid_days", "record", 1, 3650) or 0
        return ScreeningProtocol(info=info, questions=tuple(questions), valid_days=valid_days)

    def rules(self, q: Mapping[str, Any], path: str, qtype: str) -> list[Rule]:
        if "rules" not in q:
            return []
        raw_rules = q["rules"]
        rpath = f"{path}.rules"
        if not isinstance(raw_rules, list) or not all(isinstance(x, dict) for x in raw_rules):
            self.err(rpath, "must be an array of tables ([[questions.rules]])")
            return []
        out: list[Rule] = []
        trigger = {"bool": "when", "date": "months", "fitzpatrick": "values"}.get(qtype)
        for i, r in enumerate(raw_rules):
            p = f"{rpath}[{i}]"
            self.unknown(r, p, ("category", "message", "patient_message", "source", "when", "months", "values"))
            category = self.string(r, "category", p)
            if category and category not in CATEGORIES:
                self.err(f"{p}.category", f"must be one of {', '.join(CATEGORIES)}, got {category!r}")
            message = self.string(r, "message", p)
            patient = self.string(r, "patient_message", p)
            source = self.string(r, "source", p)
            for other in ("when", "months", "values"):
                if other != trigger and other in r:
                    self.err(f"{p}.{other}", f"does not apply to a {qtype or 'typeless'} question")
            when: bool | None = None
            months: int | None = None
            values: tuple[int, ...] = ()
            if trigger == "when":
                if "when" not in r:
                    self.err(f"{p}.when", "missing (true or false)")
                elif not isinstance(r["when"], bool):
                    self.err(f"{p}.when", f"must be true or false, not {documents.kind(r['when'])}")
                else:
                    when = r["when"]
            elif trigger == "months":
                months = self.integer(r, "months", p, 1, 1200)
            elif trigger == "values":
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
                    values = tuple(sorted(set(vals)))
            out.append(
                Rule(
                    category=cast(Category, category),
                    message=message,
                    patient_message=patient,
                    source=source,
                    when=when,
                    months=months,
                    values=values,
                )
            )
        return out

    def treatment(self, raw: Mapping[str, Any], info: ProtocolInfo) -> TreatmentProtocol | None:
        sessions = self.range_(raw, "sessions", 1, 20, ("min", "max", "default"))
        interval = self.range_(raw, "interval_weeks", 1, 52, ("min", "max", "default"))
        boosters = self.range_(raw, "boosters", 1, 36, ("min_months", "max_months", "default_months"))
        depth: list[tuple[str, float, float]] = []
        dtab = self.table(raw, "depth_mm", "")
        if dtab is not None:
            self.unknown(dtab, "depth_mm", DEPTH_ZONES)
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
        pih = self.pih(raw)
        pause_days = 0
        pause_items: tuple[str, ...] = ()
        retinoid_items: tuple[str, ...] = ()
        ptab = self.table(raw, "pause", "")
        if ptab is not None:
            self.unknown(ptab, "pause", ("days_before", "items", "retinoid_items"))
            pause_days = self.integer(ptab, "days_before", "pause", 1, 60) or 0
            pause_items = self.strings(ptab, "items", "pause")
            retinoid_items = self.strings(ptab, "retinoid_items", "pause")
        windows: list[WindowSpec] = []
        ids: dict[str, str] = {}
        for p, w in self.tables(raw, "aftercare", ""):
            self.unknown(w, p, ("id", "title", "first_day", "last_day", "items"))
            wid = self.string(w, "id", p)
            if wid in ids:
                self.err(f"{p}.id", f"duplicate window id {wid!r} (first at {ids[wid]})")
            elif wid:
                ids[wid] = p
            title = self.string(w, "title", p)
            first = self.integer(w, "first_day", p, 0, 365)
            last = self.integer(w, "last_day", p, 0, 365)
            items = self.strings(w, "items", p)
            if first is not None and last is not None and last < first:
                self.err(f"{p}.last_day", f"must be >= {p}.first_day ({first}), got {last}")
            elif first is not None and last is not None:
                windows.append(WindowSpec(wid, title, first, last, items))
        checklist = self.checklist(raw)
        warn = self.table(raw, "warning_signs", "")
        warning_signs: tuple[str, ...] = ()
        if warn is not None:
            self.unknown(warn, "warning_signs", ("items",))
            warning_signs = self.strings(warn, "items", "warning_signs")
        self.windows_match_checklist(windows, checklist)
        wording = self.wording(raw)
        if sessions is None or interval is None or boosters is None or wording is None:
            return None
        return TreatmentProtocol(
            info=info,
            sessions=sessions,
            interval_weeks=interval,
            booster_months=boosters,
            depth_mm=tuple(depth),
            pause_days_before=pause_days,
            pause_items=pause_items,
            pause_retinoid_items=retinoid_items,
            aftercare=tuple(windows),
            pih_fitzpatrick=pih[0],
            pih_step_mm=pih[1],
            pih_floor_mm=pih[2],
            pih_note=pih[3],
            checklist=checklist,
            warning_signs=warning_signs,
            wording=wording,
        )

    def wording(self, raw: Mapping[str, Any]) -> Wording | None:
        tab = self.table(raw, "wording", "")
        if tab is None:
            return None
        keys = ("pause_title", "arrive", "daily")
        self.unknown(tab, "wording", keys)
        pause_title, arrive, daily = (self.string(tab, k, "wording") for k in keys)
        return Wording(pause_title, arrive, daily)

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
            self.unknown(g, p, ("first_day", "last_day", "do"))
            first = self.integer(g, "first_day", p, 0, 365)
            last = self.integer(g, "last_day", p, 0, 365) if "last_day" in g else None
            do = self.strings(g, "do", p)
            if first is None:
                continue
            if groups and groups[-1].last_day is None:
                self.err(f"{p}", "comes after an open-ended group (one without last_day)")
            if first != expected:
                self.err(f"{p}.first_day", f"must be {expected}, the day after the previous group, got {first}")
            if last is not None and last < first:
                self.err(f"{p}.last_day", f"must be >= {p}.first_day ({first}), got {last}")
            expected = (last if last is not None else first) + 1
            groups.append(ChecklistGroup(first, last, do))
        return tuple(groups)

    def pih(self, raw: Mapping[str, Any]) -> tuple[tuple[int, ...], float, float, str]:
        tab = self.table(raw, "pih", "")
        if tab is None:
            return (), 0.0, 0.0, ""
        self.unknown(tab, "pih", ("fitzpatrick", "step_mm", "floor_mm", "note"))
        types = tab.get("fitzpatrick")
        if not (
            isinstance(types, list)
            and types
            and all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 6 for x in types)
        ):
            self.err("pih.fitzpatrick", "must be a non-empty list of Fitzpatrick types 1-6")
            types = []
        step, floor = (self.millimetres(tab, key, "pih") for key in ("step_mm", "floor_mm"))
        note = self.string(tab, "note", "pih")
        return tuple(sorted(set(types))), step, floor, note

    def millimetres(self, tbl: Mapping[str, Any], key: str, path: str) -> float:
        val = self.number(tbl, key, path, unit="mm")
        if val is None:
            return 0.0
        if not 0 < val <= MAX_DEPTH_MM:
            self.err(documents.join(path, key), f"must be more than 0 and at most {MAX_DEPTH_MM} mm, got {val:g}")
            return 0.0
        return val
