"""Signed reply tokens: which action (or message) a reply is about, carried in the reply address.

A reminder's Reply-To and each action's mailto link are plus-addresses such as
``updates+<token>@example.org``. The token names the thing replied to and is signed with the
bot's secret, so a reply is matched to its action without trusting the subject line, and a
forged or mistyped address is refused before anything is stored.

Mail systems may change the case of a local part and some refuse anything but letters and
digits in it, so a token is lowercase base32 without padding: only ``[a-z2-7]``. Verification
folds case, and refuses any text that is not the one canonical encoding of its bytes, so no two
different strings verify as the same token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from email.utils import parseaddr

__all__ = ["MAC_BYTES", "reply_address", "sign", "token_from_address", "verify"]

# 80 bits: far beyond guessing by sending mail, and it keeps a token for two ids under 40 chars.
MAC_BYTES = 10
_KIND = re.compile(r"^[a-z]{1,8}$")
_TOKEN = re.compile(r"^[a-z0-9]+$")


def sign(secret: bytes, kind: str, *ids: int) -> str:
    """A token for `kind` ("a": action_id, person_id; "m": outbox id) and its ids."""
    if not secret:
        raise ValueError("the token secret is empty")
    if not _KIND.match(kind):
        raise ValueError(f"token kind must be 1-8 lowercase letters, got {kind!r}")
    payload = bytes([len(kind)]) + kind.encode("ascii") + b"".join(_varint(i) for i in ids)
    return _b32(payload + _mac(secret, payload))


def verify(secret: bytes, token: str) -> tuple[str, tuple[int, ...]] | None:
    """(kind, ids) when `token` is one this secret signed, unaltered; None for anything else."""
    raw = _unb32(token)
    if raw is None or len(raw) < MAC_BYTES + 2:
        return None
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if not secret or not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    return _parse_payload(payload)


def reply_address(base: str, token: str) -> str:
    """``updates@example.org`` + token -> ``updates+token@example.org``."""
    local, at, domain = base.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"reply base address must look like updates@example.org, got {base!r}")
    if not _TOKEN.match(token):
        raise ValueError(f"a reply token holds only a-z and 0-9, got {token!r}")
    return f"{local}+{token}@{domain}"


def token_from_address(address: str, base: str) -> str | None:
    """The token in a plus-address made from `base`; None when the address is not one of ours.

    `address` may be a bare address or a header value such as ``Updates <updates+x@example.org>``.
    Local part and domain are compared without regard to case, since mail systems change it.
    """
    addr = parseaddr(address)[1] or address.strip()
    local, at, domain = addr.rpartition("@")
    base_local, base_at, base_domain = base.strip().rpartition("@")
    if not at or not base_at or domain.casefold() != base_domain.casefold():
        return None
    prefix = base_local.casefold() + "+"
    if not local.casefold().startswith(prefix):
        return None
    token = local[len(prefix) :].lower()
    return token if _TOKEN.match(token) else None


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()[:MAC_BYTES]


def _varint(n: int) -> bytes:
    """Small ids stay small: 7 bits a byte, high bit set on all but the last byte."""
    if n < 0:
        raise ValueError(f"token ids must not be negative, got {n}")
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _parse_payload(payload: bytes) -> tuple[str, tuple[int, ...]] | None:
    kind_len = payload[0]
    kind_bytes = payload[1 : 1 + kind_len]
    try:
        kind = kind_bytes.decode("ascii")
    except UnicodeDecodeError:
        return None
    if len(kind_bytes) != kind_len or not _KIND.match(kind):
        return None
    ids: list[int] = []
    value = shift = 0
    for byte in payload[1 + kind_len :]:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            ids.append(value)
            value = shift = 0
    return None if shift else (kind, tuple(ids))


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def _unb32(token: str) -> bytes | None:
    text = token.strip().lower()
    if not text or not _TOKEN.match(text):
        return None
    try:
        raw = base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None
    # Unused trailing bits make several strings decode alike; only the canonical one counts.
    return raw if _b32(raw) == text else None
