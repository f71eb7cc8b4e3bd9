"""The MSCB Business Plan 2017–2020 seed (a Word table exported as text) as a canonical Plan.

The layout: a heading ("MSCB Business Plan 2017 – 2020 VERSION 8 – MAY 2019"), the three RAG
definitions (red, amber, green; the colours themselves were cell shading and are lost), then one
tab-separated table of six columns: Action number, Specific action, Lead, Actions and Timescales
(HTML `<ul><li>` bullets, nested lists for sub-bullets), RAG rating, Impact and evidence. Rows
nest three deep: a priority objective ("Priority objective 1 …", and "Core Objectives" as 7), an
improvement area ("1.1 Identified improvement area …") and a numbered action ("1.1.1").

Why the rules below exist:

- One action spans several rows. The first carries the number; each further row is another
  bullet group with its own Lead cell (blank means the lead above) and its own evidence. Every
  bullet is a milestone with the lead of its row, and every evidence cell is a progress entry
  tied to the first milestone of its row, so a chase can name the person for the step.
- Page breaks cut rows in two, and the export writes the tail as a row of its own: evidence that
  runs on ("… and" / "Board Agenda – March 2018"), a Specific action or Lead cell that runs on
  ("… vulnerable to" / "radicalisation and extremism"), or bullets that are sub-bullets (○) of
  the bullet above. Such tails are joined back, and each join is written as a "page-break:" note
  so a person can check it against the original.
- The Lead cell lists several leads separated by two spaces (a line break in Word), "/" or,
  once, nothing but single spaces. Leads are split on the first two; a run-together cell is split
  only where it is made of lead names the plan uses elsewhere, and a bare role after "/" takes
  the prefix of the role before it only when that gives a lead the plan names elsewhere ("MSCB
  Chair/ Business Manager" -> MSCB Business Manager). Either way a "split-lead:" note is left.
- Evidence rarely says when it was written. An entry is dated by the latest date it mentions up
  to the plan's version date; later dates, or none, are noted rather than guessed.

Header rows repeated at page tops and "--" separator rows are dropped. A row that fits none of
the known shapes raises ValueError naming its line: a new version of the plan should be looked
at, not silently misread.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import cast

from bot.plans.canonical import Action, Governance, Milestone, Plan, Progress, Rag, Section
from bot.plans.partial_date import PartialDate
from bot.plans.timescale import find_dates, parse_timescale, split_timescale

LAYOUT = "mscb"
COLUMNS = 6  # Action number, Specific action, Lead, Actions and Timescales, RAG, evidence
NUMBER, SPEC, LEAD, BULLETS, RAG, EVIDENCE = range(COLUMNS)

# The seed names the governance only in passing ("MASH Strategic Board in place"); these are the
# bodies shared/seeds/README.md gives for the escalation ladder.
GOVERNANCE = Governance(
    operational_group="MASH Operational Group",
    strategic_board="MASH Strategic Board",
    chair="MSCB Independent Chair",
)

NO_AREA_TITLE = "(no title in the source)"
OWNER = "MSCB"  # the board whose plan this is; a lone "MSCB" in a Lead cell prefixes the next
TITLE_LENGTH = 80

# The bold heading over three lines: "**MSCB Business Plan  \n2017 – 2020  \nVERSION 8 – MAY 2019**"
_HEADING = re.compile(
    r"\*\*\s*(?P<name>.+?)\s+(?P<start>\d{4})\s*[–-]\s*(?P<end>\d{4})\s+"
    r"VERSION\s+(?P<version>\w+)\s*[–-]\s*(?P<date>[A-Za-z]+\s+\d{4})\s*\*\*",
    re.S,
)
# The line introducing the RAG definitions; the three lines after it hold red, amber, green.
_RAG_INTRO = re.compile(r"^Progress/indicator RAG status\b")
# "1.1.1", "7.1", and area numbers written "1.3." or just "1."
_NUMBER = re.compile(r"^\d+(?:\.\d+)*\.?$")
# An objective row, once tags are stripped: "Priority objective 2 Ensure …", "… 1: Develop …"
_OBJECTIVE = re.compile(r"^Priority objective\s+(?P<number>\d+)\s*:?\s*(?P<title>.*)$", re.S)
_CORE_OBJECTIVES = "Core Objectives"
# The bold prefix of every improvement-area row; the area's title follows it.
_AREA_HEAD = "Identified improvement area / desired outcome: What do we intend to achieve?"
# Cells of the header rows repeated at each page top ("Specific action and" is a typo in one).
_HEADER_CELLS = frozenset(
    {
        "Action",
        "Action number",
        "Planning",
        "Monitoring",
        "Specific action",
        "Specific action and",
        "Lead",
        "Actions and Timescales",
        "Actions and Timescales for work",
        "RAG rating",
        "Risk RAG rating",
        "Impact and evidence",
    }
)
_SEPARATOR_CELL = re.compile(r"^-*$")  # "--\t--\t---" rows between page blocks
_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")
# The bullet characters the Word export kept inside <li>; ○ is the sub-bullet character.
_MARKER = re.compile(r"^\s*(?P<marker>[•●○])\s*")
_SUB_MARKER = "○"
# Two or more spaces in a Lead cell are a line break in the Word cell: one lead per line.
_LEAD_LINES = re.compile(r"\s{2,}")
# Words that can only start a continued cell: a lowercase word or an opening bracket.
_CONTINUES = re.compile(r"^[a-z(]")
_RAGS = ("red", "amber", "green")
# "… guidance - Complete approved by …": a done marker in the middle of a bullet, after a dash.
_DONE_BEFORE_DATE = re.compile(r"\s[-–—]\s*(?=complete(?:d)?(?![a-z]))", re.I)


# --- reading the cells ----------------------------------------------------------------------


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _plain(cell: str) -> str:
    """A cell's text without its HTML (the objective and area rows are bold)."""
    parser = _CellParser()
    parser.feed(cell)
    parser.close()
    return _clean(" ".join(item.text for item in parser.items))


@dataclass
class _Item:
    """A bullet (<li>) or paragraph (<p>, or bare text) of a cell, in document order."""

    kind: str  # "li" or "p"
    text: str
    depth: int = 0
    marker: str | None = None


class _CellParser(HTMLParser):
    """Splits a cell into bullets and paragraphs; a bullet's own text ends at its nested list."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # unescapes &amp; and friends
        self.items: list[_Item] = []
        self._depth = -1  # <ul> nesting: 0 inside the outer list
        self._open: list[list[str] | None] = []  # text of each open <li>; None once emitted
        self._loose: list[str] = []  # text outside any <li>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "ul":
            self._emit_open_li()
            self._flush_loose()
            self._depth += 1
        elif tag == "li":
            self._flush_loose()
            self._open.append([])
        elif tag == "p":
            self._flush_loose()

    def handle_endtag(self, tag: str) -> None:
        if tag == "li" and self._open:
            self._emit_open_li()
            self._open.pop()
        elif tag == "ul":
            self._depth -= 1
        elif tag == "p":
            self._flush_loose()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] is not None:
            self._open[-1].append(data)
        else:
            self._loose.append(data)

    def close(self) -> None:
        super().close()
        self._flush_loose()

    def _emit_open_li(self) -> None:
        if not self._open or self._open[-1] is None:
            return
        text = _clean("".join(self._open[-1]))
        self._open[-1] = None
        m = _MARKER.match(text)
        marker = m.group("marker") if m else None
        text = text[m.end() :] if m else text
        if text:
            self.items.append(_Item("li", text, max(self._depth, 0), marker))

    def _flush_loose(self) -> None:
        text = _clean("".join(self._loose))
        self._loose = []
        if text:
            self.items.append(_Item("p", text))


def _items(cell: str) -> list[_Item]:
    parser = _CellParser()
    parser.feed(cell)
    parser.close()
    return parser.items


def _quote(text: str, limit: int = 60) -> str:
    text = _clean(text)
    return f"'{text}'" if len(text) <= limit else f"'{text[:limit].rsplit(' ', 1)[0]} …'"


def _month_year(d: PartialDate) -> str:
    if d.month is None:
        return str(d.year)
    month = f"{calendar.month_name[d.month]} {d.year}"
    return month if d.day is None else f"{d.day} {month}"


# --- the table as read, before it becomes a Plan ---------------------------------------------


@dataclass
class _Row:
    """One bullet group of an action: a table row, with what page breaks cut off it put back."""

    lead_cells: list[str]  # raw, double spaces kept: they separate leads
    items: list[_Item]
    evidence: str


@dataclass
class _RawAction:
    ref: str
    text: str
    rows: list[_Row]
    notes: list[str] = field(default_factory=list)
    rag: str | None = None


@dataclass
class _RawSection:
    number: str
    kind: str  # "objective" or "area"
    title: str
    sections: list[_RawSection] = field(default_factory=list)
    actions: list[_RawAction] = field(default_factory=list)


def _cells(line: str) -> list[str]:
    cells = [c.strip() for c in line.split("\t")]
    return (cells + [""] * COLUMNS)[:COLUMNS] if len(cells) <= COLUMNS else cells


def _is_header(cells: list[str]) -> bool:
    filled = [c for c in cells if c]
    return bool(filled) and all(c in _HEADER_CELLS for c in filled)


def _is_separator(cells: list[str]) -> bool:
    return all(_SEPARATOR_CELL.match(c) for c in cells) and any(cells)


def _objective(cells: list[str]) -> tuple[str, str] | None:
    """(number, title) when the row is a priority objective; Core Objectives count as 7."""
    if "<b>" not in cells[NUMBER] or any(cells[SPEC:]):
        return None
    text = _plain(cells[NUMBER])
    if text == _CORE_OBJECTIVES:
        return "", text
    m = _OBJECTIVE.match(text)
    return (m.group("number"), m.group("title")) if m else None


def _area(cells: list[str]) -> tuple[str, str] | None:
    """(number as written, title) when the row opens an improvement area."""
    text = _plain(cells[SPEC])
    if not text.startswith(_AREA_HEAD) or any(cells[LEAD:]):
        return None
    return cells[NUMBER], text[len(_AREA_HEAD) :].strip()


def _lone_text(cells: list[str]) -> str | None:
    """The text of a row holding one plain cell in the first two columns (an area's title)."""
    filled = [c for c in cells if c]
    if len(filled) == 1 and (cells[NUMBER] or cells[SPEC]) and "<" not in filled[0]:
        if not _NUMBER.match(filled[0]):
            return _clean(filled[0])
    return None


class _Reader:
    """Walks the table once, building objectives, areas and actions with their rows."""

    def __init__(self) -> None:
        self.objectives: list[_RawSection] = []
        self.notes: list[str] = []
        self.area: _RawSection | None = None
        self.action: _RawAction | None = None
        self.untitled: _RawSection | None = None  # an area whose title may be on the next line

    def read(self, lines: list[str], first: int) -> None:
        for index in range(first, len(lines)):
            line = lines[index]
            if not line.strip():
                continue
            cells = _cells(line)
            if len(cells) != COLUMNS:
                raise ValueError(f"line {index + 1}: expected {COLUMNS} tab-separated cells")
            if _is_header(cells) or _is_separator(cells):
                continue
            self._row(cells, index + 1)
        self._close_area()

    def _row(self, cells: list[str], line: int) -> None:
        untitled, self.untitled = self.untitled, None
        if untitled is not None and (title := _lone_text(cells)) is not None:
            untitled.title = title
            return
        if (objective := _objective(cells)) is not None:
            self._new_objective(*objective)
        elif (area := _area(cells)) is not None:
            self._new_area(*area, line)
        elif _NUMBER.match(cells[NUMBER]):
            self._new_action(cells, line)
        elif not cells[NUMBER] and self.action is not None:
            self._continue_action(cells, line)
        else:
            raise ValueError(f"line {line}: a row of a shape this converter does not know")

    def _new_objective(self, number: str, title: str) -> None:
        self._close_area()
        number = number or str(len(self.objectives) + 1)
        self.objectives.append(_RawSection(number, "objective", title))
        self.area = self.action = None

    def _new_area(self, written: str, title: str, line: int) -> None:
        self._close_area()
        if not self.objectives:
            raise ValueError(f"line {line}: an improvement area before any objective")
        objective = self.objectives[-1]
        number = written.rstrip(".")
        if "." not in number:
            # "1." under objective 1: the area's own number was lost; count it.
            number = f"{objective.number}.{len(objective.sections) + 1}"
            self.notes.append(f"area '{written}' in the source numbered {number}")
        self.area = _RawSection(number, "area", title)
        objective.sections.append(self.area)
        self.action = None
        if not title:
            self.untitled = self.area

    def _close_area(self) -> None:
        if self.area is not None and not self.area.title:
            self.area.title = NO_AREA_TITLE
            self.notes.append(
                f"area {self.area.number} has no title in the source: titled '{NO_AREA_TITLE}'"
            )

    def _new_action(self, cells: list[str], line: int) -> None:
        if not self.objectives:
            raise ValueError(f"line {line}: an action before any objective")
        ref = cells[NUMBER].rstrip(".")
        parent = self.area
        if parent is None or not ref.startswith(parent.number + "."):
            parent = self.objectives[-1]  # core objective 7 has its actions directly
        row = _Row([cells[LEAD]] if cells[LEAD] else [], _items(cells[BULLETS]), cells[EVIDENCE])
        self.action = _RawAction(ref, _clean(_plain(cells[SPEC])), [row])
        self._rag(cells[RAG])
        parent.actions.append(self.action)

    def _rag(self, cell: str) -> None:
        assert self.action is not None
        if not cell:
            return
        if cell.lower() in _RAGS:
            self.action.rag = cell.lower()
        else:
            self.action.notes.append(f"not-a-rag: the RAG column says '{cell}'")

    def _continue_action(self, cells: list[str], line: int) -> None:
        """A row without a number: more of the action above, a new bullet group or a tail."""
        action = self.action
        assert action is not None
        last = action.rows[-1]
        spec, lead = _plain(cells[SPEC]), cells[LEAD]
        items = _items(cells[BULLETS])
        self._rag(cells[RAG])
        if spec:
            if not _CONTINUES.match(spec):
                raise ValueError(f"line {line}: a Specific action without an action number")
            action.notes.append(
                f"page-break: the Specific action {_quote(action.text)} continues after a page "
                f"break as {_quote(spec)}; joined"
            )
            action.text = f"{action.text} {spec}"
        if lead and _CONTINUES.match(lead) and last.lead_cells:
            self._join_lead(last, lead)
            lead = ""
        tops = [i for i in items if i.kind == "li" and i.depth == 0]
        if tops and all(i.marker == _SUB_MARKER for i in tops):
            self._join_sub_bullets(last, lead, items, cells[EVIDENCE])
        elif items:
            action.rows.append(_Row([lead] if lead else [], items, cells[EVIDENCE]))
        elif lead and not cells[EVIDENCE]:
            last.lead_cells.append(lead)
            action.notes.append(
                f"lead-only row: {_quote(lead)} stands in a row of its own with no bullets; "
                "read as a further lead of the bullets above"
            )
        elif cells[EVIDENCE] and not lead:
            self._join_evidence(last, cells[EVIDENCE])
        elif spec:
            pass  # only the Specific action ran on
        else:
            raise ValueError(f"line {line}: a row of a shape this converter does not know")

    def _join_lead(self, row: _Row, tail: str) -> None:
        assert self.action is not None
        head = row.lead_cells[-1]
        row.lead_cells[-1] = f"{head} {tail}"
        self.action.notes.append(
            f"page-break: the Lead cell {_quote(head)} continues after a page break as "
            f"{_quote(tail)}; read as one cell {_quote(row.lead_cells[-1], 120)}"
        )

    def _join_sub_bullets(self, row: _Row, lead: str, items: list[_Item], evidence: str) -> None:
        """Top-level ○ bullets are sub-bullets of the row above, cut off by a page break."""
        assert self.action is not None
        parent = next((i for i in reversed(row.items) if i.kind == "li"), None)
        if lead and row.lead_cells:
            head = row.lead_cells[-1]
            row.lead_cells[-1] = f"{head} {lead}"
            self.action.notes.append(
                f"page-break: the Lead cell {_quote(head)} continues after a page break as "
                f"{_quote(lead)} above ○ sub-bullets that belong to the bullet "
                f"{_quote(parent.text if parent else '')}; read as one lead "
                f"{_quote(row.lead_cells[-1], 120)} and the ○ bullets as its sub-bullets"
            )
        elif lead:
            row.lead_cells.append(lead)
        for item in items:
            if item.kind == "li":
                item.depth += 1
        row.items.extend(items)
        if evidence:
            self._join_evidence(row, evidence)

    def _join_evidence(self, row: _Row, tail: str) -> None:
        assert self.action is not None
        row.evidence = f"{row.evidence} {tail}".strip()
        self.action.notes.append(
            f"page-break: the evidence continues after a page break with {_quote(tail)}; "
            "joined to the evidence above"
        )


# --- the heading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Heading:
    id: str
    title: str
    version: str
    as_of: PartialDate
    rag_definitions: dict[str, str]
    table_starts: int  # index of the first line of the table


def _heading(lines: list[str]) -> _Heading:
    text = "\n".join(lines)
    m = _HEADING.search(text)
    if m is None:
        raise ValueError(
            "no heading like '**MSCB Business Plan 2017 – 2020 VERSION 8 – MAY 2019**'"
        )
    dates = find_dates(m.group("date").title())
    if not dates:
        raise ValueError(f"cannot read the version date {m.group('date')!r}")
    intro = next((i for i, line in enumerate(lines) if _RAG_INTRO.match(line)), None)
    if intro is None:
        raise ValueError("no RAG definitions ('Progress/indicator RAG status')")
    definitions = [_clean(line) for line in lines[intro + 1 : intro + 1 + len(_RAGS)]]
    if len(definitions) != len(_RAGS) or not all(definitions):
        raise ValueError(f"line {intro + 2}: expected three RAG definitions (red, amber, green)")
    start, end = m.group("start"), m.group("end")
    return _Heading(
        id=f"{LAYOUT}-{start}-{end[2:]}",
        title=f"{_clean(m.group('name'))} {start}–{end}",
        version=m.group("version"),
        as_of=dates[0].date,
        rag_definitions=dict(zip(_RAGS, definitions, strict=True)),
        table_starts=intro + 1 + len(_RAGS),
    )


# --- leads --------------------------------------------------------------------------------------


def _lead_lines(cell: str) -> list[list[str]]:
    """A Lead cell's lines, each split at "/" (kept apart so a bare role can take a prefix)."""
    return [
        [p.strip().rstrip(".").strip() for p in line.split("/") if p.strip()]
        for line in _LEAD_LINES.split(cell.strip())
        if line.strip()
    ]


def _known_leads(actions: list[_RawAction]) -> set[str]:
    """Every lead written on its own line of a Lead cell: the names used to split the rest.

    A role after "/" is left out: "Business Manager" in "MSCB Chair/ Business Manager" is the
    name in question, not evidence for it.
    """
    return {
        line[0]
        for action in actions
        for row in action.rows
        for cell in row.lead_cells
        for line in _lead_lines(cell)
    }


def _known_prefix(words: list[str], at: int, known: list[list[str]]) -> int:
    """How many words at `at` form a known lead name (0 when none does)."""
    return max(
        (len(k) for k in known if words[at : at + len(k)] == k),
        default=0,
    )


def _split_run_together(lead: str, known: set[str]) -> list[str]:
    """ "Policy and Procedures Learning and Development Case File Audit Group" -> three leads.

    Only a lead that starts with a name used elsewhere is split, and only where another such
    name starts; one-word names ("Board") are too loose to split on.
    """
    names = [k.split() for k in known if k != lead and len(k.split()) > 1]
    words = lead.split()
    taken = _known_prefix(words, 0, names)
    if not taken:
        return [lead]
    pieces, start, at = [], 0, taken
    while at < len(words):
        taken = _known_prefix(words, at, names)
        if taken:
            pieces.append(" ".join(words[start:at]))
            start, at = at, at + taken
        else:
            at += 1
    pieces.append(" ".join(words[start:]))
    return pieces


def _names(leads: list[str]) -> str:
    """ "A and B"; quoted when a name holds "and" itself, so the note reads one way only."""
    if any(" and " in name for name in leads):
        leads = [f"'{name}'" for name in leads]
    return " and ".join(leads) if len(leads) < 3 else f"{', '.join(leads[:-1])} and {leads[-1]}"


def _split_lead_cell(cell: str, known: set[str]) -> tuple[list[str], list[str]]:
    """The leads named in one Lead cell, and a note for each split a person should check."""
    leads: list[str] = []
    notes: list[str] = []
    lines = _lead_lines(cell)
    for i, line in enumerate(lines[:-1]):
        # "MSCB  Lay Members": the board's own name alone on a line names whose members follow.
        if line == [OWNER] and len(lines[i + 1]) == 1:
            joined = f"{OWNER} {lines[i + 1][0]}"
            notes.append(f"split-lead: '{OWNER}  {lines[i + 1][0]}' read as one lead, {joined}")
            lines[i : i + 2] = [[], [joined]]
    for line in (x for x in lines if x):
        if len(line) > 1:
            parts = [line[0]]
            prefix = line[0].split()[0]
            for role in line[1:]:
                with_prefix = f"{prefix} {role}"
                parts.append(with_prefix if role not in known and with_prefix in known else role)
            notes.append(f"split-lead: '{'/ '.join(line)}' read as {_names(parts)}")
        else:
            parts = _split_run_together(line[0], known)
            if len(parts) > 1:
                notes.append(f"split-lead: '{line[0]}' read as {_names(parts)}")
        leads.extend(parts)
    return leads, notes


# --- building the canonical plan ---------------------------------------------------------------


def _short_title(text: str) -> str:
    if len(text) <= TITLE_LENGTH:
        return text
    return text[:TITLE_LENGTH].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _is_date_only(text: str) -> bool:
    mentions = find_dates(text)
    return len(mentions) == 1 and _clean(text[: mentions[0].start] + text[mentions[0].end :]) == ""


def _split_bullet(bullet: str) -> tuple[str, str | None, bool]:
    """(text, raw timescale, done) of a bullet.

    One bullet states its state before its date: "Harmful Sexual Behaviour guidance - Complete
    approved by MSCB Executive – May 2018". split_timescale takes only "May 2018"; the
    "- Complete …" clause left in the text says the bullet is done, so it joins the timescale.
    """
    text, raw = split_timescale(bullet)
    mark = _DONE_BEFORE_DATE.search(text)
    if mark is not None and text == bullet[: len(text)]:
        return text[: mark.start()], bullet[mark.end() :].strip(), True
    return text, raw, parse_timescale(raw).complete if raw else False


def _milestone(item: _Item, lead: str | None) -> Milestone:
    text, raw, done = _split_bullet(item.text)
    return Milestone(text=text, timescale=raw, lead=lead, done=done, depth=item.depth)


def _evidence_paragraphs(evidence: str) -> list[str]:
    return [item.text for item in _items(evidence)]


def _date_progress(text: str, as_of: PartialDate) -> tuple[PartialDate | None, PartialDate | None]:
    """(date, later): the latest date mentioned up to as_of, else the latest mentioned after it.

    A month counts from its first day, so "May 2019" is not after a plan dated May 2019. A bare
    year counts only when no month is written: in evidence it names a period ("2017-18 Annual
    Report", "further sessions planned for 2019"), not when the entry was written.
    """
    dates = [m.date for m in find_dates(text)]
    if any(d.precision != "year" for d in dates):
        dates = [d for d in dates if d.precision != "year"]
    if not dates:
        return None, None

    def key(d: PartialDate) -> tuple[object, int]:
        return d.first_day(), ("year", "month", "day").index(d.precision)

    until = as_of.last_day()
    upto = [d for d in dates if d.first_day() <= until]
    if upto:
        return max(upto, key=key), None
    later = max(dates, key=key)
    return later, later


@dataclass
class _Built:
    milestones: list[Milestone] = field(default_factory=list)
    progress: list[Progress] = field(default_factory=list)
    leads: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    undated: int = 0

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _build_rows(raw: _RawAction, known: set[str], as_of: PartialDate) -> _Built:
    built = _Built()
    lead: str | None = None
    for row in raw.rows:
        for cell in row.lead_cells:
            leads, notes = _split_lead_cell(cell, known)
            for note in notes:
                built.note(note)
            for name in leads:
                if name not in built.leads:
                    built.leads.append(name)
        if row.lead_cells:
            lead = _split_lead_cell(row.lead_cells[0], known)[0][0]
        first = len(built.milestones) + 1
        _add_milestones(built, row.items, lead)
        milestone = first if len(built.milestones) >= first else None
        for paragraph in _evidence_paragraphs(row.evidence):
            _add_progress(built, paragraph, milestone, as_of)
    return built


def _add_milestones(built: _Built, items: list[_Item], lead: str | None) -> None:
    for index, item in enumerate(items):
        if _is_date_only(item.text):
            dated = [i.text for i in items[index + 1 :] if i.kind == "li"]
            built.note(
                f"dated-bullets: {_quote(item.text)} stands above the bullets "
                f"{', '.join(_quote(split_timescale(t)[0], 40) for t in dated)}; read as the "
                "date of their status, not as a milestone or a deadline"
            )
        elif item.kind == "li":
            built.milestones.append(_milestone(item, lead))
        else:
            raise ValueError(f"a paragraph among the bullets: {_quote(item.text)}")


def _add_progress(built: _Built, text: str, milestone: int | None, as_of: PartialDate) -> None:
    when, later = _date_progress(text, as_of)
    if when is None:
        built.undated += 1
        when = as_of
    if later is not None:
        built.note(
            f"suspicious-date: evidence mentions {_month_year(later)}, after this version of "
            f"the plan ({_month_year(as_of)})"
        )
    built.progress.append(Progress(date=when, text=text, source="import", milestone=milestone))


def _action(raw: _RawAction, known: set[str], as_of: PartialDate) -> Action:
    built = _build_rows(raw, known, as_of)
    notes = list(raw.notes)
    if not built.leads:
        notes.append("no-lead: the Lead cell is empty in the source")
    if built.undated:
        notes.append(
            f"undated-progress: {built.undated} evidence cell(s) carry no date; dated "
            f"{_month_year(as_of)}, the plan's version date"
        )
    notes.extend(built.notes)
    timescales = [m.timescale for m in built.milestones if m.timescale]
    complete = bool(built.milestones) and all(m.done for m in built.milestones)
    return Action(
        ref=raw.ref,
        title=_short_title(raw.text),
        text=raw.text,
        leads=built.leads,
        timescale="; ".join(timescales) or None,
        milestones=built.milestones,
        status="complete" if complete else None,
        rag=cast(Rag | None, raw.rag),  # only ever red/amber/green: see _rag
        progress=built.progress,
        notes=notes,
    )


def _section(raw: _RawSection, known: set[str], as_of: PartialDate) -> Section:
    return Section(
        number=raw.number,
        kind=raw.kind,  # type: ignore[arg-type]
        title=raw.title,
        sections=[_section(s, known, as_of) for s in raw.sections],
        actions=[_action(a, known, as_of) for a in raw.actions],
    )


def _all_actions(sections: list[_RawSection]) -> list[_RawAction]:
    return [a for s in sections for a in [*s.actions, *_all_actions(s.sections)]]


def convert(text: str, source: str) -> Plan:
    """The MSCB Business Plan seed as a canonical Plan (`source` is recorded as given)."""
    lines = text.splitlines()
    heading = _heading(lines)
    reader = _Reader()
    reader.read(lines, heading.table_starts)
    known = _known_leads(_all_actions(reader.objectives))
    return Plan(
        id=heading.id,
        title=heading.title,
        version=heading.version,
        as_of=heading.as_of,
        source=source,
        layout=LAYOUT,
        rag_definitions=cast(dict[Rag, str], heading.rag_definitions),
        governance=GOVERNANCE,
        sections=[_section(s, known, heading.as_of) for s in reader.objectives],
        notes=reader.notes,
    )
