"""Feedback as a list of edits: parsed, applied to the previous prompt, and explained.

A refinement round is a previous prompt plus a line of feedback ("at night, with lightning, no
mist"). Here the feedback becomes a list of `Edit`s and every edit is either applied or
reported:

- `parse_feedback(text)`: clauses (split on commas, ";", " and ", " but ", " with " where one
  side is something we know) classified with small lexicons: time of day, weather, season,
  viewpoint / camera, look / medium (`looks.look_requested`), colour, mood, removal ("no X",
  "without X", "remove X"), intensity ("more detailed", "simpler", "less X"), reference
  ("closer to example 2": rag/refinement.py pulls that in) and, for anything else, an addition
  made as written (and said so).
- `apply_edits(prompt, idea, edits, form=, budget=)`: the previous prompt in its form (tags,
  a sentence plus tags, prose) less what each edit displaces ("at night" displaces golden hour
  and sunset, a watercolor look displaces "professional photograph" and "85mm lens"), with the
  new phrases right after the idea, in English a person would write; fitted to the budget by
  dropping old modifiers from the end, never the idea or the new phrases. Pure.
- `explain(previous, new, revision)`: the "How" note, written from the final prompt, so it only
  claims what the prompt shows.

Deliberately not here: the negative prompt's tables and the look's repair pass (rules.py,
looks.py), and "closer to example N" itself (rag/refinement.py).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from enhancers.feedback_lexicon import ENTRIES, LENSES, TEXT_WORDS, Entry
from enhancers.lighting_framing import TIME, axes_of, repeats_axis
from enhancers.looks import CAMERA_FAMILIES, LOOKS, anchor_noun, look_requested
from enhancers.media import MEDIUM_PHRASES, clash, media_of
from enhancers.profiles import join_and, with_article
from enhancers.tokens import count_clip_tokens

# ----------------------------------------------------------------------------------------------
# The edits and the lexicons behind them.


@dataclass(frozen=True)
class Edit:
    """One change the feedback asks for."""

    kind: str  # add / remove / replace / look / intensity / reference
    klass: str  # time, weather, season, viewpoint, look, colour, mood, removal, intensity, reference, addition
    clause: str  # the user's words
    phrase: str = ""  # what goes into the prompt ("at night"); empty for removals and references
    replaces: tuple[str, ...] = ()  # phrases it displaces (an item holding one leaves the prompt)
    negative: tuple[str, ...] = ()  # terms for the negative prompt
    look: str | None = None  # the Look's name, for look edits
    more: tuple[str, ...] = ()  # further phrases of a fixed rule ("moodier" adds three)
    prose: str = ""  # the phrase inside a sentence when it differs ("in black and white")
    keep_old: int | None = None  # "simpler": the previous prompt's modifiers kept at most
    allow: tuple[str, ...] = ()  # terms the negative must no longer ban ("blurry" for motion blur)




@dataclass(frozen=True)
class _Compiled:
    entry: Entry
    regex: re.Pattern[str]


_COMPILED = tuple(_Compiled(e, re.compile(rf"(?:{e.pattern})")) for e in ENTRIES)
_NOUN_HEADS = ("rain", "snow", "fog", "mist", "lightning", "storm", "clouds", "wind", "haze", "light", "sunlight")
_PREPOSITIONS = r"(?:at|during|in|into|by|around|on|under|with|to|for|before|after|through|amid|amidst|toward|towards)"
_FILLER_HEAD = re.compile(
    r"^(?:please|pls|can you|could you|would you|can we|i want(?: it)?(?: to be)?|i'?d like(?: it)?(?: to be)?|"
    r"i would like(?: it)?(?: to be)?|let'?s|lets|now|also|just|maybe|try|then|ok|okay|so|"
    r"(?:make|render|set|put|turn|change|show|have|do|redo|paint|draw) (?:it|this|that|the (?:image|picture|scene|"
    r"prompt|photo|shot|whole thing)|everything)(?: (?:to|into|be|in))?|it should be|should be|it'?s|make|"
    r"change to|switch to|go)\s+")
_FILLER_TAIL = re.compile(r"\s+(?:please|pls|instead|too|as well|a bit|a little|though|thanks|overall|"
                          r"in the (?:image|picture|scene|shot|background)|in it|anymore|any more)$")
_SOFTENERS = re.compile(r"\b(?:a bit|a little|a tad|slightly|much|way|even|somewhat|really|very|a lot|lots|"
                        r"quite|super|extremely|more and more)\s+")
_REMOVAL = re.compile(r"^(?:no|without|remove|drop|lose|delete|get rid of|take out|take away|not|no more|avoid|"
                      r"never|don'?t (?:want|show|include|add)|hide|minus|less of)\s+(?:the |any |a |an |all |those |"
                      r"that |these |this )?(.+)$")
_MORE = re.compile(r"^(?:more|add more|extra|stronger|bigger|heavier|increase(?: the)?)\s+(.+)$")
_LESS = re.compile(r"^(?:less|fewer|weaker|lighter on|reduce(?: the)?|tone down(?: the)?)\s+(.+)$")
_REPLACE = re.compile(r"^(?:replace|swap|change|turn)\s+(?:the\s+)?(.+?)\s+(?:with|for|to|into)\s+(.+)$"
                      r"|^(.+?)\s+(?:instead of|rather than|not)\s+(.+)$")
_REFERENCE = re.compile(r"(?:\bexample\s*#?\s*|#)\d+\b")
_ADD_HEAD = re.compile(r"^(?:add|include|put in|put|show|insert|give it|there should be|we need|i want)\s+")
_VAGUE = re.compile(r"^(?:better|worse|different|differently|another(?: one)?|again|try again|redo|fix(?: it)?|"
                    r"improve(?: it)?|change(?: it)?|i (?:don'?t|do not) like(?: it| this)?|not good|nicer|"
                    r"prettier|more interesting|more creative|more original|more unique|good|great|nice|cool|"
                    r"thanks|thank you|it|this|that|something else|other|the same|same|more|less|ok|okay|yes|no)$")
_FIXED_AND = ("black and white", "black & white", "pen and ink", "salt and pepper", "rock and roll",
              "sword and sorcery", "dungeons and dragons", "bread and butter", "fish and chips", "more and more")


def parse_feedback(text: str) -> list[Edit]:
    """The edits one line of feedback asks for, in the order given (see the module docstring)."""
    edits: list[Edit] = []
    for clause in _clauses(text or ""):
        edits += _classify(clause)
    return edits


def _clauses(text: str) -> list[str]:
    """Commas, ";", "." and "!" always split; " and ", " but ", " with " only where a side is known."""
    out: list[str] = []
    for segment in re.split(r"\s*(?:[,;!?]|\.(?:\s|$)|\n)\s*", text):
        segment = segment.strip(" .")
        if not segment:
            continue
        if _REPLACE.match(_core(segment)) or _REFERENCE.search(segment):
            out.append(segment)
            continue
        parts = re.split(r"\s+(?=(?:and|but|with|then|plus)\s)", _protect(segment))
        merged: list[str] = []
        for part in (_unprotect(p) for p in parts):
            bare = re.sub(r"^(?:and|but|then|plus)\s+", "", part)
            if merged and not (_known(merged[-1]) or _known(bare)):
                merged[-1] = f"{merged[-1]} {part}"  # "a cat and a dog": one addition, as written
            else:
                merged.append(bare)
        out += [m for m in merged if m.strip()]
    return out


def _protect(text: str) -> str:
    for phrase in _FIXED_AND:
        text = re.sub(re.escape(phrase), phrase.replace(" ", "\x00"), text, flags=re.IGNORECASE)
    return text


def _unprotect(text: str) -> str:
    return text.replace("\x00", " ")


def _known(clause: str) -> bool:
    return any(e.klass != "addition" for e in _classify(re.sub(r"^with\s+", "", clause.strip()), split=False))


def _core(clause: str) -> str:
    """The clause lower-cased, less polite and vague words around what it asks."""
    text = re.sub(r"\s+", " ", clause.lower()).strip(" .!'\"")
    previous = None
    while previous != text:
        previous = text
        text = _FILLER_HEAD.sub("", text)
        text = _FILLER_TAIL.sub("", text)
    return _SOFTENERS.sub("", text).strip()


def _classify(clause: str, *, split: bool = True) -> list[Edit]:
    raw = clause.strip()
    with_marker = raw.lower().startswith("with ")
    core = _core(raw[5:] if with_marker else raw)
    if _REFERENCE.search(core):
        return [Edit("reference", "reference", raw)]
    if not core or _VAGUE.match(core):
        return [Edit("add", "unclear", raw)]
    replaced = _REPLACE.match(core)
    if replaced:
        new, old = ((replaced.group(2), replaced.group(1)) if replaced.group(1)
                    else (replaced.group(3), replaced.group(4)))
        found = [e for e in _classify(new, split=False) if e.phrase]
        if found:
            return [Edit(found[0].kind if found[0].kind != "add" else "replace", found[0].klass, raw, found[0].phrase,
                         (*found[0].replaces, _strip_article(old)), found[0].negative, found[0].look, found[0].more,
                         found[0].prose, allow=found[0].allow)]
    removal = _REMOVAL.match(core)
    if removal:
        return [_removal(raw, removal.group(1))]
    if re.fullmatch(r"(?:no |without )?(?:text|words|letters|writing|watermarks?|captions?|signatures?|logos?)", core):
        return [_removal(raw, "text")]
    look = look_requested(core)
    if look is not None:
        return [_look_edit(raw, look)]
    entry = _match(core)
    if entry is not None:
        return [_edit(raw, core, entry)]
    more = _MORE.match(core)
    if more:
        inner = _match(more.group(1))
        if inner is not None:
            return [_edit(raw, more.group(1), inner)]
        return [Edit("intensity", "intensity", raw, _strip_article(more.group(1)))]
    less = _LESS.match(core)
    if less:
        target = _strip_article(less.group(1))
        return [Edit("intensity", "intensity", raw, "", replaces=_forms(target))]
    if split:  # "a boat in winter": the known tail becomes its own edit
        tail = re.match(rf"^(.+?)\s+({_PREPOSITIONS}\s+.+)$", core)
        if tail and _match(tail.group(2)) is not None:
            return [*_classify(tail.group(1), split=False), *_classify(tail.group(2), split=False)]
    body = _ADD_HEAD.sub("", _FILLER_HEAD.sub("", re.sub(r"\s+", " ", (raw[5:] if with_marker else raw)).strip(" .!")))
    body = _FILLER_TAIL.sub("", body) or body
    return [Edit("add", "addition", raw, body)]


def _match(core: str) -> Entry | None:
    core = core.strip()
    bare = re.sub(rf"^{_PREPOSITIONS}\s+(?:the\s+|a\s+|an\s+)?", "", core)
    for text in dict.fromkeys((core, bare)):
        for compiled in _COMPILED:
            if compiled.regex.fullmatch(text):
                return compiled.entry
    # "heavy rain", "thick morning fog": a weather noun with one or two words of its own
    words = bare.split()
    if 1 < len(words) <= 3 and words[0] not in ("less", "fewer", "no", "more", "without"):
        for compiled in _COMPILED:
            if compiled.entry.klass == "weather" and compiled.regex.fullmatch(words[-1]) and words[-1] in _NOUN_HEADS:
                return Entry(**{**compiled.entry.__dict__, "phrase": bare})
    return None


def _edit(raw: str, core: str, entry: Entry) -> Edit:
    replaces = tuple(w for w in (*entry.group, *entry.replaces) if w not in entry.own and w != entry.phrase)
    if entry.phrase.endswith("mm lens"):
        replaces = tuple(w for w in LENSES if w not in entry.phrase)
    return Edit(entry.kind, entry.klass, raw, entry.phrase, replaces, entry.negative, None, entry.more, entry.prose,
                entry.keep_old, (*entry.allow, *_words_of(entry.phrase)))


def _look_edit(raw: str, look) -> Edit:
    """A look edit displaces every clashing medium's words and, off camera looks, camera gear."""
    displaced = [p for family, phrases in MEDIUM_PHRASES.items() if clash(family, look.family) for p in phrases]
    if look.family not in CAMERA_FAMILIES:
        displaced += [*LENSES, "85mm lens", "lens", "bokeh", "dslr", "f/1.8", "f/2.8", "shallow depth of field",
                      "film grain", "35mm film", "anamorphic lens", "photorealistic", "hyperrealistic",
                      "realistic textures", "subsurface scattering", "ray tracing", "global illumination"]
    if look.family in ("drawing", "coloring", "print"):  # a pencil, ink or line look is drawn, not painted in colour
        displaced += ["vibrant colors", "vibrant colours", "vibrant", "colorful", "colourful", "saturated colors",
                      "rich colors", "vivid colors", "expressive brushstrokes", "rich textures"]
    if look.family in ("photo", "render3d"):
        displaced += ["brushstrokes", "expressive brushstrokes", "brush strokes", "canvas texture",
                      "trending on artstation", "fantasy art"]
    own = {look.anchor, look.name}
    displaced = [p for p in dict.fromkeys(displaced) if p not in own]
    return Edit("look", "look", raw, look.anchor, tuple(displaced), (), look.name,
                allow=(look.name, look.anchor, *(p for f, ps in MEDIUM_PHRASES.items() if not clash(f, look.family)
                                                  for p in ps)))


def _removal(raw: str, target: str) -> Edit:
    target = _strip_article(target)
    if target in ("text", "words", "letters", "writing", "watermark", "watermarks", "captions", "signature"):
        return Edit("remove", "removal", raw, "", TEXT_WORDS, TEXT_WORDS)
    entry = _match(target)
    extra = tuple(w for w in (entry.own if entry else ()) if len(w.split()) == 1)
    return Edit("remove", "removal", raw, "", (*_forms(target), *extra), (target,))


def _strip_article(text: str) -> str:
    return re.sub(r"^(?:the|a|an|any|some|all)\s+", "", text.strip()).strip()


def _forms(word: str) -> tuple[str, ...]:
    """A thing and its singular ("clouds" → clouds, cloud), so a removal finds either."""
    forms = [word]
    if word.endswith("ies") and len(word) > 4:
        forms.append(word[:-3] + "y")
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        forms.append(word[:-1])
    elif not word.endswith("s"):
        forms.append(word + "s")
    return tuple(forms)


_STOP = frozenset("a an the at in on of with by from and during under seen into to very".split())


def _words_of(phrase: str) -> tuple[str, ...]:
    return tuple(w for w in re.findall(r"[a-z][a-z'-]+", phrase.lower()) if w not in _STOP)


# ----------------------------------------------------------------------------------------------
# Applying edits to a prompt.


@dataclass
class Revision:
    """The previous prompt revised by the edits, and what happened to each clause."""

    prompt: str
    negative_add: list[str] = field(default_factory=list)
    negative_remove: list[str] = field(default_factory=list)  # terms the negative must no longer ban
    look: str | None = None
    applied: list[tuple[str, str]] = field(default_factory=list)  # (clause, what was done)
    unapplied: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)  # (phrase, clause asking for it)
    removed: list[tuple[str, str]] = field(default_factory=list)  # (old phrase, why it left)
    head: str = ""  # the idea as the revised prompt holds it (less a part a removal took out)


@dataclass
class _Group:
    """Phrases of one clause of a prompt: "with a, b and c" (lead "with") or a plain "a and b"."""

    lead: str
    items: list[str]
    glued: bool = False  # follows the group before it with a space, not a comma
    closed: bool = False  # a "with" list that already said its "and" (no more items join it)
    new: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.new = self.new or [False] * len(self.items)

    def render(self) -> str:
        said = join_and(self.items)
        return f"{self.lead} {said}" if self.lead and said else said


@dataclass
class _Sentence:
    groups: list[_Group]
    end: str  # ".", "!", "?" or "" (a mixed prompt's tags)


@dataclass
class _Prompt:
    """A prompt as: anchor prefix ("A watercolor painting of "), the idea, then sentences of groups."""

    prefix: str
    idea: str
    sentences: list[_Sentence]  # sentences[0] continues the idea's sentence

    def render(self) -> str:
        out = self.prefix + self.idea
        for i, sentence in enumerate(self.sentences):
            parts = [g for g in sentence.groups if g.items]
            text = ""
            for j, group in enumerate(parts):
                sep = " " if group.glued and j > 0 else ", "
                text += ("" if j == 0 and i > 0 else sep) + group.render()
            if i == 0:
                out += text
                if sentence.end and (out or self.idea):
                    out = out.rstrip(" ,") + sentence.end
            elif text:
                out = out.rstrip() + " " + _capital_if(text, sentence.end) + sentence.end
        return re.sub(r"\s{2,}", " ", out).strip()

    def old_items(self) -> list[tuple[_Group, int]]:
        return [(g, i) for s in self.sentences for g in s.groups for i in range(len(g.items)) if not g.new[i]]


def _capital_if(text: str, end: str) -> str:
    return text[:1].upper() + text[1:] if end else text


def _parse_prompt(prompt: str, idea: str, form: str) -> _Prompt:
    text = prompt.strip()
    at = text.lower().find(idea.lower()) if idea else -1
    if at < 0:
        prefix, head, rest = "", idea, (", " + text if text else "")
    else:
        prefix, head, rest = text[:at], text[at:at + len(idea)], text[at + len(idea):]
    sentences: list[_Sentence] = []
    pieces = re.split(r"(?<=[.!?])\s+", rest)
    for k, piece in enumerate(pieces):
        body = piece.rstrip()
        end = body[-1] if body.endswith((".", "!", "?")) else ""
        body = body[: len(body) - len(end)] if end else body
        if k == 0 and end == "" and len(pieces) == 1 and form != "tags" and body.endswith("."):
            end = "."
        sentences.append(_Sentence(_groups(body, merge=form != "tags", first=k == 0), end))
    if not sentences:
        sentences.append(_Sentence([], ""))
    return _Prompt(prefix, head, sentences)


_CREDIT_LEAD = re.compile(r"^(?:art by|by|in the style of|painted by|photo by|style of)\s", re.IGNORECASE)


def _split_and(text: str) -> list[str]:
    """A list's items ("a and b"); a credit ("by a and b") is one item, its names stay together."""
    return [text] if _CREDIT_LEAD.match(text.strip()) else text.split(" and ")


def _groups(body: str, *, merge: bool, first: bool) -> list[_Group]:
    groups: list[_Group] = []
    glued_first = first and not body.startswith((",", ";")) and bool(body.strip())
    for n, segment in enumerate(re.split(r"\s*[,;]\s*", _protect(body))):
        segment = segment.strip()
        if not segment:
            continue
        glued = glued_first and n == 0
        head, _, tail = (segment.partition(" with ") if not segment.lower().startswith("with ")
                         else ("", "", segment[5:]))
        open_with = merge and groups and groups[-1].lead == "with" and not groups[-1].closed
        if open_with and (_ADVERBIAL.match(segment) or _CREDIT_LEAD.match(segment)):
            open_with = False  # "with fog, by cliff chiang": a credit or an adverbial ends the with-list
        if head and not tail and open_with and len(_split_and(segment)) == 1:
            groups[-1].items.append(_unprotect(segment))  # "with a, b and c": the list goes on
            groups[-1].new.append(False)
            continue
        if head and not tail and open_with:
            groups[-1].items += [_unprotect(i) for i in _split_and(segment)]
            groups[-1].new += [False] * len(_split_and(segment))
            groups[-1].closed = True
            continue
        if head:
            groups.append(_Group("", [_unprotect(i) for i in _split_and(head)], glued=glued))
        if tail or segment.lower().startswith("with "):
            groups.append(_Group("with", [_unprotect(i) for i in tail.split(" and ")], glued=bool(head) or glued,
                                 closed=" and " in tail))
    return groups


_ADVERBIAL = re.compile(r"^(?:at|in|on|under|during|seen|viewed|from|as|by|inside|near|beneath|above|below|through|"
                        r"against|over|across|around|among|behind|before|after|underwater|shot|lit|surrounded|"
                        r"wearing|holding|standing|sitting|flying|floating|amid|amidst|toward|towards|into|outside)\b",
                        re.IGNORECASE)


def _has(text: str, phrase: str) -> bool:
    return bool(phrase) and re.search(rf"(?<![\w-]){re.escape(phrase.lower())}(?![\w-])", text.lower()) is not None


def apply_edits(prompt: str, idea: str, edits: list[Edit], *, form: str, budget: int,
                extras: list[str] | tuple[str, ...] = ()) -> Revision:
    """`prompt` revised by `edits` in its `form` ("tags", "mixed", "prose"), fitted to `budget`.

    `extras` (a writer's variant descriptors) go last and are the first to leave for the budget.
    """
    idea = idea.strip().rstrip(".,;: ")
    model = _parse_prompt(prompt, idea, form)
    revision = Revision(prompt=prompt)
    fresh: list[tuple[str, str, bool]] = []  # (phrase, clause, adverbial), in the order asked
    # 1. what each edit displaces or removes
    for edit in edits:
        if edit.kind == "reference":
            revision.applied.append((edit.clause, "left to the refinement step (it pulls in that example)"))
            continue
        if edit.klass == "unclear":
            revision.unapplied.append(edit.clause)
            revision.notices.append(f"could not apply {edit.clause!r}: it does not say what to change "
                                    "(try e.g. 'at night', 'no people', 'as a watercolor painting')")
            continue
        if edit.kind == "remove":
            _remove_from_idea(model, edit, revision)
        retimed = edit.kind != "remove" and _retime_idea(model, edit, revision, form)
        anchored = bool(edit.look) and _replace_anchor(model, edit)
        gone = _displace(model, edit, revision, in_place=bool(edit.look) and not anchored)
        if edit.keep_old is not None:
            for group, i in model.old_items()[edit.keep_old:]:
                revision.removed.append((group.items[i], f"{edit.clause!r} keeps the prompt simple"))
                group.items[i] = ""
        if edit.look and not anchored and not _has(model.render(), edit.phrase):  # nothing took its place
            look_phrase = "as " + with_article(_anchor_noun(edit.phrase)) if form == "prose" else edit.phrase
            fresh.append((look_phrase, edit.clause, True))
            revision.added.append((edit.phrase if look_phrase == edit.phrase else look_phrase, edit.clause))
        elif edit.look:
            revision.added.append((_anchor_noun(edit.phrase) if anchored else edit.phrase, edit.clause))
        elif edit.phrase and not retimed:
            for phrase in (edit.phrase, *edit.more):
                if not _has(model.render(), phrase):
                    written = edit.prose if (edit.prose and form != "tags" and phrase == edit.phrase) else phrase
                    fresh.append((written, edit.clause, bool(_ADVERBIAL.match(written))))
                    revision.added.append((phrase, edit.clause))
        if not retimed and _has(model.idea, edit.phrase) is False and any(
                _has(model.idea, w) for w in edit.replaces if len(w) > 3):
            said = next(w for w in edit.replaces if len(w) > 3 and _has(model.idea, w))
            revision.notices.append(f"the idea itself says {said!r}, which {edit.clause!r} contradicts; "
                                    "the idea is kept as written")
        bans = [t for t in edit.negative if t not in revision.negative_add]
        # what the user bans outright comes first in the negative prompt
        revision.negative_add = ([*bans, *revision.negative_add] if edit.kind == "remove"
                                 else [*revision.negative_add, *bans])
        revision.negative_remove += [t for t in edit.allow if t not in revision.negative_remove]
        if edit.look:
            revision.look = edit.look
        _report(revision, edit, gone)
    _clean(model)
    # 2. the new phrases right after the idea, then the extras at the end; 3. the budget
    _insert(model, fresh, form)
    held = axes_of(model.render())
    _append(model, [e for e in extras if not _has(model.render(), e) and not repeats_axis(e, held)], form)
    revision.prompt = _fit(model, budget, revision, extras)
    revision.head = model.idea
    return revision


def _displace(model: _Prompt, edit: Edit, revision: Revision, *, in_place: bool = False) -> int:
    """Items holding what `edit` displaces leave; with `in_place` the first takes the edit's phrase."""
    gone = 0
    asked_axes = axes_of(", ".join(p for p in (edit.phrase, *edit.more) if p)) if edit.kind != "remove" else set()
    for group, i in model.old_items():
        item = group.items[i]
        # what the edit names replaces it, and so does the edit's time of day, light or framing
        # ("brighter" → "bright lighting" retires "dramatic lighting": lighting_framing.py)
        hit = next((w for w in edit.replaces if _has(item, w)), None) or (
            item and not any(_has(item, p) for p in (edit.phrase, *edit.more)) and repeats_axis(item, asked_axes))
        if hit and item:
            why = f"it clashes with {edit.phrase!r}" if edit.phrase else f"you said {edit.clause!r}"
            revision.removed.append((item, why))
            group.items[i] = ""
            if in_place and not gone and not _has(model.render(), edit.phrase):
                article = re.match(r"^(?:an?|the)\s", item, re.IGNORECASE)
                group.items[i] = (with_article(edit.phrase) if article else edit.phrase)
                group.new[i] = True
            gone += 1
    return gone


def _remove_from_idea(model: _Prompt, edit: Edit, revision: Revision) -> None:
    """A removal of something the idea adds ("a lake with ducks" + "no ducks"): its clause leaves the
    head, since the user's latest word wins. The idea's own subject (its first words) always stays."""
    for target in edit.replaces:
        clause = re.compile(rf"(?:\s*,\s*|\s+(?:with|and|&|plus)\s+)(?:(?:a|an|the|some|two|three|many|lots of)\s+)?"
                            rf"(?:[\w-]+\s+)?{re.escape(target)}(?![\w-])", re.IGNORECASE)
        found = clause.search(model.idea)
        if found:
            revision.removed.append((found.group(0).strip(" ,"), f"you said {edit.clause!r}"))
            model.idea = (model.idea[: found.start()] + model.idea[found.end():]).strip()
            return


# The idea's own time of day, as a phrase that can be swapped whole ("... in a storm at night").
_IDEA_TIME_RE = re.compile(
    r"(?:\s*,\s*|\s+)(?:at|in|during|under|by)\s+(?:the\s+|a\s+)?(?:[\w-]+\s+)?(?:night|nighttime|midnight|dusk|"
    r"dawn|sunset|sunrise|twilight|noon|midday|daytime|daylight|golden hour|blue hour|morning|evening|afternoon|"
    r"stars|starlight|moonlight|full moon)(?![\w-])", re.IGNORECASE)
_PREPOSITION_RE = re.compile(r"^(?:at|in|during|under|by|on)\s", re.IGNORECASE)


def _retime_idea(model: _Prompt, edit: Edit, revision: Revision, form: str) -> bool:
    """A new time of day takes the place of the idea's own ("a lighthouse at night" + "golden hour
    instead" → "a lighthouse at golden hour"): the user's latest word wins, as for a removal. True
    when it did."""
    if not edit.phrase or TIME not in axes_of(edit.phrase) or _has(model.idea, edit.phrase):
        return False
    found = _IDEA_TIME_RE.search(model.idea)
    if not found:
        return False
    written = edit.prose if (edit.prose and form != "tags") else edit.phrase
    if not _PREPOSITION_RE.match(written):
        written = ("by " if written.endswith("light") else "at ") + written
    old = found.group(0)
    model.idea = model.idea[: found.start()] + old[: len(old) - len(old.lstrip(" ,"))] + written \
        + model.idea[found.end():]
    revision.removed.append((old.strip(" ,"), f"you said {edit.clause!r}"))
    revision.added.append((written, edit.clause))
    return True


def _anchor_noun(phrase: str) -> str:
    """A look as the noun of "A ... of <idea>" ("pixel art" → "pixel art image", keeping its words)."""
    return phrase + " image" if phrase.endswith(" art") else anchor_noun(phrase)


def _replace_anchor(model: _Prompt, edit: Edit) -> bool:
    """A prose prompt's "A professional photograph of <idea>" takes the new look's anchor."""
    match = re.match(r"^(an?|the)\s+(.+?)\s+of\s+$", model.prefix, re.IGNORECASE)
    if not match:
        return False
    named_now = match.group(2)
    if not (any(_has(named_now, w) for w in edit.replaces) or media_of(re.sub(r"artwork$", "art", named_now))):
        return False
    named = with_article(_anchor_noun(edit.phrase))
    model.prefix = named[:1].upper() + named[1:] + " of "
    return True


def _report(revision: Revision, edit: Edit, gone: int) -> None:
    if edit.kind == "remove":
        done = "put " + ", ".join(edit.negative) + " in the negative prompt"
    elif edit.kind == "intensity" and not edit.phrase:
        done = "took out what said it" if gone else ""
        if not gone:
            revision.unapplied.append(edit.clause)
            revision.notices.append(f"could not apply {edit.clause!r}: nothing in the prompt says it")
            return
    elif edit.klass == "addition":
        done = f"added as written: {edit.phrase}"
        revision.notices.append(f"added as written: {edit.phrase}")
    else:
        done = f"{edit.klass}: {edit.phrase}"
    revision.applied.append((edit.clause, done + (f" ({gone} old phrase(s) displaced)" if gone else "")))


def _clean(model: _Prompt) -> None:
    for sentence in model.sentences:
        for group in sentence.groups:
            keep = [(t, n) for t, n in zip(group.items, group.new) if t]
            group.items, group.new = [t for t, _ in keep], [n for _, n in keep]
        # a group glued to one that left ("professional photograph with a") now follows a comma
        kept = [g for g in sentence.groups if g.items]
        for j, group in enumerate(kept):
            if j == 0 and sentence is not model.sentences[0]:
                group.glued = False
        sentence.groups = kept
        if sentence is model.sentences[0] and kept and kept[0].glued and not model.idea:
            kept[0].glued = False


def _insert(model: _Prompt, fresh: list[tuple[str, str, bool]], form: str) -> None:
    if not fresh:
        return
    first = model.sentences[0]
    if form == "tags":
        first.groups[0:0] = [_Group("", [p], new=[True]) for p, _, _ in fresh]
        return
    adverbials = [_Group("", [p], new=[True]) for p, _, adv in fresh if adv]
    nouns = [p for p, _, adv in fresh if not adv]
    withs = [g for g in first.groups if g.lead == "with"]
    if nouns and withs:
        withs[0].items[0:0] = nouns
        withs[0].new[0:0] = [True] * len(nouns)
        if first.groups and first.groups[0].glued and first.groups[0] is not withs[0]:
            first.groups[0].glued = False
    elif nouns:
        adverbials.append(_Group("with", nouns, new=[True] * len(nouns)))
    if first.groups and first.groups[0].glued and adverbials:
        first.groups[0].glued = False
    first.groups[0:0] = adverbials


def _append(model: _Prompt, extras: list[str], form: str) -> None:
    if not extras:
        return
    last = model.sentences[-1]
    if form == "prose":
        withs = [g for s in model.sentences for g in s.groups if g.lead == "with"]
        if withs:
            withs[-1].items += extras
            withs[-1].new += [False] * len(extras)
            return
        last.groups.append(_Group("with", list(extras)))
        return
    if form == "mixed" and len(model.sentences) == 1 and model.sentences[0].end:
        model.sentences.append(_Sentence([], ""))
        last = model.sentences[-1]
    last.groups += [_Group("", [e]) for e in extras]


def _fit(model: _Prompt, budget: int, revision: Revision, extras) -> str:
    """Old modifiers (and extras) leave from the end until the prompt fits; the idea and the edits stay."""
    text = model.render()
    if count_clip_tokens(text) <= budget:
        return text
    dropped: list[str] = []
    while count_clip_tokens(text) > budget:
        candidates = [(g, i) for s in model.sentences for g in s.groups for i in range(len(g.items)) if not g.new[i]]
        if not candidates:
            revision.notices.append(f"the idea and the new phrases alone take {count_clip_tokens(text)} of {budget} "
                                    "tokens: nothing more could be dropped")
            break
        group, i = candidates[-1]
        if group.items[i] not in extras:
            dropped.append(group.items[i])
        del group.items[i]
        del group.new[i]
        _clean(model)
        text = model.render()
    for item in dropped:
        revision.removed.append((item, f"to fit {budget} tokens"))
    return text


# ----------------------------------------------------------------------------------------------
# The "How" note.


def explain(previous_prompt: str, new_prompt: str, revision: Revision) -> str:
    """What changed and why, claiming only what the final prompt shows."""
    parts: list[str] = []
    added = [(p, c) for p, c in revision.added if _has(new_prompt, p) and not _has(previous_prompt, p)]
    if added:
        parts.append("added " + ", ".join(
            ", ".join(repr(p) for p in phrases)
            + ("" if [c.lower()] == [p.lower() for p in phrases] else f" (you said {c!r})")
            for c, phrases in _by_reason(added)))
    removed = [(p, why) for p, why in revision.removed if _has(previous_prompt, p) and not _has(new_prompt, p)]
    if removed:
        parts.append("removed " + ", ".join(", ".join(repr(p) for p in phrases) + f" ({why})"
                                            for why, phrases in _by_reason(removed)))
    if revision.negative_add:
        parts.append("the negative prompt bans " + ", ".join(revision.negative_add))
    if revision.look:
        parts.append(f"written as {revision.look}")
    if revision.unapplied:
        parts.append("not applied: " + ", ".join(repr(c) for c in revision.unapplied))
    if not parts:
        parts.append("no change: the previous prompt already says what the feedback asks" if revision.applied
                     else "no change")
    return "How: " + "; ".join(parts)


def _by_reason(pairs: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(reason, phrases) in first-seen order, each phrase once."""
    grouped: dict[str, list[str]] = {}
    seen: set[str] = set()
    for phrase, why in pairs:
        if phrase.lower() not in seen:
            seen.add(phrase.lower())
            grouped.setdefault(why, []).append(phrase)
    return list(grouped.items())


def missed_edits(prompt: str, edits: list[Edit]) -> list[Edit]:
    """The edits a revised prompt does not show (an LLM's answer is checked this way): an addition
    whose words are absent, a removal whose target is still there, a look whose medium is not named."""

    missed: list[Edit] = []
    for edit in edits:
        if edit.kind == "reference" or edit.klass == "unclear" or edit.keep_old is not None:
            continue
        if edit.look:
            shown = LOOKS[edit.look].family in media_of(prompt) if edit.look in LOOKS else True
        elif edit.kind == "remove":
            shown = not any(_has(prompt, target) for target in edit.replaces)
        else:
            words = _words_of(edit.phrase) or _words_of(edit.clause)
            shown = all(re.search(rf"(?<![\w-]){re.escape(w[:max(4, len(w) - 2)])}", prompt.lower()) for w in words)
        if not shown:
            missed.append(edit)
    return missed


def variant_extras(pool: list[str], variant: int, seed: int, attempt: int = 0) -> list[str]:
    """The style descriptors variant `variant` adds at the end (none for the best candidate)."""
    if variant == 0 and attempt == 0:
        return []
    rng = random.Random(seed + 1009 * variant + attempt)
    return rng.sample(pool, min(len(pool), variant + attempt // 6))


def vocabulary() -> tuple[str, ...]:
    """Every phrase the feedback grammar may write into a prompt (for checks of writer vocabulary)."""
    return tuple(dict.fromkeys(p for e in ENTRIES for p in (e.phrase, *e.more, e.prose) if p))
