"""How people write names in plans, and the form they are compared in.

Pure string handling, shared by the converters (which keep names as written) and the people
register (which resolves them), so both agree on what "the same name" means.
"""

from __future__ import annotations

import re

# "sub group", "sub-group", "subgroups" are one word to a reader.
_SUBGROUP = re.compile(r"\bsub[\s-]*groups?\b")
_SPACES = re.compile(r"\s+")
# A trailing "(Organisation)" or ", Organisation" after a name.
_TRAILING_PAREN = re.compile(r"^(?P<name>.*?)\s*\((?P<org>[^()]*)\)\s*$")
_TRAILING_COMMA = re.compile(r"^(?P<name>[^,]+),\s*(?P<org>[^,]+)$")


def normalise(name: str) -> str:
    """The form names are compared in: case, '&', spacing and 'sub group' spelling ignored."""
    text = name.lower().replace("&", " and ").replace("’", "'")
    text = _SUBGROUP.sub("subgroup", text)
    text = _SPACES.sub(" ", text).strip(" .,;:-–")
    return text


def split_written(written: str) -> tuple[str, str | None]:
    """'Tracy Anstis, Kent Police' -> ('Tracy Anstis', 'Kent Police')."""
    written = _SPACES.sub(" ", written).strip(" .,;")
    m = _TRAILING_PAREN.match(written)
    if m and m.group("name"):
        return m.group("name").strip(" ,"), m.group("org").strip() or None
    m = _TRAILING_COMMA.match(written)
    if m:
        return m.group("name").strip(), m.group("org").strip()
    return written, None
