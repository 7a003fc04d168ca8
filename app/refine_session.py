"""What the Refine page keeps for one user: `RefineSession`, stored as it is in st.session_state["refine"].

A plain dataclass (no Streamlit here), created empty by `app.state.new_refine()` or from a History
row by `RefineSession.reopened(round)`, and changed by the callbacks of app/refine_state.py:

    idea, session_id      the idea being worked on; the History session its rounds are saved under
    options               the idea form's choices: style, creativity, enhancer, model_family
    rounds                the rounds (rag.assistant.AssistantResult), with for each its History row id
                          (`round_ids`, None until saved) and the feedback that made it (`round_feedback`)
    current               which round is shown; draft / draft_negative: its text as edited by hand
    suggested             the retrieved prompts as examples (ranks 1..k) for `suggested_for`, near-
                          duplicates folded (`folded`: how many were left out); `retrieved`: the raw hits
    ticks                 example key -> ticked, only where the user changed the default
    undone                rounds Step back removed, latest last, for Redo (emptied by a new round)
    carried_idea          the Explore search last carried into the idea box
    gen                   generation settings (backend, model, steps, …), first from Settings
    images                round index -> its images (made here, or reopened from History)
    pending, message      the action a callback asks the page body to run; a line to toast
    figures_cache, chip_weighted, chip_weight
                          figures of the edited draft; the chip weight box

Deliberately not here: the callbacks that change it and the steps that fill it (refine_state.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from app.history import HistoryImage, HistoryRound
from rag.assistant import AssistantResult, ExampleUsed
from rag.quality import QualityFigures
from rag.retriever import RetrievedPrompt

# Widget values by name, as Streamlit hands them back (st.session_state is untyped): image settings
# (app.state.generation(), `RefineSession.gen`) and Refine's options. Read and written through a
# widget's name held in a variable, so a TypedDict could not key them.
WidgetValues = dict[str, Any]

DEFAULT_OPTIONS: WidgetValues = {"style": "auto", "creativity": 0.7, "enhancer": "chain", "model_family": "sdxl"}


@dataclass(frozen=True)
class RoundImage:
    """An image made on the page from a round (History's `HistoryImage` has the same three fields)."""

    path: str
    seed: int
    parameters: dict[str, object]


@dataclass(frozen=True)
class Undone:
    """A round Step back took off the page, with what went with it, for Redo."""

    round: AssistantResult
    round_id: int | None
    feedback: str | None
    images: list[RoundImage | HistoryImage] | None
    was_current: bool


@dataclass
class RefineSession:
    idea: str = ""
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    options: WidgetValues = field(default_factory=lambda: dict(DEFAULT_OPTIONS))
    rounds: list[AssistantResult] = field(default_factory=list)
    round_ids: list[int | None] = field(default_factory=list)
    round_feedback: list[str | None] = field(default_factory=list)
    current: int = -1
    draft: str = ""
    draft_negative: str = ""
    retrieved: list[RetrievedPrompt] = field(default_factory=list)
    suggested: list[ExampleUsed] = field(default_factory=list)
    suggested_for: str | None = None
    folded: int = 0
    ticks: dict[str, bool] = field(default_factory=dict)
    undone: list[Undone] = field(default_factory=list)
    carried_idea: str | None = None
    gen: WidgetValues = field(default_factory=dict)  # filled from Settings when the page first draws
    images: dict[int, list[RoundImage | HistoryImage]] = field(default_factory=dict)
    pending: str | None = None
    message: str | None = None
    figures_cache: dict[tuple[int, str], QualityFigures] = field(default_factory=dict)
    chip_weighted: bool = False
    chip_weight: float | None = None
    # False until the page first draws this session: widgets left from an earlier one are cleared then.
    widgets_seeded: bool = False

    @classmethod
    def reopened(cls, round: HistoryRound) -> RefineSession:
        """A History row as the latest (and only) round: its idea, options, images and row id."""
        result = round.result
        kept = {k: result.options[k] for k in ("style", "creativity", "model_family") if k in result.options}
        return cls(idea=round.idea, session_id=round.session_id, options={**DEFAULT_OPTIONS, **kept},
                   rounds=[result], round_ids=[round.id], round_feedback=[round.feedback or None], current=0,
                   draft=result.prompt, draft_negative=result.negative_prompt,
                   images={0: list(round.images)} if round.images else {})

    def take_pending(self) -> str | None:
        """The action a callback asked for, once (the page body runs it on this rerun)."""
        action, self.pending = self.pending, None
        return action

    def take_message(self) -> str | None:
        """The line to toast, once."""
        message, self.message = self.message, None
        return message

    def start_over(self) -> None:
        """No rounds (a new History session); the idea, options, examples and settings stay."""
        self.rounds, self.round_ids, self.round_feedback, self.images, self.undone = [], [], [], {}, []
        self.session_id = uuid.uuid4().hex
        self.current = -1
        self.draft = self.draft_negative = ""

    def add(self, result: AssistantResult, feedback: str | None) -> None:
        """`result` as the newest, current round (not saved yet); Redo has nothing left to bring back."""
        self.undone = []
        self.rounds.append(result)
        self.round_ids.append(None)
        self.round_feedback.append(feedback)
        self.current = len(self.rounds) - 1

    def pop_latest(self) -> Undone:
        """Take the latest round off (Step back), with its row id, feedback and images."""
        last = len(self.rounds) - 1
        return Undone(self.rounds.pop(), self.round_ids.pop(), self.round_feedback.pop(),
                      self.images.pop(last, None), self.current == last)

    def put_back(self, undone: Undone) -> int:
        """Undo a Step back (Redo); returns the round's index."""
        self.rounds.append(undone.round)
        self.round_ids.append(undone.round_id)
        self.round_feedback.append(undone.feedback)
        index = len(self.rounds) - 1
        if undone.images:
            self.images[index] = undone.images
        return index
