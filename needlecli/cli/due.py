"""`needle due`: what the clinic has to do from a day on — every booked session and booster not yet
recorded, the overdue ones, the outcome reviews — each with whether that day's check is needed."""

from __future__ import annotations

from pathlib import Path

import typer

from needlecli.errors import UsageError

HELP = """What the clinic has to do from --on (default today) for --days days
(default 7), plus everything overdue before it: every booked session and booster
not yet recorded (needle done / missed), and every outcome review due (the
treatment protocol's [review] after_months after a series' last session or
booster). Sorted by date and time. CHECK is `needed` until a screening or
re-check (needle check) of the patient is registered on that day.

Formats: table (80 columns), json (a list of {patient, indication, what,
number, of, date, start, status, check}), csv, ics (the clinic's calendar of
these items, with the calendar ids of the patients' files) and html (a printable
day list for the clinic: patient ids, so never for patients).

--include-name adds each patient's name (JSON `name`, null when none is
registered): the name a booking was given (plan --book --name, batch --book
--include-name with a name column)."""

EPILOG = """\b
Examples:
  needle due
  needle due --on 2027-01-04 --days 5 --format html --out monday.html
  needle due --patient P-0042 --format json
  needle due --days 28 --format ics --out due.ics
"""

FORMATS = ("table", "json", "csv", "ics", "html")


def due(
    on: str | None = typer.Option(None, "--on", help="The first day, YYYY-MM-DD.  [default: today]"),
    days: int = typer.Option(7, "--days", help="How many days from --on (1-366)."),
    patient: str | None = typer.Option(None, "--patient", "-p", help="Only this patient."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv, ics or html."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to this file (atomic, mode 0600)."),
    include_name: bool = typer.Option(
        False, "--include-name", help="Show each patient's name, as last booked with one (plan --book --name)."
    ),
) -> None:
    import datetime as dt

    from needlecli import choices
    from needlecli.cli import common
    from needlecli.cli.register import for_reading
    from needlecli.config import load_config
    from needlecli.identity import check_patient
    from needlecli.register.diary import Due
    from needlecli.register.diary import due as due_items
    from needlecli.render import diary as docs

    fmt = choices.pick(fmt, FORMATS, "--format")
    if not 1 <= days <= 366:
        raise UsageError(f"--days: expected 1-366, got {days}")
    patient = check_patient(patient)
    if out is not None:
        from needlecli import outfiles

        common.check_out(out)
        outfiles.guard(out, "due")  # never over a file needle did not write as a due list
    cfg = load_config()
    day = common.parse_on(on, order=cfg.date_order)
    register = for_reading(cfg)
    items: list[Due] = []
    names: dict[str, str] | None = {} if include_name else None
    if register is not None:  # none yet: nothing is due
        with register:
            if patient is not None and not register.read("SELECT 1 FROM series WHERE patient = ?", (patient,)):
                from needlecli.cli.register import where

                raise UsageError(f"no patient {patient!r} with a booked series in the register ({where(cfg)})")
            items = due_items(register.db, day, days, patient)
            if include_name:
                from needlecli.register.events import names as names_of

                names = names_of(register, (i.patient for i in items))
    elif patient is not None:
        from needlecli.cli.register import where

        raise UsageError(f"no patient {patient!r} with a booked series in the register ({where(cfg)})")
    if fmt == "table":
        data = docs.table(items, day, days, names).encode("utf-8")
    elif fmt == "json":
        data = docs.as_json(items, names).encode("utf-8")
    elif fmt == "csv":
        data = docs.as_csv(items, names).encode("utf-8")
    elif fmt == "ics":
        stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)  # when this copy of the items was made
        data = docs.as_ics(items, stamp, cfg.name, names)
    else:
        data = docs.as_html(items, day, days, cfg.name, names).encode("utf-8")
    common.emit(data, out)
