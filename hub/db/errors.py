"""Errors the repository raises. Each says whose fault it is and what the caller should do next."""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "FencedOutError",
    "InUseError",
    "NotFoundError",
    "RepositoryError",
    "SequenceConflictError",
]


class RepositoryError(Exception):
    """Base of every error :mod:`hub.db.repository` raises on purpose."""


class NotFoundError(RepositoryError, LookupError):
    """The caller named a row that does not exist (the caller's fault: a stale or wrong id)."""


class AlreadyExistsError(RepositoryError):
    """The caller tried to create something whose unique name or key is taken (the caller's fault: pick another)."""


class InUseError(RepositoryError):
    """The caller tried to delete something other rows still depend on (e.g. a quiz that has games)."""


class SequenceConflictError(RepositoryError):
    """Another writer appended to the game's log first: the caller's view of the log is stale.

    Nothing was written. The caller should reload the events after its last known sequence number, re-decide,
    and append again; a hub that is the only writer of a game should never see this.
    """

    def __init__(self, game_id: str, expected_next_seq: int, actual_next_seq: int) -> None:
        self.game_id = game_id
        self.expected_next_seq = expected_next_seq
        self.actual_next_seq = actual_next_seq
        super().__init__(
            f"game {game_id}: the appender expected the next event to be #{expected_next_seq} but the log's next "
            f"is #{actual_next_seq}; another writer appended first (reload and retry), nothing was written"
        )


class FencedOutError(RepositoryError):
    """The game is owned by a hub holding a newer lease: the caller lost its lease and must stop writing.

    Nothing was written. This is not a bug of the caller's logic but of its timing (paused, partitioned or
    slow); it must drop the game and let the owner carry on.
    """

    def __init__(self, game_id: str, fence: int | None, owner_fence: int) -> None:
        self.game_id = game_id
        self.fence = fence
        self.owner_fence = owner_fence
        held = "no fencing token" if fence is None else f"fencing token {fence}"
        super().__init__(
            f"game {game_id} is owned by the holder of fencing token {owner_fence}; this writer holds {held} "
            "and must stop writing to it (its lease expired or was taken over), nothing was written"
        )
