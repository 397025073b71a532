"""Load and validate protocol files (bundled in the package, or a clinic's own).

Validation collects every problem before failing, and each problem names its
key path, e.g. ``sessions.max: must be >= sessions.min (3)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from needlecli import choices, documents
from needlecli.bundled import STANDARD_SCREENING as STANDARD_SCREENING
from needlecli.bundled import bundled_folder as bundled_folder
from needlecli.bundled import bundled_names as bundled_names
from needlecli.bundled import indications as indications
from needlecli.errors import ProtocolError
from needlecli.model import (
    PauseSpec,
    Plan,
    Protocol,
    Question,
    ScreeningProtocol,
    TreatmentProtocol,
)
from needlecli.validation import Validator

if TYPE_CHECKING:
    import datetime as dt

    from needlecli.plans import SavedPlan

# ----------------------------------------------------------------- finding files


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
    ``protocols_dir/NAME.toml`` (as an absolute path) if there is one, else ``bundled:NAME``.
    A name may differ in case and spacing (``Acne Scars``, ``acne_scars``: `needlecli.choices`)."""
    if _looks_like_path(ref):
        return ref
    if protocols_dir is not None:
        own = protocols_dir / f"{ref}.toml"
        if os.path.lexists(own):
            return os.path.abspath(own)
        own_name = choices.find(ref, clinic_names(protocols_dir))  # "Acne Scars" names acne-scars
        if own_name is not None:
            return os.path.abspath(protocols_dir / f"{own_name}.toml")
    known = bundled_names()
    name = choices.find(ref, known)
    if name is not None:
        return f"bundled:{name}"
    everything = names(protocols_dir)
    hint = choices.suggestion(ref, everything)
    extra = f"did you mean '{hint}'? " if hint else ""
    mine = clinic_names(protocols_dir)
    where = f"bundled: {', '.join(known)}" + (f"; in {protocols_dir}: {', '.join(mine)}" if mine else "")
    raise ProtocolError(ref, [f"unknown protocol ({extra}{where}; or give a path to a .toml file)"])


def aliases(protocols_dir: Path | None = None) -> dict[str, str]:
    """The other names a clinic's list gives each treatment protocol (`[protocol] aliases`, e.g.
    "Microneedling - acne scars"), normalised (`choices.normalise`: any case, spacing or dash) ->
    the protocol's name. A protocol that cannot be read names nothing here (loading it says why)."""
    import tomllib

    from needlecli import choices

    out: dict[str, str] = {}
    for name in names(protocols_dir):
        try:
            data, _ = read_source(name, protocols_dir)
            head = tomllib.loads(data.decode("utf-8")).get("protocol", {})
        except (ProtocolError, OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if not isinstance(head, dict) or head.get("kind") != "treatment":
            continue
        for alias in head.get("aliases", []) if isinstance(head.get("aliases"), list) else []:
            if isinstance(alias, str) and choices.normalise(alias):
                out.setdefault(choices.normalise(alias), name)
    return out


def read_source(ref: str, protocols_dir: Path | None = None) -> tuple[bytes, str]:
    """Return (file bytes, origin) for a protocol name (the clinic's folder first) or a file path."""
    origin = locate(ref, protocols_dir)
    if origin.startswith("bundled:"):
        return (bundled_folder() / f"{ref_of(origin)}.toml").read_bytes(), origin
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


def load_treatment(
    ref: str, protocols_dir: Path | None = None, screening: ScreeningProtocol | None = None
) -> TreatmentProtocol:
    """A treatment protocol with its procedure pauses made from the screening protocol in force
    (``screening``, else the clinic's or the bundled `screening`)."""
    proto = load(ref, protocols_dir)
    if not isinstance(proto, TreatmentProtocol):
        raise ProtocolError(
            proto.info.origin,
            [f"protocol.kind: '{proto.info.name}' is a screening protocol, not a treatment protocol"],
        )
    in_force = screening or load_screening(STANDARD_SCREENING, protocols_dir)
    problems = unknown_findings(proto, in_force)
    if problems:
        raise ProtocolError(proto.info.origin, problems)
    if not proto.procedures:
        return proto
    return with_procedure_waits(proto, in_force)


def plan_in_force(
    saved: SavedPlan,
    source: str,
    moves: Sequence[tuple[str, dt.date]],
    on: dt.date,
    notes: list[str],
    protocols_dir: Path | None,
    in_force: ScreeningProtocol,
    stamp: dt.datetime | None = None,
) -> tuple[Plan, TreatmentProtocol]:
    """A saved plan already read (a file's, or the register's), checked against the protocols in force
    (``in_force``: the screening protocol in force, never the one the file names: an edited file could
    point anywhere), with the moves applied; and its treatment protocol."""
    from needlecli import planning

    protocol = load_treatment(ref_of(saved.protocol.origin), protocols_dir, in_force)
    screening = in_force if saved.request.screening is not None else None
    return planning.saved_plan(protocol, saved, moves, on, source, notes, screening, stamp), protocol


def _waits_of(question: Question) -> list[tuple[int, int, int]]:
    """The dated waits (months, weeks, days) of a question's deferring rules, each once."""
    return list(
        dict.fromkeys(
            (r.months or 0, r.weeks or 0, r.days or 0)
            for r in question.rules
            if r.dated and r.category in ("defer", "contraindicated")
        )
    )


def with_procedure_waits(treatment: TreatmentProtocol, screening: ScreeningProtocol) -> TreatmentProtocol:
    """The treatment protocol's procedure pauses, one per distinct wait of the screening protocol:
    a patient who keeps the pause never has a procedure the screening would defer the session for."""
    groups: dict[tuple[int, int, int], list[str]] = {}
    for item in treatment.procedures:
        try:
            question = screening.question(item.question)
        except KeyError:
            raise ProtocolError(
                treatment.info.origin,
                [f"procedures.items: {item.question!r} is not a question of screening protocol {screening.info.name}"],
            ) from None
        if question.type != "date":
            raise ProtocolError(treatment.info.origin, [f"procedures.items: {item.question!r} is not a date question"])
        for wait in _waits_of(question):  # every rule's: months and days cannot be ranked on all dates
            groups.setdefault(wait, []).append(item.item)
    pauses = []
    for (months, weeks, days), items in sorted(
        groups.items(), key=lambda kv: kv[0][0] * 31 + kv[0][1] * 7 + kv[0][2], reverse=True
    ):
        label = "".join(f"{n}{unit}" for n, unit in ((months, "mo"), (weeks, "wk"), (days, "d")) if n)
        spec = PauseSpec("", "", days, (), months=months, weeks=weeks)
        title = treatment.procedure_title
        title = title.replace("{wait}", spec.wait_label) if "{wait}" in title else f"{title} ({spec.wait_label})"
        pauses.append(
            PauseSpec(
                id=f"procedures-{label}",
                title=title,
                days_before=days,
                items=tuple(items),
                calendar=treatment.procedure_calendar,
                months=months,
                weeks=weeks,
                procedure=True,
            )
        )
    return dataclasses.replace(treatment, procedure_pauses=tuple(pauses))


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
    v = Validator()
    sha = hashlib.sha256(data).hexdigest()
    proto = v.protocol(raw, sha, origin)
    if isinstance(proto, ScreeningProtocol) and not v.problems and origin != f"bundled:{STANDARD_SCREENING}":
        v.problems += _looser_than_standard(proto)
    if isinstance(proto, TreatmentProtocol) and not v.problems and not origin.startswith("bundled:"):
        problems, overrides = _treatment_floors(raw, proto)
        v.problems += problems
        proto = dataclasses.replace(proto, overrides=overrides)
    return v.problems, (proto if not v.problems else None)


def _treatment_floors(
    raw: Mapping[str, Any], proto: TreatmentProtocol
) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """A clinic's treatment protocol held to the bundled one of its name (a new indication: to every
    bundled one), and the finding ids of its cautions and procedures to the standard screening protocol."""
    from needlecli import floors

    bundled = list(indications())
    names = [proto.info.name] if proto.info.name in bundled else bundled
    standards = [load_treatment(n, None, load_screening(STANDARD_SCREENING)) for n in names]
    problems, overrides = floors.check(raw, proto, standards)
    problems += unknown_findings(proto, load_screening(STANDARD_SCREENING))
    return problems, overrides


def unknown_findings(treatment: TreatmentProtocol, screening: ScreeningProtocol) -> list[str]:
    """Every caution or procedure that names no question of the screening protocol (a typo would
    silently drop a caution)."""
    ids = set(screening.ids)
    out = [
        f"cautions[{i}].finding: {c.finding!r} is not a question of screening protocol {screening.info.name}"
        for i, c in enumerate(treatment.cautions)
        if c.finding not in ids
    ]
    dates = {q.id for q in screening.questions if q.type == "date"}
    for i, p in enumerate(treatment.procedures):
        if p.question not in ids:
            out.append(
                f"procedures.items[{i}].question: {p.question!r} is not a question of screening protocol "
                f"{screening.info.name}"
            )
        elif p.question not in dates:
            out.append(f"procedures.items[{i}].question: {p.question!r} is not a date question")
    return out


#: The bundled screening protocol every clinic's screening protocol is held against.


def _looser_than_standard(proto: ScreeningProtocol) -> list[str]:
    """A clinic may be stricter than the standard rules, never looser without a recorded reason."""
    from needlecli.screening import looser_gates, looser_questions

    standard = load_screening(STANDARD_SCREENING)
    where = {q.id: i for i, q in enumerate(proto.questions)}
    problems = []
    for qid, rule in looser_questions(proto, standard):
        problems.append(
            f"questions[{where[qid]}] ({qid}): looser than the standard rule ({rule.category}: {rule.message}); "
            'make it at least as strict, or give the clinic\'s reason as override = "..." on the question'
        )
    for q in proto.questions:  # what the standard asks again before each session, a clinic asks too
        std = standard.question(q.id) if q.id in standard.ids else None
        if std is not None and std.recheck and not q.recheck and not q.override:
            problems.append(
                f"questions[{where[q.id]}] ({q.id}): not asked again before each session (recheck), which the "
                'standard protocol does; add recheck = true, or give the clinic\'s reason as override = "..."'
            )
    for qid, gate in looser_gates(proto, standard):
        problems.append(
            f"questions[{where[qid]}].asked_if ({qid}): asked only after {gate!r}, which the standard protocol "
            "does not do: a no there answers it no unasked; remove asked_if, or give the clinic's reason as "
            'override = "..." on the question'
        )
    return problems
