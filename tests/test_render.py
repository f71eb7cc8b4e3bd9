"""Every template renders, full and empty, and says what a lead or a board needs to read.

The sample values are built here from the JTAI plan and the MSCB business plan, so a template
can be read against realistic content; the builders are reused by tests/test_email.py.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from bot.notify.content import (
    ChairSummary,
    Confirmation,
    CountRow,
    Digest,
    DigestLine,
    Question,
    QuestionLine,
    Recipient,
    RecordedLine,
    Reminder,
    ReminderLine,
    SignIn,
)
from bot.notify.render import (
    KINDS,
    TEMPLATES,
    Content,
    Rendered,
    days,
    excerpt,
    human,
    mailto,
    render,
)
from bot.plans.partial_date import PartialDate

SENT = datetime(2019, 6, 12, 8, 30, tzinfo=UTC)
JTAI = "JTAI Response Action Plan"
MSCB = "MSCB Business Plan 2017-20"
XSS = '<script>alert(1)</script> & "quotes"'
HEADLINE = (
    "Action 2.3.3 — Monitor the effectiveness of MASH — due 31 May 2019, 12 days overdue"
    " — last update 14 Oct 2018"
)


# --- sample content ---------------------------------------------------------------------------


def reminder_line(**changes: object) -> ReminderLine:
    line = ReminderLine(
        plan_title=MSCB,
        ref="2.3.3",
        title="Monitor the effectiveness of MASH",
        reason="overdue",
        milestone="MASH data including MASH contacts meeting threshold; decisions within 1 working"
        " day; decisions within 4 hours to be added to dataset by Performance team",
        due=date(2019, 5, 31),
        days_overdue=12,
        last_update=PartialDate(2018, 10, 14),
        last_update_text="Workflow has been developed and includes requirement on partners to"
        " provide analysis on information shared. Training delivered to in situ partners."
        " Training now to be rolled out across virtual partners",
        level="lead",
        reply_address="updates+aaction233@example.org",
        action_id=233,
        update_url="https://actionbot.example.org/update/uaction233",
    )
    return replace(line, **changes)  # type: ignore[arg-type]


def sample_reminder(
    name: str = "Kelly Cogger", email: str = "kelly.cogger@example.org"
) -> Reminder:
    return Reminder(
        key=f"reminder-2019-06-12-{email}",
        recipient=Recipient(name, email),
        lines=(
            reminder_line(),
            reminder_line(
                plan_title=JTAI,
                ref="PA.3",
                title="Develop a MASH workflow to improve links to virtual partners and improve…",
                reason="quiet",
                milestone="Develop a MASH workflow to improve links to virtual partners",
                due=date(2018, 9, 30),
                days_overdue=255,
                last_update=PartialDate(2018, 11),
                last_update_text="Direct live reporting into Framework-I for MASH partners now"
                " operational.",
                reply_address="updates+aactionpa3@example.org",
                action_id=3,
                update_url=None,
            ),
        ),
        reply_address="updates+mmessage1@example.org",
        sent_at=SENT,
        reminder_number=2,
    )


def digest_line(ref: str, organisation: str, **changes: object) -> DigestLine:
    line = DigestLine(
        plan_title=JTAI,
        ref=ref,
        title="Review capacity of MASH and ensure consistent multi-agency representation",
        leads=(("Kelly Cogger", "Medway Council"),),
        organisation=organisation,
        due=date(2018, 8, 31),
        days_overdue=285,
        last_update=PartialDate(2018, 11),
        reminders_unanswered=3,
        level="operational_group",
        level_since=datetime(2019, 5, 20, 9, 0, tzinfo=UTC),
        rag="green",
        rag_set_by="Kelly Cogger",
        suggested_rag="red",
        flags=("Green but overdue",),
        change="new",
    )
    return replace(line, **changes)  # type: ignore[arg-type]


def sample_digest(kind: str = "operational-digest", empty: bool = False) -> Digest:
    group = "MASH Operational Group" if kind == "operational-digest" else "MASH Strategic Board"
    lines = (
        digest_line("PA.1", "Medway Council"),
        digest_line(
            "PA.2",
            "Kent Police",
            title="Kent Police CRU Detective Sergeant will be based in First Response from 29th…",
            leads=(("Tracey Anstis", "Kent Police"),),
            due=None,
            days_overdue=None,
            rag=None,
            rag_set_by=None,
            suggested_rag="amber",
            flags=(),
            change="moved up",
            reminders_unanswered=4,
        ),
        digest_line(
            "1",
            "Medway Council",
            title="Improve Framework-I reporting and increase audits",
            leads=(("Christine Impey", "Medway Council"), ("Tracey Anstis", "Kent Police")),
            rag="amber",
            rag_set_by="Christine Impey",
            suggested_rag="amber",
            flags=(),
            change="updated",
        ),
    )
    return Digest(
        key=f"{kind}-2019-06-12",
        kind=kind,  # type: ignore[arg-type]
        group=group,
        recipients=(Recipient(group, "mash.operational@example.org"),),
        lines=() if empty else lines,
        left_the_list=() if empty else ("JTAI 3 — updated 12 Jan 2019",),
        proposed_dates=()
        if empty
        else ("Action 2.3.3 — Christine Impey proposes July 2019 instead of May 2019",),
        sent_at=SENT,
        previous_at=datetime(2019, 6, 5, 8, 30, tzinfo=UTC),
    )


def sample_chair_summary(empty: bool = False) -> ChairSummary:
    longest = tuple(
        digest_line(f"L{i}", "Medway Council", days_overdue=400 - i, level="strategic_board")
        for i in range(12)
    )
    return ChairSummary(
        key="chair-summary-2019-06-10",
        recipients=(Recipient("MSCB Independent Chair", "mscb.chair@example.org"),),
        by_rag=CountRow("all", red=3, amber=5, green=12, unrated=4, overdue=9)
        if not empty
        else CountRow("all"),
        by_organisation=()
        if empty
        else (
            CountRow("Medway Council", red=2, amber=1, green=4, overdue=3),
            CountRow("Kent Police", red=1, green=2, unrated=1, overdue=1),
        ),
        newly_overdue=() if empty else (digest_line("PA.3", "Medway Council", days_overdue=3),),
        longest_overdue=() if empty else longest,
        at_chair=()
        if empty
        else (digest_line("8", "NPS", leads=(("Tina Hughes", "NPS"),), level="chair"),),
        movement=() if empty else ("3 actions completed", "2 moved up to the strategic board"),
        sent_at=SENT,
        week_start=date(2019, 6, 10),
        unrated_suggested=None if empty else CountRow("unrated", red=3, amber=1, overdue=3),
    )


def sample_confirmation(empty: bool = False) -> Confirmation:
    lines = (
        RecordedLine(
            plan_title="JTAI Response Action Plan",
            ref="5",
            title="Implement DA Risk Assessment task and finish group",
            dated=date(2018, 11, 12),
            text="The task and finish group met on 8 November.\nThe tool is agreed.",
            rag="amber",
            completed=False,
            proposed=PartialDate.parse("2019-03"),
            reply_address="updates+abc234@example.org",
        ),
        RecordedLine(
            plan_title="JTAI Response Action Plan",
            ref="13",
            title="Ensure all records are up to date",
            dated=date(2018, 11, 12),
            text="All records are now on the system.",
            rag=None,
            completed=True,
            proposed=None,
            reply_address=None,
        ),
    )
    return Confirmation(
        key="confirmation/1",
        recipient=Recipient("Tracey Anstis", "tracey.anstis@example.org"),
        lines=() if empty else lines,
        in_reply_to_subject="2 actions need a progress update",
        sent_at=SENT,
    )


def sample_question(empty: bool = False) -> Question:
    lines = (
        QuestionLine("JTAI Response Action Plan", "5", "Implement DA Risk Assessment", "u+a@x.org"),
        QuestionLine("MSCB Business Plan 2017-20", "4.2.1", "Share police DA incidents", None),
    )
    return Question(
        key="question/1",
        recipient=Recipient("Tracey Anstis", "tracey.anstis@example.org"),
        lines=() if empty else lines,
        in_reply_to_subject="Re: 2 actions need a progress update",
        sent_at=SENT,
    )


def sample_sign_in(name: str = "Kelly Cogger") -> SignIn:
    return SignIn(
        key="sign-in/kelly.cogger@example.org/1",
        recipient=Recipient(name, "kelly.cogger@example.org"),
        url="https://actionbot.example.org/sign-in/abc234",
        minutes=30,
        sent_at=SENT,
    )


def sample(kind: str, empty: bool = False) -> Content:
    if kind == "sign-in":
        return sample_sign_in()
    if kind == "confirmation":
        return sample_confirmation(empty)
    if kind == "question":
        return sample_question(empty)
    if kind == "reminder":
        r = sample_reminder()
        return replace(r, lines=()) if empty else r
    if kind == "chair-summary":
        return sample_chair_summary(empty)
    return sample_digest(kind, empty)


# --- helpers ----------------------------------------------------------------------------------

VOID = {"meta", "br", "img", "hr", "input", "link"}


class TagBalance(HTMLParser):
    """Counts open and close tags, so a template that drops a </td> fails a test."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def assert_well_formed(html: str) -> None:
    parser = TagBalance()
    parser.feed(html)
    parser.close()
    assert not parser.errors, parser.errors[:5]
    assert not parser.stack, f"left open: {parser.stack}"


def visible_text(html: str) -> str:
    """The HTML part as a reader sees it: tags gone, entities decoded, spaces collapsed."""
    import html as html_lib

    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


# --- every kind, full and empty ---------------------------------------------------------------


@pytest.mark.parametrize("empty", [False, True], ids=["full", "empty"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_three_well_formed_parts(kind: str, empty: bool):
    rendered = render(kind, sample(kind, empty))
    assert isinstance(rendered, Rendered)
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.subject == rendered.subject.strip()
    assert rendered.text.endswith("\n") and not rendered.text.endswith("\n\n")
    assert "\n-- \nThis is an automatic message from actionbot" in rendered.text
    assert "None" not in re.sub(r"None of your actions", "", rendered.text)
    assert "&lt;" not in rendered.text and "&amp;" not in rendered.text
    assert rendered.html.startswith("<!DOCTYPE html>")
    assert_well_formed(rendered.html)


def test_every_kind_has_its_three_templates():
    for kind in KINDS:
        for part in ("subject.j2", "txt.j2", "html.j2"):
            assert (TEMPLATES / f"{kind}.{part}").is_file(), f"{kind}.{part}"


# --- sign-in ---------------------------------------------------------------------------------


def test_sign_in_gives_the_link_and_says_it_works_once():
    rendered = render("sign-in", sample_sign_in())
    assert rendered.subject == "Your actionbot sign-in link"
    assert "\nhttps://actionbot.example.org/sign-in/abc234\n" in rendered.text
    assert "It works once, within 30 minutes." in rendered.text
    assert 'href="https://actionbot.example.org/sign-in/abc234"' in rendered.html
    assert "It works once, within 30 minutes." in visible_text(rendered.html)


# --- confirmation and question -----------------------------------------------------------------


def test_confirmation_quotes_what_was_recorded_and_how_to_correct_it():
    rendered = render("confirmation", sample_confirmation())
    assert rendered.subject == "Re: 2 actions need a progress update"
    text = rendered.text
    assert "Your reply is recorded as 2 progress entries:" in text
    assert "Action 5 — Implement DA Risk Assessment task and finish group\n" in text
    assert "Dated: 12 Nov 2018\nRAG: amber\n" in text
    assert "New date proposed: Mar 2019. The MASH Operational Group will be asked" in text
    assert "  | The task and finish group met on 8 November.\n  | The tool is agreed.\n" in text
    assert "To correct it, write to updates+abc234@example.org" in text
    assert "Action 13 — Ensure all records are up to date\n" in text and "Marked complete." in text
    seen = visible_text(rendered.html)
    assert "New date proposed: Mar 2019." in seen and "Marked complete." in seen


def test_question_lists_the_actions_and_records_nothing():
    rendered = render("question", sample_question())
    assert rendered.subject == (
        "Re: 2 actions need a progress update — which action is your update for?"
    )
    assert "so nothing has been recorded yet" in rendered.text
    assert "- Action 5 — Implement DA Risk Assessment (JTAI Response Action Plan): u+a@x.org" in (
        rendered.text
    )
    assert "- Action 4.2.1 — Share police DA incidents (MSCB Business Plan 2017-20)\n" in (
        rendered.text
    )


# --- reminder ---------------------------------------------------------------------------------


def test_reminder_text_says_what_is_due_why_and_how_to_reply():
    text = render("reminder", sample_reminder()).text
    assert text.startswith("Dear Kelly Cogger,\n")
    assert HEADLINE in text
    assert "Why now: overdue by 12 days" in text
    assert "Milestone: MASH data including MASH contacts meeting threshold" in text
    assert "Plan: MSCB Business Plan 2017-20" in text
    assert 'Last progress entry (14 Oct 2018): "Workflow has been developed' in text
    assert "Training…" in text  # the progress entry is cut short, at a word
    assert "Action PA.3 — Develop a MASH workflow" in text
    assert "due 30 Sep 2018, 255 days overdue — last update Nov 2018" in text
    assert "Why now: no update since Nov 2018" in text
    assert "This is reminder 2 about at least one of these actions." in text
    # How to reply, in the plans' words, and where to write about one action only.
    assert "HOW TO REPLY\nReply to this e-mail." in text
    assert "Start a paragraph with the action's ref to say which action it is" in text
    assert '"RAG: amber", "complete", or "new date: March 2019"' in text
    assert "write to updates+aaction233@example.org" in text
    assert "write to updates+aactionpa3@example.org" in text
    # the web link where there is one, and only there
    assert text.count("Or update it on the web: ") == 1
    assert "Or update it on the web: https://actionbot.example.org/update/uaction233\n" in text


def test_reminder_html_has_the_same_words_and_a_mailto_link_per_action():
    html = render("reminder", sample_reminder()).html
    seen = visible_text(html)
    assert "Dear Kelly Cogger," in seen
    assert "Action 2.3.3 — Monitor the effectiveness of MASH" in seen
    assert "Due 31 May 2019, 12 days overdue — last update 14 Oct 2018" in seen
    assert "12 days overdue" in html and "last update 14 Oct 2018" in html
    assert "“RAG: amber”, “complete”, or “new date: March 2019”" in seen
    assert (
        'href="mailto:updates+aaction233@example.org?subject=Action%202.3.3%3A%20progress%20update"'
        in html
    )
    assert 'href="mailto:updates+aactionpa3@example.org?subject=Action%20PA.3' in html
    assert "Reply about action PA.3" in seen
    assert seen.count("Update on the web") == 1
    assert 'href="https://actionbot.example.org/update/uaction233"' in html


def test_reminder_subject_names_the_count_and_the_overdue():
    # both are past their deadline, though one is chased for being quiet
    assert render("reminder", sample_reminder()).subject == (
        "Reminder 2: 2 actions need a progress update (2 overdue)"
    )
    one = replace(sample_reminder(), lines=sample_reminder().lines[:1], reminder_number=1)
    assert render("reminder", one).subject == (
        "Action 2.3.3 — Monitor the effectiveness of MASH — progress update needed"
    )


def test_reminder_to_a_group_contact_says_for_whom():
    r = sample_reminder()
    r = replace(r, recipient=replace(r.recipient, on_behalf_of="Policy and Procedures Sub Group"))
    rendered = render("reminder", r)
    greeting = "Dear Kelly Cogger, as contact for the Policy and Procedures Sub Group,"
    assert rendered.text.startswith(greeting)
    assert greeting in visible_text(rendered.html)
    assert "The Policy and Procedures Sub Group is the lead for these actions" in rendered.text


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"reason": "due-soon", "days_overdue": -5}, "Why now: due soon, in 5 days"),
        ({"reason": "due", "days_overdue": 0}, "Why now: due today"),
        ({"reason": "overdue", "days_overdue": 1}, "Why now: overdue by 1 day"),
        ({"reason": "quiet", "last_update": None}, "Why now: no update yet"),
        ({"reason": "period"}, "Why now: quarterly update due"),
    ],
)
def test_reminder_gives_the_reason_for_each_line(changes: dict[str, object], words: str):
    r = replace(sample_reminder(), lines=(reminder_line(**changes),))
    rendered = render("reminder", r)
    assert words in rendered.text
    assert words.removeprefix("Why now: ") in visible_text(rendered.html)


def test_reminder_line_without_a_date_or_an_update():
    line = reminder_line(due=None, days_overdue=None, last_update=None, last_update_text=None)
    text = render("reminder", replace(sample_reminder(), lines=(line,))).text
    assert "Action 2.3.3 — Monitor the effectiveness of MASH — no date set — no update yet" in text
    assert "No progress entry yet." in text


def test_empty_reminder():
    rendered = render("reminder", sample("reminder", empty=True))
    assert "None of your actions needs a progress update just now." in rendered.text
    assert "None of your actions needs a progress update just now." in visible_text(rendered.html)
    assert rendered.subject == "No progress update needed"


# --- digests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, group",
    [("operational-digest", "operational group"), ("strategic-digest", "strategic board")],
)
def test_digest_groups_actions_by_organisation(kind: str, group: str):
    rendered = render(kind, sample_digest(kind))
    text = rendered.text
    assert f"3 actions are escalated to the {group}, grouped by the lead's organisation." in text
    # One heading per organisation, in order, each followed by its own actions.
    kent, medway = text.index("Kent Police\n==========="), text.index("Medway Council\n=====")
    assert kent < text.index("Action PA.2") < medway < text.index("Action PA.1")
    assert medway < text.index("Action 1 — Improve Framework-I reporting")
    assert (
        "- Action PA.1 — Review capacity of MASH and ensure consistent multi-agency representation"
        " — due 31 Aug 2018, 285 days overdue — last update Nov 2018" in text
    )
    assert "Leads: Christine Impey (Medway Council), Tracey Anstis (Kent Police)" in text
    assert "Reminders unanswered: 4" in text
    assert "At this level: MASH Operational Group since 20 May 2019" in text
    assert "RAG: green (set by Kelly Cogger); suggested red" in text
    assert "RAG: not set; suggested amber" in text
    assert "RAG: amber (set by Christine Impey)\n" in text  # a suggestion that agrees is not news
    assert "Flags: Green but overdue" in text
    assert "Since the last digest: moved up" in text
    assert "LEFT THE LIST SINCE THE LAST DIGEST\n- JTAI 3 — updated 12 Jan 2019" in text
    assert (
        "DATE CHANGES PROPOSED BY LEADS, FOR AGREEMENT\n"
        "- Action 2.3.3 — Christine Impey proposes July 2019 instead of May 2019" in text
    )


@pytest.mark.parametrize("kind", ["operational-digest", "strategic-digest"])
def test_digest_html_has_a_table_per_organisation_with_coloured_rag(kind: str):
    html = render(kind, sample_digest(kind)).html
    seen = visible_text(html)
    assert html.count('<table width="100%"') == 2  # Kent Police, Medway Council
    assert seen.index("Kent Police Action and leads") < seen.index("PA.2")
    assert "285 days overdue" in seen
    assert "Last update Nov 2018" in seen
    assert "4 reminders unanswered" in seen
    assert "At this level: MASH Operational Group since 20 May 2019" in seen
    assert "Green but overdue" in seen
    assert "Since the last digest: new" in seen
    # The RAG cell is coloured by the RAG set, the suggestion shown as its own badge.
    assert re.search(r'background-color:#00703c;color:#ffffff;">\s*<strong>Green</strong>', html)
    assert re.search(r'background-color:#f47738;color:#0b0c0c;">\s*<strong>Amber</strong>', html)
    assert re.search(r'background-color:#f3f2f1;color:#0b0c0c;">\s*<strong>Not set</strong>', html)
    assert "suggested: Red" in seen and "suggested: Amber" in seen
    assert "JTAI 3 — updated 12 Jan 2019" in seen


def test_digest_subject():
    assert render("operational-digest", sample_digest()).subject == (
        "MASH Operational Group escalation digest, 12 Jun 2019: 3 actions escalated"
    )
    assert render("strategic-digest", sample_digest("strategic-digest", empty=True)).subject == (
        "MASH Strategic Board escalation digest, 12 Jun 2019: nothing escalated"
    )


@pytest.mark.parametrize(
    "kind, words",
    [
        ("operational-digest", "Nothing is escalated to the operational group this week."),
        ("strategic-digest", "Nothing is escalated to the strategic board this week."),
    ],
)
def test_empty_digest_says_so(kind: str, words: str):
    rendered = render(kind, sample_digest(kind, empty=True))
    for part in (rendered.text, visible_text(rendered.html)):
        assert words in part
        assert "Nothing left the list since the last digest." in part
        assert "No date changes were proposed." in part
    assert '<table width="100%"' not in rendered.html


# --- chair summary ----------------------------------------------------------------------------


def test_chair_summary_text():
    rendered = render("chair-summary", sample_chair_summary())
    text = rendered.text
    assert rendered.subject == (
        "Weekly overdue summary for the chair, week of 10 Jun 2019: 9 overdue, 1 newly overdue"
    )
    assert "Red 3 | Amber 5 | Green 12 | Not rated 4 | Overdue 9" in text
    assert "Not rated, by the RAG the plan's definitions suggest: red 3, amber 1, green 0\n" in text
    assert "- Medway Council: red 2, amber 1, green 4, not rated 0; 3 overdue" in text
    assert "NEWLY OVERDUE THIS WEEK\n- Action PA.3 — Review capacity of MASH" in text
    assert "3 days overdue" in text
    # The ten longest overdue, no more.
    assert "10. Action L9 — " in text
    assert "Action L10 — " not in text and "Action L11 — " not in text
    assert "WHAT REACHED THE CHAIR\n- Action 8 — " in text
    assert "Leads: Tina Hughes (NPS); reminders unanswered: 3; Chair since 20 May 2019" in text
    assert "- 2 moved up to the strategic board" in text


def test_chair_summary_html():
    html = render("chair-summary", sample_chair_summary()).html
    seen = visible_text(html)
    assert "Red 3 Amber 5 Green 12 Not rated 4 Overdue 9" in seen
    assert "Not rated, by the RAG the plan's definitions suggest: red 3, amber 1, green 0" in seen
    assert "Medway Council 2 1 4 0 3" in seen
    assert "Kent Police 1 0 2 1 1" in seen
    assert "<strong>L9</strong>" in html and "<strong>L10</strong>" not in html
    assert "Tina Hughes (NPS)" in seen
    assert "3 actions completed" in seen


def test_empty_chair_summary():
    rendered = render("chair-summary", sample_chair_summary(empty=True))
    for part in (rendered.text, visible_text(rendered.html)):
        assert "No open actions." in part
        assert "No action became overdue this week." in part
        assert "Nothing is overdue." in part
        assert "Nothing has reached the chair." in part
        assert "No movement since last week." in part


# --- safety: escaping, strictness, wrong input ------------------------------------------------


def hostile(kind: str) -> Content:
    """Every kind with user text that would run as HTML if it were not escaped."""
    if kind == "sign-in":
        return sample_sign_in(name=XSS)
    if kind == "confirmation":
        c = sample_confirmation()
        line = replace(c.lines[0], title=XSS, text=XSS, plan_title=XSS)
        return replace(c, recipient=Recipient(XSS, "x@example.org"), lines=(line,))
    if kind == "question":
        q = sample_question()
        return replace(
            q, recipient=Recipient(XSS, "x@example.org"), lines=(QuestionLine(XSS, "1", XSS, None),)
        )
    if kind == "reminder":
        r = sample_reminder()
        line = reminder_line(title=XSS, last_update_text=XSS, milestone=XSS, plan_title=XSS)
        return replace(r, recipient=replace(r.recipient, name=XSS), lines=(line,))
    bad = digest_line(
        "9", XSS, title=XSS, leads=((XSS, XSS),), rag_set_by=XSS, flags=(XSS,), change=XSS
    )
    if kind == "chair-summary":
        s = sample_chair_summary()
        return replace(
            s,
            by_organisation=(CountRow(XSS, red=1),),
            newly_overdue=(bad,),
            longest_overdue=(bad,),
            at_chair=(bad,),
            movement=(XSS,),
        )
    d = sample_digest(kind)
    return replace(d, group=XSS, lines=(bad,), left_the_list=(XSS,), proposed_dates=(XSS,))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_user_text_is_escaped_in_html_and_left_alone_in_text(kind: str):
    rendered = render(kind, hostile(kind))
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;" in rendered.html
    assert "&amp;lt;" not in rendered.html and "&amp;amp;" not in rendered.html  # not twice
    assert_well_formed(rendered.html)
    assert XSS in rendered.text


def test_a_typo_in_a_template_fails_instead_of_printing_nothing(tmp_path: Path):
    (tmp_path / "reminder.subject.j2").write_text("Update for {{ reminder.recipient.nmae }}\n")
    with pytest.raises(jinja2.UndefinedError, match="nmae"):
        render("reminder", sample_reminder(), templates=tmp_path)


def test_an_unknown_variable_fails_too(tmp_path: Path):
    (tmp_path / "reminder.subject.j2").write_text("{{ remindr.key }}\n")
    with pytest.raises(jinja2.UndefinedError, match="remindr"):
        render("reminder", sample_reminder(), templates=tmp_path)


def test_templates_run_in_a_sandbox(tmp_path: Path):
    (tmp_path / "reminder.subject.j2").write_text("{{ reminder.__class__.__mro__ }}\n")
    with pytest.raises(jinja2.exceptions.SecurityError):
        render("reminder", sample_reminder(), templates=tmp_path)


def test_html_is_escaped_by_file_name_and_text_is_not(tmp_path: Path):
    for part in ("subject.j2", "txt.j2", "html.j2"):
        (tmp_path / f"reminder.{part}").write_text("{{ reminder.recipient.name }}")
    r = sample_reminder()
    r = replace(r, recipient=replace(r.recipient, name="Tom & <Jerry>"))
    rendered = render("reminder", r, templates=tmp_path)
    assert rendered.subject == "Tom & <Jerry>"
    assert rendered.text == "Tom & <Jerry>\n"
    assert rendered.html == "Tom &amp; &lt;Jerry&gt;"


def test_render_refuses_a_kind_it_does_not_know_or_the_wrong_content():
    with pytest.raises(ValueError, match="unknown message kind"):
        render("weekly-newsletter", sample_reminder())
    with pytest.raises(TypeError, match="from a Digest"):
        render("operational-digest", sample_reminder())
    with pytest.raises(ValueError, match="strategic-digest"):
        render("operational-digest", sample_digest("strategic-digest"))


# --- filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, shown",
    [
        (PartialDate(2018, 10, 14), "14 Oct 2018"),
        (PartialDate(2018, 10), "Oct 2018"),
        (PartialDate(2018), "2018"),
        (date(2019, 5, 31), "31 May 2019"),
        (datetime(2019, 6, 3, 9, 0, tzinfo=UTC), "3 Jun 2019"),
        (None, "—"),
    ],
)
def test_human(value: PartialDate | date | None, shown: str):
    assert human(value) == shown


@pytest.mark.parametrize(
    "value, shown", [(12, "12 days"), (1, "1 day"), (0, "0 days"), (-3, "3 days"), (None, "—")]
)
def test_days(value: int | None, shown: str):
    assert days(value) == shown


def test_excerpt_cuts_at_a_word():
    assert excerpt("short") == "short"
    assert excerpt(None) == ""
    assert excerpt("one two three four", limit=10) == "one two…"
    assert excerpt("a,\n  b   c") == "a, b c"


def test_a_ref_with_an_ampersand_reaches_the_mailto_subject_as_written():
    line = reminder_line(ref="R&D 1")
    html = render("reminder", replace(sample_reminder(), lines=(line,))).html
    assert "?subject=Action%20R%26D%201%3A%20progress%20update" in html
    assert "Action R&amp;D 1" in html


def test_mailto_quotes_the_subject():
    assert mailto("updates+abc@example.org", "Action 1.2: update & more") == (
        "mailto:updates+abc@example.org?subject=Action%201.2%3A%20update%20%26%20more"
    )
