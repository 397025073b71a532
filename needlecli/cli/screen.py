"""`needle screen`: contraindication screening, interactive or from an answers file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from needlecli.cli.common import complete_screenings
from needlecli.errors import VERDICT_EXIT_CODES, AnswersError, UsageError

if TYPE_CHECKING:
    from needlecli.config import Config

HELP = """Screen a patient for microneedling contraindications.

At a terminal, asks the screening questions in the order of a consultation
(only those an --answers file does not already answer; a follow-up only after
a yes), shows the answers to confirm, then the verdict. Type ? at a question
to see what it means. Dates: 2026-05-03 or 3 May 2026, or 03/05/2026 in the
clinic's date_order (config); each is echoed in words.
Otherwise every answer must come from --answers (TOML or JSON; keys are the
question ids; a "date or none" answer of none is written false).

With a patient id (--patient, or the one asked for at the end at a terminal),
the screening is kept in the clinic register (`needle history`); --no-register
keeps nothing there. --out also writes a screening record file.

Exit status: 0 eligible or caution, 3 defer, 4 contraindicated, 2 bad input.
"""

EPILOG = """\b
Examples:
  needle screen --patient P-0042
  needle screen --answers p42.toml --on 2026-12-01 --json
  needle screen --answers p42.toml --patient P-0042 --clinician "Dr Rao" --out p42-screening.toml
  needle screen --answers p42.toml --on 2026-12-01 --json --no-register
"""


def screen(
    answers_file: Path | None = typer.Option(
        None,
        "--answers",
        "-a",
        help="Answers file (TOML or JSON), keyed by question id. '-' reads stdin.",
        show_default=False,
    ),
    patient: str | None = typer.Option(None, "--patient", "-p", help="Patient id for the record."),
    protocol: str = typer.Option(
        "screening",
        "--protocol",
        help="Screening protocol: a bundled name or a .toml path.",
        autocompletion=complete_screenings,
    ),
    on: str | None = typer.Option(
        None, "--on", help="Evaluation date, YYYY-MM-DD.  [default: today]", show_default=False
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON document."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Save a screening record (TOML, mode 0600) for `needle plan --screening`."
    ),
    clinician: str | None = typer.Option(None, "--clinician", help="Clinician's name for the record."),
    no_register: bool = typer.Option(
        False, "--no-register", help="Keep nothing in the clinic register (a preview, or a practice run)."
    ),
) -> None:
    import datetime as dt

    from needlecli import answers as answers_mod
    from needlecli import catalog, records, screening
    from needlecli.cli.common import check_out, parse_on, require_stdout, stdin_is_terminal
    from needlecli.config import load_config
    from needlecli.identity import check_patient

    cfg = load_config()
    day = parse_on(on, order=cfg.date_order)
    patient = check_patient(patient)
    clinician = clinician or cfg.clinician
    if out is not None:
        from needlecli import outfiles

        check_out(out, stdout_ok=False)  # stdout shows the verdict
        if out.suffix.lower() not in ("", ".toml"):
            raise UsageError(f"--out: a screening record is TOML; {out.name} says {out.suffix}")
        outfiles.guard(out, "record", patient or "", (answers_file,))  # before any question is asked
    if out is None or json_out:
        require_stdout()  # nothing would be shown or kept
    proto = catalog.load_screening(protocol, cfg.protocols_dir)
    raw: dict[str, object] = {}
    source = "answers"
    if answers_file is not None:
        raw = records.read_answers_file(answers_file)
        source = str(answers_file)
    given, missing = answers_mod.read_answers(proto, raw, source, cfg.date_order)
    for qid, value in raw.items():  # "03/10/2026" means 3 Oct or 10 Mar: say which it was read as
        read = given.get(qid)
        if isinstance(value, str) and isinstance(read, dt.date) and value.strip() != read.isoformat():
            print(
                f"needle: {source}: {qid} {value.strip()!r} read as {read:%a} {read.day} {read:%b %Y} "
                f"(date_order {cfg.date_order})",
                file=sys.stderr,
            )

    interactive = bool(missing) and stdin_is_terminal() and str(answers_file) != "-"
    if missing and not interactive:
        why = (
            "stdin is not a terminal" if answers_file is None or str(answers_file) != "-" else "answers came from stdin"
        )
        raise AnswersError(f"{source}: missing answer(s) for {', '.join(missing)} ({why}, so they cannot be asked)")
    if interactive:
        later = screening.future_dates(proto, given, day)
        if later:  # say so before the questions, not after the whole interview
            raise AnswersError(
                f"{source}: {', '.join(later)}: the date is after the evaluation date ({day.isoformat()}); "
                "check the year"
            )
        from needlecli.cli import interactive as ui
        from needlecli.cli.common import sigterm_as_interrupt
        from needlecli.errors import interrupt_code

        try:
            with sigterm_as_interrupt():
                given = ui.run_interview(proto, given, missing, day, to_stderr=json_out, order=cfg.date_order)
        except (KeyboardInterrupt, EOFError) as exc:
            print("\nScreening cancelled; nothing was saved.", file=sys.stderr)
            raise typer.Exit(interrupt_code(exc)) from None

    result = screening.evaluate(proto, given, day)
    record = records.screening_record(
        result=result, protocol=proto, answers=given, patient=patient, clinician=clinician
    )
    if out is not None:
        records.write_screening_record(out, record)
    kept = _keep(cfg, patient, record) if patient and not no_register else None
    if json_out:
        import json

        print(json.dumps(records.result_json(result, proto, patient), indent=2))
    else:
        from needlecli.cli.render import print_result

        print_result(
            result,
            proto,
            patient,
            saved_to=out,
            clinician=clinician,
            today=dt.date.today(),  # the CLI layer is the only reader of the clock
            say_not_saved=False,
            order=cfg.date_order,
        )
    if kept is not None:
        print(f"needle: screening kept in the register under {patient} (entry {kept})", file=sys.stderr)
    elif interactive and not no_register:
        from needlecli.cli import interactive as ui
        from needlecli.cli.render import NOT_SAVED

        asked = ui.ask_patient_id(to_stderr=json_out)
        if asked:
            record = {**record, "patient": asked}
            entry = _keep(cfg, asked, record)
            print(f"needle: screening kept in the register under {asked} (entry {entry})", file=sys.stderr)
        elif out is None and not json_out:
            print(NOT_SAVED)
    raise typer.Exit(VERDICT_EXIT_CODES[result.verdict])


def _keep(cfg: Config, patient: str, record: dict[str, object]) -> int:
    """Keep the screening in the clinic register; its journal entry's number."""
    import tomli_w

    from needlecli.cli.register import for_writing, key_of, now_utc
    from needlecli.register.events import add_screening

    key = key_of(cfg)
    with for_writing(cfg) as register:
        entry = add_screening(
            register, key=key, patient=patient, record=record, record_text=tomli_w.dumps(record), at=now_utc()
        )
    return entry.seq
