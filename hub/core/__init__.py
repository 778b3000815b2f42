"""Quizhub's sans-IO core: no sockets, no clocks, no randomness — inputs in, events and effects out.

- `model`: quiz and question value types.
- `clock`: per-device clock model (device µs -> hub µs with an error bound).
- `arbitration`: who buzzed first in one armed question.
- `transitions`: the game's phases and the one table of transitions between them.
- `events`: the logged domain events and the effects the adapter publishes.
- `scoring`: point formulas and scores as the fold of the event log.
- `game`: the game engine (`Game.handle(input) -> Step | Rejected`, `Game.replay(...)`).
"""
