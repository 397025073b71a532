"""`needle history PATIENT` and `needle export PATIENT`: a patient's record from the register."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from needlecli import export as exports
from needlecli.errors import UsageError

HISTORY_HELP = """Everything the register holds for a patient, oldest first: every screening
(date, verdict, findings, protocol name, version and hash, clinician) and every booked
revision of a series (its session dates). --json: a list of events, each
{date, event, ...} with event one of screened, rechecked, booked."""

HISTORY_EPILOG = """\b
Examples:
  needle history P-0042
  needle history P-0042 --json
"""

EXPORT_HELP = """The patient's active series from the register, as `plan` and `aftercare
--plan` write it: md is the aftercare checklist, html the printable handout,
ics the calendar (cancelled sessions kept as cancelled), json the plan, and
toml a saved plan `needle plan --from` reads. With more than one booked
series, --indication says which (else the one booked last)."""

EXPORT_EPILOG = """\b
Examples:
  needle export P-0042 --format ics --out p42.ics
  needle export P-0042 --indication acne-scars --format html --out p42.html
  needle export P-0042 --format toml --out p42.toml
"""


def _patient(value: str) -> str:
    from needlecli.identity import check_patient

    return check_patient(value, "PATIENT") or ""


def _unknown(patient: str, where: Path) -> UsageError:
    return UsageError(f"no patient {patient!r} in the register ({where}); screen or book them first")


def history(
    patient: str = typer.Argument(..., help="The patient id.", metavar="PATIENT"),
    json_out: bool = typer.Option(False, "--json", help="Print the events as a JSON list."),
) -> None:
    from needlecli.cli.common import require_stdout
    from needlecli.cli.register import for_reading, where
    from needlecli.config import load_config
    from needlecli.register.events import history as events_of

    require_stdout()
    patient = _patient(patient)
    cfg = load_config()
    register = for_reading(cfg)
    if register is None:
        raise _unknown(patient, where(cfg))
    with register:
        found = events_of(register, patient)
    if not found:
        raise _unknown(patient, where(cfg))
    shown = [_event(e) for e in found]
    if json_out:
        import json

        print(json.dumps(shown, indent=2, ensure_ascii=False))
        return
    print(patient)
    for e in shown:
        print(f"  {e['date']}  {e['event']:<10} {_line(e)}")


def _event(raw: dict[str, Any]) -> dict[str, Any]:
    """A register row as the history shows it (the stored documents read back)."""
    import tomllib

    out: dict[str, Any] = {"date": raw["date"], "event": raw["event"], "entry": raw["entry"], "recorded_at": raw["at"]}
    if raw["event"] in ("screened", "rechecked"):
        doc = tomllib.loads(raw["record"])
        proto = doc.get("protocol", {})
        out |= {
            "verdict": raw["verdict"],
            "earliest_date": doc["earliest_date"].isoformat() if doc.get("earliest_date") else None,
            "findings": [f.get("id", "") for f in doc.get("findings", [])],
            "protocol": {"name": proto.get("name"), "version": proto.get("version"), "sha256": proto.get("sha256")},
            "clinician": doc.get("clinician") or None,
        }
    elif raw["event"] == "booked":
        doc = tomllib.loads(raw["plan"])
        course = doc.get("request", {}).get("course", {})
        out |= {
            "indication": raw["indication"],
            "revision": raw["revision"],
            "sessions": [s["date"].isoformat() for s in doc.get("sessions", [])],
            "boosters": [b["date"].isoformat() for b in doc.get("boosters", [])],
            "cancelled": [c.get("id", "") for c in doc.get("cancelled", [])],
            "status": course.get("halted") or "active",
        }
    else:  # done, missed, cancelled: what was recorded, as given
        detail = raw["detail"]
        out |= {"indication": raw["indication"], "session": raw["session"] or None}
        out |= {k: v for k, v in detail.items() if v not in (None, {}, "")}
    return out


def _line(e: dict[str, Any]) -> str:
    if e["event"] in ("screened", "rechecked"):
        found = ", ".join(e["findings"]) or "no findings"
        until = f" until {e['earliest_date']}" if e["verdict"] == "defer" and e["earliest_date"] else ""
        p = e["protocol"]
        by = f"; {e['clinician']}" if e["clinician"] else ""
        return f"{e['verdict']}{until} ({found}); protocol {p['name']} {p['version']} ({str(p['sha256'])[:12]}){by}"
    if e["event"] == "done":
        depths = ", ".join(f"{z} {mm:g} mm" for z, mm in e.get("depth_mm", {}).items())
        extra = [x for x in (depths, e.get("device"), e.get("lot") and f"lot {e['lot']}") if x]
        extra += [f"override: {e['override']}"] if e.get("override") else []
        extra += [f"note: {e['note']}"] if e.get("note") else []
        return f"{e['indication']} session {e['session']}" + (f" ({'; '.join(extra)})" if extra else "")
    if e["event"] == "missed":
        return f"{e['indication']} session {e['session']} of {e['booked_date']}; booked again on {e['again']}"
    if e["event"] == "cancelled":
        return f"{e['indication']} series: {e['reason']}"
    sessions = ", ".join(e["sessions"])
    boosters = f"; boosters {', '.join(e['boosters'])}" if e["boosters"] else ""
    gone = f"; {len(e['cancelled'])} cancelled" if e["cancelled"] else ""
    state = f" ({e['status']})" if e["status"] != "active" else ""
    return f"{e['indication']} revision {e['revision']}{state}: {sessions}{boosters}{gone}"


def export(
    patient: str = typer.Argument(..., help="The patient id.", metavar="PATIENT"),
    fmt: str = typer.Option(..., "--format", "-f", help=exports.help_text("plan", ()) + ", fhir (a FHIR R4 Bundle)."),
    indication: str | None = typer.Option(None, "--indication", "-i", help="Which series (else the one booked last)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to this file (atomic, mode 0600)."),
    name: str | None = typer.Option(None, "--name", help="Patient's name for calendar titles and handouts."),
    include_name: bool = typer.Option(
        False, "--include-name", help="Show the name the patient was booked with (implied by --name)."
    ),
    on: str | None = typer.Option(None, "--on", help="Date of the export, YYYY-MM-DD.  [default: today]"),
) -> None:

    from needlecli import choices, outfiles
    from needlecli.cli import common
    from needlecli.cli.register import booked_series, for_reading, series_source, where
    from needlecli.config import export_options, load_config, with_uid_key
    from needlecli.plans import read_plan_text

    patient = _patient(patient)
    fmt = choices.pick(fmt, (*exports.formats("plan"), *exports.formats("record")), "--format")
    if out is not None:
        common.check_out(out)
        if fmt != "fhir":
            exports.from_suffix(fmt, str(out), "plan", fmt)
        elif "." in out.name and not out.name.lower().endswith(".json"):
            raise UsageError(f"--out: a FHIR bundle is JSON: name it {out.stem}.json")
    cfg = with_uid_key(load_config())
    day = common.parse_on(on, order=cfg.date_order)
    if fmt == "fhir":
        from needlecli.cli.fhir import export_fhir

        register = for_reading(cfg)
        if register is None:
            raise _unknown(patient, where(cfg))
        stamp = common.stamp_of(on, cfg.date_order)
        export_fhir(cfg, register, patient, indication, common.check_name(name, False), include_name, day, stamp, out)
        return
    shown_name = common.check_name(name, False)
    register = for_reading(cfg)
    if register is None:
        raise _unknown(patient, where(cfg))
    with register:
        booked = booked_series(cfg, register, patient, indication)
        if include_name and shown_name is None:  # the name the patient was last booked with
            from needlecli.register.events import names

            shown_name = names(register, [patient]).get(patient)
            if shown_name is None:
                raise UsageError(f"--include-name: no name is registered for {patient}; give it with --name NAME")
    source = series_source(cfg, patient, booked)
    outfiles.guard(out, fmt, patient, ())
    if fmt == "toml":
        common.emit(booked.plan.encode("utf-8"), out)
        return
    saved = read_plan_text(booked.plan, source)
    notes: list[str] = []
    plan, protocol = common.plan_of_saved(saved, source, [], day, notes)
    for note in notes:
        print(f"needle: {note}", file=sys.stderr)
    document = exports.EXPORTERS[fmt].batch_document  # the patient's document in this format
    options = export_options(cfg, document, name=shown_name, protocol=protocol)
    common.emit(exports.render(fmt, plan, options), out)
