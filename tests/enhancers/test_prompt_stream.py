"""PromptTextStream: the prompt of a streamed JSON answer, decoded, whatever the chunking."""

from __future__ import annotations

import json

import pytest

from enhancers.prompt_stream import PromptTextStream

ANSWER = (
    'Sure, here you go:\n```json\n'
    + json.dumps({"rationale": "no \"prompt\" here", "prompt": 'a "frog" knight, café \U0001F438\nnew line\\',
                  "negative_prompt": "blurry"})
    + "\n```"
)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 1000])
def test_any_chunking_shows_exactly_the_decoded_prompt(size):
    stream = PromptTextStream()
    shown = "".join(stream.feed(ANSWER[i:i + size]) for i in range(0, len(ANSWER), size))
    assert shown == 'a "frog" knight, café \U0001F438\nnew line\\'
    assert stream.raw == ANSWER  # the whole answer stays available for the real parse


def test_prose_and_arrays_show_nothing_or_the_first_prompt():
    prose = PromptTextStream()
    assert prose.feed("A frog knight would look ") + prose.feed("great.") == ""
    array = PromptTextStream()
    text = json.dumps([{"prompt": "first"}, {"prompt": "second"}])
    assert "".join(array.feed(ch) for ch in text) == "first"
