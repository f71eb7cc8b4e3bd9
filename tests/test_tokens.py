"""Reply tokens: a reply is matched to its action only through an unaltered, signed token."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.notify.tokens import reply_address, sign, token_from_address, verify

SECRET = b"a test secret, not the real one"
BASE = "updates@example.org"

kinds = st.sampled_from(["a", "m"]) | st.from_regex(r"\A[a-z]{1,8}\Z")
ids = st.lists(st.integers(min_value=0, max_value=2**63 - 1), max_size=4)
db_id = st.integers(min_value=0, max_value=2**31 - 1)
TOKEN_CHARS = string.ascii_lowercase + string.digits


@given(kinds, ids)
def test_a_signed_token_verifies_to_its_kind_and_ids(kind: str, values: list[int]):
    token = sign(SECRET, kind, *values)
    assert re.fullmatch(r"[a-z0-9]+", token)
    assert verify(SECRET, token) == (kind, tuple(values))


@given(kinds, ids)
def test_a_mail_system_changing_the_case_does_not_break_a_token(kind: str, values: list[int]):
    assert verify(SECRET, sign(SECRET, kind, *values).upper()) == (kind, tuple(values))


@given(db_id, db_id)
def test_an_action_token_stays_short_enough_for_an_address(action_id: int, person_id: int):
    assert len(sign(SECRET, "a", action_id, person_id)) <= 40


@given(kinds, ids, st.data())
def test_any_single_character_change_fails(kind: str, values: list[int], data: st.DataObject):
    token = sign(SECRET, kind, *values)
    i = data.draw(st.integers(min_value=0, max_value=len(token) - 1), label="position")
    other = data.draw(st.sampled_from(TOKEN_CHARS).filter(lambda c: c != token[i]), label="char")
    assert verify(SECRET, token[:i] + other + token[i + 1 :]) is None


@given(kinds, ids, st.data())
def test_a_truncated_or_extended_token_fails(kind: str, values: list[int], data: st.DataObject):
    token = sign(SECRET, kind, *values)
    cut = data.draw(st.integers(min_value=0, max_value=len(token) - 1), label="cut")
    assert verify(SECRET, token[:cut]) is None
    assert verify(SECRET, token + data.draw(st.sampled_from(TOKEN_CHARS))) is None


@given(kinds, ids, st.binary(min_size=1, max_size=64).filter(lambda s: s != SECRET))
def test_another_secret_fails(kind: str, values: list[int], other_secret: bytes):
    assert verify(other_secret, sign(SECRET, kind, *values)) is None


@given(st.text(max_size=60))
def test_arbitrary_text_is_refused_without_an_error(text: str):
    assert verify(SECRET, text) is None


def test_an_empty_secret_verifies_nothing():
    assert verify(b"", sign(SECRET, "a", 1, 2)) is None


@pytest.mark.parametrize(
    "kind, values, error",
    [
        ("A", (1,), "lowercase"),
        ("a1", (1,), "lowercase"),
        ("", (1,), "lowercase"),
        ("a", (-1,), "negative"),
    ],
)
def test_sign_refuses_what_could_not_be_read_back(kind: str, values: tuple[int, ...], error: str):
    with pytest.raises(ValueError, match=error):
        sign(SECRET, kind, *values)


def test_sign_refuses_an_empty_secret():
    with pytest.raises(ValueError, match="empty"):
        sign(b"", "a", 1)


@given(kinds, ids)
def test_reply_address_round_trip(kind: str, values: list[int]):
    token = sign(SECRET, kind, *values)
    address = reply_address(BASE, token)
    assert address == f"updates+{token}@example.org"
    assert token_from_address(address, BASE) == token


def test_token_comes_out_of_a_header_whatever_the_case():
    token = sign(SECRET, "a", 12, 7)
    header = f'"Updates (actionbot)" <UPDATES+{token.upper()}@Example.ORG>'
    found = token_from_address(header, BASE)
    assert found == token
    assert verify(SECRET, found) == ("a", (12, 7))


@pytest.mark.parametrize(
    "address",
    [
        "updates@example.org",  # no token
        "updates+@example.org",
        "updates+abc@example.net",  # another domain
        "other+abc@example.org",  # another mailbox
        "updatesx+abc@example.org",
        "updates+ab-c@example.org",  # not a token's alphabet
        "not an address",
        "",
    ],
)
def test_token_from_address_refuses_what_is_not_ours(address: str):
    assert token_from_address(address, BASE) is None


@pytest.mark.parametrize("base", ["updates", "@example.org", "updates@"])
def test_reply_address_needs_a_whole_base_address(base: str):
    with pytest.raises(ValueError, match="base address"):
        reply_address(base, "abc")


def test_reply_address_refuses_a_token_that_is_not_one():
    with pytest.raises(ValueError, match="a-z and 0-9"):
        reply_address(BASE, "ab@c")
