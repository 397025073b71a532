"""The batch ICS writer: the bytes of `needlecli.render.ics.export`, many calendars a second.

**The one exception to "the library writes".** Every other calendar needle writes (`plan`,
`aftercare`, `export`) is icalendar's own ``to_ical()`` through `ics.export`. A batch writes
thousands of calendars that share almost every line (the same VTIMEZONE, reminders, titles, pause
texts, dates), and building icalendar components for each costs most of a batch's time. So a
``CalendarRenderer``, one per worker process, serves `batch` only (the export registry's ``many``
renderer for ICS), and only under the icalendar versions it was proven against (``PROVEN``):
under any other, batch writes through `ics.export` too.

What it caches: it writes the same calendar description (``ics.calendar_spec``) and lets icalendar
produce each distinct line only once:

- every content line is made by icalendar: the value encoded by ``Component.add``, taken
  back through ``property_items()``, made a line by ``content_line()`` and folded by
  ``Contentline.to_ical()``; the renderer keeps the bytes of each line in a capped memo,
  keyed by the component, the property name and the value exactly as given to ``add()``.
  Lines that belong to one patient (UIDs, text with the patient's name) are never kept;
- property order is icalendar's own (``property_items()`` of a component with the same
  property names), computed once per shape of component;
- a VTIMEZONE's and a VALARM's bytes are ``to_ical()`` of the reference's own component,
  made once per zone and span of years, or per trigger and text;
- a content line icalendar made is folded by `fold`: icalendar's own ``_foldline`` for a
  line with any non-ASCII character, and for an ASCII one the slicing icalendar used before
  7.3 (every 74 characters: one octet each) with 7.3's rule that a fold never falls right
  after a ``\\`` or ``^`` (the escape-aware fast path proposed upstream in icalendar PR
  #1524, for its issue #1501). 7.3 folds character by character: 14 µs for a pause text,
  0.6 µs sliced.
  tests/test_ics_fast.py holds `fold` to ``_foldline`` on random text full of escapes and
  multi-byte characters.

What proves it: the bytes equal ``ics.export(plan, options)`` for any plan and options:
tests/test_ics_fast.py checks that on random plans, and that a warm memo never puts one
calendar's line in another. `template` gives batch "the same calendar for another plan id"
(patients who share a series share every byte but the plan id at the start of each UID).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from icalendar.parser.string import _foldline  # noqa: TID253 - imported only by commands that write ICS

from needlecli.render import ics
from needlecli.render.common import Template

if TYPE_CHECKING:
    from collections.abc import Hashable

    from needlecli.model import ExportOptions, Plan

#: Distinct shared lines a renderer keeps (about 150 bytes each with their keys): enough for the
#: lines of a few hundred different session dates; past it the oldest half is dropped.
MEMO_LINES = 8192
#: VALARM and VTIMEZONE blocks a renderer keeps.
MEMO_BLOCKS = 512

#: The icalendar versions (major, minor) the byte-equality was proven against (the test suite runs
#: on the version installed; add one here only after it passes there).
PROVEN = ((7, 3),)

CRLF = b"\r\n"
#: A plan id as a UID starts with it (`identity.plan_id_for`), and the stand-in the UID memo keeps.
_PLAN_ID = re.compile(r"[0-9a-f]{16}")
PLACEHOLDER_ID = "0" * 16


def proven(version: str | None = None) -> bool:
    """Is the installed icalendar (or ``version``) one this renderer was proven equal under?"""
    if version is None:
        from importlib.metadata import version as installed

        version = installed("icalendar")
    parts = version.split(".")[:2]
    return len(parts) == 2 and all(p.isdecimal() for p in parts) and (int(parts[0]), int(parts[1])) in PROVEN


def template(data: bytes, plan_id: str) -> Template | None:
    """The calendar ``data`` cut at its plan id, for the same calendar under another plan id: only
    when the id stands nowhere but at the start of each UID's value (a calendar's short ids could
    collide with its syntax, `-P1D`; any other place is not cut)."""
    parts = tuple(data.split(plan_id.encode("ascii")))
    if not all(part.endswith(CRLF + b"UID:") for part in parts[:-1]):
        return None
    return Template(parts)


def fold(line: str) -> bytes:
    """``_foldline(line).encode()``, icalendar 7.3's folding of a content line, faster for ASCII.

    ``_foldline`` breaks a line before the octet that would make it 75 octets long (the
    continuation's leading space counts), and where the last character before the break is ``\\``
    or ``^`` (an escape's first half), it moves that character to the next line. In an ASCII line
    every character is one octet, so every line but the last holds 74 characters, or 73 when the
    74th starts an escape: slices, as icalendar itself did before 7.3 (without the escape rule).
    A line with any other character is folded by ``_foldline`` itself. Like ``_foldline``, it refuses
    a line with a raw newline (TEXT values are escaped before they are lines)."""
    assert "\n" not in line
    if not line.isascii():
        folded: str = _foldline(line)
        return folded.encode("utf-8")
    size = len(line)
    if size <= 74:
        return line.encode("ascii")
    parts = []
    start = 0
    while size - start > 74:
        end = start + 74
        if line[end - 1] in "\\^":
            end -= 1
        parts.append(line[start:end])
        start = end
    parts.append(line[start:])
    return "\r\n ".join(parts).encode("ascii")


def _line_key(component: str, name: str, value: object) -> Hashable | None:
    """A key that equals another line's key only when ``Component.add`` would encode both values the
    same, or None when the value is not one the memo knows (it is then encoded every time)."""
    kind = type(value)
    if kind is str or kind is int or kind is dt.date or kind is dt.timedelta:
        return (component, name, kind, value)
    if kind is dt.datetime:
        assert isinstance(value, dt.datetime)
        zone = value.tzinfo
        # Aware datetimes compare as instants (10:30 in London equals 10:30 in Dublin); with the zone
        # (ZoneInfo compares by identity, UTC is one object) and the fold in the key, equal keys are
        # one wall time in one zone.
        if zone is dt.UTC or type(zone) is ZoneInfo:
            return (component, name, kind, value, zone, value.fold)
        return None
    if kind.__name__ == "vText" and kind.__module__.startswith("icalendar.") and not getattr(value, "params", None):
        return (component, name, kind, str(value))
    return None


class CalendarRenderer:
    """Writes ``ics.export(plan, options)``'s bytes; keeps what it learns between calls (one per process)."""

    def __init__(self, memo_lines: int = MEMO_LINES, memo_blocks: int = MEMO_BLOCKS) -> None:
        import icalendar
        from icalendar.parser import Contentline

        self._calendar: type[Any] = icalendar.Calendar
        self._event: type[Any] = icalendar.Event
        self._memo_lines = memo_lines
        self._memo_blocks = memo_blocks
        #: (component name, property name, value's type, value[, zone, fold]) -> the line's bytes with its CRLF.
        self._lines: dict[Hashable, bytes] = {}
        #: ("VALARM", trigger, text) or ("VTIMEZONE", tzid, first year, last year) -> the component's bytes.
        self._blocks: dict[tuple[object, ...], bytes] = {}
        #: (component name, property names as added) -> the order icalendar writes them in (indices).
        self._orders: dict[tuple[str, tuple[str, ...]], tuple[int, ...]] = {}
        #: component name -> its BEGIN and END lines.
        self._marks: dict[str, tuple[bytes, bytes]] = {}
        #: (component name, property name) -> icalendar's type for a str value, when ``add`` gives it no parameters.
        self._text_types: dict[tuple[str, str], Any] = {}
        #: icalendar's ``Contentline.from_parts``: what ``Component.content_line()`` calls to make a line.
        self._from_parts: Any = Contentline.from_parts
        #: (component name, "UID", the UID after its plan id) -> the line's bytes after "UID:PLANID"
        #: (with its CRLF), b"" when the line must be made whole every time.
        self._uids: dict[Hashable, bytes] = {}
        #: How often a shared line was not in the memo and was made.
        self.misses = 0

    # ------------------------------------------------------------- the calendar

    def render(self, plan: Plan, options: ExportOptions) -> bytes:
        """The bytes of ``ics.export(plan, options)``."""
        return self.serialise(ics.spec_of(plan, options))

    def serialise(self, spec: ics.CalendarSpec) -> bytes:
        """The bytes of ``ics.calendar_component(spec).to_ical()``."""
        out: list[bytes] = []
        begin, end = self._mark(self._calendar)
        out.append(begin)
        self._properties(self._calendar, spec.props, out)
        if spec.zone is not None:
            out.append(self._vtimezone(spec.zone))
        event = self._event
        ev_begin, ev_end = self._mark(event)
        for props, alarm in spec.events:
            out.append(ev_begin)
            self._properties(event, props, out)
            if alarm is not None:
                out.append(self._alarm(alarm))
            out.append(ev_end)
        out.append(end)
        return b"".join(out)

    # ------------------------------------------------------------- components

    def _mark(self, cls: type[Any]) -> tuple[bytes, bytes]:
        """BEGIN and END lines of a component, as ``to_ical()`` writes them."""
        got = self._marks.get(cls.name)
        if got is None:
            empty = cls()
            items = empty.property_items(recursive=False)
            (b_name, b_value), (e_name, e_value) = items[0], items[-1]
            got = (
                empty.content_line(b_name, b_value).to_ical() + CRLF,
                empty.content_line(e_name, e_value).to_ical() + CRLF,
            )
            self._marks[cls.name] = got
        return got

    def _order(self, cls: type[Any], names: tuple[str, ...]) -> tuple[int, ...]:
        """The indices of ``names`` in the order ``property_items()`` gives them: icalendar's
        canonical order, then by name; one name added twice keeps the order it was added in."""
        key = (cls.name, names)
        got = self._orders.get(key)
        if got is None:
            probe = cls()
            for n in names:
                probe[n] = ""
            written = [n for n, _ in probe.property_items(recursive=False)[1:-1]]
            rank = {n: i for i, n in enumerate(written)}
            got = tuple(sorted(range(len(names)), key=lambda i: rank[names[i].upper()]))
            self._orders[key] = got
        return got

    def _properties(self, cls: type[Any], props: tuple[ics.Prop, ...], out: list[bytes]) -> None:
        component = cls.name
        names = tuple([p[0] for p in props])
        order = self._orders.get((component, names))
        if order is None:
            order = self._order(cls, names)
        lines = self._lines
        for i in order:
            name, value, shared = props[i]
            if shared:
                kind = type(value)
                if kind is str or kind is int or kind is dt.date or kind is dt.timedelta:
                    key: Hashable | None = (component, name, kind, value)  # _line_key's common case, inline
                else:
                    key = _line_key(component, name, value)
                if key is not None:
                    line = lines.get(key)
                    if line is None:
                        line = self._remember(key, cls, name, value)
                    out.append(line)
                    continue
            out.append(self._private_line(cls, name, value))

    def _remember(self, key: Hashable, cls: type[Any], name: str, value: object) -> bytes:
        self.misses += 1
        line = self._line(cls, name, value)
        if len(self._lines) >= self._memo_lines:
            self._drop_oldest(self._lines)
        self._lines[key] = line
        return line

    @staticmethod
    def _drop_oldest(memo: dict[Any, bytes]) -> None:
        """Forget the older half (dicts keep insertion order)."""
        keep = list(memo.items())[len(memo) // 2 :]
        memo.clear()
        memo.update(keep)

    # ------------------------------------------------------------- lines

    @staticmethod
    def _line(cls: type[Any], name: str, value: object) -> bytes:
        """One property's line as the reference writes it: ``add()``, ``property_items()``,
        ``content_line()``, ``to_ical()``."""
        one = cls()
        one.add(name, value)
        lines = [fold(one.content_line(n, v)) for n, v in one.property_items(recursive=False)[1:-1]]
        return CRLF.join(lines) + CRLF

    def _private_line(self, cls: type[Any], name: str, value: object) -> bytes:
        """A line never kept (a UID, the patient's name). A str value is typed as ``add()`` types it
        (learnt from ``add()`` once per property: a str gets no VALUE parameter), made a line by
        ``content_line()``, and folded by ``to_ical()`` unless it is too short to fold.

        A UID (``PLANID-KEY@domain``, the plan id 16 lowercase hex digits) is the one line every
        event has and no two patients share. The memo keeps icalendar's line for the same UID with
        the plan id written as sixteen zeros, when that line is at most 74 ASCII characters (so not
        folded), and puts the plan id back in: hex digits are never escaped, and a digit for a digit
        keeps every octet where it was, so the bytes are the line icalendar makes for the real UID.
        The memo never holds a plan id."""
        if type(value) is not str:
            return self._line(cls, name, value)
        if name == "UID" and value[16:17] == "-" and _PLAN_ID.fullmatch(value, 0, 16):
            key = (cls.name, name, value[16:])
            template = self._uids.get(key)
            if template is None:
                line = self._private_text(cls, name, PLACEHOLDER_ID + value[16:])
                prefix = f"{name}:{PLACEHOLDER_ID}".encode("ascii")
                template = line[len(prefix) :] if len(line) <= 76 and line.startswith(prefix) else b""
                if len(self._uids) >= self._memo_lines:
                    self._drop_oldest(self._uids)
                self._uids[key] = template
            if template:
                return b"UID:" + value[:16].encode("ascii") + template
        return self._private_text(cls, name, value)

    def _private_text(self, cls: type[Any], name: str, value: str) -> bytes:
        kind = self._text_types.get((cls.name, name))
        if kind is None:
            probe = cls()
            probe.add(name, value)
            typed = probe[name]
            if getattr(typed, "params", None):  # not a plain typed value: use add() every time
                return self._line(cls, name, value)
            kind = self._text_types[(cls.name, name)] = type(typed)
        typed = kind(value)
        # Component.content_line(name, typed) is this call (it also makes a Parameters() it does not use).
        return fold(self._from_parts(name, typed.params, typed)) + CRLF

    # ------------------------------------------------------------- blocks

    def _block(self, key: tuple[object, ...], data: bytes) -> bytes:
        if len(self._blocks) >= self._memo_blocks:
            self._drop_oldest(self._blocks)
        self._blocks[key] = data
        return data

    def _vtimezone(self, zone: tuple[str, int, int]) -> bytes:
        """The VTIMEZONE's bytes: ``to_ical()`` of the reference's own (checked) component."""
        key = ("VTIMEZONE", *zone)
        got = self._blocks.get(key)
        if got is None:
            vtz = ics._vtimezone(*zone)
            assert vtz is not None
            got = self._block(key, vtz.to_ical())
        return got

    def _alarm(self, alarm: ics.AlarmSpec) -> bytes:
        """The VALARM's bytes: ``to_ical()`` of the reference's own component."""
        key = ("VALARM", *alarm)
        got = self._blocks.get(key)
        if got is None:
            got = self._block(key, ics.alarm_component(*alarm).to_ical())
        return got
