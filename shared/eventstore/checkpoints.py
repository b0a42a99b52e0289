"""Consumer checkpoints: a named position a consumer saved, compare-and-set (docs/design.md, "Feeds")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

CHECKPOINT_PREFIX: Final = "$checkpoint:"


def checkpoint_key(name: str) -> str:
    return CHECKPOINT_PREFIX + name


@dataclass(frozen=True, slots=True)
class Checkpoint:
    name: str
    position: str
    updated_at: str
