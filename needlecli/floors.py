"""Treatment protocols have floors: what a clinic may not loosen without a recorded reason.

Every default the bundled treatment protocols set (SPEC.md, `needle protocols`: pause days and
items, aftercare windows, spacing and session counts, cautions and their effects, the depth step
and floor, the depth ceiling of every zone) is the strictest a clinic's own protocol may go below
only with ``override = "reason"`` in the same table or array-of-tables entry. A clinic file that
shares a bundled protocol's name is held to that protocol; a new indication is held to the loosest
of the bundled ones (it can be no looser than every standard at once). Overrides are kept in the
protocol and shown in every plan's notes.

Pure: the raw TOML table, the parsed protocol and the standards in, problems and overrides out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from needlecli.model import Caution, PauseSpec, TreatmentProtocol, WindowSpec

#: Periorbital work: outside the orbital rim only, never deeper than this (SPEC).
PERIORBITAL_MAX_MM = 0.5


class _Floors:
    def __init__(self, raw: Mapping[str, Any], proto: TreatmentProtocol) -> None:
        self.raw = raw
        self.proto = proto
        self.problems: list[str] = []
        self.overrides: list[tuple[str, str]] = []

    def reason(self, table: object) -> str | None:
        if isinstance(table, Mapping):
            text = table.get("override")
            if isinstance(text, str) and text.strip() and text.isprintable():
                return text.strip()
        return None

    def looser(self, path: str, table: object, what: str) -> None:
        """``path`` is looser than the standard (``what``): fine with a reason, else a problem."""
        why = self.reason(table)
        if why is None and isinstance(table, Mapping) and "override" in table:
            self.problems.append(f"{path}: override: must give the clinic's reason in words (one line)")
            return
        if why is not None:
            if (path, why) not in self.overrides:
                self.overrides.append((path, why))
            return
        self.problems.append(
            f"{path}: {what}: looser than the standard; make it at least as strict, or give the clinic's "
            'reason as override = "..." in the same table'
        )

    def entries(self, key: str) -> list[Any]:
        val = self.raw.get(key)
        return list(val) if isinstance(val, list) else []

    def table(self, *keys: str) -> object:
        node: object = self.raw
        for k in keys:
            node = node.get(k) if isinstance(node, Mapping) else None
        return node


def check(
    raw: Mapping[str, Any], proto: TreatmentProtocol, standards: Sequence[TreatmentProtocol]
) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """(problems, overrides) of a clinic's treatment protocol held against ``standards`` (the bundled
    protocol of the same name, or every bundled one for a new indication)."""
    f = _Floors(raw, proto)
    _ranges(f, standards)
    _pauses(f, standards)
    _aftercare(f, standards)
    _cautions(f, standards)
    _depth(f, standards)
    return f.problems, tuple(f.overrides)


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def _worst(standards: Sequence[TreatmentProtocol], value: Callable[[TreatmentProtocol], Any], high: bool) -> Any:
    """The loosest standard value: the highest (``high``) or the lowest of the standards'."""
    values = [value(s) for s in standards]
    return max(values) if high else min(values)


def _ranges(f: _Floors, standards: Sequence[TreatmentProtocol]) -> None:
    p = f.proto
    most = _worst(standards, lambda s: s.sessions.max, True)
    if p.sessions.max > most:
        f.looser("sessions.max", f.table("sessions"), f"{p.sessions.max} sessions (standard at most {most})")
    closest = _worst(standards, lambda s: s.interval_weeks.min, False)
    if p.interval_weeks.min < closest:
        f.looser(
            "interval_weeks.min",
            f.table("interval_weeks"),
            f"{p.interval_weeks.min} week(s) apart (standard at least {closest})",
        )
    booster = _worst(standards, lambda s: s.booster_months.min, False)
    if p.booster_months.min < booster:
        f.looser(
            "boosters.min_months",
            f.table("boosters"),
            f"{p.booster_months.min} months (standard at least {booster})",
        )
    trip = _worst(standards, lambda s: s.after_sun_trip_days, False)
    if p.after_sun_trip_days < trip:
        f.looser(
            "patient_dates.after_sun_trip_days",
            f.table("patient_dates"),
            _days(p.after_sun_trip_days) + f" (standard at least {trip})",
        )


def _entry(f: _Floors, key: str, field: str, value: str) -> tuple[int, Any] | None:
    for i, e in enumerate(f.entries(key)):
        if isinstance(e, Mapping) and e.get(field) == value:
            return i, e
    return None


def _pauses(f: _Floors, standards: Sequence[TreatmentProtocol]) -> None:
    mine = {x.id: x for x in f.proto.pauses}
    for std_pause in {x.id: x for s in standards for x in s.pauses}.values():
        ref: list[PauseSpec] = [x for s in standards for x in s.pauses if x.id == std_pause.id]
        found = _entry(f, "pause", "id", std_pause.id)
        have = mine.get(std_pause.id)
        if have is None or found is None:
            f.problems.append(
                f'pause: the standard {std_pause.id!r} pause is missing; keep it (with override = "..." to loosen it)'
            )
            continue
        i, table = found
        path = f"pause[{i}]"
        days = min(x.days_before for x in ref)
        if have.days_before < days:
            f.looser(f"{path}.days_before", table, _days(have.days_before) + f" (standard {days})")
        for attr in ("items", "retinoid_items"):  # ask_items are advice to ask, not something to avoid
            needed = set.intersection(*(set(getattr(x, attr)) for x in ref))
            gone = sorted(needed - set(getattr(have, attr)))
            if gone:
                f.looser(f"{path}.{attr}", table, f"drops {', '.join(repr(g) for g in gone)}")
        avoid = {i for s in standards for x in s.pauses for i in (*x.items, *x.retinoid_items)}
        softened = sorted(set(have.ask_items) & avoid)
        if softened:  # something to avoid, listed as something to pause only if a physician approves
            f.looser(f"{path}.ask_items", table, f"makes {', '.join(repr(s) for s in softened)} optional")
    wanted = set.intersection(*({x.question for x in s.procedures} for s in standards))
    gone = sorted(wanted - {x.question for x in f.proto.procedures})
    if gone:
        f.looser("procedures.items", f.table("procedures"), f"no pause after {', '.join(gone)}")


def _aftercare(f: _Floors, standards: Sequence[TreatmentProtocol]) -> None:
    mine = {w.id: w for w in f.proto.aftercare}
    for wid in dict.fromkeys(w.id for s in standards for w in s.aftercare):
        ref: list[WindowSpec] = [w for s in standards for w in s.aftercare if w.id == wid]
        found = _entry(f, "aftercare", "id", wid)
        have = mine.get(wid)
        if have is None or found is None:
            f.problems.append(
                f'aftercare: the standard {wid!r} window is missing; keep it (with override = "..." to loosen it)'
            )
            continue
        i, table = found
        last = min(w.last_day for w in ref)
        if have.last_day < last or have.first_day > 0:
            f.looser(f"aftercare[{i}]", table, f"days {have.first_day}..{have.last_day} (standard 0..{last})")
        gone = sorted(set.intersection(*(set(w.items) for w in ref)) - set(have.items))
        if gone:
            f.looser(f"aftercare[{i}].items", table, f"drops {', '.join(repr(g) for g in gone)}")
    deep_from = _worst(standards, lambda s: s.deep_from_mm, True)
    through = _worst(standards, lambda s: s.deep_through_day, False)
    depth = f.table("depth")
    if f.proto.deep_from_mm > deep_from:
        f.looser("depth.deep_from_mm", depth, f"{f.proto.deep_from_mm:g} mm (standard {deep_from:g} mm)")
    if f.proto.deep_through_day < through:
        f.looser("depth.deep_through_day", depth, f"day {f.proto.deep_through_day} (standard day {through})")


def _cautions(f: _Floors, standards: Sequence[TreatmentProtocol]) -> None:
    for finding in dict.fromkeys(c.finding for s in standards for c in s.cautions):
        ref: list[Caution] = [c for s in standards for c in s.cautions if c.finding == finding]
        found = _entry(f, "cautions", "finding", finding)
        have = next((c for c in f.proto.cautions if c.finding == finding), None)
        if have is None or found is None:
            f.problems.append(
                f'cautions: the standard caution for {finding!r} is missing; keep it (with override = "..." '
                "to loosen it)"
            )
            continue
        i, table = found
        path = f"cautions[{i}]"
        if all(c.shallower for c in ref) and not have.shallower:
            f.looser(f"{path}.shallower", table, "no longer one step shallower")
        windows = [c.window for c in ref if c.window is not None]
        if windows and len(windows) == len(ref):
            first = max(w.first_day for w in windows)
            last = min(w.last_day for w in windows)
            w = have.window
            if w is None:
                f.looser(f"{path}.window", table, "no window around each session")
            elif w.first_day > first or w.last_day < last:
                f.looser(f"{path}.window", table, f"days {w.first_day}..{w.last_day} (standard {first}..{last})")
            else:
                items = set.intersection(*(set(x.items) for x in windows))
                if not items <= set(w.items):
                    f.looser(f"{path}.window.items", table, "drops what the standard window asks the patient to do")


def _depth(f: _Floors, standards: Sequence[TreatmentProtocol]) -> None:
    p = f.proto
    depth = f.table("depth")
    step = _worst(standards, lambda s: s.depth_step_mm, False)
    if p.depth_step_mm < step:
        f.looser("depth.step_mm", depth, f"{p.depth_step_mm:g} mm (standard {step:g} mm)")
    floor = _worst(standards, lambda s: s.depth_floor_mm, True)
    if p.depth_floor_mm > floor:
        f.looser("depth.floor_mm", depth, f"{p.depth_floor_mm:g} mm (standard {floor:g} mm)")
    label = _worst(standards, lambda s: s.label_max_mm, True)
    if p.label_max_mm > label:
        f.looser("depth.label_max_mm", depth, f"{p.label_max_mm:g} mm (standard {label:g} mm)")
    ceilings: dict[str, tuple[float, float]] = {}
    for s in standards:
        for zone, lo, hi in s.depth_mm:
            old = ceilings.get(zone, (0.0, 0.0))
            ceilings[zone] = (max(old[0], lo), max(old[1], hi))
    table = f.table("depth_mm")
    for zone, lo, hi in p.depth_mm:
        top = ceilings.get(zone)
        if top is None:
            continue
        ceiling = min(top[1], PERIORBITAL_MAX_MM) if zone == "periorbital" else top[1]
        if hi > ceiling + 1e-9 or lo > top[0] + 1e-9:
            f.looser(
                f"depth_mm.{zone}",
                table,
                f"[{lo:g}, {hi:g}] mm (standard at most [{top[0]:g}, {ceiling:g}] mm)",
            )
