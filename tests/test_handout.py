"""The printable patient handout (`--format html`): golden file, escaping, privacy, self-containment,
the calendar picture, and a real browser printing it (when chromium is installed).

Regenerate the golden file after an intended change with:

    NEEDLE_REGEN_GOLDEN=1 .venv/bin/pytest tests -k golden
"""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import tomli_w

from tests.harness import check_golden, output
from tests.plan_helpers import ALL_NO_FALSE, ON, saved_plan

pytestmark = pytest.mark.usefixtures("clinic_config")

#: A 3-session plan with no booster: the handout a browser must print on at most two pages.
THREE = ("plan", "-i", "fine-lines", "--on", ON, "--start", "2026-12-07", "--time", "10:30", "--tz", "Europe/London")


def text_of(page: str) -> str:
    """What a reader sees: the page without its style sheet and tags, entities decoded."""
    body = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split()).replace(" .", ".")


def test_golden_aftercare_plan_html(tmp_path: Path) -> None:
    check_golden("aftercare-plan.html", output("aftercare", "--plan", str(saved_plan(tmp_path)), "--format", "html"))


def test_every_command_writes_html_and_out_takes_it_from_the_extension(tmp_path: Path) -> None:
    out = tmp_path / "handout.html"
    output(*THREE, "--out", str(out))
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    one = output("aftercare", "--session-date", "2026-12-01", "-i", "texture", "--format", "html").decode()
    assert "Your aftercare" in one and "December 2026" in one and "Tue 1 Dec 2026" in one
    csv = tmp_path / "list.csv"
    csv.write_text("patient_id,indication,start,name\nQ-1,fine-lines,2026-12-07,Ann\n")
    output("batch", str(csv), "--out-dir", str(tmp_path / "out"), "--format", "html", "--on", ON)
    page = (tmp_path / "out" / "Q-1.html").read_text(encoding="utf-8")
    assert "Q-1" not in page and "Ann" not in page and "Mon 7 Dec 2026" in page


def test_every_value_is_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "evil.toml"
    cfg.write_text(
        '[clinic]\nname = "A&B <b>Skin</b> \\"Clinic\\""\nphone = "<img src=x onerror=alert(1)>"\n'
        'address = "1 <i>Road</i> & Co"\n'
    )
    monkeypatch.setenv("NEEDLE_CONFIG", str(cfg))
    page = output(*THREE, "--format", "html", "--include-name", "--name", "<script>alert(1)</script>").decode()
    assert "<script" not in page.lower() and "<img" not in page and "<b>Skin" not in page and "<i>Road" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "A&amp;B &lt;b&gt;Skin&lt;/b&gt; &#34;Clinic&#34;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "1 &lt;i&gt;Road&lt;/i&gt; &amp; Co" in page
    # Every & in the page starts an entity: nothing unescaped slipped through.
    assert not re.search(r"&(?!(?:amp|lt|gt|#34|#39|quot);)", page)


def test_self_contained_with_nothing_fetched_and_no_script(tmp_path: Path) -> None:
    pages = [
        output(*THREE, "--format", "html").decode(),
        output("aftercare", "--plan", str(saved_plan(tmp_path)), "--format", "html").decode(),
    ]
    for page in pages:
        lower = page.lower()
        assert "<script" not in lower and "javascript:" not in lower and " on" + "load=" not in lower
        assert "http://" not in lower and "https://" not in lower and "//" not in re.sub(r"<!doctype[^>]*>", "", lower)
        assert not re.search(r"\b(?:src|href)\s*=", lower)
        assert "@import" not in lower and "url(" not in lower and "<link" not in lower
        assert "@page" in page and "break-inside: avoid" in page


def _record(tmp_path: Path) -> Path:
    """A screening record (written by `needle screen --out`) with findings a patient document must not show."""
    answers = tmp_path / "answers.toml"
    answers.write_text(
        tomli_w.dumps(
            {
                **ALL_NO_FALSE,
                "herpes_history": True,
                "anticoagulants": True,
                "isotretinoin_last_dose": dt.date(2026, 3, 15),
                "fitzpatrick": 5,
            }
        )
    )
    rec = tmp_path / "rec.toml"
    out = output("screen", "-a", str(answers), "--on", ON, "--patient", "PX-7731", "--out", str(rec))
    assert rec.exists(), out
    return rec


@pytest.mark.parametrize("indication", ["fine-lines", "acne-scars", "texture"])
def test_no_indication_finding_medication_depth_or_patient_id(tmp_path: Path, indication: str) -> None:
    rec = _record(tmp_path)
    common = ("-i", indication, "--screening", str(rec), "--patient", "PX-7731", "--on", ON, "--start", "2026-12-07")
    saved = tmp_path / "plan.toml"
    output("plan", *common, "--format", "toml", "--out", str(saved))
    pages = {
        "plan": output("plan", *common, "--format", "html").decode(),
        "aftercare": output("aftercare", "--plan", str(saved), "--format", "html", "--on", ON).decode(),
    }
    findings = ("herpes_history", "anticoagulants", "isotretinoin_last_dose", "fitzpatrick")
    banned = ("fine-lines", "fine lines", "acne", "scar", "texture", "isotretinoin", "antiviral", "anticoag", "herpes")
    for which, page in pages.items():
        lower = page.lower()
        for word in (*banned, *findings, "px-7731", "wrinkle lines", "pih", "hyperpigment", "prophylaxis"):
            assert word not in lower, f"{which}: {word!r} in a patient document"
        assert not re.search(r"\bmm\b|\d\s*mm", lower), f"{which}: a depth in a patient document"
        # The prescribed-medicine window is there, unnamed, in the calendar and the checklist.
        assert "Prescribed medicine days" in page and "Take the medicine your prescriber gave you" in page
        assert re.search(
            r'class="k-session[^"]*k-medicine"[^>]*><span class="n">7</span><span class="m">●\+</span>', page
        )


@pytest.mark.parametrize("fmt", ["md", "html", "ics"])
def test_batch_patient_documents_carry_no_indication_finding_medication_depth_or_id(tmp_path: Path, fmt: str) -> None:
    """batch's per-patient md, html and ics are patient documents, screened with findings present."""
    from tests.harness import run
    from tests.plan_helpers import DATE_QUESTIONS, SPEC_QUESTION_IDS

    answers = {q: "no" for q in SPEC_QUESTION_IDS} | dict.fromkeys(DATE_QUESTIONS, "") | {"age": "35"}
    answers |= {"herpes_history": "yes", "anticoagulants": "yes", "isotretinoin_last_dose": "2026-03-15"}
    answers["fitzpatrick"] = "5"
    src = tmp_path / "list.csv"
    rows = [",".join(["patient_id", "indication", "start", "time", "tz", *SPEC_QUESTION_IDS])]
    for pid, indication in (("PX-7731", "acne-scars"), ("PX-7732", "fine-lines"), ("PX-7733", "texture")):
        rows.append(",".join([pid, indication, "2026-12-07", "10:30", "Europe/London",
                              *(answers[q] for q in SPEC_QUESTION_IDS)]))  # fmt: skip
    src.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    code, _, err = run("batch", str(src), "--out-dir", str(out), "--format", fmt, "--on", ON, "--quiet")
    assert code == 0, err
    files = sorted(out.glob(f"*.{fmt}"))
    assert len(files) == 3
    findings = ("herpes_history", "anticoagulants", "isotretinoin_last_dose", "fitzpatrick")
    banned = ("fine-lines", "fine lines", "acne", "scar", "texture", "isotretinoin", "antiviral", "anticoag", "herpes")
    for path in files:
        lower = path.read_text().lower()
        for word in (*banned, *findings, "px-773", "pih", "hyperpigment", "prophylaxis", "retinol", "aciclovir"):
            assert word not in lower, f"{path.name}: {word!r} in a patient document"
        assert not re.search(r"\bmm\b|\d\s*mm", lower), f"{path.name}: a depth in a patient document"
        unfolded = re.sub(r"\r\n[ \t]", "", path.read_bytes().decode())
        # The clinic's name and phone (config) are there, for the patient to call.
        assert "Harbour Skin Clinic" in unfolded and "+44 20 7946 0000" in unfolded, path.name


def test_the_calendar_marks_every_kind_of_day_with_a_symbol_and_a_legend(tmp_path: Path) -> None:
    page = output(*THREE, "--format", "html").decode()
    months = re.findall(r"<caption>([^<]+)</caption>", page)
    assert months == ["November 2026", "December 2026", "January 2027", "February 2027"]
    sessions = re.findall(r'<td class="k-session[^"]*"[^>]*><span class="n">(\d+)</span><span class="m">●', page)
    assert sessions == ["7", "4", "1"]  # Mon 7 Dec, Mon 4 Jan, Mon 1 Feb
    # Pause days (the 14 before each session) carry P, aftercare days A, besides their patterns.
    assert re.search(r'<td class="k-pause"[^>]*><span class="n">23</span><span class="m">P</span>', page)
    assert re.search(r'<td class="k-aftercare"[^>]*><span class="n">8</span><span class="m">A</span>', page)
    legend = text_of(page.split('<ul class="legend">')[1].split("</ul>")[0])
    marks = re.findall(r"●|\bA\b|\bP\b|Session day|Aftercare days|Pause days", legend)
    assert marks == ["●", "Session day", "A", "Aftercare days", "P", "Pause days"]
    assert "medicine" not in legend  # no medicine window without the finding that adds it
    # The CSS tells the kinds apart by pattern too, not only by colour.
    assert "repeating-linear-gradient" in page and "radial-gradient" in page


def test_the_handout_says_before_after_appointments_and_when_to_call() -> None:
    seen = text_of(output(*THREE, "--format", "html").decode())
    for part in (
        "Harbour Skin Clinic",
        "+44 20 7946 0000",
        "Before session 1 (Mon 7 Dec 2026)",
        "Mon 23 Nov – Sun 6 Dec",  # the sun pause before session 1
        "☐",
        "Avoid:",
        "Redness, warmth, tightness and pinpoint spots are normal today.",
        "Call us if you notice",
        "cold sores or blisters",
        "Call Harbour Skin Clinic on +44 20 7946 0000",
        "Mon 4 Jan 2027",
        "10:30–11:30 GMT",
    ):
        assert part in seen, part
    assert "For:" not in seen  # no name unless asked for
    assert "For: Ann Example" in text_of(
        output(*THREE, "--format", "html", "--include-name", "--name", "Ann Example").decode()
    )


# ----------------------------------------------------------------- a real browser prints it


def _browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows) of an 8-bit RGB or RGBA PNG, unfiltered."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, bpp = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The 3-session handout, printed to PDF on Letter (the browser's default) and on A4, and a screenshot."""
    browser = _browser()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium poppler-utils)")
    folder = tmp_path_factory.mktemp("printed")
    cfg = folder / "config.toml"
    cfg.write_text('[clinic]\nname = "Harbour Skin Clinic"\nphone = "+44 20 7946 0000"\naddress = "12 Quay Street"\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEEDLE_CONFIG", str(cfg))
        page = output(*THREE, "--format", "html").decode()
    letter, a4 = folder / "letter.html", folder / "a4.html"
    letter.write_text(page, encoding="utf-8")
    a4.write_text(page.replace("size: auto", "size: A4"), encoding="utf-8")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", "--hide-scrollbars"]
    jobs = {
        "letter.pdf": [f"--print-to-pdf={folder / 'letter.pdf'}", letter.as_uri()],
        "a4.pdf": [f"--print-to-pdf={folder / 'a4.pdf'}", a4.as_uri()],
        "shot.png": [f"--screenshot={folder / 'shot.png'}", "--window-size=1240,1754", letter.as_uri()],
    }
    for name, args in jobs.items():
        subprocess.run([*flags, *args], capture_output=True, timeout=120, cwd=folder)
        assert (folder / name).exists(), f"chromium wrote no {name}"
    return {name: folder / name for name in jobs}


def _pdf(tool: str, path: Path) -> str:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (apt-get install poppler-utils)")
    args = [tool, str(path)] + (["-"] if tool == "pdftotext" else [])
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.mark.parametrize("paper", ["letter", "a4"])
def test_a_three_session_handout_prints_on_two_pages(printed: dict[str, Path], paper: str) -> None:
    info = _pdf("pdfinfo", printed[f"{paper}.pdf"])
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
    assert 1 <= pages <= 2, info
    size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+)", info, re.M)
    assert size is not None
    assert (round(float(size.group(1))), round(float(size.group(2)))) == (
        (612, 792) if paper == "letter" else (595, 842)
    )
    text = _pdf("pdftotext", printed[f"{paper}.pdf"])
    for part in ("Harbour Skin Clinic", "+44 20 7946 0000", "Mon 7 Dec 2026", "Call us if you notice", "December 2026"):
        assert part in text, part


def test_the_screenshot_is_a_page_not_a_blank(printed: dict[str, Path]) -> None:
    width, height, bpp, rows = _png_pixels(printed["shot.png"].read_bytes())
    assert (width, height) == (1240, 1754)
    colours = {row[i : i + 3] for row in rows[::7] for i in range(0, len(row), bpp * 5)}
    assert len(colours) > 20, f"only {len(colours)} colours: a blank page"
    top = rows[: height // 3]  # the header and the calendar: ink (dark) and the session colour
    dark = sum(1 for row in top for i in range(0, len(row), bpp) if max(row[i : i + 3]) < 90)
    teal = sum(1 for row in top for i in range(0, len(row), bpp) if row[i : i + 3] == bytes((0x0F, 0x5E, 0x63)))
    assert dark > 2000 and teal > 200, (dark, teal)


def test_jinja2_is_imported_only_when_html_is_written() -> None:
    code = (
        "import sys; from needlecli.cli import app; from needlecli import export; "
        "export.help_text('aftercare'); print('jinja2' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"


def test_no_calendar_cell_reads_as_a_time_of_day(tmp_path: Path) -> None:
    """Pause + medicine and aftercare + medicine days: never "PM" or "AM" beside "10:30–11:30", in the
    page and in what Chromium prints."""
    rec = _record(tmp_path)
    args = ("-i", "fine-lines", "--screening", str(rec), "--patient", "PX-7731", "--on", ON, "--start", "2026-12-07")
    page = output("plan", *args, "--time", "10:30", "--tz", "Europe/London", "--format", "html").decode()
    marks = re.findall(r'<span class="m">([^<]*)</span>', page)
    assert "P+" in marks and "A+" in marks, sorted(set(marks))
    assert not any(re.fullmatch(r"[AP]\.?M\.?", m) for m in marks)
    legend = text_of(page.split('<ul class="legend">')[1].split("</ul>")[0])
    assert "+ Prescribed medicine days" in legend
    boxes = page.split('<div class="boxes">')[1].split("</section>")[0]  # the pause boxes wear the same marks
    assert re.findall(r'<span class="m">([^<]*)</span>', boxes) == ["P", "P", "+"], boxes
    browser = _browser()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium poppler-utils)")
    html, pdf = tmp_path / "h.html", tmp_path / "h.pdf"
    html.write_text(page, encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", f"--print-to-pdf={pdf}"]
    subprocess.run([browser, *flags, html.as_uri()], capture_output=True, timeout=120, cwd=tmp_path)
    text = _pdf("pdftotext", pdf)
    assert "10:30" in text and not re.search(r"\b[AP]M\b", text)


@pytest.mark.parametrize(
    ("indication", "boosters", "months", "size"),
    [("texture", 1, 6, "compact"), ("acne-scars", 2, 8, "compact"), ("fine-lines", 3, 10, "compact long")],
)
def test_a_booster_handout_prints_on_two_pages(
    tmp_path: Path, indication: str, boosters: int, months: int, size: str
) -> None:
    """Boosters months after the series make the calendar twice as long: printed a size smaller with
    more months a row, the handout still fits two sheets of A4 and of Letter, the warning signs on the
    second (it left a third page a third full)."""
    args = ("plan", "-i", indication, "--on", ON, "--start", "2027-01-04", "--boosters", str(boosters))
    page = output(*args, "--format", "html").decode()
    assert page.count('<table class="month">') == months and f'<html lang="en" class="{size}">' in page
    gaps = ["April – July 2027", "October 2027 – January 2028", "April – July 2028"][:boosters]
    assert f"Not shown, nothing planned: {'; '.join(gaps)}." in page  # March, then August: a jump, said
    browser = _browser()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium poppler-utils)")
    for paper in ("letter", "a4"):
        html_file, pdf = tmp_path / f"{paper}.html", tmp_path / f"{paper}.pdf"
        html_file.write_text(page if paper == "letter" else page.replace("size: auto", "size: A4"), encoding="utf-8")
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", f"--print-to-pdf={pdf}"]
        subprocess.run([browser, *flags, html_file.as_uri()], capture_output=True, timeout=120, cwd=tmp_path)
        pages = int(re.search(r"^Pages:\s+(\d+)", _pdf("pdfinfo", pdf), re.M).group(1))  # type: ignore[union-attr]
        text = _pdf("pdftotext", pdf)
        assert pages == 2, (paper, pages)
        assert f"Booster {boosters}" in text and "Call us if you notice" in text.split("\f")[1], paper


def test_a_short_handout_prints_at_its_own_size() -> None:
    page = output(*THREE, "--format", "html").decode()
    assert "Not shown" not in page  # its months follow one another
    assert '<html lang="en">' in page and "html.compact { font-size: 10.5pt; }" in page
    assert "html.compact table.month { font-size: 8.6pt; }" in page  # a compact calendar's type: 0.72 x 12pt


def test_an_open_ended_day_group_says_from_once() -> None:
    page = output("aftercare", "-i", "acne-scars", "--session-date", "2027-01-04", "--on", ON, "--format", "html")
    assert '<h3>From day 7 <span class="when">Mon 11 Jan</span></h3>' in page.decode()
    assert "from Mon 11 Jan" not in page.decode()


def test_one_sessions_aftercare_never_leaves_its_heading_alone_at_a_page_foot(tmp_path: Path) -> None:
    """One session's day groups (no date table to hold the heading) keep their heading with them."""
    page = output("aftercare", "-i", "acne-scars", "--session-date", "2027-01-04", "--on", ON, "--format", "html")
    assert '<section class="after block">' in page.decode()
    browser = _browser()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium poppler-utils)")
    html_file, pdf = tmp_path / "a.html", tmp_path / "a.pdf"
    html_file.write_bytes(page)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", f"--print-to-pdf={pdf}"]
    subprocess.run([browser, *flags, html_file.as_uri()], capture_output=True, timeout=120, cwd=tmp_path)
    pages = _pdf("pdftotext", pdf).split("\f")
    with_heading = next(p for p in pages if "After your session: day by day" in p)
    assert "Day 0: the session day" in with_heading, with_heading[-300:]


def test_one_sessions_handout_dates_the_pause_its_calendar_marks() -> None:
    """One session's calendar marks the pause days before it: its table dates them too (it said only
    "Before your next session: the 14 days before it")."""
    page = output("aftercare", "-i", "acne-scars", "--session-date", "2027-01-04", "--on", ON, "--format", "html")
    table = text_of(page.decode().split('<table class="dates pauses block">')[1].split("</table>")[0])
    assert "Before your session (Mon 4 Jan 2027) Mon 21 Dec – Sun 3 Jan Wed 30 Dec – Sun 3 Jan" in table, table
    assert "Before your next session the 14 days before it the 5 days before it" in table, table
