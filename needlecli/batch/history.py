"""What the next run rebuilds over: a row's plan history as text (kept in the manifest), read back
from it, and the clinic calendar's events of a planned patient.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from needlecli import identity, revisions
from needlecli.batch.context import Context

#: The highest revision a kept history may hold: far above any real plan's, far below what a calendar
#: can carry (RFC 5545's SEQUENCE is a 32-bit integer); above it the history is not one of ours.
MAX_REVISION = 1_000_000

#: key -> (start, end) of each timed appointment of a plan.
Times = dict[str, tuple[dt.datetime, dt.datetime]]


def patient_mark(ctx: Context, pid: str) -> str:
    """A keyed hash of a patient id: what a history keeps instead of the id (`identity.patient_mark`)."""
    return identity.patient_mark(ctx.config.uid_key or "", pid)


def history_text(ctx: Context, h: revisions.History, times: Times | None = None) -> str:
    """What a later run needs to rebuild over a plan (and to write its clinic calendar events), as
    compact JSON: ids, revisions, item spans, cancelled items and the appointments' times. Never the
    patient id (a keyed hash of it) or the indication: the manifest is kept outside the folder."""
    doc = {
        "v": 1,
        "patient": patient_mark(ctx, h.patient) if h.patient else "",
        "indication": "",
        "plan_id": h.plan_id,
        "revision": h.revision,
        "created_on": h.created_on.isoformat(),
        "stamp": h.stamp.isoformat() if h.stamp else None,
        "items": [[k, r, f.isoformat(), last.isoformat()] for k, (r, f, last) in h.items.items()],
        "cancelled": [[c.key, c.first_day.isoformat(), c.last_day.isoformat(), c.revision] for c in h.cancelled],
        "times": {k: [a.isoformat(), b.isoformat()] for k, (a, b) in (times or {}).items()},
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def history_of(ctx: Context, text: str, pid: str) -> tuple[revisions.History, Times] | None:
    """The history and appointment times `history_text` wrote for patient ``pid``; None when ``text``
    is not one, or is another patient's (anything wrong only means planning afresh)."""
    from needlecli.dates import MAX_YEAR, MIN_YEAR
    from needlecli.model import Cancelled

    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("v") != 1:
            return None

        def day(value: object) -> dt.date:
            if not isinstance(value, str):
                raise TypeError(value)
            found = dt.date.fromisoformat(value)
            if not MIN_YEAR <= found.year <= MAX_YEAR:
                raise ValueError(value)
            return found

        def when(value: object) -> dt.datetime:
            if not isinstance(value, str):
                raise TypeError(value)
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None or not MIN_YEAR <= moment.year <= MAX_YEAR:
                raise ValueError(value)
            return moment

        def whole(value: object) -> int:
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_REVISION:
                raise TypeError(value)
            return value

        def text_of(value: object) -> str:
            if not isinstance(value, str):
                raise TypeError(value)
            return value

        items = {text_of(k): (whole(r), day(f), day(last)) for k, r, f, last in doc["items"]}
        cancelled = tuple(Cancelled(text_of(k), day(f), day(last), whole(r)) for k, f, last, r in doc["cancelled"])
        times = {text_of(k): (when(a), when(b)) for k, (a, b) in doc["times"].items()}
        if not pid or text_of(doc["patient"]) != patient_mark(ctx, pid):
            return None
        if not re.fullmatch(r"[0-9a-f]{16}", text_of(doc["plan_id"])):  # what plan ids look like
            return None
        history = revisions.History(
            pid,
            text_of(doc["indication"]),
            text_of(doc["plan_id"]),
            whole(doc["revision"]),
            day(doc["created_on"]),
            when(doc["stamp"]) if doc["stamp"] is not None else None,
            items,
            cancelled,
        )
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError):
        return None
    return history, times


def events_of_history(ctx: Context, pid: str, history: str) -> bytes:
    """The clinic calendar's events of a kept history (checked as every kept history is)."""
    found = history_of(ctx, history, pid)
    return b"" if found is None else events_of(ctx, pid, *found)


def events_of(ctx: Context, pid: str, history: revisions.History, times: Times) -> bytes:
    from needlecli.render import clinic_ics

    try:
        return clinic_ics.events(pid, history, times, address=ctx.config.address)
    except Exception:  # a history the calendar cannot hold: the patient's events are left out, the run goes on
        return b""


def pack(history: str) -> bytes:
    """A history as the manifest keeps it: zlib-compressed JSON (a fifth of the size)."""
    import zlib

    return zlib.compress(history.encode("utf-8"), 6) if history else b""


def unpack(stored: object) -> str:
    """The history `pack` stored ("" for anything else: planning afresh is always safe)."""
    import zlib

    if not isinstance(stored, bytes) or not stored:
        return ""
    try:
        inflate = zlib.decompressobj()
        text = inflate.decompress(stored, 1 << 20)  # a history is a few KiB: more is not one of ours
        return "" if inflate.unconsumed_tail else text.decode("utf-8")
    except (zlib.error, UnicodeDecodeError):
        return ""
