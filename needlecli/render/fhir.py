"""FHIR R4 (4.0.1) JSON, built from plain data by needle itself (no FHIR library at run time: the
tests validate every document with an independent one).

- `questionnaire`: a screening protocol as a ``Questionnaire`` (`needle protocols show screening
  --format fhir`): one item per question, the interview's gates as boolean items, every follow-up
  with the ``enableWhen`` that opens it in the interview.
- `bundle`: what the register knows of a patient as a ``Bundle`` of type ``collection``
  (`needle export PATIENT --format fhir`): Patient, the latest screening as a
  QuestionnaireResponse, a DetectedIssue per finding, the series as a CarePlan with an Appointment
  per session and booster (identifier: the calendar UID), the screening protocol's Questionnaire
  and a Provenance naming needle (a Device) and the protocol's hash.

Resource ids are UUIDs derived from the patient and the item (the same export gives the same
bytes); every reference is a ``urn:uuid:`` full URL of an entry of the same Bundle. The mapping
(needle object -> FHIR element) and what is not mapped are in the README.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from needlecli import zones
from needlecli.identity import UID_DOMAIN, appointment_of
from needlecli.model import AnswerValue, ExportOptions, Finding, Plan, Question, ScreeningProtocol

#: needle's own canonical URLs and identifier systems (a reserved domain: nothing is served there).
BASE = f"https://{UID_DOMAIN}/fhir"
FITZPATRICK = f"{BASE}/CodeSystem/fitzpatrick"
#: ``meta.source`` of every document needle writes (how `outfiles.identify` knows one of its own).
SOURCE = f"{BASE}/needle"
ROMAN = ("I", "II", "III", "IV", "V", "VI")
#: The namespace of every resource id (uuid5 of the patient and the item).
NAMESPACE = uuid.UUID("6f0e4f1c-2b1d-5c8e-9a57-6e65646c6501")
SEVERITY = {"contraindicated": "high", "defer": "moderate", "caution": "low"}
CAREPLAN_STATUS = {"active": "active", "on-hold": "on-hold", "completed": "completed", "stopped": "revoked"}
APPOINTMENT_STATUS = {"booked": "booked", "done": "fulfilled", "cancelled": "cancelled"}


@dataclass(frozen=True)
class Screened:
    """The latest screening or re-check, screened again under the protocol in force."""

    evaluated_on: dt.date
    kind: str  # screened or rechecked
    verdict: str
    answers: Mapping[str, AnswerValue]
    findings: tuple[Finding, ...]
    clinician: str | None = None


@dataclass(frozen=True)
class ClinicalRecord:
    """What `bundle` writes: plain data the register gave `needle export`."""

    patient: str
    protocol: ScreeningProtocol
    made_at: dt.datetime
    version: str
    on: dt.date
    name: str | None = None
    screening: Screened | None = None
    plan: Plan | None = None
    #: The series' state (`course.status`): active, on-hold, stopped or completed.
    series: str = ""
    #: Why it was halted (cancellation reason, finding ids).
    reason: str = ""
    #: Calendar keys of bookings recorded as missed (`needle missed`).
    missed: frozenset[str] = field(default_factory=frozenset)


def url(protocol: ScreeningProtocol) -> str:
    return f"{BASE}/Questionnaire/{protocol.info.name}"


def gate_link(q: Question) -> str:
    """The boolean item a date question with its own yes/no lead-in (`gate_prompt`) is asked behind."""
    return f"{q.id}-asked"


# ----------------------------------------------------------------- Questionnaire


def questionnaire(protocol: ScreeningProtocol) -> dict[str, Any]:
    """The screening protocol as an R4 Questionnaire."""
    items: list[dict[str, Any]] = []
    gates_done: set[str] = set()
    for q in protocol.questions:
        gate = protocol.gate(q.asked_if) if q.asked_if else None
        if gate is not None and gate.id not in gates_done:  # a gate before its first follow-up
            gates_done.add(gate.id)
            items.append({"linkId": gate.id, "text": gate.prompt, "type": "boolean", "required": True})
        opened_by = [_when(q.asked_if)] if q.asked_if else []
        if q.gate_prompt:
            lead: dict[str, Any] = {"linkId": gate_link(q), "text": q.gate_text, "type": "boolean", "required": True}
            if opened_by:
                lead["enableWhen"] = opened_by
            items.append(lead)
            opened_by = [_when(gate_link(q))]
        items.append(_item(q, opened_by))
    name = "".join(part.capitalize() for part in protocol.info.name.replace("-", " ").replace("_", " ").split())
    return {
        "resourceType": "Questionnaire",
        "id": str(uuid.uuid5(NAMESPACE, f"questionnaire\0{protocol.info.name}\0{protocol.info.sha256}")),
        "meta": {"source": SOURCE},
        "url": url(protocol),
        "identifier": [{"system": f"{BASE}/protocol-sha256", "value": protocol.info.sha256}],
        "version": protocol.info.version,
        "name": f"Needle{name}" if not name[:1].isalpha() else name,
        "title": protocol.info.title,
        "status": "active",
        "subjectType": ["Patient"],
        "item": items,
    }


def _when(link: str) -> dict[str, Any]:
    return {"question": link, "operator": "=", "answerBoolean": True}


def _item(q: Question, opened_by: list[dict[str, Any]]) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": q.id, "text": q.prompt, "type": "boolean", "required": True}
    if q.type == "date":
        item |= {"type": "date", "required": False}  # "none" is an answer: no date
    elif q.type == "int":
        item["type"] = "integer"
        bounds = [("minValue", q.minimum), ("maxValue", q.maximum)]
        item["extension"] = [
            {"url": f"http://hl7.org/fhir/StructureDefinition/{name}", "valueInteger": value}
            for name, value in bounds
            if value is not None
        ] or None
    elif q.type == "fitzpatrick":
        item["type"] = "choice"
        item["answerOption"] = [
            {"valueCoding": {"system": FITZPATRICK, "code": str(n), "display": ROMAN[n - 1]}} for n in range(1, 7)
        ]
    if opened_by:
        item["enableWhen"] = opened_by
    return {k: v for k, v in item.items() if v is not None}


def enabled(
    protocol: ScreeningProtocol,
    answers: Mapping[str, AnswerValue],
    found: frozenset[str] = frozenset(),
    items: list[dict[str, Any]] | None = None,
) -> dict[str, AnswerValue]:
    """Each item's answer as the recorded answers give it, for the items their enableWhen opens.

    A yes/no lead-in names a window ("in the last 4 weeks?"): it is a yes when its date is inside it,
    which is when the date's rules found something (``found``: the findings' question ids; a rule with
    no end fires for any date). A gate is a yes when a follow-up behind it is: a yes/no answered yes, or
    a date inside the window. A date outside it (an old one, no finding) is not asked behind a "no"."""

    def said_yes(q: Question) -> bool:
        value = answers.get(q.id)
        if q.type == "date":
            return value is not None and q.id in found
        return value is True

    given: dict[str, AnswerValue] = {}
    for gate in protocol.gates:
        given[gate.id] = any(said_yes(q) for q in protocol.questions if q.asked_if == gate.id)
    for q in protocol.questions:
        if q.gate_prompt:
            given[gate_link(q)] = said_yes(q)
        given[q.id] = answers.get(q.id)
    out: dict[str, AnswerValue] = {}
    for item in items if items is not None else questionnaire(protocol)["item"]:  # ``items``: made already
        if all(given.get(w["question"]) is True for w in item.get("enableWhen", [])):
            out[item["linkId"]] = given.get(item["linkId"])
    return out


# ----------------------------------------------------------------- the Bundle


def bundle(record: ClinicalRecord) -> dict[str, Any]:
    """The patient's record as an R4 Bundle (type collection)."""
    entries: list[dict[str, Any]] = []

    def urn(what: str) -> str:
        return "urn:uuid:" + str(uuid.uuid5(NAMESPACE, record.patient + "\0" + what))

    def add(what: str, resource: dict[str, Any]) -> str:
        full = urn(what)
        entries.append({"fullUrl": full, "resource": {"resourceType": resource.pop("resourceType"),
                                                      "id": full.removeprefix("urn:uuid:"), **resource}})  # fmt: skip
        return full

    patient = add("patient", _patient(record))
    subject = {"reference": patient}
    form = questionnaire(record.protocol)  # the same resource (and id) as `protocols show --format fhir`
    items = form["item"]
    form_urn = f"urn:uuid:{form.pop('id')}"
    entries.append({"fullUrl": form_urn, "resource": {"resourceType": form.pop("resourceType"),
                                                      "id": form_urn.removeprefix("urn:uuid:"), **form}})  # fmt: skip
    made = []
    response = None
    if record.screening is not None:
        # A re-check is another response, its findings other issues: ids of that screening's own.
        s = record.screening
        which = f"screening\0{s.kind}\0{s.evaluated_on.isoformat()}"
        response = add(which, _response(record, s, subject, items))
        made.append(response)
        for n, f in enumerate(s.findings):  # one question may find twice (a deferral and a caution)
            made.append(add(f"{which}\0finding\0{n}\0{f.category}\0{f.id}", _issue(f, s, subject, response)))
    plan = record.plan
    if plan is not None:
        appointments = _appointments(record, plan, subject)
        refs = [add(f"appointment\0{key}", resource) for key, resource in appointments]
        made += refs
        made.append(add(f"careplan\0{plan.plan_id}", _careplan(record, plan, subject, response, refs)))
    device = add("needle", {
        "resourceType": "Device",
        "deviceName": [{"name": "needle", "type": "user-friendly-name"}],
        "version": [{"value": record.version}],
    })  # fmt: skip
    made.append(device)
    add("provenance", {
        "resourceType": "Provenance",
        "target": [{"reference": r} for r in [patient, *made] if r != device],  # the form is the source
        "recorded": _instant(record.made_at),
        "agent": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                 "code": "assembler"}]},
            "who": {"reference": device, "display": f"needle {record.version}"},
        }],
        "entity": [{"role": "source", "what": {
            "reference": form_urn,
            "display": f"screening protocol {record.protocol.info.name} {record.protocol.info.version} "
                       f"(sha256 {record.protocol.info.sha256})",
        }}],
    })  # fmt: skip
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(NAMESPACE, f"{record.patient}\0bundle\0{_instant(record.made_at)}")),
        "meta": {"source": SOURCE},
        "type": "collection",
        "timestamp": _instant(record.made_at),
        "entry": entries,
    }


def _patient(record: ClinicalRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": f"{BASE}/patient-id", "value": record.patient}],
    }
    if record.name:
        out["name"] = [{"text": record.name}]
    return out


def _response(
    record: ClinicalRecord, s: Screened, subject: dict[str, str], form: list[dict[str, Any]]
) -> dict[str, Any]:
    """The screening's answers to the Questionnaire's items ``form`` (the ones it opens)."""
    texts = {i["linkId"]: i["text"] for i in form}
    items = []
    for link, value in enabled(record.protocol, s.answers, frozenset(f.id for f in s.findings), form).items():
        item: dict[str, Any] = {"linkId": link, "text": texts[link]}
        answer = _answer(record.protocol, link, value)
        if answer is not None:
            item["answer"] = [answer]
        items.append(item)
    out: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{url(record.protocol)}|{record.protocol.info.version}",
        "status": "completed",
        "subject": subject,
        "authored": s.evaluated_on.isoformat(),
        "item": items,
    }
    if s.clinician:
        out["author"] = {"display": s.clinician}
    return out


def _answer(protocol: ScreeningProtocol, link: str, value: AnswerValue) -> dict[str, Any] | None:
    if value is None:
        return None  # a date answered "none": the item, no answer
    kind = protocol.question(link).type if link in protocol.ids else "bool"
    if kind == "bool":
        return {"valueBoolean": bool(value)}
    if kind == "date" and isinstance(value, dt.date):
        return {"valueDate": value.isoformat()}
    if kind == "int" and isinstance(value, int):
        return {"valueInteger": value}
    if kind == "fitzpatrick" and isinstance(value, int) and 1 <= value <= 6:
        return {"valueCoding": {"system": FITZPATRICK, "code": str(value), "display": ROMAN[value - 1]}}
    raise ValueError(f"{link}: cannot write answer {value!r} as FHIR")


def _issue(f: Finding, s: Screened, subject: dict[str, str], response: str) -> dict[str, Any]:
    detail = f.message + (f" (until {f.until.isoformat()})" if f.until else "")
    return {
        "resourceType": "DetectedIssue",
        "status": "final",
        "code": {"coding": [{"system": f"{BASE}/finding", "code": f.id}], "text": f"{f.category}: {f.id}"},
        "severity": SEVERITY[f.category],
        "patient": subject,
        "identifiedDateTime": s.evaluated_on.isoformat(),
        "evidence": [{"detail": [{"reference": response}]}],
        "detail": detail,
    }


def _appointments(record: ClinicalRecord, plan: Plan, subject: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """(calendar key, Appointment) for every session and booster, and every booking cancelled or missed."""
    out = []
    zone = zones.zone(plan.request.tz)
    for a in plan.appointments:
        what = f"Microneedling {a.kind} {a.number}"
        res = _appointment(plan, a.key, APPOINTMENT_STATUS[a.status], what, subject)
        if a.start is not None and a.end is not None:
            res |= {"start": _instant(a.start), "end": _instant(a.end),
                    "minutesDuration": int((a.end - a.start).total_seconds() // 60)}  # fmt: skip
        else:
            res |= _whole_day(a.date, zone)
        if a.status == "cancelled" and record.reason:
            res["cancelationReason"] = {"text": record.reason}
        out.append((a.key, res))
    for c in plan.cancelled:
        found = appointment_of(c.key)
        if found is None:
            continue
        status = "noshow" if c.key in record.missed else "cancelled"
        res = _appointment(plan, c.key, status, f"Microneedling {found[0]} {found[1]}", subject)
        res |= _whole_day(c.first_day, zone)
        if plan.request.time is not None:  # a booking taken out of the plan keeps its day, not its time
            res["comment"] = "the booked time is not kept with a booking taken out of the plan: its whole day"
        out.append((c.key, res))
    return out


def _appointment(plan: Plan, key: str, status: str, what: str, subject: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "identifier": [{"system": "urn:ietf:rfc:5545", "value": f"{plan.plan_id}-{key}@{UID_DOMAIN}"}],
        "status": status,
        "description": what,
        "participant": [{"actor": subject, "status": "accepted"}],
    }


def _whole_day(day: dt.date, zone: dt.tzinfo) -> dict[str, Any]:
    """A booking with no time: the whole day in the clinic's zone (R4 wants start and end on a booked
    appointment), said in a comment."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return {"start": _instant(start), "end": _instant(end), "comment": "no time booked: the whole day"}


def _careplan(
    record: ClinicalRecord, plan: Plan, subject: dict[str, str], response: str | None, refs: list[str]
) -> dict[str, Any]:
    activity: list[dict[str, Any]] = [{"reference": {"reference": r}} for r in refs]
    for a in plan.appointments:
        for w in a.windows:
            if w.last_day < record.on:  # over before the export (also before a series stopped or on hold)
                status = "completed"
            elif a.status == "cancelled":
                status = "cancelled"
            elif w.first_day <= record.on:
                status = "in-progress"
            else:
                status = "scheduled"
            detail: dict[str, Any] = {
                "code": {"coding": [{"system": f"{BASE}/window", "code": w.spec}], "text": w.title},
                "status": status,
                "doNotPerform": w.kind != "antiviral",  # pauses and aftercare say what to avoid
                "scheduledPeriod": {"start": w.first_day.isoformat(), "end": w.last_day.isoformat()},
                "description": "; ".join(w.items) or w.title,
            }
            activity.append({"detail": detail})
    dates = [a.date for a in plan.appointments]
    protocol = plan.protocol
    out: dict[str, Any] = {
        "resourceType": "CarePlan",
        "identifier": [{"system": f"{BASE}/plan-id", "value": plan.plan_id}],
        "status": CAREPLAN_STATUS.get(record.series, "active"),
        "intent": "plan",
        "title": f"Microneedling series: {plan.request.indication}",
        "subject": subject,
        "period": {"start": min(dates).isoformat(), "end": max(dates).isoformat()},
        "created": plan.created_on.isoformat(),
        "activity": activity,
        "note": [{"text": f"treatment protocol {protocol.name} {protocol.version} (sha256 {protocol.sha256})"}],
    }
    if response is not None:
        out["supportingInfo"] = [{"reference": response}]
    return out


def _instant(when: dt.datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def dumps(doc: Mapping[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def export(plan: Plan, options: ExportOptions) -> bytes:
    """The registry's renderer: ``options.record`` holds the rest of the patient's record."""
    record = options.record
    if not isinstance(record, ClinicalRecord):
        raise ValueError("a FHIR bundle needs the patient's record (needle export --format fhir)")
    return dumps(bundle(record))
