"""The game's phases and every transition between them, in one table (the rule h11's `_state.py` follows).

`TRANSITIONS` maps (phase, input kind) to the handler that decides the input and the phases it may lead to. An
input whose (phase, kind) is not in the table is refused without touching the game; after a handler's events are
applied the game checks that the phase it landed in is one the table allows, and goes to ERROR if not (our bug).
The state diagram in docs/game.md is generated from this table by `mermaid_diagram()`;
`python -m hub.core.transitions --write-docs` regenerates it and a test fails when the doc is stale.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ANYWHERE_INPUTS",
    "DOC_BEGIN",
    "DOC_END",
    "LIVE_PHASES",
    "TRANSITIONS",
    "Phase",
    "Transition",
    "mermaid_diagram",
    "render_doc",
]


class Phase(StrEnum):
    """Where the game is (DESIGN §5). ERROR is entered only on an internal bug; the game then refuses everything."""

    LOBBY = "lobby"  # teams join, devices pair; no question yet
    QUESTION = "question"  # a question is shown; buzzers are not armed (a press now is a false start)
    ARMED = "armed"  # buzzers live (buzzer question) or answers open (phone question)
    BUZZED = "buzzed"  # the arbiter ruled; the winner answers while the answer timer runs
    CLOSED = "closed"  # nobody buzzed in the window, or phone answers are closed (open text: host marks)
    JUDGED = "judged"  # the host judged: right, or wrong with no team left to re-arm for
    REVEALED = "revealed"  # the answer is public (phone questions score now)
    PAUSED = "paused"  # timers stopped; resumes into the phase it left
    FINISHED = "finished"  # game over
    ERROR = "error"  # an internal bug; replay the log to recover


LIVE_PHASES = frozenset({
    Phase.QUESTION, Phase.ARMED, Phase.BUZZED, Phase.CLOSED, Phase.JUDGED, Phase.REVEALED,
})

# Inputs accepted in every phase but ERROR that never change the phase; the diagram leaves their self-loops out.
ANYWHERE_INPUTS = (
    "AddTeam", "RemoveTeam", "RenameTeam", "PairDevice", "UnpairDevice", "IdentifyDevice", "DeviceHello", "SyncIn",
    "AdjustScore", "Tick", "RebaseClock", "BuzzIn",
)


@dataclass(frozen=True, slots=True)
class Transition:
    """One row: in `phase`, input `kind` is decided by `Game._decide_<handler>` and may lead to `targets`."""

    phase: Phase
    kind: str
    handler: str
    targets: frozenset[Phase]


def _table() -> dict[tuple[Phase, str], Transition]:
    p = Phase
    rows: list[tuple[Phase, str, str, tuple[Phase, ...]]] = [
        # phase, input, handler, may lead to
        (p.LOBBY, "ShowQuestion", "show_question", (p.QUESTION,)),
        (p.LOBBY, "Next", "next", (p.QUESTION,)),
        (p.LOBBY, "Undo", "undo", (p.LOBBY,)),
        (p.LOBBY, "End", "end", (p.FINISHED,)),

        (p.QUESTION, "ShowQuestion", "show_question", (p.QUESTION,)),
        (p.QUESTION, "Arm", "arm", (p.ARMED,)),
        (p.QUESTION, "Reveal", "reveal", (p.REVEALED,)),
        (p.QUESTION, "Skip", "skip", (p.QUESTION, p.FINISHED)),

        (p.ARMED, "Tick", "tick", (p.ARMED, p.BUZZED, p.CLOSED)),
        # a press arriving after the grace window rules first (the arbiter moves time with arrivals)
        (p.ARMED, "BuzzIn", "buzz", (p.ARMED, p.BUZZED)),
        (p.ARMED, "Answer", "answer", (p.ARMED, p.CLOSED)),
        (p.ARMED, "Reveal", "reveal", (p.REVEALED,)),
        (p.ARMED, "Skip", "skip", (p.QUESTION, p.FINISHED)),

        (p.BUZZED, "Judge", "judge", (p.JUDGED, p.QUESTION, p.ARMED, p.BUZZED)),  # BUZZED: passed to the next
        (p.BUZZED, "Skip", "skip", (p.QUESTION, p.FINISHED)),

        (p.CLOSED, "Arm", "arm", (p.ARMED,)),
        (p.CLOSED, "Judge", "judge", (p.CLOSED,)),
        (p.CLOSED, "Reveal", "reveal", (p.REVEALED,)),
        (p.CLOSED, "Skip", "skip", (p.QUESTION, p.FINISHED)),

        (p.JUDGED, "Reveal", "reveal", (p.REVEALED,)),
        (p.JUDGED, "Skip", "skip", (p.QUESTION, p.FINISHED)),

        (p.REVEALED, "Next", "next", (p.QUESTION, p.FINISHED)),
        (p.REVEALED, "ShowQuestion", "show_question", (p.QUESTION,)),
        (p.REVEALED, "Undo", "undo", (p.REVEALED,)),

        (p.PAUSED, "Resume", "resume", tuple(sorted(LIVE_PHASES))),
        (p.PAUSED, "End", "end", (p.FINISHED,)),

        (p.FINISHED, "Undo", "undo", (p.FINISHED,)),
    ]
    # Undo restores a checkpoint: before a judgement (buzzed, or closed while marking open text) or before an
    # arm (question, or closed after an empty buzz window); undoing an adjustment keeps the phase.
    rows.extend(
        (phase, "Undo", "undo", (phase, p.QUESTION, p.BUZZED, p.CLOSED))
        for phase in (p.QUESTION, p.ARMED, p.BUZZED, p.CLOSED, p.JUDGED)
    )
    for live in sorted(LIVE_PHASES):
        rows.append((live, "Pause", "pause", (p.PAUSED,)))
        rows.append((live, "End", "end", (p.FINISHED,)))
    handlers = {"BuzzIn": "buzz", "Tick": "tick"}
    for phase in p:
        if phase is p.ERROR:
            continue
        for kind in ANYWHERE_INPUTS:
            # ARMED's Tick row above may change the phase; elsewhere a Tick only fires timers of its own phase.
            if (phase, kind) in {(r[0], r[1]) for r in rows}:
                continue
            handler = handlers.get(kind, _snake(kind))
            rows.append((phase, kind, handler, (phase,)))
    table: dict[tuple[Phase, str], Transition] = {}
    for phase, kind, handler, targets in rows:
        if (phase, kind) in table:
            raise AssertionError(f"two rows for ({phase}, {kind})")  # our bug, caught at import
        table[phase, kind] = Transition(phase, kind, handler, frozenset(targets))
    return table


def _snake(kind: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in kind).lstrip("_")


TRANSITIONS: dict[tuple[Phase, str], Transition] = _table()

DOC_BEGIN = "<!-- BEGIN GENERATED: state diagram from hub/core/transitions.py -->"
DOC_END = "<!-- END GENERATED -->"


def mermaid_diagram() -> str:
    """A Mermaid `stateDiagram-v2` of TRANSITIONS; self-loops of ANYWHERE_INPUTS are left out (they're listed)."""
    edges: dict[tuple[str, str], set[str]] = {}
    for row in TRANSITIONS.values():
        for target in row.targets:
            if target is row.phase and row.kind in ANYWHERE_INPUTS:
                continue
            edges.setdefault((row.phase.value, target.value), set()).add(row.kind)
    order = {phase.value: i for i, phase in enumerate(Phase)}
    lines = ["stateDiagram-v2", f"    [*] --> {Phase.LOBBY.value}"]
    for (src, dst), kinds in sorted(edges.items(), key=lambda e: (order[e[0][0]], order[e[0][1]])):
        lines.append(f"    {src} --> {dst}: {', '.join(sorted(kinds))}")
    lines.append(f"    {Phase.FINISHED.value} --> [*]")
    lines.append(f"    note right of {Phase.ERROR.value}: entered only on an internal bug; refuses every input")
    return "\n".join(lines) + "\n"


def render_doc(doc: str) -> str:
    """`doc` with the text between DOC_BEGIN and DOC_END replaced by the current diagram."""
    start = doc.index(DOC_BEGIN) + len(DOC_BEGIN)
    end = doc.index(DOC_END)
    anywhere = ", ".join(f"`{k}`" for k in ANYWHERE_INPUTS)
    body = (
        f"\n```mermaid\n{mermaid_diagram()}```\n\n"
        f"Accepted in every phase but `error` without changing it (not drawn): {anywhere}.\n"
    )
    return doc[:start] + body + doc[end:]


def _doc_path() -> str:
    # Only the --write-docs command touches a file; the path comes from __file__ by string surgery because
    # hub/core stays free of os/pathlib imports (tests/core/test_no_io.py).
    root = __file__.replace("\\", "/").rsplit("/", 3)[0]
    return f"{root}/docs/game.md"


def main(argv: list[str]) -> int:
    """`--write-docs` regenerates docs/game.md; `--check` exits 1 when it is stale; no flag prints the diagram."""
    if "--write-docs" in argv or "--check" in argv:
        path = _doc_path()
        with open(path, encoding="utf-8") as handle:  # noqa: PTH123 - pathlib is off limits in hub/core
            current = handle.read()
        fresh = render_doc(current)
        if "--check" in argv:
            return 0 if fresh == current else 1
        with open(path, "w", encoding="utf-8") as handle:  # noqa: PTH123 - as above
            handle.write(fresh)
        return 0
    sys.stdout.write(mermaid_diagram())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
