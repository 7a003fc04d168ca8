"""The blocklist: parsed from a user's file, applied to every enhancer's result and to grounded mining."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from core.errors import ConfigError
from enhancers.base import Candidate, Enhancer, EnhanceRequest, EnhanceResult, Example
from enhancers.blocklist import (
    add_entries,
    file_lines,
    load_blocklist,
    parse_blocklist,
    remove_entries,
)
from enhancers.events import Finished, StreamEvent, TextDelta, collect
from enhancers.grounded import score_modifiers
from enhancers.registry import get_enhancer
from tests.enhancers.contract_backends import CONTRACT_BACKENDS, CONTRACT_EXAMPLES, CONTRACT_IDEA

ARTIST_EXAMPLES = [
    Example(text="a red fox in the snow, digital painting by greg rutkowski, trending on artstation", score=0.9),
    Example(text="a wolf in a misty forest, by greg rutkowski, oil painting, soft light", score=0.8),
    Example(text="a fox curled up, art by alphonse mucha, soft light, highly detailed", score=0.7),
]


@pytest.fixture
def blocklist_file(tmp_path, monkeypatch):
    path = tmp_path / "my-blocklist.txt"
    monkeypatch.setenv("PROMPTRAG_BLOCKLIST", str(path))
    return path


def write(path, text: str) -> None:
    from enhancers import blocklist

    path.write_text(text, encoding="utf-8")
    blocklist._reset_cache()  # a rewrite within one mtime tick and of the same size is read again


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a fox, digital painting by greg rutkowski, trending on artstation",
         "a fox, digital painting, trending on artstation"),
        ("a fox, art by Greg  Rutkowski and Alphonse Mucha, 8k", "a fox, art by Alphonse Mucha, 8k"),
        ("a fox, by alphonse mucha and greg rutkowski, 8k", "a fox, by alphonse mucha, 8k"),
        ("a fox, art by greg rutkowski, 8k", "a fox, 8k"),
        ("A fox painted in the style of Greg Rutkowski in a misty forest.", "A fox painted in a misty forest."),
        ("greg rutkowski, a fox, masterpiece", "a fox"),
        ("a fox, masterpieces, gregrutkowski", "a fox, masterpieces, gregrutkowski"),  # whole words only
    ],
)
def test_blocked_terms_go_with_their_credit_and_commas_stay_clean(prompt, expected):
    blocklist = parse_blocklist("# artists\ngreg rutkowski\n\nmasterpiece\n")
    assert blocklist.redact(prompt).text == expected


def test_regex_entries_are_whole_word_and_anchored_to_a_phrase():
    blocklist = parse_blocklist("re:^artgerm$\nre:rutkowsk\\w*\n")
    redaction = blocklist.redact("a fox, artgerm, by artgerm, by Rutkowskis, artgerms")
    assert redaction.text == "a fox, by artgerm, artgerms"
    assert redaction.removed == ("re:^artgerm$", "re:rutkowsk\\w*")


def test_the_users_own_words_are_kept_and_said_so():
    blocklist = parse_blocklist("greg rutkowski\nmasterpiece\n")
    redaction = blocklist.redact("a fox by greg rutkowski, masterpiece", keep="a fox by Greg Rutkowski")
    assert redaction.text == "a fox by greg rutkowski"
    assert redaction.removed == ("masterpiece",) and redaction.kept == ("greg rutkowski",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("greg rutkowski\n# fine\nre:(unclosed\n", r"line 3: invalid regular expression 're:\(unclosed'"),
        ("ok\nre:\n", r"line 2: 're:' needs a regular expression"),
        ("ok\n" + "x" * 400 + "\n", r"line 2: an entry may be at most 300 characters"),
        ("ok\nbad\x07bell\n", r"line 2: contains control characters"),
        ("# a\n# b\nre:(rutkowski)?\n", r"line 3: 're:\(rutkowski\)\?' matches empty text"),
    ],
)
def test_hostile_lines_are_one_clear_error_naming_the_line(blocklist_file, text, message):
    write(blocklist_file, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_blocklist()
    assert str(blocklist_file) in str(info.value) and "\n" not in str(info.value)


def test_a_file_that_is_not_utf8_says_so(blocklist_file):
    blocklist_file.write_bytes(b"caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_blocklist()


def test_no_file_blocks_nothing(blocklist_file):
    result = get_enhancer("rules").enhance(EnhanceRequest(idea=CONTRACT_IDEA))
    assert not load_blocklist() and not any("blocklist" in n for n in result.notices)


def test_add_and_remove_write_the_file_atomically_and_check_it(blocklist_file):
    add_entries(["greg rutkowski", "re:artgerm\\w*"])
    add_entries(["Greg Rutkowski"])  # already there (case-insensitive)
    assert [line for line in file_lines() if not line.startswith("#")] == ["greg rutkowski", "re:artgerm\\w*"]
    with pytest.raises(ConfigError, match="invalid regular expression"):
        add_entries(["re:("])
    assert load_blocklist().lines == ["greg rutkowski", "re:artgerm\\w*"]  # the bad entry was not written
    remove_entries(["GREG RUTKOWSKI"])
    assert load_blocklist().lines == ["re:artgerm\\w*"]
    assert not list(blocklist_file.parent.glob(".*.tmp"))


def test_grounded_mining_skips_blocked_artists_so_another_modifier_takes_the_place():
    phrases = [m.phrase for m in score_modifiers(ARTIST_EXAMPLES)]
    assert "by greg rutkowski" in phrases
    blocked = [m.phrase for m in score_modifiers(ARTIST_EXAMPLES, parse_blocklist("greg rutkowski\n"))]
    assert "by greg rutkowski" not in blocked and "by alphonse mucha" in blocked


def test_grounded_prompt_has_no_blocked_artist_and_no_removal_was_needed(blocklist_file):
    request = EnhanceRequest(idea="a red fox in the snow", examples=ARTIST_EXAMPLES, creativity=1.0)
    before = get_enhancer("grounded").enhance(request)
    assert "rutkowski" in before.prompt.lower()
    write(blocklist_file, "greg rutkowski\n")
    after = get_enhancer("grounded").enhance(request)
    assert "rutkowski" not in after.prompt.lower() and after.prompt.startswith("a red fox in the snow")
    # mined around, not cut out afterwards
    assert not any("removed" in n for n in after.notices)


def _plain_word(prompt: str, idea: str) -> str | None:
    idea_words = set(re.findall(r"\w+", idea.lower()))
    for word in re.findall(r"(?<![\w-])[a-z]{3,}(?![\w-])", prompt.lower()):
        if word not in idea_words and word not in {"and", "the", "with", "for"}:
            return word
    return None


@pytest.fixture(params=sorted(CONTRACT_BACKENDS))
def backend(request):
    spec = CONTRACT_BACKENDS[request.param]
    with spec.open(request) as enhancer:
        yield enhancer


def test_every_enhancer_result_goes_through_the_blocklist(backend, blocklist_file):
    request = EnhanceRequest(
        idea=CONTRACT_IDEA, n_candidates=2, examples=[Example(text=t) for t in CONTRACT_EXAMPLES]
    )
    before = backend.enhance(request)
    word = _plain_word(before.prompt, CONTRACT_IDEA)
    if word is None:
        pytest.skip(f"{backend.name} wrote no extra plain word to block: {before.prompt!r}")
    write(blocklist_file, f"# test\n{word}\n")
    after = backend.enhance(request)
    for candidate in after.candidates:
        assert not re.search(rf"(?<!\w){word}(?!\w)", candidate.prompt, re.I), (word, candidate.prompt)
        assert "fox" in candidate.prompt.lower()
        assert not re.search(r",\s*,|^\s*,|,\s*$", candidate.prompt), candidate.prompt
    if re.search(rf"(?<!\w){word}(?!\w)", " ".join(c.prompt for c in before.candidates), re.I):
        said = [n for n in after.notices if "blocklist removed" in n]
        if said:  # an enhancer that mines around the blocklist (grounded) needs no removal
            assert repr(word) in said[0] and "blocklist removed" in after.rationale


def test_a_blocked_word_in_the_idea_is_kept_with_a_notice(blocklist_file):
    write(blocklist_file, "snowy\n")
    result = get_enhancer("rules").enhance(EnhanceRequest(idea=CONTRACT_IDEA))
    assert "snowy" in result.prompt
    assert any("kept 'snowy' because your idea names it" in n for n in result.notices)


def test_the_example_file_loads_and_blocks_its_names():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "blocklist.txt"
    blocklist = load_blocklist(example)
    assert "greg rutkowski" in blocklist.lines
    assert blocklist.redact("a castle, art by Greg Rutkowski and Rembrandt").text == "a castle, art by Rembrandt"


class HandBuiltAnswer(Enhancer):
    """Builds its EnhanceResult by hand, never calling make_result: the policy still applies."""

    name = "fake-hand-built"
    supports_streaming = True

    def _answer(self, request: EnhanceRequest) -> EnhanceResult:
        prompt = f"{request.idea}, (golden hour:1.3), by greg rutkowski, masterpiece"
        return EnhanceResult(prompt=prompt, negative_prompt="blurry", style="artistic", enhancer=self.name,
                             candidates=[Candidate(prompt, "blurry")], token_count=0,
                             token_budget=request.token_budget)

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        return self._answer(request)

    def _stream(self, request: EnhanceRequest) -> Iterator[StreamEvent]:
        yield TextDelta(request.idea)
        yield Finished(self._answer(request))


def test_enhance_and_stream_check_an_answer_built_without_make_result(blocklist_file):
    write(blocklist_file, "greg rutkowski\n")
    request = EnhanceRequest(idea="a red fox", model_family="sd3")  # sd3 parses no (word:1.3) weights
    results = [HandBuiltAnswer().enhance(request), collect(HandBuiltAnswer().stream(request))[1]]
    for result in results:
        assert "rutkowski" not in result.prompt and "(golden hour:1.3)" not in result.prompt
        assert "golden hour" in result.prompt and result.prompt.startswith("a red fox")
        assert any("blocklist removed" in n for n in result.notices)
        assert result.token_count > 0 and result.checked
    assert results[0].prompt == results[1].prompt
