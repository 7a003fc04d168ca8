"""The Refine page, driven with streamlit.testing.v1.AppTest over a tiny real index.

idea → suggested examples → a streamed prompt → chips → feedback rounds → step back / restore;
a failing enhancer shows its reason; a tiny random-weight diffusers pipeline makes an image
that can be downloaded; hostile idea and prompt text render as text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.generate.tiny_pipelines import single_torch_thread, tiny_sd_dir  # noqa: F401 (fixtures)

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "streamlit_app.py")
PAGE = "pages/refine.py"
HOSTILE_PROMPT = "a lighthouse <img src=x onerror=alert(1)> [click](javascript:alert(1)), oil painting, **moody**"

NEAR_COPY = 2  # RECORDS[2] is a near copy of RECORDS[1]
RECORDS = [
    ("a lighthouse on a cliff in a storm, oil painting, by greg rutkowski, dramatic lighting, moody, 8k",
     dict(count=6, seed=1234, steps=30, cfg=7.5, sampler="k_euler_ancestral", width=512, height=768)),
    ("lighthouse at night, digital painting, art by greg rutkowski, volumetric lighting, moody, artstation",
     dict(count=3, seed=99, steps=50, cfg=7.0, sampler="k_lms", width=512, height=512)),
    # A near copy of the one above (two modifiers swapped): Refine's suggestions fold it.
    ("lighthouse at night, digital painting, art by greg rutkowski, moody, volumetric lighting, artstation",
     dict(count=1)),
    ("an oil painting of a lighthouse, crashing waves, by ivan aivazovsky, golden hour, highly detailed",
     dict(count=2)),
    ("lonely lighthouse in the fog, watercolor, serene, soft light, trending on artstation", dict(count=1)),
    ("a red fox in a snowy forest, golden hour, highly detailed, 8k", dict(count=5)),
    ("cyberpunk city street at night, neon signs, rain, cinematic lighting", dict(count=9)),
    ("portrait of an old fisherman, oil painting by rembrandt", dict(count=2)),
    ("medieval castle on a cliff above a stormy sea, matte painting, artstation", dict(count=3)),
    ("bowl of ramen with steam, food photography, shallow depth of field", dict(count=1)),
    (HOSTILE_PROMPT, dict(count=1)),
]
IDEA = "a lighthouse in a storm"


@pytest.fixture(scope="session")
def refine_index(tmp_path_factory) -> Path:
    """A tiny real index (MiniLM vectors, FAISS + SQLite) built once per session."""
    from index import IndexWriter, PromptRecord, load_embedder

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        embedder = load_embedder()
    path = tmp_path_factory.mktemp("refine-index") / "index"
    records = [PromptRecord(text, source="test", **meta) for text, meta in RECORDS]
    writer = IndexWriter(path, model_id=embedder.model_id, dimension=embedder.dimension)
    writer.add(records, embedder.embed([r.prompt for r in records]))
    writer.publish()
    return path


@pytest.fixture()
def app(refine_index, tmp_path, monkeypatch):
    """The app on the Refine page, run from an empty working directory (no developer .env)."""
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["index_path"] = str(refine_index)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def run(target) -> AppTest:
    """Run the app (or the app of a widget just changed) and fail on any exception it shows."""
    at = target.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def write_prompt(at: AppTest, idea: str = IDEA) -> AppTest:
    at.text_area(key="refine-idea").input(idea)
    run(at.button(key="refine-suggest").click())
    run(at.button(key="refine-write").click())
    return at


def test_suggest_pick_write_refine_step_back_restore(app):
    at = app
    at.text_area(key="refine-idea").input(IDEA)
    run(at.button(key="refine-suggest").click())
    # Examples listed as text with tick boxes, the top three ticked.
    ticks = [c for c in at.checkbox if c.key.startswith("refine-tick-")]
    assert len(ticks) == 8
    assert [c.value for c in ticks] == [True, True, True] + [False] * 5
    assert any("lighthouse" in t for t in texts(at.code))
    run(ticks[2].uncheck())  # the user's choice: 1, 2 and 4
    ticks = [c for c in at.checkbox if c.key.startswith("refine-tick-")]
    run(ticks[3].check())
    ticks = [c for c in at.checkbox if c.key.startswith("refine-tick-")]
    assert [c.value for c in ticks] == [True, True, False, True] + [False] * 4

    run(at.button(key="refine-write").click())
    assert [e.rank for e in at.session_state["refine"].rounds[0].examples] == [1, 2, 4]
    draft = at.text_area(key="refine-draft").value
    assert draft.startswith(IDEA), draft
    assert any(m.label == "CLIP tokens" for m in at.metric)
    tokens = next(m for m in at.metric if m.label == "CLIP tokens").value
    assert tokens.endswith("/ 77")
    assert {"Consistency", "Novelty"} <= {m.label for m in at.metric}
    assert any(c.startswith("Written by **grounded**") for c in texts(at.caption))
    assert at.subheader[0].value == "Round 1 of 1"

    # A chip adds itself (weighted), and is then marked as present.
    chip = next(b for b in at.button if b.key and b.key.startswith("refine-chip-") and not b.disabled
                and "volumetric" in b.label)
    at.toggle(key="refine-chip-weighted").set_value(True)
    run(chip.click())
    draft = at.text_area(key="refine-draft").value
    assert "(volumetric lighting:1.2)" in draft
    assert next(b for b in at.button if b.key == chip.key).disabled
    # The metric and "All rounds" count the prompt on screen the same way (weights are not words).
    tokens = next(m for m in at.metric if m.label == "CLIP tokens").value.split(" / ")[0]
    assert any(f"{tokens} tokens · current, edited" in str(m.value) for m in at.markdown), tokens

    # Feedback makes round 2 from the edited prompt; every round is listed.
    at.text_input(key="refine-feedback").input("moodier")
    run(at.button(key="refine-feedback-submit").click())
    assert at.subheader[0].value == "Round 2 of 2"
    second = at.text_area(key="refine-draft").value
    assert second != draft and "(volumetric lighting:1.2)" in second
    assert any(IDEA in t for t in texts(at.code))

    # Restore round 1, then step back (drops round 2), then redo (round 2 is back, not saved again).
    run(at.button(key="refine-restore-0").click())
    assert at.subheader[0].value == "Round 1 of 2"
    assert "volumetric lighting:1.2" not in at.text_area(key="refine-draft").value
    assert at.button(key="refine-redo").disabled
    run(at.button(key="refine-step-back").click())
    assert at.subheader[0].value == "Round 1 of 1"
    assert at.button(key="refine-step-back").disabled
    run(at.button(key="refine-redo").click())
    assert at.subheader[0].value == "Round 1 of 2"  # round 1 was the one shown, and still is
    run(at.button(key="refine-restore-1").click())
    assert at.text_area(key="refine-draft").value == second
    assert at.button(key="refine-redo").disabled

    # Every round went to the history, once.
    from app.history import History

    rounds = History().list_rounds()
    assert [r.feedback for r in sorted(rounds, key=lambda r: r.id)] == [None, "moodier"]
    assert at.text_area(key="refine-idea").value == IDEA


def test_picks_from_explore_come_pre_ticked(app):
    from rag.assistant import ExampleUsed

    at = app
    pick = ExampleUsed(rank=5, id=None, text="castle on a hill, matte painting, by greg rutkowski", score=0.4,
                       count=2, settings={"seed": 7, "steps": 20, "cfg": 6.0, "sampler": "ddim",
                                          "width": 512, "height": 512})
    at.session_state["picks"] = {pick.text: pick}
    at.text_area(key="refine-idea").input(IDEA)
    run(at.button(key="refine-suggest").click())
    ticks = [c for c in at.checkbox if c.key.startswith("refine-tick-")]
    assert ticks[0].value and not any(c.value for c in ticks[1:])
    assert at.code[0].value == pick.text
    run(at.button(key="refine-write").click())
    assert [e.text for e in at.session_state["refine"].rounds[0].examples] == [pick.text]


def test_a_round_reopened_from_history_replaces_the_page_state(app):
    from dataclasses import replace

    from app.history import HistoryRound
    from app.refine_session import RefineSession

    at = write_prompt(app)
    old = at.session_state["refine"].rounds[0]
    reopened = replace(old, idea="a castle in the clouds", prompt="a castle in the clouds, matte painting")
    # What app.state.reopen_round leaves for this page (History → Refine).
    row = HistoryRound(id=7, session_id="reopened", created_at="2026-01-01T00:00:00+00:00", idea=reopened.idea,
                       prompt=reopened.prompt, negative_prompt=reopened.negative_prompt, enhancer=reopened.enhancer,
                       fallback_reasons={}, feedback=None, result=reopened)
    at.session_state["refine"] = RefineSession.reopened(row)
    run(at)
    assert at.text_area(key="refine-idea").value == "a castle in the clouds"
    assert at.text_area(key="refine-draft").value == "a castle in the clouds, matte painting"
    assert at.subheader[0].value == "Round 1 of 1"


def test_fallback_notice_when_the_first_enhancer_has_no_key(app):
    at = write_prompt(app)
    notices = texts(at.info) + texts(at.warning)
    assert any("anthropic" in n and "ANTHROPIC\\_API\\_KEY" in n for n in notices), notices
    assert at.text_area(key="refine-draft").value.startswith(IDEA)


def test_a_failing_registered_enhancer_falls_back_visibly(app):
    from core.errors import BackendError
    from enhancers.base import Enhancer
    from enhancers.registry import ENHANCERS, register_enhancer

    class ThrottledEnhancer(Enhancer):
        name = "throttled-fake"

        def _enhance(self, request):
            raise BackendError("the service is throttling requests (429); wait a minute or use another enhancer")

    register_enhancer("throttled-fake", ThrottledEnhancer)
    try:
        at = app
        at.session_state["enhancer_order"] = ["throttled-fake", "grounded", "rules"]
        at = write_prompt(at)
        notices = texts(at.info) + texts(at.warning)
        assert any("throttled" in n and "429" in n for n in notices), notices
        result = at.session_state["refine"].rounds[0]
        assert result.enhancer == "grounded" and "throttled-fake" in result.fallback_reasons
        # Asking for the failing enhancer alone fails with a message; idea and rounds stay.
        at.selectbox(key="refine-enhancer").set_value("throttled-fake")
        run(at.button(key="refine-write-now").click())
        assert any("Writing the prompt failed" in e and "429" in e for e in texts(at.error))
        assert at.text_area(key="refine-idea").value == IDEA
        assert len(at.session_state["refine"].rounds) == 1
        assert at.text_area(key="refine-draft").value == result.prompt
    finally:
        ENHANCERS._factories.pop("throttled-fake", None)


def test_generate_shows_an_image_and_a_png_download(app, tiny_sd_dir):
    from generate.output import read_png_parameters

    at = write_prompt(app)
    at.text_input(key="refine-gen-model").input(str(tiny_sd_dir))
    at.number_input(key="refine-gen-steps").set_value(2)
    at.number_input(key="refine-gen-width").set_value(64)
    at.number_input(key="refine-gen-height").set_value(64)
    at.number_input(key="refine-gen-seed").set_value(42)
    run(at)
    run(at.button(key="refine-generate").click())
    assert not at.error, texts(at.error)
    images = at.session_state["refine"].images[0]
    assert len(images) == 1 and images[0].seed == 42
    path = Path(images[0].path)
    assert path.is_file() and path.suffix == ".png"
    assert read_png_parameters(path)["prompt"] == at.text_area(key="refine-draft").value
    assert len(at.image) == 1
    (download,) = at.download_button
    assert download.label == "Download PNG"
    assert any("seed 42" in c and "2 steps" in c for c in texts(at.caption))
    # The image is in the history with its round.
    from app.history import History

    (round_,) = History().list_rounds()
    assert [i.seed for i in round_.images] == [42]


def test_apply_an_examples_settings(app):
    at = write_prompt(app)
    choice = at.selectbox(key="refine-gen-from")
    number, example = choice.value
    run(at.button(key="refine-gen-apply").click())
    assert at.number_input(key="refine-gen-seed").value == example.settings["seed"]
    assert at.number_input(key="refine-gen-steps").value == example.settings["steps"]
    assert at.number_input(key="refine-gen-height").value == example.settings["height"]
    assert at.selectbox(key="refine-gen-sampler").value == example.settings["sampler"]


def test_a_failing_image_backend_keeps_the_rounds(app, tmp_path):
    at = write_prompt(app)
    at.text_input(key="refine-gen-model").input(str(tmp_path / "no-such-model"))
    run(at)
    run(at.button(key="refine-generate").click())
    assert any("Generating images failed" in e for e in texts(at.error)), texts(at.error)
    assert at.subheader[0].value == "Round 1 of 1"
    # Neither the Stop button nor the "Loading the image model…" bar stays behind.
    assert "refine-stop" not in [b.key for b in at.button]
    assert not at.get("progress")
    assert at.text_area(key="refine-idea").value == IDEA


def test_hostile_text_renders_as_text(app):
    idea = "<script>alert(1)</script> [x](javascript:alert(1)) **lighthouse** <img src=x onerror=alert(1)>"
    at = write_prompt(app, idea)
    assert at.text_area(key="refine-idea").value == idea
    # The hostile prompt of the index shows verbatim, as code.
    assert HOSTILE_PROMPT in texts(at.code)
    # Nothing markdown renders carries live HTML, a raw tag or a javascript: link.
    for element in [*at.markdown, *at.caption, *at.info, *at.warning, *at.error]:
        value = str(element.value)  # markdown: a backslash-escaped "\\<" or "\\]" shows as text
        assert not re.search(r"(?<!\\)<(?:script|img)|(?<!\\)\]\(javascript", value), value
        assert not getattr(element.proto, "allow_html", False)


def test_a_look_change_in_feedback_shows_the_new_look_and_its_negative_follows(app):
    at = app
    at.text_area(key="refine-idea").input(IDEA)
    run(at.button(key="refine-suggest").click())
    run(at.button(key="refine-write").click())
    first = at.session_state["refine"].rounds[0]
    assert any(f"look: **{first.look}**" in c for c in texts(at.caption))
    at.text_input(key="refine-feedback").input("as a watercolor painting, at night, no mist")
    run(at.button(key="refine-feedback-submit").click())
    draft = at.text_area(key="refine-draft").value.lower()
    negative = at.text_area(key="refine-negative").value.lower().split(", ")
    assert "watercolor" in draft and "night" in draft and "mist" not in draft
    assert "mist" in negative and "painting" not in negative and "watercolor" not in negative
    assert any("look: **watercolor**" in c for c in texts(at.caption))
    # the How note is written from the final prompt: what it says was added is there
    how = next(c for c in texts(at.caption) if c.startswith("How:"))
    assert not how.startswith("How: How:") and "night" in how


def suggested_texts(at: AppTest) -> list[str]:
    return [e.text for e in at.session_state["refine"].suggested]


def test_suggestions_fold_near_duplicates(app):
    at = app
    at.text_area(key="refine-idea").input(IDEA)
    run(at.button(key="refine-suggest").click())
    shown = suggested_texts(at)
    assert len(shown) == 8
    assert (RECORDS[1][0] in shown) != (RECORDS[NEAR_COPY][0] in shown), shown  # one of the pair, not both
    assert any("1 near-identical prompt left out" in c for c in texts(at.caption))


def test_a_new_idea_gets_its_own_examples_and_a_fresh_page(app):
    at = write_prompt(app)
    lighthouse = suggested_texts(at)
    # "Suggest examples" for a new idea: its examples; the old round leaves the page.
    fox = "a red fox in a snowy forest"
    at.text_area(key="refine-idea").input(fox)
    run(at.button(key="refine-suggest").click())
    assert at.session_state["refine"].rounds == []
    assert not at.subheader and not [m for m in at.metric if m.label == "CLIP tokens"]
    assert at.session_state["refine"].suggested_for == fox
    # Another idea written at once: examples found for it, never the last idea's ticks.
    castle = "a castle on a cliff above the sea"
    at.text_area(key="refine-idea").input(castle)
    run(at.button(key="refine-write-now").click())
    (written,) = at.session_state["refine"].rounds
    assert written.idea == castle
    assert at.session_state["refine"].suggested_for == castle
    used = [e.text for e in written.examples]
    assert used == suggested_texts(at)[:3] and "castle" in used[0], used
    assert used != lighthouse[:3]


def test_the_violet_button_is_live_before_an_idea_is_sent_and_writes_the_typed_idea(app):
    from rag.assistant import ExampleUsed

    at = app
    pick = ExampleUsed(rank=1, id=None, text="a lighthouse on a rock, oil painting", score=0.5, count=1, settings={})
    at.session_state["picks"] = {pick.text: pick}
    run(at)
    assert not at.button(key="refine-write").disabled  # no idea yet: typing one must not need Enter first
    at.text_area(key="refine-idea").input(IDEA)
    run(at.button(key="refine-write").click())
    (written,) = at.session_state["refine"].rounds
    assert written.idea == IDEA and [e.text for e in written.examples] == [pick.text]
    # Pressed with the box empty: one line says what to do, nothing is written.
    at.text_area(key="refine-idea").input("")
    run(at.button(key="refine-write").click())
    assert any("Type an idea first" in w for w in texts(at.warning))
    assert len(at.session_state["refine"].rounds) == 1


def test_the_last_explore_search_becomes_the_idea_once(app):
    at = app
    at.session_state["explore"] = {"query": "a lighthouse at dawn", "search_id": 1, "mode": "hybrid",
                                   "results": [], "filters": None, "error": None}
    run(at)
    assert at.text_area(key="refine-idea").value == "a lighthouse at dawn"
    at.text_area(key="refine-idea").input("")  # cleared by the user: it stays cleared
    run(at)
    assert at.text_area(key="refine-idea").value == ""
    # A typed idea is never replaced by a later search.
    at.text_area(key="refine-idea").input(IDEA)
    run(at)
    at.session_state["explore"] = {**at.session_state["explore"], "query": "a fox", "search_id": 2}
    run(at)
    assert at.text_area(key="refine-idea").value == IDEA


def test_an_idea_over_the_limit_says_so_and_nothing_is_written(app):
    from app.history import History

    at = write_prompt(app)
    pasted = ("a lighthouse in a storm at night, crashing waves, " * 100)[:5000]
    at.text_area(key="refine-idea").input(pasted)
    run(at.button(key="refine-write-now").click())
    assert at.text_area(key="refine-idea").value == pasted  # kept, to be shortened
    assert any("5,000 characters" in e and "2,000" in e for e in texts(at.error)), texts(at.error)
    run(at.button(key="refine-write").click())
    run(at.button(key="refine-suggest").click())
    assert len(at.session_state["refine"].rounds) == 1
    assert len(History().list_rounds()) == 1
    assert at.session_state["refine"].suggested_for == IDEA


def test_writing_the_same_prompt_again_does_not_save_a_copy(app):
    from app.history import History

    at = write_prompt(app)
    run(at.button(key="refine-write").click())  # the grounded enhancer writes the very same prompt
    assert len(at.session_state["refine"].rounds) == 1
    assert len(History().list_rounds()) == 1
    assert at.subheader[0].value == "Round 1 of 1"


def test_an_over_budget_round_is_warned_about_once(app):
    from dataclasses import replace

    from rag.assistant import validate
    from rag.quality import measure

    at = write_prompt(app)
    s = at.session_state["refine"]
    long = ", ".join([IDEA] + [f"detail number {i} in the stormy sky" for i in range(20)])
    quality = measure(IDEA, long, [], token_budget=77, embedder=None)
    s.rounds[0] = replace(s.rounds[0], prompt=long, quality=quality, problems=validate(IDEA, long, quality))
    s.draft = long
    at.session_state["refine-draft"] = long
    run(at)
    assert any("over the budget" in p for p in s.rounds[0].problems)
    warnings = [w for w in texts(at.warning) if "over the budget" in w]
    assert len(warnings) == 1, warnings
    tokens = next(m for m in at.metric if m.label == "CLIP tokens").value.split(" / ")[0]
    assert f"takes {tokens} CLIP tokens" in warnings[0]


def test_an_unconfigured_langchain_enhancer_does_not_block_the_example_search(app):
    """Finding examples needs the index, not the writer: an enhancer that cannot be built yet
    (langchain without PROMPTRAG_LANGCHAIN_MODEL) still lets the user search and pick."""
    pytest.importorskip("langchain_core", reason="the langchain enhancer is registered with the [langchain] extra")
    at = app
    if "langchain" not in at.selectbox(key="refine-enhancer").options:
        pytest.skip("the langchain enhancer is not registered in this install")
    at.selectbox(key="refine-enhancer").set_value("langchain")
    at.text_area(key="refine-idea").input(IDEA)
    run(at.button(key="refine-suggest").click())
    assert not at.error, texts(at.error)
    assert "lighthouse" in suggested_texts(at)[0]
    # Writing with it says what to set, in the page (not a traceback), and names the variable.
    run(at.button(key="refine-write").click())
    shown = [m.replace("\\", "") for m in texts(at.error)]  # escaped markdown: "PROMPTRAG\\_LANGCHAIN…"
    assert any("Writing the prompt failed" in m and "set PROMPTRAG_LANGCHAIN_MODEL (Settings > Enhancers)" in m
               for m in shown), shown
    assert at.session_state["refine"].suggested  # the examples found stay on the page


def test_generate_is_disabled_with_the_reason_and_a_download_button_for_a_model_not_downloaded(app):
    at = write_prompt(app)
    at.text_input(key="refine-gen-model").input("stabilityai/sd-turbo")  # the catalogue's; the test cache is empty
    run(at)
    generate = at.button(key="refine-generate")
    assert generate.disabled and "not downloaded yet (2.6 GB)" in generate.help
    download = at.button(key="refine-gen-download")
    assert download.label == "Download (2.6 GB)"
    assert any("stabilityai/sd-turbo is not downloaded yet" in c.replace("\\", "") for c in texts(at.caption))
    # A model path on disk (or a model the catalogue does not know) is not held back.
    at.text_input(key="refine-gen-model").input(str(REPO / "no-such-local-model"))
    run(at)
    assert not at.button(key="refine-generate").disabled
    assert "refine-gen-download" not in [b.key for b in at.button]
