"""A1111 prompt syntax: weights, nesting, escapes, BREAK, timed prompts, errors with columns."""

from __future__ import annotations

import pytest

from core.errors import InputError
from generate.prompt_syntax import BREAK_FRAGMENT, has_syntax, parse_weights, prompt_schedule


def approx(fragments):
    return [(text, pytest.approx(weight)) for text, weight in fragments]


def test_plain_prompt_is_one_fragment_with_its_text_unchanged():
    text = "a castle on a hill, highly detailed: 8k | trending on artstation"
    assert parse_weights(text) == [(text, 1.0)]
    assert not has_syntax(text)
    assert prompt_schedule(text, 20) == [(20, text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a (cat:1.3) dog", [("a ", 1.0), ("cat", 1.3), (" dog", 1.0)]),
        ("(cat)", [("cat", 1.1)]),
        ("((cat))", [("cat", 1.21)]),
        ("[cat]", [("cat", 1 / 1.1)]),
        ("[[cat]]", [("cat", 1 / 1.21)]),
        ("(a (b:2) c:0.5)", [("a ", 0.5), ("b", 1.0), (" c", 0.5)]),
        ("( spaced : 1.5 )", [(" spaced ", 1.5)]),
        ("(cat:.5)", [("cat", 0.5)]),
        ("(a:b:1.2)", [("a:b", 1.2)]),
    ],
)
def test_weights_and_nesting(text, expected):
    assert parse_weights(text) == approx(expected)
    assert has_syntax(text)


def test_equal_neighbours_merge_and_empty_groups_vanish():
    assert parse_weights("(a)(b) c") == approx([("ab", 1.1), (" c", 1.0)])
    assert parse_weights("a () b") == [("a  b", 1.0)]


def test_escaped_brackets_and_colons_are_literal_text():
    text = r"\(not weighted\) \[nor this\] (ratio 16\:9:1.2) back\\slash"
    assert parse_weights(text) == approx(
        [("(not weighted) [nor this] ", 1.0), ("ratio 16:9", 1.2), (" back\\slash", 1.0)]
    )
    assert has_syntax(r"a \(b\)")
    # A backslash before an ordinary character stays a backslash.
    assert parse_weights(r"a\b") == [(r"a\b", 1.0)]


def test_break_splits_fragments():
    assert parse_weights("a red cat BREAK (a blue dog)") == approx(
        [("a red cat", 1.0), BREAK_FRAGMENT, ("a blue dog", 1.1)]
    )
    assert has_syntax("one BREAK two")
    assert not has_syntax("BREAKFAST at noon")


def test_timed_from_to_with_fraction_and_step_number():
    assert prompt_schedule("a [cat:dog:0.5] photo", 10) == [(5, "a cat photo"), (10, "a dog photo")]
    assert prompt_schedule("a [cat:dog:3] photo", 10) == [(3, "a cat photo"), (10, "a dog photo")]


def test_timed_add_after_and_remove_after():
    assert prompt_schedule("a cat[, wearing a hat:4]", 8) == [(4, "a cat"), (8, "a cat, wearing a hat")]
    assert prompt_schedule("a cat[, blurry::0.25]", 8) == [(2, "a cat, blurry"), (8, "a cat")]


def test_timed_prompts_keep_weights_and_nest():
    schedule = prompt_schedule("(a [(red:1.5):blue:2] box:1.2), [x:y:4]", 6)
    assert schedule == [
        (2, "(a (red:1.5) box:1.2), x"),
        (4, "(a blue box:1.2), x"),
        (6, "(a blue box:1.2), y"),
    ]
    assert parse_weights(schedule[0][1]) == approx([("a ", 1.2), ("red", 1.8), (" box", 1.2), (", x", 1.0)])


def test_timed_at_zero_or_last_step_gives_a_single_prompt():
    assert prompt_schedule("[cat:dog:0]", 5) == [(5, "dog")]
    assert prompt_schedule("[cat:dog:5]", 5) == [(5, "cat")]


def test_scheduled_prompt_re_escapes_literal_brackets():
    schedule = prompt_schedule(r"\(x\) (a\:b:1.1) [c:d:1]", 2)
    assert [parse_weights(text) for _, text in schedule] == [
        approx([("(x) ", 1.0), ("a:b", 1.1), (" c", 1.0)]),
        approx([("(x) ", 1.0), ("a:b", 1.1), (" d", 1.0)]),
    ]


def column_of(message: str) -> int:
    """Where the caret points (1-based) in a short prompt's error message."""
    return message.splitlines()[-1].index("^") - 2 + 1  # lines are indented by two spaces


@pytest.mark.parametrize(
    "text, column, words",
    [
        ("a (cat", 3, "unbalanced '('"),
        ("a cat)", 6, "unbalanced ')'"),
        ("a [cat", 3, "unbalanced '['"),
        ("(a [b) c]", 6, "unbalanced ')'"),
        ("(word:abc)", 7, "weight must be a number, got 'abc'"),
        ("(word:)", 7, "weight must be a number"),
        ("[a:b:c:1]", 7, "too many ':'"),
        ("[a:b:soon]", 6, "when"),
        ("[a:b:-1]", 6, "when must be >= 0"),
    ],
)
def test_bad_syntax_points_at_the_column(text, column, words):
    with pytest.raises(InputError) as info:
        prompt_schedule(text, 10)
    message = str(info.value)
    assert f"column {column}:" in message
    assert words in message
    assert column_of(message) == column
    assert text in message


def test_when_past_the_last_step_is_rejected():
    with pytest.raises(InputError, match=r"column 3: when=30 is past the last step \(10 steps\)"):
        prompt_schedule("a [b:c:30]", 10)


def test_error_caret_stays_readable_in_long_prompts():
    text = "word " * 100 + "(broken:x)"
    with pytest.raises(InputError) as info:
        parse_weights(text)
    shown, caret = str(info.value).splitlines()[-2:]
    assert len(shown) < 120
    assert shown[caret.index("^")] == "x"


def test_parse_weights_refuses_unresolved_timed_prompts():
    with pytest.raises(InputError, match="prompt_schedule"):
        parse_weights("a [cat:dog:3]")


def test_hostile_nesting_is_an_input_error_not_a_crash():
    with pytest.raises(InputError, match="nested deeper than 32"):
        parse_weights("(" * 5000 + "x" + ")" * 5000)
    assert parse_weights("(" * 20 + "x" + ")" * 20) == approx([("x", 1.1**20)])
