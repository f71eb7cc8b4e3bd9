"""Timescales as plans write them (texts taken from real safeguarding action plans)."""

from __future__ import annotations

import calendar
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.plans.partial_date import PartialDate
from bot.plans.timescale import (
    DateMention,
    Occurrence,
    Timescale,
    find_dates,
    parse_timescale,
    split_dated_paragraphs,
    split_timescale,
)

MONTH_SPELLINGS = [
    (name, number)
    for number, names in enumerate(
        [
            ("January", "Jan"),
            ("February", "Feb"),
            ("March", "Mar"),
            ("April", "Apr"),
            ("May",),
            ("June", "Jun"),
            ("July", "Jul"),
            ("August", "Aug"),
            ("September", "Sept", "Sep"),
            ("October", "Oct"),
            ("November", "Nov"),
            ("December", "Dec"),
        ],
        start=1,
    )
    for name in names
]


TOOL_REVISED = (
    "Tool has been revised and presented to Learning Lessons sub group in February 2019 – complete"
)


def P(year: int, month: int | None = None, day: int | None = None) -> PartialDate:
    return PartialDate(year, month, day)


def one(text: str, default_year: int | None = None) -> DateMention:
    mentions = find_dates(text, default_year)
    assert len(mentions) == 1, mentions
    return mentions[0]


# --- find_dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "written", "when"),
    [
        ("(August 2018)", "(August 2018)", P(2018, 8)),
        ("(November, 2018)", "(November, 2018)", P(2018, 11)),
        ("Reviewed in September, 2018 by the group", "September, 2018", P(2018, 9)),
        ("Due March 2019.", "March 2019", P(2019, 3)),
        ("Sept 2018", "Sept 2018", P(2018, 9)),
        ("SEP 2018", "SEP 2018", P(2018, 9)),
        ("2 Feb 2018", "2 Feb 2018", P(2018, 2, 2)),
        ("27 April 2018", "27 April 2018", P(2018, 4, 27)),
        ("agreed 29th October 2018.", "29th October 2018", P(2018, 10, 29)),
        ("to be held on 15 May 2018", "15 May 2018", P(2018, 5, 15)),
        ("Meeting 25/06/2018 held", "25/06/2018", P(2018, 6, 25)),
        ("(18 January 2019)", "(18 January 2019)", P(2019, 1, 18)),
        ("planned for 2019", "2019", P(2019)),
        ("to be rolled out in 2019.", "2019", P(2019)),
        ("2019", "2019", P(2019)),
    ],
)
def test_finds_single_dates_with_exact_spans(text: str, written: str, when: PartialDate) -> None:
    mention = one(text)
    assert mention.text == written
    assert text[mention.start : mention.end] == written
    assert mention.date == when
    assert mention.range_start is None


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("Jan – March 2018", P(2018, 1), P(2018, 3)),
        ("July – September 2017", P(2017, 7), P(2017, 9)),
        ("May – Sept 2018", P(2018, 5), P(2018, 9)),
        ("December 2017 – May 2018", P(2017, 12), P(2018, 5)),
        ("February 2018 – March 2018", P(2018, 2), P(2018, 3)),
        ("June – July 2018", P(2018, 6), P(2018, 7)),
        ("October-December 2018", P(2018, 10), P(2018, 12)),
        ("November — January 2019", P(2018, 11), P(2019, 1)),
        ("(Jan - March 2018)", P(2018, 1), P(2018, 3)),
    ],
)
def test_a_range_is_one_mention_dated_by_its_end(
    text: str, start: PartialDate, end: PartialDate
) -> None:
    mention = one(text)
    assert (mention.start, mention.end, mention.text) == (0, len(text), text)
    assert mention.date == end
    assert mention.range_start == start


def test_range_inside_a_sentence_keeps_its_span() -> None:
    text = "Audits between October-December 2018 showed"
    assert find_dates(text) == [
        DateMention(15, 36, "October-December 2018", P(2018, 12), P(2018, 10))
    ]


def test_several_dates_in_order() -> None:
    text = "July 2017 - Complete; July 2018; July 2019."
    assert [(m.start, m.text, m.date) for m in find_dates(text)] == [
        (0, "July 2017", P(2017, 7)),
        (22, "July 2018", P(2018, 7)),
        (33, "July 2019", P(2019, 7)),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "staff may attend the training",
        "May attend if needed",
        "to be presented in March",
        "20% of referrals",
        "218 professionals attended",
        "29th October",
        "Section 3 may apply",
        "",
    ],
)
def test_no_date_here(text: str) -> None:
    assert find_dates(text) == []


def test_year_spans_are_not_read_as_single_years() -> None:
    def spans(text: str) -> list[tuple[str, PartialDate | None, PartialDate]]:
        return [(m.text, m.range_start, m.date) for m in find_dates(text)]

    assert spans("Quarterly throughout 2017-20") == [("2017-20", P(2017), P(2020))]
    assert spans("Strategy 2018-19 agreed") == [("2018-19", P(2018), P(2019))]
    assert find_dates("Sites 2019-2018") == []


def test_financial_quarter_is_its_three_months() -> None:
    mention = one("Quarter 4 2018-19")
    assert (mention.text, mention.range_start, mention.date) == (
        "Quarter 4 2018-19",
        P(2019, 1),
        P(2019, 3),
    )
    assert one("by Q1 2019/20").date == P(2019, 6)


def test_day_without_year_needs_default_year() -> None:
    text = "audits introduced from 29th October"
    assert find_dates(text) == []
    assert find_dates(text, default_year=2018) == [
        DateMention(23, 35, "29th October", P(2018, 10, 29))
    ]
    assert find_dates("staff may attend", default_year=2018) == []


def test_impossible_day_is_not_a_day_date() -> None:
    assert one("31 February 2018").date == P(2018, 2)
    assert find_dates("31/02/2018") == []


@given(
    spelling=st.sampled_from(MONTH_SPELLINGS),
    year=st.integers(1990, 2100),
    case=st.sampled_from([str, str.lower, str.upper]),
)
def test_every_month_spelling_in_parentheses(
    spelling: tuple[str, int], year: int, case: object
) -> None:
    name, number = spelling
    text = f"({case(name)} {year})"  # type: ignore[operator]
    mention = one(text)
    assert mention.text == text
    assert mention.date == P(year, number)
    assert mention.date.last_day() == date(year, number, calendar.monthrange(year, number)[1])


@given(
    first=st.sampled_from(MONTH_SPELLINGS),
    last=st.sampled_from(MONTH_SPELLINGS),
    year=st.integers(1990, 2100),
    dash=st.sampled_from(["-", "–", "—", " - ", " – ", " — "]),
)
def test_every_range_starts_before_it_ends(
    first: tuple[str, int], last: tuple[str, int], year: int, dash: str
) -> None:
    mention = one(f"{first[0]}{dash}{last[0]} {year}")
    assert mention.date == P(year, last[1])
    assert mention.range_start == P(year if first[1] <= last[1] else year - 1, first[1])


@settings(max_examples=300)
@given(st.text())
def test_mentions_are_exact_ordered_and_disjoint(text: str) -> None:
    mentions = find_dates(text, default_year=2018)
    for mention in mentions:
        assert text[mention.start : mention.end] == mention.text
    for earlier, later in zip(mentions, mentions[1:], strict=False):
        assert earlier.end <= later.start


# --- parse_timescale ----------------------------------------------------------------------------


def test_month_in_parentheses_is_due_at_the_end_of_the_month() -> None:
    ts = parse_timescale("(August 2018)")
    assert ts == Timescale("(August 2018)", "dated", (Occurrence(P(2018, 8)),))
    assert ts.due == date(2018, 8, 31)


def test_month_range() -> None:
    ts = parse_timescale("Jan – March 2018")
    assert ts.kind == "range"
    assert ts.occurrences == (Occurrence(P(2018, 3), start=P(2018, 1)),)
    assert ts.due == date(2018, 3, 31)


def test_range_across_years() -> None:
    ts = parse_timescale("December 2017 – May 2018")
    assert ts.kind == "range"
    assert ts.occurrences == (Occurrence(P(2018, 5), start=P(2017, 12)),)


def test_month_with_comma() -> None:
    ts = parse_timescale("September, 2018")
    assert (ts.kind, ts.occurrences) == ("dated", (Occurrence(P(2018, 9)),))


def test_complete_after_the_date() -> None:
    ts = parse_timescale("by May 2019 – Complete")
    assert ts.kind == "dated"
    assert ts.occurrences == (Occurrence(P(2019, 5), done=True),)
    assert ts.complete is True


def test_yearly_list_with_the_first_done() -> None:
    raw = "July 2017 - Complete; July 2018; July 2019"
    ts = parse_timescale(raw)
    assert ts == Timescale(
        raw,
        "dated",
        (
            Occurrence(P(2017, 7), done=True),
            Occurrence(P(2018, 7)),
            Occurrence(P(2019, 7)),
        ),
    )
    assert ts.complete is False
    assert ts.due == date(2019, 7, 31)


def test_all_listed_done_is_complete() -> None:
    ts = parse_timescale("March 2018 - Complete; June 2018 - completed")
    assert [o.done for o in ts.occurrences] == [True, True]
    assert ts.complete is True


def test_quarterly_over_years() -> None:
    ts = parse_timescale("Quarterly throughout 2017-20")
    assert ts.kind == "recurring"
    assert ts.recurrence == "quarterly"
    assert (ts.since, ts.until) == (P(2017), P(2020))
    assert ts.occurrences == ()
    assert ts.due == date(2020, 12, 31)


@pytest.mark.parametrize(
    ("raw", "recurrence"),
    [
        ("Quarterly", "quarterly"),
        ("quarterly", "quarterly"),
        ("Six monthly", "six-monthly"),
        ("6 monthly", "six-monthly"),
        ("6-monthly", "six-monthly"),
        ("Bi-annually", "six-monthly"),
        ("Monthly", "monthly"),
        ("Annually", "annually"),
        ("Annual", "annually"),
        ("Yearly", "annually"),
        ("Reviewed on a quarterly basis", "quarterly"),
    ],
)
def test_recurrences(raw: str, recurrence: str) -> None:
    ts = parse_timescale(raw)
    assert (ts.kind, ts.recurrence, ts.since, ts.until, ts.due) == (
        "recurring",
        recurrence,
        None,
        None,
        None,
    )


def test_recurrence_from_a_start() -> None:
    ts = parse_timescale("Monthly from April 2018")
    assert (ts.kind, ts.since, ts.until, ts.due) == ("recurring", P(2018, 4), None, None)


def test_annual_report_is_not_a_recurrence() -> None:
    ts = parse_timescale("MARAC Annual Report to be presented – July 2018")
    assert (ts.kind, ts.recurrence) == ("dated", None)


@pytest.mark.parametrize("raw", ["Ongoing", "On-going", "ongoing", "On going"])
def test_ongoing(raw: str) -> None:
    ts = parse_timescale(raw)
    assert ts == Timescale(raw, "ongoing")
    assert ts.due is None


def test_only_a_start_date_is_ongoing() -> None:
    ts = parse_timescale("Since June 2018")
    assert (ts.kind, ts.occurrences, ts.due) == ("ongoing", (), None)


def test_in_progress() -> None:
    assert parse_timescale("In progress") == Timescale("In progress", "undated", in_progress=True)
    raw = "Kent and Medway Domestic Abuse Strategy to be updated and published – In progress"
    assert parse_timescale(raw) == Timescale(raw, "undated", in_progress=True)
    dated = parse_timescale("March 2019 - in progress")
    assert (dated.kind, dated.in_progress, dated.complete) == ("dated", True, False)


@pytest.mark.parametrize("raw", ["Complete", "complete", "Completed", " - Complete."])
def test_complete_without_date(raw: str) -> None:
    assert parse_timescale(raw) == Timescale(raw, "undated", complete=True)


def test_to_be_completed_is_not_done() -> None:
    ts = parse_timescale("to be completed by March 2019")
    assert ts.occurrences == (Occurrence(P(2019, 3)),)
    assert ts.complete is False
    assert parse_timescale("Staff to complete training").complete is False


def test_completed_just_before_its_date() -> None:
    ts = parse_timescale("Completed (March 2018)")
    assert ts.occurrences == (Occurrence(P(2018, 3), done=True),)
    assert ts.complete is True


def test_marker_in_a_whole_bullet_follows_its_date() -> None:
    raw = TOOL_REVISED
    ts = parse_timescale(raw)
    assert ts.occurrences == (Occurrence(P(2019, 2), done=True),)
    assert ts.complete is True


def test_day_date() -> None:
    ts = parse_timescale("2 Feb 2018")
    assert ts.occurrences == (Occurrence(P(2018, 2, 2)),)
    assert ts.occurrences[0].due.precision == "day"
    assert ts.due == date(2018, 2, 2)


@pytest.mark.parametrize("raw", ["", "   ", "TBC", "Set up reporting arrangements"])
def test_undated(raw: str) -> None:
    assert parse_timescale(raw) == Timescale(raw, "undated")


@settings(max_examples=300)
@given(st.text())
def test_parse_never_raises_and_keeps_raw(raw: str) -> None:
    ts = parse_timescale(raw)
    assert ts.raw == raw
    assert ts.kind in ("dated", "range", "recurring", "ongoing", "undated")
    if ts.kind in ("dated", "range"):
        assert ts.occurrences and ts.due is not None
    else:
        assert ts.occurrences == ()


@given(
    st.lists(
        st.tuples(
            st.sampled_from(MONTH_SPELLINGS),
            st.integers(1990, 2100),
            st.booleans(),
        ),
        min_size=2,
        max_size=5,
    )
)
def test_every_listed_date_is_an_occurrence(items: list[tuple[tuple[str, int], int, bool]]) -> None:
    raw = "; ".join(
        f"{name} {year}" + (" - Complete" if done else "") for (name, _), year, done in items
    )
    ts = parse_timescale(raw)
    assert ts.kind == "dated"
    assert ts.occurrences == tuple(
        Occurrence(P(year, number), done=done) for (_, number), year, done in items
    )
    assert ts.complete == all(done for _, _, done in items)


# --- split_timescale ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Education Safeguarding Officer to review model child protection and safeguarding "
            "policy for schools – Jan – March 2018",
            (
                "Education Safeguarding Officer to review model child protection and safeguarding "
                "policy for schools",
                "Jan – March 2018",
            ),
        ),
        (
            "Revised Threshold document to be considered by Policy & Procedures sub group, "
            "Executive and Board – March 2018 - Complete",
            (
                "Revised Threshold document to be considered by Policy & Procedures sub group, "
                "Executive and Board",
                "March 2018 - Complete",
            ),
        ),
        ("MASH implemented – April 2018 – Complete", ("MASH implemented", "April 2018 – Complete")),
        (
            "Initial proposal considered and agreed by MSCB Board - Complete",
            ("Initial proposal considered and agreed by MSCB Board", "Complete"),
        ),
        (
            "MASH performance data to be included in MSCB dataset – Ongoing",
            ("MASH performance data to be included in MSCB dataset", "Ongoing"),
        ),
        (
            "MARAC Annual Report to be presented to PMQA sub group – July 2017 - Complete; "
            "July 2018; July 2019.",
            (
                "MARAC Annual Report to be presented to PMQA sub group",
                "July 2017 - Complete; July 2018; July 2019",
            ),
        ),
        (
            "Partner Engagement Requests (% response in timescale) to be added to dataset by "
            "performance team – by July 2019",
            (
                "Partner Engagement Requests (% response in timescale) to be added to dataset by "
                "performance team",
                "by July 2019",
            ),
        ),
        (
            "MARAC data to be included in a MSCB dataset including monitoring of repeat cases – "
            "Quarterly throughout 2017-20",
            (
                "MARAC data to be included in a MSCB dataset including monitoring of repeat cases",
                "Quarterly throughout 2017-20",
            ),
        ),
        (
            "Review of Audit tool to be undertaken in September 2019",
            ("Review of Audit tool to be undertaken in September 2019", "September 2019"),
        ),
        (
            "Improve Framework-I reporting and increase audits (October 2018)",
            ("Improve Framework-I reporting and increase audits", "October 2018"),
        ),
        (
            "Improve Framework-I reporting and increase audits (October 2018).",
            ("Improve Framework-I reporting and increase audits", "October 2018"),
        ),
        (
            "Set up reporting arrangements between MASH and MSCB",
            ("Set up reporting arrangements between MASH and MSCB", None),
        ),
        (
            "Harmful Sexual Behaviour guidance - Complete approved by MSCB Executive – May 2018",
            ("Harmful Sexual Behaviour guidance - Complete approved by MSCB Executive", "May 2018"),
        ),
        (
            "Tool has been revised and presented to Learning Lessons sub group in February 2019 "
            "– complete",
            (
                "Tool has been revised and presented to Learning Lessons sub group in "
                "February 2019",
                "complete",
            ),
        ),
        (
            "Kent and Medway Domestic Abuse Strategy to be updated and published – In progress",
            ("Kent and Medway Domestic Abuse Strategy to be updated and published", "In progress"),
        ),
        ("March 2018 - Complete", ("March 2018 - Complete", "March 2018 - Complete")),
    ],
)
def test_split_timescale(text: str, expected: tuple[str, str | None]) -> None:
    assert split_timescale(text) == expected


def test_split_keeps_the_date_visible_to_parse() -> None:
    text = TOOL_REVISED
    _, raw = split_timescale(text)
    assert raw is not None and parse_timescale(raw).complete
    assert parse_timescale(text).occurrences == (Occurrence(P(2019, 2), done=True),)


SAFE_WORDS = ["Review", "policy", "audit", "Board", "sub", "group", "MASH", "data", "x1", "E&W"]


@given(
    words=st.lists(st.sampled_from(SAFE_WORDS), min_size=1, max_size=8),
    spelling=st.sampled_from(MONTH_SPELLINGS),
    year=st.integers(1990, 2100),
    dash=st.sampled_from([" – ", " - ", " — ", "–"]),
)
def test_split_any_bullet_ending_in_a_month(
    words: list[str], spelling: tuple[str, int], year: int, dash: str
) -> None:
    text = " ".join(words)
    assert split_timescale(f"{text}{dash}{spelling[0]} {year}") == (text, f"{spelling[0]} {year}")
    assert split_timescale(f"{text} ({spelling[0]} {year})") == (text, f"{spelling[0]} {year}")


# --- split_dated_paragraphs ---------------------------------------------------------------------


def test_jtai_progress_cell() -> None:
    text = (
        "Framework-I reporting has been adapted and now allows for more timely assessment of "
        "decisions. (September 2018) TOR for the operational MASH board have been reviewed and "
        "agreed.  (September 2018)\nMonthly MASH threshold audits now introduced from 29th "
        "October, between October-December 2018 (October 2018)"
    )
    assert split_dated_paragraphs(text) == [
        (
            "Framework-I reporting has been adapted and now allows for more timely assessment of "
            "decisions.",
            P(2018, 9),
        ),
        ("TOR for the operational MASH board have been reviewed and agreed.", P(2018, 9)),
        (
            "Monthly MASH threshold audits now introduced from 29th October, between "
            "October-December 2018",
            P(2018, 10),
        ),
    ]


def test_marker_mid_sentence_drops_its_full_stop() -> None:
    text = (
        "Training focused on children and young people (July 2018). The multi-agency workshop "
        "was held (18 January 2019) Since June 2018 numbers rose"
    )
    assert split_dated_paragraphs(text) == [
        ("Training focused on children and young people", P(2018, 7)),
        ("The multi-agency workshop was held", P(2019, 1, 18)),
        ("Since June 2018 numbers rose", None),
    ]


def test_comma_month_and_unparenthesised_dates() -> None:
    assert split_dated_paragraphs("Done (November, 2018) then more") == [
        ("Done", P(2018, 11)),
        ("then more", None),
    ]
    assert split_dated_paragraphs("Planned for 2019 (2019) and (Jan – March 2018)") == [
        ("Planned for 2019 (2019) and (Jan – March 2018)", None)
    ]


def test_no_markers_and_empty() -> None:
    assert split_dated_paragraphs("No dates here at all") == [("No dates here at all", None)]
    assert split_dated_paragraphs("  two\n lines ") == [("two lines", None)]
    assert split_dated_paragraphs("") == []
    assert split_dated_paragraphs("(May 2018) (June 2018)") == []


WORDS = st.text(
    alphabet=st.sampled_from(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:-&"
    ),
    min_size=1,
    max_size=10,
).filter(lambda w: any(c.isalpha() for c in w))
MARKERS = st.builds(
    lambda spelling, year, comma, day: (
        f"({day} {spelling[0]} {year})" if day else f"({spelling[0]}{comma} {year})",
        P(year, spelling[1], day) if day else P(year, spelling[1]),
    ),
    st.sampled_from(MONTH_SPELLINGS),
    st.integers(1990, 2100),
    st.sampled_from(["", ","]),
    st.sampled_from([None, 1, 9, 28]),
)


@given(st.lists(st.one_of(WORDS, MARKERS), max_size=30))
def test_split_dated_paragraphs_never_loses_words(
    parts: list[str | tuple[str, PartialDate]],
) -> None:
    text = " ".join(p if isinstance(p, str) else p[0] for p in parts)
    entries = split_dated_paragraphs(text)
    words = [p for p in parts if isinstance(p, str)]
    assert " ".join(chunk for chunk, _ in entries).split() == words
    expected_dates: list[PartialDate | None] = []
    pending = False
    for part in parts:
        if isinstance(part, str):
            pending = True
        elif pending:
            expected_dates.append(part[1])
            pending = False
    if pending:
        expected_dates.append(None)
    assert [when for _, when in entries] == expected_dates


@settings(max_examples=300)
@given(st.text())
def test_split_dated_paragraphs_invents_nothing(text: str) -> None:
    for chunk, _ in split_dated_paragraphs(text):
        assert chunk and chunk == " ".join(chunk.split())
        for word in chunk.split():
            assert word in text


@settings(max_examples=300)
@given(st.text())
def test_split_timescale_cuts_only_the_end(text: str) -> None:
    head, raw = split_timescale(text)
    assert text.startswith(head)
    if raw is None:
        assert head == text
    else:
        assert raw in text
