"""Shared builders for planning tests."""

from __future__ import annotations

import datetime as dt

from needlecli import catalog
from needlecli.model import ClinicRules, PlanRequest

MON_FRI = frozenset(range(5))


def request(
    indication: str = "fine-lines",
    start: dt.date = dt.date(2026, 12, 1),
    *,
    sessions: int | None = None,
    interval: int | None = None,
    weekdays: frozenset[int] = MON_FRI,
    closed: frozenset[dt.date] | set[dt.date] = frozenset(),
    **kw: object,
) -> PlanRequest:
    proto = catalog.load_treatment(indication)
    return PlanRequest(
        patient=str(kw.pop("patient", "P1")),
        indication=indication,
        start=start,
        sessions=sessions or proto.sessions.default,
        interval_weeks=interval or proto.interval_weeks.default,
        clinic=ClinicRules(weekdays, frozenset(closed), None),
        **kw,  # type: ignore[arg-type]
    )
