"""Guided refinement: revise an assistant result with a line of feedback, keep the history.

`refine(previous, feedback)` builds a refinement request (previous prompt + feedback + the same
examples) and lets an enhancer revise it; the rule-based enhancer applies the feedback as a list
of edits (enhancers/feedback.py: "at night", "no mist", "as a watercolor painting", "moodier",
"add a red hat"...); an LLM enhancer reads the feedback as fenced data. The round's rationale
is the "How" note `feedback.explain` writes from the final prompt, so it only claims what the
prompt shows. On top of that, "closer to example 3" (or "more like #3") pulls that example's
modifier phrases (its artists, medium, lighting... never its subject) into the new prompt,
right after the idea, and doubles the example's weight for later rounds.

`with_edits` and `edited_figures` take a round as the user edited it by hand (the prompt the
next feedback revises, and its figures measured again).

`Session` keeps the rounds (`rounds[0]` is the first answer), `step_back()` drops the latest,
and `to_json` / `from_json` let `promptrag refine RESULT.json "feedback"` continue a session
saved to a file (a plain assistant result file starts a new session).

Deliberately not here: retrieval (refinement works from the examples already chosen) and
parsing feedback into edits (enhancers/feedback.py owns that vocabulary).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any

from core.errors import InputError
from enhancers.base import STYLES, TOKEN_BUDGET, Enhancer, EnhanceRequest, EnhanceResult
from enhancers.blocklist import load_blocklist
from enhancers.feedback import apply_edits, explain, missed_edits, parse_feedback
from enhancers.grounded import modifier_phrases
from enhancers.profiles import profile_for, prompt_form
from enhancers.rules import RuleBasedEnhancer
from enhancers.tokens import count_clip_tokens
from index.embedder import load_embedder
from rag.assistant import AssistantResult, ExampleUsed, RankedCandidate, validate
from rag.quality import MemoEmbedder, QualityFigures, measure, rank_candidates

MAX_FEEDBACK_CHARS = 2_000
SESSION_FORMAT = "promptrag.session/1"
PULLED_MODIFIERS = 4  # how many of a referenced example's modifiers one round pulls in
_EXAMPLE_REF = re.compile(r"(?:\bexample\s*#?\s*|#)(\d+)\b", re.IGNORECASE)


def example_references(feedback: str, n_examples: int) -> list[int]:
    """1-based example numbers named in the feedback ("closer to example 3", "like #2")."""
    refs = [int(m) for m in _EXAMPLE_REF.findall(feedback)]
    bad = [r for r in refs if not 1 <= r <= n_examples]
    if bad:
        raise InputError(f"feedback names example {bad[0]}, but the result has {n_examples} examples "
                         f"(numbered 1 to {n_examples})")
    return list(dict.fromkeys(refs))


def pull_in(prompt: str, idea: str, phrases: list[str], budget: int) -> str:
    """`phrases` placed right after the idea; the prompt's other phrases follow while they fit."""
    head = idea.strip()
    rest = prompt[len(head):] if prompt.startswith(head) else prompt
    lowered = prompt.lower()
    new = [p for p in phrases if p.lower() not in lowered]
    others = [p.strip() for p in rest.split(",") if p.strip()]
    parts = [head, *new]
    for phrase in others:
        if count_clip_tokens(", ".join([*parts, phrase])) <= budget:
            parts.append(phrase)
    while len(parts) > 1 and count_clip_tokens(", ".join(parts)) > budget:
        parts.pop()  # pulled phrases go last only when the idea alone nearly fills the budget
    return ", ".join(parts)


def refine(previous: AssistantResult, feedback: str, *, enhancer: Enhancer | None = None,
           embedder: Any | None = None) -> AssistantResult:
    """A new result: `previous` revised by `feedback`, with the same examples (reweighted)."""
    started = time.perf_counter()
    # 1. check inputs
    if not isinstance(feedback, str) or not feedback.strip():
        raise InputError(f"feedback must say what to change (e.g. 'moodier', 'no text'), got {feedback!r}")
    if len(feedback) > MAX_FEEDBACK_CHARS:
        raise InputError(f"feedback must be at most {MAX_FEEDBACK_CHARS} characters, got {len(feedback)}")
    refs = example_references(feedback, len(previous.examples))
    # 2. reweight the examples the feedback points at
    examples = [replace(e, score=round(e.score * 2 + 0.5, 4)) if i + 1 in refs else e
                for i, e in enumerate(previous.examples)]
    options = previous.options
    family = options.get("model_family", "sdxl")
    style = previous.style if previous.style in STYLES else "auto"
    request = EnhanceRequest(
        idea=previous.idea, style=style, creativity=options.get("creativity", 0.7),
        examples=[e.as_example() for e in examples], n_candidates=options.get("n_candidates", 1),
        model_family=family, previous_prompt=previous.prompt, feedback=feedback,
        artist_media=options.get("artist_media") or {}, scene_phrases=options.get("scene_phrases") or [],
        artist_credits=options.get("artist_credits", True), context=options.get("context"),
    )
    # 3. revise
    if enhancer is None:
        enhancer = RuleBasedEnhancer()
    result = enhancer.enhance(request)
    result = _with_every_edit(result, request)  # an LLM that skipped a clause: the edit is applied here
    prompt = result.prompt
    # 4. pull the referenced examples' modifiers in
    if refs:
        blocked = load_blocklist().without(previous.idea)  # the user's blocklist holds here too
        pulled = [p for r in refs for p, _ in modifier_phrases(examples[r - 1].text)[:PULLED_MODIFIERS]
                  if not blocked.blocks(p)]
        prompt = pull_in(prompt, previous.idea, pulled, TOKEN_BUDGET[family])
    rationale = _how(previous, feedback, prompt, result.rationale, family)
    if refs:
        rationale += (f"; pulled in from example {', '.join(map(str, refs))}: "
                      f"{', '.join(pulled) or 'no modifiers found'}")
    # 5. checks and figures
    if embedder is None:
        embedder = load_embedder()
    embedder = MemoEmbedder(embedder)
    quality = measure(previous.idea, prompt, examples, token_budget=TOKEN_BUDGET[family], embedder=embedder)
    prompts = [prompt, *(c.prompt for c in result.candidates[1:])]
    ranking = rank_candidates(previous.idea, prompts, embedder)
    candidates = [RankedCandidate(prompts[i], result.negative_prompt, "", cons, dist) for i, cons, dist in ranking]
    timings = dict(result.timings)
    timings["total_s"] = time.perf_counter() - started
    return AssistantResult(previous.idea, prompt, result.negative_prompt, result.style, result.enhancer, examples,
                           candidates, dict(result.fallback_reasons),
                           [*validate(_idea_less_removals(previous.idea, feedback), prompt, quality),
                            *result.notices],
                           quality, {**options, "feedback": feedback}, rationale, timings, look=result.look)


def _how(previous: AssistantResult, feedback: str, prompt: str, enhancer_rationale: str, family: str) -> str:
    """The round's "How" note from the final prompt; an LLM's own rationale is kept before it."""

    form = "tags" if profile_for(family).form == "tags" else prompt_form(previous.prompt)
    revision = apply_edits(previous.prompt, previous.idea, parse_feedback(feedback), form=form,
                           budget=TOKEN_BUDGET[family])
    how = explain(previous.prompt, prompt, revision)
    if enhancer_rationale and not enhancer_rationale.startswith("How:"):
        return f"{enhancer_rationale}; {how}"
    return how


def _idea_less_removals(idea: str, feedback: str) -> str:
    """The idea without what the feedback removed ("no ducks"): those words are meant to be gone."""
    for edit in parse_feedback(feedback):
        if edit.kind == "remove":
            for target in edit.replaces:
                idea = re.sub(rf"(?<![\w-]){re.escape(target)}(?![\w-])", " ", idea, flags=re.IGNORECASE)
    return idea


KEYLESS_WRITERS = ("rules", "grounded")  # they apply every edit themselves (enhancers/feedback.py)


def _with_every_edit(result: EnhanceResult, request: EnhanceRequest) -> EnhanceResult:
    """`result` with the feedback's edits its writer missed applied (an LLM's answer is checked like
    a prompt the rules wrote); each repair is said in the notices, never silent."""

    if result.enhancer in KEYLESS_WRITERS or not request.feedback:
        return result
    missed = missed_edits(result.prompt, parse_feedback(request.feedback))
    if not missed:
        return result
    revision = apply_edits(result.prompt, request.idea, missed, form=prompt_form(result.prompt),
                           budget=request.token_budget)
    allowed = {t.lower() for t in revision.negative_remove}
    negative = [t.strip() for t in result.negative_prompt.split(",") if t.strip() and t.strip().lower() not in allowed]
    negative += [t for t in revision.negative_add if t.lower() not in {n.lower() for n in negative}]
    said = ", ".join(repr(e.clause) for e in missed)
    return replace(result, prompt=revision.prompt, negative_prompt=", ".join(negative),
                   look=revision.look or result.look,
                   notices=[*result.notices, f"{result.enhancer} missed {said}: applied by the rules' edit grammar"])


def with_edits(result: AssistantResult, prompt: str, negative_prompt: str) -> AssistantResult:
    """`result` as the user left it: the prompt and negative prompt edited by hand (and chips
    added) are what the next round's feedback revises. `result` itself when nothing changed;
    its figures are not measured again here (see `edited_figures`)."""
    if prompt == result.prompt and negative_prompt == result.negative_prompt:
        return result
    return replace(result, prompt=prompt, negative_prompt=negative_prompt)


def edited_figures(result: AssistantResult, prompt: str, *, embedder: Any | None) -> QualityFigures:
    """The figures of `result` with its prompt edited by hand to `prompt`: measured again with
    the round's idea, examples and token budget; the round's own when unchanged or empty."""
    if prompt == result.prompt or not prompt.strip():
        return result.quality
    return measure(result.idea, prompt, result.examples, token_budget=result.quality.token_budget,
                   embedder=embedder)


@dataclass
class Session:
    """Refinement rounds of one idea: rounds[0] is the first answer, feedback[i] made rounds[i+1]."""

    rounds: list[AssistantResult]
    feedback: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.rounds:
            raise InputError("a refinement session needs a first result")

    @property
    def current(self) -> AssistantResult:
        return self.rounds[-1]

    def refine(self, feedback: str, **kwargs: Any) -> AssistantResult:
        result = refine(self.current, feedback, **kwargs)
        self.rounds.append(result)
        self.feedback.append(feedback)
        return result

    def step_back(self) -> AssistantResult:
        """Undo the latest round; the one before it is current again."""
        if len(self.rounds) < 2:
            raise InputError("nothing to step back to: the session has only its first result")
        self.rounds.pop()
        self.feedback.pop()
        return self.current

    def to_dict(self) -> dict[str, Any]:
        return {"format": SESSION_FORMAT, "rounds": [r.to_dict() for r in self.rounds], "feedback": list(self.feedback)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, data: Any) -> Session:
        """A saved session, or a single assistant result (which starts a session)."""
        if not isinstance(data, dict):
            raise InputError("a result file must hold a JSON object (a promptrag result or session)")
        if data.get("format") == SESSION_FORMAT:
            rounds = [AssistantResult.from_dict(r) for r in data.get("rounds", [])]
            feedback = [str(f) for f in data.get("feedback", [])]
            if len(feedback) != max(len(rounds) - 1, 0):
                raise InputError(f"session has {len(rounds)} rounds but {len(feedback)} feedback lines; "
                                 "the file was edited by hand or truncated")
            return cls(rounds, feedback)
        return cls([AssistantResult.from_dict(data)])

    @classmethod
    def from_json(cls, text: str) -> Session:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"result file is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(data)


__all__ = ["ExampleUsed", "Session", "edited_figures", "example_references", "pull_in", "refine",
           "with_edits"]
