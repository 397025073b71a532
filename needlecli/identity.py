"""Who a plan is for, in one place: a patient id checked, a file name made from it, a plan id and a
keyed mark derived from it. Pure: the calendar id key is an argument, never read here.

- ``check_patient``: a patient id goes into (keyed) UIDs and (cleaned) file names: 1-100
  printable characters.
- ``safe_name``: a file name stem from a patient id (no separators, not hidden, bounded).
- ``plan_id_for``: the plan id (the first part of every calendar UID), an HMAC with the key.
- ``patient_mark``: what a batch's record of its folder keeps instead of the id.
- ``item_key``/``appointment_of``: the key of a plan item (the second part of its calendar UID),
  and the kind and number of a session or booster read back from it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import TYPE_CHECKING

from needlecli.errors import UsageError

if TYPE_CHECKING:
    from needlecli.model import PlanRequest


#: The domain of every calendar UID needle writes: ``{plan id}-{item key}@needle.invalid``.
UID_DOMAIN = "needle.invalid"

#: A session's or booster's key; ``-N`` after it: its Nth booking (the ones before were missed).
_APPOINTMENT = re.compile(r"(session|booster)-([1-9][0-9]{0,5})(?:-[2-9]|-[1-9][0-9]{1,3})?")


def item_key(kind: str, number: int, occurrence: int = 1) -> str:
    """The key of a plan's session or booster ``number`` (``session-2``, ``booster-1``); booked again
    after a missed one, ``session-2-2``."""
    return f"{kind}-{number}" if occurrence == 1 else f"{kind}-{number}-{occurrence}"


def appointment_of(key: str) -> tuple[str, int] | None:
    """(kind, number) of the session or booster an item key names; None for any other item."""
    found = _APPOINTMENT.fullmatch(key)
    return (found.group(1), int(found.group(2))) if found else None


def check_patient(value: str | None, where: str = "--patient") -> str | None:
    """Patient ids go into (keyed) UIDs and (cleaned) file names: 1-100 printable characters."""
    if value is None:
        return None
    if not value.strip() or len(value) > 100 or not value.isprintable():
        raise UsageError(f"{where}: a patient id must be 1-100 printable characters")
    return value


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(patient_id: str) -> str:
    """A file name stem from a patient id: no separators, no `..`, not hidden, bounded.

    When anything had to change, a short hash of the original id is appended so
    that two ids that clean up the same never share a file.
    """
    stem = _SAFE.sub("_", patient_id).strip("._-")[:60] or "patient"
    if stem != patient_id:
        digest = hashlib.sha256(patient_id.encode("utf-8")).hexdigest()[:8]
        stem = f"{stem}-{digest}"
    return stem


def plan_id_for(request: PlanRequest, kind: str = "plan", key: str = "") -> str:
    """Stable identity: the same patient, indication and start give the same plan id.

    ``kind`` keeps a one-session aftercare export from ever sharing ids with a series plan.
    With the clinic's ``key`` (config `uid_key`) the id is an HMAC, so nobody holding a
    calendar file can recover the patient id or indication by guessing them.
    """
    seed = f"needle-{kind}\0{request.patient}\0{request.indication}\0{request.start.isoformat()}".encode()
    if key:
        return hmac.new(key.encode("utf-8"), seed, hashlib.sha256).hexdigest()[:16]
    return hashlib.sha256(seed).hexdigest()[:16]


def series_mark(request: PlanRequest, kind: str, key: str) -> str:
    """What a calendar written by `plan` or `aftercare` says of whose it is (X-NEEDLE-SERIES): a keyed
    hash of the patient id, indication and ``kind``, never the start. Written again to the same file
    with another start, the calendar is that series' still: it is rebuilt over, not replaced."""
    seed = f"needle-series-{kind}\0{request.patient}\0{request.indication}".encode()
    if key:
        return hmac.new(key.encode("utf-8"), seed, hashlib.sha256).hexdigest()[:16]
    return hashlib.sha256(seed).hexdigest()[:16]


def patient_mark(key: str, pid: str) -> str:
    """A keyed hash of a patient id (the calendar id key): what a history keeps instead of the id."""
    return hmac.new(
        key.encode("utf-8"), b"needle batch patient\0" + pid.encode("utf-8", "surrogateescape"), "sha256"
    ).hexdigest()[:32]
