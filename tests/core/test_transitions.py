"""The transition table is the single source of truth: the game obeys it and the doc diagram is generated from it."""

from __future__ import annotations

import inspect
from pathlib import Path

import hub.core.game as game_module
from hub.core.game import Game, Input
from hub.core.transitions import (
    ANYWHERE_INPUTS,
    DOC_BEGIN,
    DOC_END,
    LIVE_PHASES,
    TRANSITIONS,
    Phase,
    main,
    mermaid_diagram,
    render_doc,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "game.md"

INPUT_KINDS = {
    name for name, obj in vars(game_module).items()
    if inspect.isclass(obj) and issubclass(obj, Input) and obj is not Input and not name.startswith("_")
}


def test_docs_game_md_has_the_current_diagram() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert DOC_BEGIN in text
    assert DOC_END in text
    assert render_doc(text) == text, "docs/game.md is stale: run `python -m hub.core.transitions --write-docs`"
    assert main(["--check"]) == 0


def test_a_changed_table_makes_the_doc_stale() -> None:
    text = DOC.read_text(encoding="utf-8")
    tampered = text.replace("armed --> buzzed", "armed --> judged", 1)
    assert tampered != text
    assert render_doc(tampered) != tampered


def test_every_row_names_a_real_input_and_handler() -> None:
    for (phase, kind), row in TRANSITIONS.items():
        assert (row.phase, row.kind) == (phase, kind)
        assert kind in INPUT_KINDS, f"{kind} is no input class"
        assert callable(getattr(Game, f"_decide_{row.handler}", None)), f"no Game._decide_{row.handler}"
        assert row.targets


def test_every_input_is_accepted_somewhere_and_error_accepts_nothing() -> None:
    assert {row.kind for row in TRANSITIONS.values()} == INPUT_KINDS
    assert not [key for key in TRANSITIONS if key[0] is Phase.ERROR]
    assert all(Phase.ERROR not in row.targets for row in TRANSITIONS.values())


def test_time_devices_and_registry_are_accepted_in_every_phase_but_error() -> None:
    for phase in Phase:
        if phase is Phase.ERROR:
            continue
        for kind in ANYWHERE_INPUTS:
            assert (phase, kind) in TRANSITIONS, (phase, kind)


def test_every_live_phase_can_pause_and_pause_returns_to_each() -> None:
    for phase in LIVE_PHASES:
        assert TRANSITIONS[phase, "Pause"].targets == {Phase.PAUSED}
    assert TRANSITIONS[Phase.PAUSED, "Resume"].targets == LIVE_PHASES


def test_every_phase_is_reachable_from_the_lobby() -> None:
    seen = {Phase.LOBBY}
    frontier = [Phase.LOBBY]
    while frontier:
        here = frontier.pop()
        for row in TRANSITIONS.values():
            if row.phase is here:
                for target in row.targets - seen:
                    seen.add(target)
                    frontier.append(target)
    assert seen == set(Phase) - {Phase.ERROR}


def test_the_diagram_draws_every_phase_and_no_anywhere_self_loops() -> None:
    diagram = mermaid_diagram()
    assert diagram.startswith("stateDiagram-v2\n")
    for phase in Phase:
        assert phase.value in diagram
    assert "armed --> armed: Answer, Undo" in diagram
    assert "Tick" not in diagram.split("armed --> armed")[1].splitlines()[0]
