"""The RAG-over-time chart's days and shapes, without a database: weekly over half a year or
less, monthly beyond, never more than 30 points, and bars that stack to each point's total."""

from __future__ import annotations

from datetime import date

from bot.web.chart import COLOURS, MOST_POINTS, Point, _at, _days, _draw

TODAY = date(2019, 2, 4)


def test_a_short_span_is_drawn_week_by_week_ending_today():
    days, step = _days(date(2019, 1, 1), TODAY)
    assert step == "week"
    assert days[-1] == TODAY and all(
        (b - a).days == 7 for a, b in zip(days, days[1:], strict=False)
    )
    assert (TODAY - days[0]).days >= 8 * 7  # never less than eight weeks


def test_a_long_span_is_drawn_month_by_month_and_capped():
    days, step = _days(date(2018, 3, 15), TODAY)
    assert step == "month"
    assert days[:2] == [date(2018, 3, 31), date(2018, 4, 30)] and days[-1] == TODAY
    days, _ = _days(date(2010, 1, 1), TODAY)  # at most two years back, at most 30 points
    assert len(days) <= MOST_POINTS and days[0] >= date(2017, 2, 1)


def test_the_value_on_a_day_is_the_last_change_on_or_before_it():
    changes = [(date(2018, 10, 1), "red"), (date(2018, 11, 5), "amber")]
    assert _at(changes, date(2018, 9, 30), "unrated") == "unrated"
    assert _at(changes, date(2018, 10, 1), "unrated") == "red"
    assert _at(changes, date(2018, 11, 30), "unrated") == "amber"


def test_bars_stack_to_the_total_and_the_line_has_a_point_a_day():
    points = (
        Point(date(2019, 1, 28), red=1, unrated=3, escalated=0),
        Point(TODAY, red=2, amber=1, green=1, escalated=2),
    )
    chart = _draw(points, "week")
    left, top, right, bottom = chart.plot
    last = [b for b in chart.bars if b.title.startswith("4 Feb 2019")]
    assert [b.colour for b in last] == [COLOURS["red"], COLOURS["amber"], COLOURS["green"]]
    assert round(sum(b.height for b in last), 1) == round(bottom - top, 1)  # 4 is the most
    assert len(chart.line.split()) == 2 and chart.x_labels[-1][1] == "4 Feb"
    assert [n for _, n in chart.y_ticks] == [0, 2, 4]
    assert not chart.empty and _draw((Point(TODAY),), "week").empty
