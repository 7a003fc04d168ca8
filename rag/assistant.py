"""PromptAssistant: idea → retrieved examples → fused prompt → checks → quality figures.

Three entry points, so a page that already holds picked examples fuses without retrieving again:
- `retrieve(idea, k=, mode=, filters=, diversity=)` → the retrieved prompts (`RetrievedPrompt`);
  `to_examples(retrieved, picks)` turns 1-based picks into `ExampleUsed`s;
- `fuse(idea, examples, style=, creativity=, n_candidates=, model_family=)` → `AssistantResult`
  (`style` may name a user style: the enhancer chooses, the user's template wraps its answer);
  `fuse_stream(...)` is the same, yielding the enhancer's TextDelta / MemberFailed events and
  ending in `AssistantFinished(result)`;
- `run(idea, **options)` = retrieve + picks (default the top `DEFAULT_PICKS`) + fuse.

Each is a numbered recipe:
1. check inputs (`RetrieveOptions`, `FuseOptions`, `AssistantOptions`: pydantic; an InputError
   names the field and the value);
2. retrieve k prompts (dense / keyword / hybrid, optional filters and diversity);
3. enhance: the examples become `Example`s (text, similarity, popularity, id) of the request;
4. validate: non-empty, within the token budget, keeps the idea's subject words, not a copy of
   one example. Every failed check is listed in `result.problems`; an empty prompt or a copy
   is replaced by the grounded fusion's answer (or the rules' if grounded answered), and
   `fallback_reasons` says why — never silently. Drift guard (rag/drift.py): a candidate that
   lost a subject word of the idea (neither the word nor a close synonym by the embedder) is
   dropped and listed in `result.dropped` and the rationale; when every candidate drifted the
   answer is replaced like a copy, naming the lost words;
5. quality figures (tokens, consistency, novelty, popularity) and candidate ranking.

Deliberately not here: how retrieval or enhancing work (retriever.py, enhancers/), choosing an
enhancer from a name (enhancers.chain.build_enhancer), parsing CLI input (cli/), refinement
rounds (refinement.py) and storage of results (the JSON from `to_dict` is the contract).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import BackendError, ConfigError, InputError
from core.validation import validated
from enhancers.base import (
    MAX_EXAMPLE_CHARS,
    Enhancer,
    EnhanceRequest,
    EnhanceResult,
    Example,
    ModelFamily,
)
from enhancers.chain import build_enhancer
from enhancers.events import Finished, MemberFailed, TextDelta
from enhancers.grounded import GroundedEnhancer
from enhancers.looks import LOOKS
from enhancers.rules import RuleBasedEnhancer
from enhancers.tokens import count_clip_tokens
from enhancers.user_styles import UserStyle, split_user_style, styled
from index.records import SearchFilters
from rag.artists import artist_media_for, scene_phrases_for
from rag.drift import Drift, check_drift, drift_note
from rag.drift import subject_words as subject_words  # re-exported: callers import it from here
from rag.quality import MemoEmbedder, QualityFigures, measure, rank_candidates
from rag.retriever import Mode, RetrievedPrompt, Retriever

DEFAULT_PICKS = 3
SETTINGS_FIELDS = ("seed", "steps", "cfg", "sampler", "width", "height")


class _IdeaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    idea: str = Field(min_length=1, max_length=20_000, description="The short idea, e.g. 'a lighthouse in a storm'.")

    @field_validator("idea")
    @classmethod
    def _idea_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("idea must contain some text")
        return value


class RetrieveOptions(_IdeaOptions):
    """What `PromptAssistant.retrieve` takes: how many prompts, how they are searched."""

    k: int = Field(8, ge=1, le=100, description="How many example prompts to retrieve.")
    mode: Mode = Field("hybrid", description="Retrieval mode: dense, keyword or hybrid.")
    filters: Any = Field(None, description="index.SearchFilters applied to retrieval (None: no filter).")
    diversity: float | None = Field(None, ge=0.0, le=1.0, description="MMR diversity of the retrieved list.")

    @field_validator("filters")
    @classmethod
    def _filters_type(cls, value: Any) -> Any:
        if value is None or isinstance(value, SearchFilters):
            return value
        if isinstance(value, dict):
            return SearchFilters(**value)
        raise ValueError("filters must be index.SearchFilters, a dict of its fields or None, got "
                         f"{type(value).__name__}")


class FuseOptions(_IdeaOptions):
    """What `PromptAssistant.fuse` takes besides the examples: how the prompt is written."""

    style: str = Field("auto", description="Visual style: a built-in one ('auto' detects it) or one of your own "
                       "(enhancers/user_styles.py), which wraps what the enhancer writes.")
    creativity: float = Field(0.7, ge=0.0, le=1.0, description="0 stays close to the idea, 1 adds the most.")
    n_candidates: int = Field(1, ge=1, le=8, description="How many candidate prompts to produce.")
    model_family: ModelFamily = Field("sdxl", description="Target model family (sets the CLIP token budget).")
    look: str | None = Field(None, description=EnhanceRequest.model_fields["look"].description)
    context: str | None = Field(None, max_length=2_000, description=EnhanceRequest.model_fields["context"].description)
    artist_credits: bool = Field(True, description=EnhanceRequest.model_fields["artist_credits"].description)

    @field_validator("look")
    @classmethod
    def _known_look(cls, value: str | None) -> str | None:
        if value is not None and value not in LOOKS:
            raise ValueError(f"look must be one of {', '.join(LOOKS)}, got {value!r}")
        return value


class AssistantOptions(RetrieveOptions, FuseOptions):
    """Everything `PromptAssistant.run` takes: retrieve options, fuse options and the picks."""

    picks: list[int] | None = Field(
        None,
        description=f"1-based ranks of the retrieved prompts to use as examples (default: the top {DEFAULT_PICKS})."
    )

    @field_validator("picks")
    @classmethod
    def _picks_positive(cls, value: list[int] | None) -> list[int] | None:
        if value is not None:
            if not value:
                raise ValueError("picks must name at least one rank (or be left out)")
            bad = [p for p in value if p < 1]
            if bad:
                raise ValueError(f"picks are 1-based ranks, got {bad}")
        return value


@dataclass
class ExampleUsed:
    rank: int
    id: int | None
    text: str
    score: float
    count: int
    settings: dict[str, Any] = field(default_factory=dict)

    def as_example(self) -> Example:
        return Example(text=self.text[:MAX_EXAMPLE_CHARS], score=self.score, count=max(1, self.count), id=self.id)


@dataclass
class RankedCandidate:
    prompt: str
    negative_prompt: str
    rationale: str
    consistency: float
    distance: float


@dataclass
class DroppedCandidate:
    """A candidate the drift guard dropped: it lost these subject words of the idea."""

    prompt: str
    missing: list[str]


@dataclass
class AssistantResult:
    """What a run produced, who produced it and how good it measures. `to_dict()` is JSON-safe."""

    idea: str
    prompt: str
    negative_prompt: str
    style: str
    enhancer: str
    examples: list[ExampleUsed]
    candidates: list[RankedCandidate]
    fallback_reasons: dict[str, str]
    problems: list[str]
    quality: QualityFigures
    options: dict[str, Any]
    rationale: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    dropped: list[DroppedCandidate] = field(default_factory=list)  # drifted candidates (rag/drift.py)
    look: str = ""  # the one medium + style family the prompt is written in (enhancers/looks.py)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["quality"] = self.quality.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AssistantResult:
        try:
            return cls(
                idea=str(data["idea"]), prompt=str(data["prompt"]), negative_prompt=str(data["negative_prompt"]),
                style=str(data["style"]), enhancer=str(data["enhancer"]),
                examples=[ExampleUsed(**e) for e in data["examples"]],
                candidates=[RankedCandidate(**c) for c in data["candidates"]],
                fallback_reasons=dict(data["fallback_reasons"]), problems=list(data["problems"]),
                quality=QualityFigures.from_dict(data["quality"]), options=dict(data["options"]),
                rationale=str(data.get("rationale", "")), timings=dict(data.get("timings", {})),
                dropped=[DroppedCandidate(str(d["prompt"]), list(d["missing"]))
                         for d in data.get("dropped", [])],
                look=str(data.get("look", "")),
            )
        except (KeyError, TypeError) as exc:
            raise InputError(f"not a promptrag assistant result (missing or bad field: {exc}); "
                             "pass a file written by `promptrag enhance --rag --json`") from None


@dataclass(frozen=True)
class AssistantFinished:
    """The last event of `PromptAssistant.fuse_stream`: the checked result with its figures."""

    result: AssistantResult


def _options(opts: BaseModel, request: EnhanceRequest) -> dict[str, Any]:
    """The options a result keeps: the user's, plus what the index told the writer (artists' media,
    scene phrases), so a refinement round writes with the same knowledge without the index."""
    return {**opts.model_dump(mode="json"), "artist_media": dict(request.artist_media),
            "scene_phrases": list(request.scene_phrases)}


def example_similarity(item: RetrievedPrompt, top_keyword: float) -> float:
    """The example's similarity to the idea: its cosine if known, else its relative BM25 score."""
    if item.dense_score is not None:
        return float(item.dense_score)
    return float(item.keyword_score or 0.0) / top_keyword if top_keyword > 0 else 0.0


def default_picks(n_retrieved: int, n: int = DEFAULT_PICKS) -> list[int]:
    """The 1-based ranks used when nobody picked: the top `n` of the `n_retrieved` prompts."""
    return list(range(1, min(n, n_retrieved) + 1))


def to_examples(retrieved: list[RetrievedPrompt], picks: list[int]) -> list[ExampleUsed]:
    """The retrieved prompts at 1-based ranks `picks`, as the examples a fusion uses."""
    bad = [p for p in picks if not 1 <= p <= len(retrieved)]
    if bad:
        raise InputError(f"picks {bad} are beyond the {len(retrieved)} prompts retrieved; "
                         f"pick ranks between 1 and {len(retrieved)}")
    top_keyword = max([r.keyword_score or 0.0 for r in retrieved] or [0.0])
    used = []
    for rank in picks:
        item = retrieved[rank - 1]
        settings = {name: getattr(item.hit, name) for name in SETTINGS_FIELDS}
        used.append(ExampleUsed(rank, item.id, item.prompt[:MAX_EXAMPLE_CHARS],
                                round(example_similarity(item, top_keyword), 4), int(item.count), settings))
    return used


def retrieve(retriever: Retriever, idea: str, *, k: int = 8, mode: Mode = "hybrid", filters: Any = None,
             diversity: float | None = None) -> list[RetrievedPrompt]:
    """The k prompts of `retriever`'s index closest to `idea`, inputs checked as `PromptAssistant.retrieve`
    checks them. Finding examples needs no enhancer: a page searches with this before a writer that
    cannot be built yet (an unconfigured LangChain model) is ever asked for."""
    opts = validated(RetrieveOptions, "assistant options", idea=idea, k=k, mode=mode, filters=filters,
                     diversity=diversity)
    return retriever.search(opts.idea, k=opts.k, mode=opts.mode, filters=opts.filters, diversity=opts.diversity)


class PromptAssistant:
    """Retrieve real prompts for an idea and fuse them into a new prompt.

    Holds only shared, read-only components (retriever, enhancer, embedder), so one instance
    may serve every session of the app; each call keeps its state in locals. An assistant that only
    fuses examples picked elsewhere may have no retriever (then give it an embedder).
    """

    @classmethod
    def load(cls, index_path: Any = None, enhancer: str = "chain") -> PromptAssistant:
        """An assistant over the index at `index_path` (default index if None) with
        `build_enhancer(enhancer, grounded=True)`."""
        return cls(Retriever.load(index_path), build_enhancer(enhancer, grounded=True))

    def __init__(self, retriever: Retriever | None, enhancer: Enhancer, embedder: Any | None = None,
                 fallback: Enhancer | None = None) -> None:
        self.retriever = retriever
        self.enhancer = enhancer
        self._embedder = embedder
        self._fallback = fallback

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            self._embedder = self._retriever().store.embedder
        return self._embedder

    def _retriever(self) -> Retriever:
        if self.retriever is None:
            raise ConfigError("this PromptAssistant was built without a retriever, so it cannot search; "
                              "build it with Retriever.load(INDEX) (or PromptAssistant.load)")
        return self.retriever

    def fallback_for(self, answered: str) -> Enhancer:
        """Who replaces an empty or copied answer: grounded fusion, or rules if grounded answered."""
        if self._fallback is not None and self._fallback.name != answered:
            return self._fallback
        if answered == "grounded":
            return RuleBasedEnhancer()

        return GroundedEnhancer()

    # -- the three entry points ---------------------------------------------------------------
    def retrieve(self, idea: str, *, k: int = 8, mode: Mode = "hybrid", filters: Any = None,
                 diversity: float | None = None) -> list[RetrievedPrompt]:
        """The k prompts of the index closest to `idea` (pick examples among them with to_examples)."""
        return retrieve(self._retriever(), idea, k=k, mode=mode, filters=filters, diversity=diversity)

    def fuse(self, idea: str, examples: list[ExampleUsed], *, style: str = "auto", creativity: float = 0.7,
             n_candidates: int = 1, model_family: ModelFamily = "sdxl", look: str | None = None,
             context: str | None = None, artist_credits: bool = True) -> AssistantResult:
        """Fuse `idea` and the picked `examples` into a checked prompt (see FuseOptions).

        A user style (`style` naming one of the user's templates) lets the enhancer choose the style
        and wraps its prompt and negative prompt last: callers pass the name, nothing else.
        """
        started = time.perf_counter()
        # 1. check inputs
        opts, request, user_style = self._fuse_request(
            idea, examples, style=style, creativity=creativity, n_candidates=n_candidates,
            model_family=model_family, look=look, context=context, artist_credits=artist_credits)
        # 2. enhance (one embedding memo per call: checks and figures share the vectors)
        memo = MemoEmbedder(self.embedder)
        timings: dict[str, float] = {}
        t = time.perf_counter()
        result = self.enhancer.enhance(request)
        timings["enhance_s"] = time.perf_counter() - t
        # 3. an empty or copied answer is replaced by the fallback's, with the reason
        # (a candidate that drifted from the idea is dropped; all drifted: replaced like a copy)
        result, _, dropped = self._replace_unusable(request, examples, result, timings, memo)
        # 4. validation, quality figures and candidate ranking; 5. the user's style template, if any
        return styled(self.finish(opts.idea, result, examples, _options(opts, request), timings, started, memo,
                                  dropped=dropped), user_style)

    def fuse_stream(self, idea: str, examples: list[ExampleUsed], *, style: str = "auto",
                    creativity: float = 0.7, n_candidates: int = 1, model_family: ModelFamily = "sdxl",
                    look: str | None = None, context: str | None = None,
                    artist_credits: bool = True) -> Iterator[TextDelta | MemberFailed | AssistantFinished]:
        """`fuse`, streamed: the enhancer's TextDelta / MemberFailed events, then AssistantFinished.

        Inputs are checked now (InputError before any event). When the streamed answer is
        unusable (empty, a copy of an example) a MemberFailed names the enhancer and the reason
        and the result holds the fallback's prompt: the streamed text was only a preview.
        """
        opts, request, user_style = self._fuse_request(
            idea, examples, style=style, creativity=creativity, n_candidates=n_candidates,
            model_family=model_family, look=look, context=context, artist_credits=artist_credits)
        return self._fuse_events(opts, request, examples, user_style)

    def as_runnable(self) -> Any:
        """This assistant as a LangChain runnable (retrieve | fuse: invoke / batch / stream).

        Needs the `langchain` extra; see rag/langchain.py.
        """
        from rag.langchain import assistant_runnable  # lazy: langchain_core, ~0.5 s

        return assistant_runnable(self)

    def run(self, idea: str, **options: Any) -> AssistantResult:
        """retrieve + picks + fuse in one call (options: AssistantOptions)."""
        started = time.perf_counter()
        # 1. check inputs
        opts = validated(AssistantOptions, "assistant options", idea=idea, **options)
        retrieve_opts = {name: getattr(opts, name) for name in RetrieveOptions.model_fields if name != "idea"}
        fuse_opts = {name: getattr(opts, name) for name in FuseOptions.model_fields if name != "idea"}
        # 2. retrieve
        retrieved = self.retrieve(opts.idea, **retrieve_opts)
        retrieve_s = time.perf_counter() - started
        # 3. the picks
        picks = opts.picks or default_picks(len(retrieved))
        examples = to_examples(retrieved, picks)
        # 4. fuse, check, measure
        result = self.fuse(opts.idea, examples, **fuse_opts)
        result.options = {**result.options, **opts.model_dump(mode="json")}  # keeps what the index told the writer
        result.timings = {"retrieve_s": retrieve_s, **result.timings, "total_s": time.perf_counter() - started}
        return result

    # -- the steps ----------------------------------------------------------------------------
    def _fuse_request(self, idea: str, examples: Any,
                      **options: Any) -> tuple[FuseOptions, EnhanceRequest, UserStyle | None]:
        """(the checked options, the enhancer's request, the user style that wraps its answer or None)."""
        opts = validated(FuseOptions, "assistant options", idea=idea, **options)
        style, user_style = split_user_style(opts.style)  # InputError listing the styles for an unknown one
        if not isinstance(examples, (list, tuple)):
            raise InputError(f"examples must be a list of ExampleUsed, got {type(examples).__name__}")
        for i, example in enumerate(examples):
            if not isinstance(example, ExampleUsed):
                raise InputError(f"examples[{i}] must be an ExampleUsed (from to_examples or a result's "
                                 f"examples), got {type(example).__name__}")
        # the medium each artist of the idea and examples goes with, learned at ingest (rag/artists.py)
        # and the examples' phrases the index knows as scene (subjects of other prompts), never modifiers
        index = self.retriever.store if self.retriever is not None else None
        artist_media = artist_media_for(index, [opts.idea, *(e.text for e in examples)])
        scene = sorted(scene_phrases_for(index, [e.text for e in examples]))
        request = EnhanceRequest(idea=opts.idea, style=style, creativity=opts.creativity,
                                 examples=[e.as_example() for e in examples], n_candidates=opts.n_candidates,
                                 model_family=opts.model_family, artist_media=artist_media, scene_phrases=scene,
                                 look=opts.look, context=opts.context, artist_credits=opts.artist_credits)
        return opts, request, user_style

    def _fuse_events(self, opts: FuseOptions, request: EnhanceRequest, examples: list[ExampleUsed],
                     user_style: UserStyle | None) -> Iterator[TextDelta | MemberFailed | AssistantFinished]:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        result = None
        for event in self.enhancer.stream(request):
            if isinstance(event, Finished):
                result = event.result
            else:
                yield event
        if result is None:
            raise BackendError(f"{self.enhancer.name} ended its stream without a result")
        timings["enhance_s"] = time.perf_counter() - started
        memo = MemoEmbedder(self.embedder)
        answered = result.enhancer
        result, reason, dropped = self._replace_unusable(request, examples, result, timings, memo)
        if reason:
            yield MemberFailed(answered, reason)
        yield AssistantFinished(styled(self.finish(opts.idea, result, examples, _options(opts, request),
                                                   timings, started, memo, dropped=dropped), user_style))

    def _replace_unusable(
        self, request: EnhanceRequest, examples: list[ExampleUsed], result: EnhanceResult,
        timings: dict[str, float], embedder: Any,
    ) -> tuple[EnhanceResult, str | None, list[DroppedCandidate]]:
        """(the result to keep, why its answer was replaced or None, the drifted candidates dropped)."""
        result, dropped, lost = drop_drifted(request.idea, result, embedder)
        reason = self.unusable(result.prompt, examples, embedder)
        if reason is None and lost:
            reason = f"drifted from the idea: every candidate lost {', '.join(lost)}"
        if reason:
            t = time.perf_counter()
            replacement = self.fallback_for(result.enhancer).enhance(request)
            timings["fallback_s"] = time.perf_counter() - t
            replacement.fallback_reasons = {**result.fallback_reasons, **replacement.fallback_reasons,
                                            result.enhancer: reason}
            result = replacement
        return result, reason, dropped

    def unusable(self, prompt: str, examples: list[ExampleUsed], embedder: Any) -> str | None:
        if not prompt.strip():
            return "returned an empty prompt"
        if examples:
            q = measure(prompt, prompt, examples, token_budget=77, embedder=embedder)
            if q.is_copy:
                return f"returned a copy of example id {q.closest_example_id} (similarity {q.novelty:.3f})"
        return None

    def finish(self, idea: str, result: EnhanceResult, examples: list[ExampleUsed], options: dict[str, Any],
               timings: dict[str, float], started: float, embedder: Any = None, *,
               dropped: list[DroppedCandidate] | None = None) -> AssistantResult:
        t = time.perf_counter()
        embedder = embedder or self.embedder
        quality = measure(idea, result.prompt, examples, token_budget=result.token_budget, embedder=embedder)
        ranking = rank_candidates(idea, [c.prompt for c in result.candidates], embedder)
        candidates = [RankedCandidate(result.candidates[i].prompt, result.candidates[i].negative_prompt,
                                      result.candidates[i].rationale, cons, dist) for i, cons, dist in ranking]
        # what the model family's profile changed or ignores (weights stripped, negative unused) is said too
        problems = [*validate(idea, result.prompt, quality, embedder), *result.notices]
        timings["quality_s"] = time.perf_counter() - t
        timings["total_s"] = time.perf_counter() - started
        return AssistantResult(idea, result.prompt, result.negative_prompt, result.style, result.enhancer,
                               list(examples), candidates, dict(result.fallback_reasons), problems, quality,
                               options, result.rationale, timings, list(dropped or []), result.look)


def drop_drifted(idea: str, result: EnhanceResult,
                 embedder: Any) -> tuple[EnhanceResult, list[DroppedCandidate], list[str]]:
    """(result without the candidates that drifted, those dropped, the words lost when all drifted).

    When every candidate drifted nothing is dropped here (the caller replaces the answer);
    the third item then lists the lost words of the best candidate.
    """
    drifts: list[Drift] = check_drift(idea, [c.prompt for c in result.candidates], embedder)
    if not any(d.drifted for d in drifts):
        return result, [], []
    if all(d.drifted for d in drifts):
        return result, [], list(drifts[0].missing)
    kept = [c for c, d in zip(result.candidates, drifts) if not d.drifted]
    gone = [(c.prompt, d) for c, d in zip(result.candidates, drifts) if d.drifted]
    best = kept[0]
    from dataclasses import replace

    note = drift_note(gone)
    result = replace(result, prompt=best.prompt, negative_prompt=best.negative_prompt, candidates=kept,
                     token_count=count_clip_tokens(best.prompt),
                     rationale=" ".join(filter(None, [result.rationale, f"({note})"])))
    return result, [DroppedCandidate(prompt, list(d.missing)) for prompt, d in gone], []


def validate(idea: str, prompt: str, quality: QualityFigures, embedder: Any = None) -> list[str]:
    """The checks a finished prompt failed, as sentences a user can act on.

    With an embedder a subject word the prompt replaced by a close synonym counts as kept.
    """
    problems = []
    if not prompt.strip():
        problems.append("the prompt is empty")
    if not quality.within_budget:
        problems.append(f"the prompt takes {quality.token_count} CLIP tokens, over the budget of "
                        f"{quality.token_budget}; the model will ignore the rest")
    missing = list(check_drift(idea, [prompt], embedder)[0].missing)
    if missing:
        problems.append(f"the prompt lost words of the idea: {', '.join(missing)}")
    if quality.is_copy:
        problems.append(f"the prompt is a near copy of example id {quality.closest_example_id} "
                        f"(similarity {quality.novelty:.3f})")
    return problems


