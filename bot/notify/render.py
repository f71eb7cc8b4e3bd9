"""Turns a message's content value into its subject, text part and HTML part with Jinja2.

Templates live in the repository's ``templates/`` folder so wording can change without touching
code. They run in a sandbox with ``StrictUndefined``: a typo in a template fails the test that
renders it instead of sending a lead a reminder with a blank where the action's title should be.
HTML parts are autoescaped because everything shown (titles, progress, names) is user text;
text parts are not escaped, since a lead should read ``&`` and not ``&amp;``. Wording shared by
both parts lives in one file that is compiled twice: as itself for text, and under the ``html/``
prefix with autoescaping for HTML.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.environment import Template, TemplateModule
from jinja2.runtime import Context, Macro
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from bot.notify import content as _content
from bot.notify.content import (
    LEVEL_NAMES,
    ChairSummary,
    Confirmation,
    Digest,
    Question,
    Reminder,
    SignIn,
)
from bot.plans.partial_date import PartialDate

__all__ = ["KINDS", "TEMPLATES", "Rendered", "environment", "forget_templates", "render"]


def _templates_folder() -> Path:
    """The checkout's `templates/` (a clone, an editable install); an installed package (the
    Docker image) has none beside it and uses the one in the working folder, as `rules/` does."""
    beside = Path(__file__).resolve().parents[2] / "templates"
    return beside if beside.is_dir() else Path("templates").resolve()


TEMPLATES = _templates_folder()
# Each kind's content type and the name the templates know it by.
KINDS: dict[str, tuple[type, str]] = {
    "reminder": (Reminder, "reminder"),
    "operational-digest": (Digest, "digest"),
    "strategic-digest": (Digest, "digest"),
    "chair-summary": (ChairSummary, "summary"),
    "confirmation": (Confirmation, "confirmation"),
    "question": (Question, "question"),
    "sign-in": (SignIn, "sign_in"),
}
NONE = "—"
RAG_COLOURS = {  # background, text: GOV.UK's red, orange and green, readable in both themes
    "red": ("#d4351c", "#ffffff"),
    "amber": ("#f47738", "#0b0c0c"),
    "green": ("#00703c", "#ffffff"),
}
NO_RAG_COLOURS = ("#f3f2f1", "#0b0c0c")
HTML_PREFIX = "html/"  # "html/_words.j2" is "_words.j2" compiled for an HTML part
_html_extension = select_autoescape(enabled_extensions=("html.j2",), default=False)
# The field names of every frozen value type bot/notify/content.py holds (its own, PartialDate).
_FIELDS: dict[type, frozenset[str]] = {
    kind: frozenset(f.name for f in fields(kind) if not f.name.startswith("_"))
    for kind in vars(_content).values()
    if isinstance(kind, type) and is_dataclass(kind)
}


@dataclass(frozen=True)
class Rendered:
    """One message's words, ready for any transport: e-mail takes all three parts."""

    subject: str
    text: str
    html: str


Content = Reminder | Digest | ChairSummary | Confirmation | Question | SignIn


def render(kind: str, content: Content, templates: Path | None = None) -> Rendered:
    """Renders the three parts of one message; `templates` replaces the repository's folder."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}; expected one of {', '.join(KINDS)}")
    expected, name = KINDS[kind]
    if not isinstance(content, expected):
        raise TypeError(
            f"a {kind} is rendered from a {expected.__name__}, got {type(content).__name__}"
        )
    if isinstance(content, Digest) and content.kind != kind:
        raise ValueError(f"asked to render a {kind} from a digest of kind {content.kind!r}")
    env = environment(templates)
    context: dict[str, Any] = {name: content, "kind": kind, "level_names": LEVEL_NAMES}
    subject = env.get_template(f"{kind}.subject.j2").render(context)
    return Rendered(
        subject=" ".join(subject.split()),
        text=env.get_template(f"{kind}.txt.j2").render(context).rstrip() + "\n",
        html=env.get_template(f"{kind}.html.j2").render(context),
    )


def environment(templates: Path | None = None) -> SandboxedEnvironment:
    """The sandboxed environment for a templates folder, built once per folder."""
    return _environment(_default_folder() if templates is None else templates.resolve())


@functools.cache
def _default_folder() -> Path:
    return TEMPLATES.resolve()


def forget_templates() -> None:
    """Templates are compiled once and not checked for changes at each message (that check,
    a stat of every file a template uses, cost more than rendering); the runner calls this
    once per tick, so an edited template is used from the next tick on."""
    _environment.cache_clear()


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, remembering its answers on which attributes templates may read, and
    taking a short way for what it would always allow.

    The sandbox asks for every attribute a template reads, thousands of times per tick, and
    that question was a tenth of rendering a reminder. Its answer depends only on the object's
    type and the attribute's name (`is_internal_attribute` looks at nothing else), so it is
    asked once per pair. An object whose `__class__` is not its type is asked every time.

    Two cases are answered without asking, the same answer the sandbox gives, since they are
    most of what a reminder's templates do per action: a field of one of our frozen content
    values (bot/notify/content.py; no field is private and none holds a method), and a
    template's own macro, read from an imported template and called.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._safe: dict[tuple[type, str], bool] = {}
        self._loaded: dict[tuple[str, str | None], Template] = {}

    def get_template(
        self,
        name: str | Template,
        parent: str | None = None,
        globals: MutableMapping[str, Any] | None = None,
    ) -> Template:
        """Each template by name, as Jinja's cache holds it: never reloaded and never evicted
        here, so the answer is asked for once (a reminder asks it about ten times)."""
        if globals is not None or not isinstance(name, str):
            return super().get_template(name, parent, globals)
        found = self._loaded.get((name, parent))
        if found is None:
            found = self._loaded[(name, parent)] = super().get_template(name, parent)
        return found

    def getattr(self, obj: Any, attribute: str) -> Any:
        names = _FIELDS.get(type(obj))
        if names is not None and attribute in names:
            value = getattr(obj, attribute)
            if not callable(value):  # a str.format method would be wrapped by the sandbox
                return value
        elif type(obj) is TemplateModule and not attribute.startswith("_"):
            value = getattr(obj, attribute, None)
            if type(value) is Macro:
                return value
        return super().getattr(obj, attribute)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """A template's macro is called as `Context.call` calls it (with the evaluation
        context, which sets its escaping), without first asking whether it is marked unsafe:
        a macro never is, since templates cannot set attributes."""
        if type(__obj) is not Macro:
            return super().call(__context, __obj, *args, **kwargs)
        kwargs.pop("_block_vars", None)
        kwargs.pop("_loop_vars", None)
        try:
            return __obj(__context.eval_ctx, *args, **kwargs)
        except StopIteration:
            return __context.environment.undefined(
                "value was undefined because a callable raised a StopIteration exception"
            )

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        kind = type(obj)
        if obj.__class__ is not kind:
            return super().is_safe_attribute(obj, attr, value)
        known = self._safe.get((kind, attr))
        if known is None:
            known = self._safe[(kind, attr)] = super().is_safe_attribute(obj, attr, value)
        return known


@functools.cache
def _environment(folder: Path) -> SandboxedEnvironment:
    env = _Sandbox(
        loader=_Loader(folder),
        undefined=StrictUndefined,
        autoescape=_autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
        cache_size=-1,  # every template stays compiled: there are a few dozen
    )
    env.filters.update(
        human=human,
        days=days,
        excerpt=excerpt,
        mailto=mailto,
        rag_colours=rag_colours,
    )
    return env


class _Loader(FileSystemLoader):
    """Serves "html/NAME" from NAME; the template keeps its full name, which sets its escaping."""

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        return super().get_source(environment, template.removeprefix(HTML_PREFIX))


def _autoescape(name: str | None) -> bool:
    """HTML parts, and shared files loaded for them, escape everything they print."""
    return _html_extension(name) or (name or "").startswith(HTML_PREFIX)


# --- filters: the few things templates cannot say simply themselves --------------------------


def human(value: PartialDate | date | datetime | None) -> str:
    """Dates as the plans write them: "14 Oct 2018", "Oct 2018"; "—" when there is none."""
    if value is None:
        return NONE
    if type(value) in _DATE_TYPES:
        return _human(value)
    return _spelled(value)


# A tick shows the same few hundred dates thousands of times, and each month's name is asked of
# strftime every time: each date is written once.
_DATE_TYPES = frozenset({PartialDate, date, datetime})


@functools.lru_cache(maxsize=4096, typed=True)
def _human(value: PartialDate | date | datetime) -> str:
    return _spelled(value)


def _spelled(value: PartialDate | date | datetime) -> str:
    if isinstance(value, PartialDate):
        return value.human()
    return f"{value.day} {calendar.month_abbr[value.month]} {value.year}"


def days(value: int | None) -> str:
    """ "12 days", "1 day", "—"; a negative count (due in the future) reads as its size."""
    if value is None:
        return NONE
    n = abs(value)
    return f"{n} day" if n == 1 else f"{n} days"


def excerpt(text: str | None, limit: int = 160) -> str:
    """The start of a progress entry, cut at a word, so a lead recognises it at a glance."""
    if not text:
        return ""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] if " " in flat[:limit] else flat[:limit]
    return re.sub(r"[\s,;:.\-–—]+$", "", cut) + "…"


def mailto(address: str, subject: str | None = None) -> str:
    """A mailto: link to a reply address, with a subject; the template escapes it for HTML.

    Words from the shared macros arrive already escaped in an HTML part; they are unescaped
    here so a ref such as "R&D 1" reaches the mail client as written, not as "R&amp;D 1".
    """
    if isinstance(subject, Markup):
        subject = subject.unescape()
    url = "mailto:" + quote(address, safe="@+")
    return url + ("?subject=" + quote(subject, safe="") if subject else "")


def rag_colours(rag: str | None) -> tuple[str, str]:
    """(background, text) colours of a RAG cell; grey for an action nobody has rated."""
    return RAG_COLOURS.get(rag or "", NO_RAG_COLOURS)
