"""Feed positions: `<feed tag>-<item k>-<offset>`, opaque to clients, byte-wise increasing in feed order, and
refused by any feed but their own (docs/design.md, "Feeds")."""

from __future__ import annotations

import hashlib
import re
from typing import Final

from eventstore.domain import BadPosition

_POSITION: Final = re.compile(r"([0-9a-f]{10})-([0-9]{12})-([0-9]{6})", re.ASCII)


def feed_tag(feed: str) -> str:
    """The feed's tag in its positions: a position from one feed is refused by another."""
    return hashlib.sha256(feed.encode()).hexdigest()[:10]


def encode_position(feed: str, sequence: int, offset: int) -> str:
    """`<tag>-<item k, 12 digits>-<event offset in item k, 6 digits>`: byte-wise increasing in feed order."""
    return f"{feed_tag(feed)}-{sequence:012d}-{offset:06d}"


def decode_position(feed: str, position: str, pointer: str = "/query/after-position") -> tuple[int, int]:
    """(item k, offset) of a position of this feed; BadPosition if malformed or of another feed."""
    tag, sequence, offset = parse_position(position, pointer)
    if tag != feed_tag(feed):
        raise BadPosition(position, "the position belongs to another feed", pointer)
    return sequence, offset


def check_position(position: str, pointer: str) -> None:
    """Refuse a string that is not a position of any feed (checkpoints store positions of any feed)."""
    parse_position(position, pointer)


def parse_position(position: str, pointer: str) -> tuple[str, int, int]:
    match = _POSITION.fullmatch(position)
    if match is None or int(match[2]) < 1:
        raise BadPosition(
            position, "not a feed position (use a lastPosition or position from a feed)", pointer
        )
    return match[1], int(match[2]), int(match[3])
