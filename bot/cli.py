"""The `actionbot` command: parses arguments, calls the library, turns errors into messages.

This and the scheduler are the only places that read the wall clock; every command that judges
time takes `--as-of` so a run can be repeated for any day.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy import Integer, bindparam, func
from sqlmodel import Session, col, select

from bot import models as m
from bot import quality
from bot.chase_state import load_state
from bot.db import (
    UnversionedDatabaseError,
    create_schema,
    current_revision,
    make_engine,
    session,
)
from bot.engine import Decisions, RemindLead, State
from bot.engine_input import evaluate
from bot.export_json import export_plans
from bot.importing import import_files
from bot.plans.partial_date import PartialDate
from bot.rules import Level, LoadedRules, Rules, describe_ladder, load_rules
from bot.settings import Settings, SettingsError, configure_logging, load_settings
from bot.status import StatusRow, status_rows
from bot.store import PlanView, load_plans, plan_ids
from bot.yamlfile import InputFileError

if TYPE_CHECKING:
    from bot.demo import DemoReport

app = typer.Typer(
    help="actionbot: chases the leads of multi-agency action plans for updates.\n\n"
    "Start with `actionbot demo`, or `actionbot init` then `actionbot status`.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,  # a rich traceback prints local variables: never in logs
)
# Plain lines are never re-wrapped (a file path split in two cannot be pasted); tables still fit.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

SEED_CONVERTERS = ("jtai", "mscb")


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        _fail(f"bad settings (environment or .env): {exc}")
    configure_logging(settings)
    return settings


def _as_of(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"--as-of: expected a date like 2019-06-01, got {value!r}")


def _now() -> datetime:
    return datetime.now(UTC)


def _report_input_error(exc: InputFileError) -> NoReturn:
    err.print(f"[bold red]error:[/] {len(exc.problems)} problem(s); nothing was imported:")
    for p in exc.problems:
        err.print(f"  {p}", markup=False, highlight=False)
    raise typer.Exit(2)


def _plans(database_url: str, plan: str | None) -> list[PlanView]:
    engine = make_engine(database_url)
    create_schema(engine)
    with session(engine) as s:
        try:
            plans = load_plans(s, plan)
        except KeyError:
            from bot.store import plan_ids

            known = ", ".join(plan_ids(s)) or "none: run `actionbot init` first"
            _fail(f"no plan {plan!r} in the database (plans: {known})")
    if not plans:
        _fail("the database holds no plans yet: run `actionbot init` (or `actionbot import`)")
    return plans


AsOf = Annotated[str | None, typer.Option("--as-of", help="Judge as on this day (YYYY-MM-DD).")]
PlanOpt = Annotated[str | None, typer.Option("--plan", help="Only this plan (its id).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command()
def init() -> None:
    """Create the database and load data/people.yaml and every plan in data/plans/.

    Safe to run again: plans are updated in place, replies already recorded are kept.

    Example: actionbot init
    """
    settings = _settings()
    paths = [settings.people_file, settings.plans_dir]
    for p in paths:
        if not p.exists():
            _fail(f"{p} does not exist (ACTIONBOT_DATA_DIR is {settings.data_dir})")
    _import(settings, paths)


@app.command("import")
def import_(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Plan files (YAML, CSV, XLSX, DOCX), people.yaml, or folders of them."),
    ],
    undated_as: Annotated[
        str | None,
        typer.Option(
            "--undated-as",
            help="Date (YYYY-MM) to give progress text that has none "
            "(CSV/XLSX/DOCX); without it such text is refused.",
        ),
    ] = None,
) -> None:
    """Import plans or people; all files are checked before anything is stored.

    Examples:
      actionbot import data/plans/jtai-2018.yaml
      actionbot import board-plan.xlsx --undated-as 2019-05
    """
    settings = _settings()
    as_of = None
    if undated_as:
        try:
            as_of = PartialDate.parse(undated_as)
        except ValueError as exc:
            _fail(f"--undated-as: {exc}")
    _import(settings, paths, as_of)


def _import(settings: Settings, paths: list[Path], as_of: PartialDate | None = None) -> None:
    engine = make_engine(settings.database_url)
    try:
        reports = import_files(engine, paths, _now(), as_of)
    except InputFileError as exc:
        _report_input_error(exc)
    for r in reports:
        line = (
            f"{r.plan_id}: {r.added} action(s) added, {r.updated} updated, "
            f"{r.progress_added} progress entr(ies) added, {r.progress_removed} removed"
        )
        if r.withdrawn:
            line += f"; withdrawn (no longer in the file): {', '.join(r.withdrawn)}"
        out.print(line, highlight=False)
    out.print(f"database: {settings.database_url}", highlight=False)


@app.command()
def status(
    plan: PlanOpt = None,
    lead: Annotated[
        str | None,
        typer.Option("--lead", help="Only actions this lead leads (any part of the name)."),
    ] = None,
    as_of: AsOf = None,
    as_json: JsonOpt = False,
) -> None:
    """One row per action: ref, title, leads, due, last update, days overdue and quiet, RAG.

    Examples:
      actionbot status --plan jtai-2018
      actionbot status --lead "Kelly Cogger" --as-of 2019-01-31 --json
    """
    settings = _settings()
    day = _as_of(as_of)
    rows = status_rows(_plans(settings.database_url, plan), day, lead)
    if as_json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    _print_status(rows, day)


def _print_status(rows: list[StatusRow], day: date) -> None:
    table = Table(title=f"Actions as of {day:%d %b %Y}", show_lines=False)
    for name, kw in (
        ("Plan", {}),
        ("Ref", {}),
        ("Action", {"max_width": 48}),
        ("Leads", {"max_width": 30}),
        ("Due", {}),
        ("Last update", {}),
        ("Days overdue", {"justify": "right"}),
        ("Days quiet", {"justify": "right"}),
        ("RAG", {}),
        ("Status", {}),
    ):
        table.add_column(name, overflow="fold", **kw)  # type: ignore[arg-type]
    colours = {"red": "red", "amber": "yellow", "green": "green"}
    for r in rows:
        rag = f"[{colours[r.rag]}]{r.rag}[/]" if r.rag in colours else "-"
        table.add_row(
            r.plan,
            r.ref,
            _escape(r.title),
            _escape("; ".join(r.leads) or "(no lead)"),
            _human(r.due),
            _human(r.last_update),
            str(r.days_overdue) if r.days_overdue is not None else "",
            str(r.days_since_update) if r.days_since_update is not None else "",
            rag,
            r.status,
        )
    out.print(table)
    out.print(f"{len(rows)} action(s)", highlight=False)


def _human(iso: str | None) -> str:
    """ "2018-10" -> "Oct 2018": how the plans themselves write dates."""
    return PartialDate.parse(iso).human() if iso else "-"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@app.command("check-data")
def check_data(
    as_json: JsonOpt = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when anything is found.")
    ] = False,
) -> None:
    """The data-quality report: leads without contact details, unreadable or suspicious
    timescales, actions without a lead, name variants merged, refs missing or duplicated.

    Example: actionbot check-data
    """
    settings = _settings()
    engine = make_engine(settings.database_url)
    create_schema(engine)
    from sqlmodel import select

    from bot import models

    with session(engine) as s:
        plans = load_plans(s)
        people = list(s.exec(select(models.Person)))
    contacts = {p.name: bool(p.email) for p in people}
    failing = [
        (p.name, p.email or "", p.email_failing, f"{p.email_failing_since:%d %b %Y}")
        for p in people
        if p.email_failing and p.email_failing_since
    ]
    findings = quality.check_addresses(failing) + quality.check_plans(plans, contacts)
    if settings.plans_dir.is_dir():
        findings = (
            quality.check_files(
                [settings.people_file, settings.plans_dir]
                if settings.people_file.exists()
                else [settings.plans_dir]
            )
            + findings
        )
    if as_json:
        print(json.dumps([f.as_dict() for f in findings], indent=2))
    else:
        _print_findings(findings)
    if strict and findings:
        raise typer.Exit(1)


def _print_findings(findings: list[quality.Finding]) -> None:
    if not findings:
        out.print("No data-quality problems found.")
        return
    current = None
    for f in findings:
        if f.kind != current:
            current = f.kind
            count = sum(1 for x in findings if x.kind == f.kind)
            out.print(f"\n[bold]{quality.CHECK_TITLES[f.kind]}[/] ({count})")
        where = " ".join(x for x in (f.plan, f.ref) if x)
        out.print(f"  {where + ': ' if where else ''}{f.message}", markup=False, highlight=False)
    summary = Counter(f.kind for f in findings)
    out.print(f"\n{len(findings)} finding(s) in {len(summary)} kind(s)", highlight=False)


@app.command()
def export(
    fmt: Annotated[
        str, typer.Option("--format", help="Output format: json, xlsx, docx or html.")
    ] = "json",
    plan: PlanOpt = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The plan as it stood on this day (YYYY-MM-DD): later progress left out, "
            "overdue judged on it.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="json: a file instead of stdout. xlsx/docx/html: a file for one plan, or a "
            "folder for PLAN-ID.FORMAT files (default: the working folder).",
        ),
    ] = None,
) -> None:
    """The plans as JSON for other tools, or as a document for the board (XLSX, DOCX, HTML).

    A document is the plan in its own columns behind a cover summary (counts by RAG and
    organisation, overdue, escalated, changes since the last export), "as of" on every page.
    Named PLAN-ID.xlsx or .docx, it imports back with `actionbot import`.

    Examples:
      actionbot export --format json --plan mscb-2017-20 -o mscb.json
      actionbot export --format xlsx --plan jtai-2018 --as-of 2019-01-31
      actionbot export --format docx -o board-papers/
    """
    from bot.export import FORMATS, ExportPathError, export_plan, output_paths
    from bot.export.layout import as_of_view

    if fmt != "json" and fmt not in FORMATS:
        _fail(f"--format: expected json, {', '.join(FORMATS)}; got {fmt!r}")
    settings = _settings()
    plans = _plans(settings.database_url, plan)
    day = _as_of(as_of)
    if fmt != "json":
        now = _now() if as_of is None else datetime.combine(day, time(23, 59), UTC)
        try:
            paths = output_paths([p.id for p in plans], fmt, output)
        except ExportPathError as exc:
            _fail(f"-o: {exc}")
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.database_url)
        with session(engine) as s, s.begin():
            for one, path in zip(plans, paths, strict=True):
                export_plan(s, one, fmt, day, now, path)
                out.print(f"wrote {path} ({one.id} as of {day:%d %b %Y})", highlight=False)
        return
    if as_of is not None:
        plans = [as_of_view(p, day) for p in plans]
    text = json.dumps(export_plans(plans), indent=2, ensure_ascii=False)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        out.print(f"wrote {output}", highlight=False)
    else:
        print(text)


@app.command()
def convert(
    layout: Annotated[str, typer.Argument(help="The seed's layout: jtai or mscb.")],
    seed: Annotated[Path, typer.Argument(help="The seed text file.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the plan YAML here (default stdout)."),
    ] = None,
) -> None:
    """Convert one of the real seed documents into the canonical plan YAML.

    Example:
      actionbot convert jtai ../shared/seeds/000_a98873cd509f61a8.txt -o jtai.yaml
    """
    from bot.plans.canonical import dump_plan

    if layout not in SEED_CONVERTERS:
        _fail(f"layout: expected one of {', '.join(SEED_CONVERTERS)}, got {layout!r}")
    try:
        text = seed.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{seed}: cannot read: {exc}")
    if layout == "jtai":
        from bot.plans.seeds.jtai import convert as convert_seed
    else:
        from bot.plans.seeds.mscb import convert as convert_seed
    yaml_text = dump_plan(convert_seed(text, f"shared/seeds/{seed.name}"))
    if output:
        output.write_text(yaml_text, encoding="utf-8")
        out.print(f"wrote {output}", highlight=False)
    else:
        sys.stdout.write(yaml_text)


db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the newest schema (every command also does this first).

    Example: actionbot db upgrade
    """
    settings = _settings()
    engine = make_engine(settings.database_url)
    create_schema(engine)
    out.print(f"{settings.database_url}: at schema {current_revision(engine)}", highlight=False)


rules_app = typer.Typer(help="The escalation rules (rules/escalation.yaml).", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


def _rules(settings: Settings, path: Path | None = None) -> LoadedRules:
    try:
        return load_rules(path or settings.rules_path)
    except InputFileError as exc:
        err.print(f"[bold red]error:[/] the rules have {len(exc.problems)} problem(s):")
        for p in exc.problems:
            err.print(f"  {p}", markup=False, highlight=False)
        raise typer.Exit(2) from None


@rules_app.command("check")
def rules_check(
    path: Annotated[
        Path | None,
        typer.Argument(help="A rules file or folder (default: ACTIONBOT_RULES or rules/)."),
    ] = None,
) -> None:
    """Check the escalation rules without running anything; exit 2 naming every problem.

    Example: actionbot rules check rules/escalation.yaml
    """
    loaded = _rules(_settings(), path)
    r = loaded.rules
    out.print(f"{loaded.source}: OK (version {loaded.version})", highlight=False)
    out.print(
        f"  sending {r.sending_hours.start:%H:%M}-{r.sending_hours.end:%H:%M} "
        f"{r.calendar.timezone}, working days {', '.join(r.calendar.working_days)}, "
        f"bank holidays {r.calendar.bank_holidays}",
        highlight=False,
    )
    gaps = ", ".join(str(g) for g in r.reminders.repeat_every)
    out.print(
        f"  ask {r.update_needed.before_due} before a deadline; quiet after "
        f"{r.update_needed.quiet_after}; reminders every {gaps}, at most "
        f"{r.reminders.max_before_escalation}",
        highlight=False,
    )
    for level, when in describe_ladder(r).items():
        conditions = ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in when.model_dump().items() if v is not None
        )
        out.print(f"  to {level.value.replace('_', ' ')} when {conditions}", highlight=False)


def _moment(value: str | None, settings: Settings, rules: Rules) -> datetime:
    """--as-of for moments: "2018-10-15T10:00" (the rules' time zone unless an offset is
    given), or a date, meaning 09:00 that day; default now."""
    if value is None:
        return _now()
    zone = rules.working_calendar().zone
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(9), zone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"--as-of: expected a moment like 2018-10-15T10:00 or a date, got {value!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


@app.command()
def tick(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Decide as at this moment (2018-10-15T10:00).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be sent and store nothing.")
    ] = False,
) -> None:
    """One evaluation and delivery: remind, escalate, send the digests that are due.

    With --dry-run it only prints what it would do and stores nothing.

    Example: actionbot tick --as-of 2018-10-15T10:00 --dry-run
    """
    settings = _settings()
    loaded = _rules(settings)
    now = _moment(as_of, settings, loaded.rules)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    with session(engine) as s:
        if not plan_ids(s):
            _fail("the database holds no plans yet: run `actionbot init` (or `actionbot import`)")
    if dry_run:
        # the same streamed evaluation a tick runs, without storing
        with session(engine) as s:
            _print_decisions(s, evaluate(s, loaded.rules, now), now, loaded)
        return
    from bot.chasing import tick as run_tick
    from bot.chasing import transports_for

    result = run_tick(engine, loaded, settings, now, transports_for(settings))
    with session(engine) as s:
        _print_decisions(s, result.decisions, now, loaded)
    report = result.delivery
    assert report is not None
    out.print(
        f"queued {result.queued} message(s); sent {report.sent}, failed {report.failed}, "
        f"retrying later {report.retrying}",
        highlight=False,
    )
    _say_where(settings)
    for problem in report.errors:
        err.print(f"  not delivered: {problem}", markup=False, highlight=False)


def _say_where(settings: Settings) -> None:
    mail = settings.mail
    if mail is not None and not mail.smtp_host:
        out.print(f"e-mail is written to {mail.outbox_dir} (SMTP_HOST is not set)", highlight=False)


@app.command()
def digest(
    kind: Annotated[str, typer.Argument(help="operational, strategic or chair.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Build it as at this moment (2018-10-15T09:00).")
    ] = None,
    preview: Annotated[
        bool, typer.Option("--preview", help="Print it instead of sending; store nothing.")
    ] = False,
) -> None:
    """Build one digest now: the operational group's, the strategic board's or the chair's
    weekly summary.

    Example: actionbot digest operational --as-of 2018-12-03T09:00 --preview
    """
    from bot.chasing import send_digest_now, transports_for

    if kind not in ("operational", "strategic", "chair"):
        _fail(f"kind: expected operational, strategic or chair, got {kind!r}")
    settings = _settings()
    loaded = _rules(settings)
    now = _moment(as_of, settings, loaded.rules)
    _plans(settings.database_url, None)
    engine = make_engine(settings.database_url)
    text = send_digest_now(
        engine,
        loaded,
        settings,
        now,
        kind,  # type: ignore[arg-type]
        None if preview else transports_for(settings),
    )
    if preview:
        print(text)
    else:
        out.print(f"the {kind} digest is sent", highlight=False)
        _say_where(settings)


def _print_decisions(s: Session, decisions: Decisions, now: datetime, loaded: LoadedRules) -> None:
    local = loaded.rules.working_calendar().local(now)
    out.print(f"As at {local:%a %d %b %Y %H:%M %Z} under rules {loaded.version}:", highlight=False)
    if not decisions:
        out.print("  nothing to do")
    for batch in _batches(decisions.reminders):
        titles = _titles(s, {a.action_id for r in batch for a in r.asks})
        for r in batch:
            out.print(f"  remind {r.lead.name} about {len(r.asks)} action(s):", highlight=False)
            for a in r.asks:
                when = f", due {a.due:%d %b %Y}" if a.due else ""
                late = f", {a.days_overdue} days overdue" if a.days_overdue else ""
                out.print(
                    f"    {a.plan_id} {a.ref} — {titles[a.action_id]} ({a.reason}{when}{late})",
                    highlight=False,
                    markup=False,
                )
    for e in decisions.escalations:
        out.print(
            f"  escalate {e.plan_id} {e.ref} from {e.from_level.value} to "
            f"{e.to_level.value}: {e.because}",
            highlight=False,
            markup=False,
        )
    for z in decisions.resets:
        out.print(
            f"  back to its lead after progress: {z.plan_id} {z.ref} (was at {z.from_level.value})",
            highlight=False,
        )
    for d in decisions.digests:
        out.print(f"  send the {d.kind} digest (due {d.due_at:%a %d %b %H:%M})", highlight=False)


_TITLES_AT_ONCE = 5000


def _batches(reminders: tuple[RemindLead, ...]) -> Iterator[tuple[RemindLead, ...]]:
    """Reminders a few thousand asks at a time: only their actions' titles are read and held."""
    start, asks = 0, 0
    for i, r in enumerate(reminders):
        if asks and asks + len(r.asks) > _TITLES_AT_ONCE:
            yield reminders[start:i]
            start, asks = i, 0
        asks += len(r.asks)
    if start < len(reminders):
        yield reminders[start:]


def _titles(s: Session, action_ids: set[int]) -> dict[int, str]:
    """The titles of only these actions. PostgreSQL gets the ids as one array (`= ANY`): a
    list of thousands of bound ids costs it more to plan than to answer. SQLite gets them as
    one JSON array: thousands of bound ids cost SQLAlchemy more to render than SQLite to
    answer (most of the time of these titles at 100k actions)."""
    ids = sorted(action_ids)
    listed: Any = col(m.Action.id).in_(bindparam("ids", expanding=True))
    bound: Callable[[list[int]], Any] = list
    dialect = s.connection().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        listed = col(m.Action.id) == func.any(bindparam("ids", type_=ARRAY(Integer)))
    elif dialect == "sqlite":
        from sqlalchemy import String, literal_column
        from sqlalchemy import select as core_select

        each = func.json_each(bindparam("ids", type_=String))
        listed = col(m.Action.id).in_(core_select(literal_column("value")).select_from(each))
        bound = json.dumps
    query = select(m.Action.id, m.Action.title).where(listed)
    titles: dict[int, str] = {}
    for i in range(0, len(ids), _TITLES_AT_ONCE):
        rows = s.connection().execute(query, {"ids": bound(ids[i : i + _TITLES_AT_ONCE])})
        titles.update((action_id, title) for action_id, title in rows)
    return titles


def _one_action(s: Session, ref: str, plan: str | None) -> m.Action:
    from bot.history import AmbiguousRef, find_action

    try:
        action = find_action(s, ref, plan)
    except AmbiguousRef as exc:
        _fail(str(exc))
    if action is None:
        _fail(f"no action {ref!r}{' in ' + plan if plan else ''}")
    return action


@app.command("history")
def history_(
    ref: Annotated[str, typer.Argument(help="The action's ref, e.g. 2.3.3.")],
    plan: PlanOpt = None,
) -> None:
    """Everything that happened to one action: progress entries, reminders, escalations,
    messages sent or failed, in time order.

    Example: actionbot history 2.3.3 --plan mscb-2017-20
    """
    from bot.history import history

    settings = _settings()
    engine = make_engine(settings.database_url)
    create_schema(engine)
    with session(engine) as s:
        action = _one_action(s, ref, plan)
        entries = history(s, action)
    out.print(
        f"{action.plan_id} {action.ref} — {action.title} ({action.status})",
        highlight=False,
        markup=False,
    )
    for e in entries:
        out.print(f"  {e.when:<16} {e.what:<11} {e.text}", highlight=False, markup=False)
    if not entries:
        out.print("  nothing recorded yet")


@app.command("snooze")
def snooze_(
    ref: Annotated[str, typer.Argument(help="The action's ref, e.g. 2.3.3.")],
    until: Annotated[str, typer.Option("--until", help="The last day of the pause (YYYY-MM-DD).")],
    by: Annotated[str, typer.Option("--by", help="Who agreed it, e.g. the operational group.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the history.")] = None,
    plan: PlanOpt = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Record it as at this moment (default now).")
    ] = None,
) -> None:
    """Stop chasing one action until a date, as the operational group agreed; no reminders or
    escalation until the day after. A snooze that ended before today lifts an earlier one.

    Example: actionbot snooze 4.2.1 --until 2019-03-31 --by "MASH Operational Group"
    """
    from bot.snooze import snooze

    last_day = _day("--until", until)
    settings = _settings()
    rules = _rules(settings).rules
    now = _moment(as_of, settings, rules)
    today = rules.working_calendar().today(now)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    with session(engine) as s, s.begin():
        action = _one_action(s, ref, plan)
        try:
            snooze(s, action, last_day, by, reason, now)
        except ValueError as exc:
            _fail(str(exc))
        where = f"{action.plan_id} {action.ref}"
    if last_day < today:
        out.print(f"{where}: snooze lifted; chasing resumes at the next run", highlight=False)
    else:
        out.print(f"{where}: not chased until after {last_day:%d %b %Y}", highlight=False)


@app.command("ingest-email")
def ingest_email_(
    source: Annotated[
        str, typer.Argument(help="A file holding one RFC 822 message, or - for standard input.")
    ] = "-",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Take it as received at this moment.")
    ] = None,
) -> None:
    """Take in one e-mail reply, as the IMAP poller would: record it as progress on the right
    action, or quarantine it, or note it as an out-of-office or a bounce. A mail server can
    pipe mail for the reply address into this command. Exit status 0 whatever the message was
    (it is logged); 2 when the file cannot be read.

    Example: actionbot ingest-email reply.eml
    """
    from bot.chasing import transports_for
    from bot.delivery import deliver
    from bot.inbound.email_replies import ingest_email

    settings = _settings()
    loaded = _rules(settings)
    now = _moment(as_of, settings, loaded.rules)
    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        _fail(f"{source}: cannot read: {exc.strerror or exc}")
    engine = make_engine(settings.database_url)
    create_schema(engine)
    result = ingest_email(engine, raw, settings, loaded, now)
    refs = f" on {', '.join(result.refs)}" if result.refs else ""
    reason = f": {result.reason}" if result.reason else ""
    out.print(f"{result.outcome}{refs}{reason}", highlight=False, markup=False)
    if result.outcome == "recorded":
        report = deliver(engine, transports_for(settings), now)
        out.print(f"confirmation: sent {report.sent}, failed {report.failed}", highlight=False)


@app.command("fetch-mail")
def fetch_mail(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Take the mail as received at this moment.")
    ] = None,
) -> None:
    """Read the bot's mailbox once (IMAP_HOST): take in every new reply, then move it to the
    Processed or Quarantine folder. `actionbot run` does this every two minutes by itself.

    Example: actionbot fetch-mail
    """
    from bot.inbound.imap import MailboxPoller
    from bot.inbound.mail_loop import poll_mail

    settings = _settings()
    loaded = _rules(settings)
    if settings.imap is None:
        _fail("IMAP_HOST is not set, so there is no mailbox to read")
    now = _moment(as_of, settings, loaded.rules)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    with MailboxPoller(settings.imap) as poller:
        report = poll_mail(engine, settings, loaded, poller, lambda: now)
    out.print(
        f"{len(report.handed)} new: {len(report.processed)} processed, "
        f"{len(report.quarantined)} quarantined, {len(report.failed)} failed",
        highlight=False,
    )
    for error in report.errors:
        err.print(f"error: {error}", highlight=False, markup=False)
    if report.errors:
        raise typer.Exit(1)


@app.command()
def run(
    every: Annotated[int, typer.Option("--every", min=1, help="Minutes between ticks.")] = 15,
    deliver_every: Annotated[
        float,
        typer.Option("--deliver-every", min=0.1, help="Seconds between delivery passes."),
    ] = 60.0,
) -> None:
    """Run the chase in the foreground until stopped (SIGTERM or Ctrl-C): a tick every few
    minutes reminds, escalates, sends digests and delivers; each tick logs one line. Replies
    are read from the mailbox when IMAP_HOST is set, the Slack app answers the "Add update"
    buttons when SLACK_APP_TOKEN (or SLACK_MODE=http) is set, and the web app (`actionbot
    serve`) is served beside them when WEB_BASE_URL is set. Several processes may
    run on one PostgreSQL database: one leads (runs the ticks and reads the mailbox), all of
    them deliver, and another takes over within seconds when the leader stops.

    Example: actionbot run --every 15
    """
    from bot.inbound.slack_serve import SlackStartError, start_slack
    from bot.scheduler import run as run_scheduler
    from bot.web.serve import WebStartError, start_web_if_configured

    settings = _settings()
    loaded = _rules(settings)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    if settings.slack_token is None:
        out.print("Slack is off: SLACK_BOT_TOKEN is not set.", highlight=False)
    _say_where(settings)
    if settings.imap is None:
        out.print("Replies are not read: IMAP_HOST is not set.", highlight=False)
    try:
        web = start_web_if_configured(engine, settings, loaded)
        # with the web app running, Slack's HTTP mode is served by it, at /slack/events
        stop_slack = start_slack(engine, settings, loaded, mount=web.mount_slack if web else None)
    except (SlackStartError, WebStartError) as exc:
        _fail(str(exc))

    def when_leading() -> list[Callable[[], None]]:
        if settings.imap is None:
            return []
        from bot.inbound.mail_loop import start_mail_loop

        return [start_mail_loop(engine, settings, loaded)]

    try:
        run_scheduler(engine, settings, loaded, every, deliver_every, when_leading)
    finally:
        stop_slack()
        if web is not None:
            web.stop()


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Listen on this address (default WEB_HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="Listen on this port (default WEB_PORT)."),
    ] = None,
) -> None:
    """Serve the web app in the foreground until stopped (Ctrl-C or SIGTERM): the dashboard
    and each action's history, for the governance groups' members and contacts and the
    WEB_ADMINS, who sign in with a link sent by e-mail; and the update page that reminders
    link to (with WEB_BASE_URL set), where a lead records an update without signing in. With
    SLACK_MODE=http, Slack's requests are served at /slack/events too. `actionbot run` serves
    the same app by itself when WEB_BASE_URL is set.

    Example: actionbot serve --host 127.0.0.1 --port 8080
    """
    from bot.chasing import transports_for
    from bot.inbound.slack_serve import SlackStartError, start_slack
    from bot.web.serve import WebStartError, serve_forever

    settings = _settings()
    loaded = _rules(settings)
    engine = make_engine(settings.database_url)
    create_schema(engine)

    def slack(web_app: Any) -> None:
        if settings.slack_token is not None and settings.slack_mode == "http":
            from bot.web.app import mount_slack

            start_slack(engine, settings, loaded, mount=lambda bolt: mount_slack(web_app, bolt))

    try:
        serve_forever(
            engine,
            settings,
            loaded,
            host=host,
            port=port,
            transports=transports_for(settings),
            slack=slack,
        )
    except (SlackStartError, WebStartError) as exc:
        _fail(str(exc))


@app.command()
def demo(
    start: Annotated[
        str, typer.Option("--from", help="The first simulated day (YYYY-MM-DD).")
    ] = "2018-09-01",
    end: Annotated[
        str, typer.Option("--to", help="The day the simulation stops, not played (YYYY-MM-DD).")
    ] = "2019-04-01",
    outbox: Annotated[
        Path | None,
        typer.Option("--outbox", help="Where to write the messages (default: OUTBOX_DIR/demo)."),
    ] = None,
) -> None:
    """Play both real plans forward day by day under rules/, on a throw-away database.

    A progress entry dated after the simulated day has not been written yet: it comes back on
    its date as the lead's reply. Every reminder, digest and chair's summary is written to the
    outbox folder as an .eml file dated when it would have been sent. Needs no account or
    server; your own database is not touched.

    Example: actionbot demo --from 2018-09-01 --to 2019-04-01 --outbox /tmp/demo-mail
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.demo import DemoError, play, prepare_outbox

    settings = _settings()
    loaded = _rules(settings)
    first, stop = _day("--from", start), _day("--to", end)
    if stop <= first:
        _fail(f"--to {stop} must be after --from {first}")
    assert settings.mail is not None
    folder = outbox or settings.mail.outbox_dir / "demo"
    try:
        prepare_outbox(folder)
    except DemoError as exc:
        _fail(str(exc))
    _quiet_per_message_logs(settings)
    zone = ZoneInfo(loaded.rules.calendar.timezone)
    with _scratch_database() as url:
        engine = make_engine(url)
        try:
            import_files(
                engine,
                [settings.people_file, settings.plans_dir],
                datetime.combine(first, time(0, 0), zone),
            )
        except InputFileError as exc:
            _report_input_error(exc)
        days = (stop - first).days
        with Progress(
            TextColumn("playing the plans forward"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=out,
        ) as bar:
            task = bar.add_task("", total=days)
            report = play(
                engine,
                loaded,
                settings,
                first,
                stop,
                folder,
                on_day=lambda day: bar.update(task, advance=1, description=f"{day:%d %b %Y}"),
            )
        _print_timeline(report)
        with session(engine) as s:
            plans = load_plans(s)
            state = load_state(s, plans)
        last = stop - timedelta(days=1)
        _print_summary(plans, status_rows(plans, last), last)
        _print_ladder(state)
    _print_where(folder)


def _day(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: expected a date like 2018-09-01, got {value!r}")


def _quiet_per_message_logs(settings: Settings) -> None:
    """One log line per message written would bury the progress bar; DEBUG still shows them."""
    if settings.log_level != "DEBUG":
        logging.getLogger("bot").setLevel(logging.WARNING)


_TIMELINE = (
    ("reply", "replies"),
    ("reminder", "reminders"),
    ("escalated:operational_group", "to op\ngroup"),
    ("escalated:strategic_board", "to\nboard"),
    ("escalated:chair", "to\nchair"),
    ("operational-digest", "op\ndigests"),
    ("strategic-digest", "board\ndigests"),
    ("chair-summary", "chair\nsummaries"),
)


def _print_timeline(report: DemoReport) -> None:
    table = Table(
        title=f"What happened, {report.start:%d %b %Y} to {report.end:%d %b %Y}",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("month", no_wrap=True)
    for _key, heading in _TIMELINE:
        table.add_column(heading, justify="right", no_wrap=True)
    totals: Counter[str] = Counter()
    for month, counts in report.months.items():
        totals.update(counts)
        label = datetime.strptime(month, "%Y-%m").strftime("%b %Y")
        table.add_row(label, *(str(counts.get(key, 0)) for key, _ in _TIMELINE))
    table.add_row("total", *(str(totals.get(key, 0)) for key, _ in _TIMELINE), style="bold")
    out.print(table)
    out.print(
        f"{report.ticks} runs (when sending hours open each day, and at each digest's time); "
        f"{report.replies} of the plans' {report.held_back} later updates came back "
        "as the leads' replies on their dates"
        + (f"; {report.failed} message(s) could not be written" if report.failed else ""),
        highlight=False,
    )


def _print_ladder(state: State) -> None:
    """Who the boards are chasing at the end: refs by level, the chair's first."""
    out.print("\nWhere the escalations stand at the end of the run:", highlight=False)
    for level in reversed(list(Level)[1:]):
        mine = [a for a in state.actions if a.chase.level is level and a.status != "complete"]
        by_plan: dict[str, list[str]] = {}
        for a in mine:
            by_plan.setdefault(a.plan_id, []).append(a.ref)
        refs = "; ".join(f"{plan} {', '.join(r)}" for plan, r in sorted(by_plan.items()))
        name = level.value.replace("_", " ")
        out.print(f"  {name:18} {len(mine):3}  {refs}", highlight=False)


def _print_where(folder: Path) -> None:
    files = sorted(p.name for p in folder.glob("*.eml"))
    out.print(f"\n{len(files)} messages are in {folder}/ (open them in any mail program):")
    for kind in ("reminder", "operational-digest", "strategic-digest", "chair-summary"):
        mine = [f for f in files if f"-{kind}-" in f]
        if mine:
            out.print(f"  {len(mine):4} {kind + ':':20} e.g. {folder / mine[-1]}", highlight=False)
    out.print(
        "Next: `actionbot init` loads the plans into your own database; "
        "`actionbot check-data` lists what to fix; `actionbot run` starts chasing.",
        highlight=False,
    )


def _print_summary(plans: list[PlanView], rows: list[StatusRow], day: date) -> None:
    table = Table(
        title=f"The plans on {day:%d %b %Y}", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    for heading in (
        "plan",
        "actions",
        "complete",
        "overdue",
        "quiet 90+\ndays",
        "progress\nentries",
    ):
        table.add_column(heading, justify="left" if heading == "plan" else "right")
    for p in plans:
        mine = [r for r in rows if r.plan == p.id]
        table.add_row(
            p.id,
            str(len(mine)),
            str(sum(r.status == "complete" for r in mine)),
            str(sum(r.days_overdue is not None for r in mine)),
            str(sum((r.days_since_update or 0) > 90 or r.last_update is None for r in mine)),
            str(sum(len(a.progress) for a in p.actions)),
        )
    out.print(table)


@contextmanager
def _scratch_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="actionbot-demo-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'demo.db'}"


def main() -> None:
    try:
        app()
    except UnversionedDatabaseError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None
