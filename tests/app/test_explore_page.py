"""Explore: search in every mode, filters, pagination, picks carried to Refine, hostile text."""

from __future__ import annotations

from tests.app.conftest import HOSTILE, POPULAR
from tests.app.helpers import markdown_elements, page_texts, run


def search(at, query: str, mode: str | None = None):
    at.text_input(key="explore.query").input(query)
    if mode is not None:
        at.segmented_control(key="explore.mode").set_value(mode)
    at.form_submit_button(key="explore.search").click()
    return run(at)


def card_texts(at) -> list[str]:
    return [c.value for c in at.code]


def test_search_shows_cards_with_settings_and_counts(make_app, tiny_index):
    at = run(make_app(tiny_index))
    assert at.title[0].value == "Explore real prompts"
    search(at, "a lighthouse in a storm")

    cards = card_texts(at)
    assert len(cards) == 10  # first page
    assert sum("lighthouse" in c for c in cards[:4]) >= 3
    texts = page_texts(at)
    # The popular prompt's card: count, then its generation settings, in words a user reads.
    assert any("seen 4×" in t for t in texts)
    settings = "seed 1234 · 30 steps · CFG 7\\.5 · k\\_euler\\_ancestral · 512×768"
    assert any(settings in t for t in texts), texts
    assert any("prompts for “a lighthouse in a storm” · hybrid" in t for t in texts)
    assert POPULAR in cards


def test_keyword_and_dense_modes_and_filters(make_app, tiny_index):
    at = run(make_app(tiny_index))
    search(at, "ramen", mode="keyword")
    cards = card_texts(at)
    assert cards == ["bowl of ramen with steam, food photography, shallow depth of field"]
    assert any("BM25" in t for t in page_texts(at))

    search(at, "noodle soup dinner", mode="dense")  # no shared word: found by meaning
    assert "ramen" in card_texts(at)[0]

    at.text_input(key="explore.sampler").input("k_lms")
    search(at, "lighthouse", mode="hybrid")
    cards = card_texts(at)
    assert cards and all("lighthouse" in c for c in cards)
    assert len(cards) == 2  # only the two k_lms prompts


def test_pagination_moves_through_results(make_app, tiny_index):
    at = run(make_app(tiny_index))
    search(at, "painting", mode="dense")
    first = card_texts(at)
    assert len(first) == 10
    pager = at.get("pagination")[0]
    pager.set_value(2)
    run(at)
    second = card_texts(at)
    assert second and not set(first) & set(second)


def test_pick_is_carried_to_refine(make_app, tiny_index):
    at = run(make_app(tiny_index))
    search(at, "lighthouse", mode="keyword")
    box = at.checkbox[0]
    picked_text = card_texts(at)[0]
    box.check()
    run(at)
    assert any("1 example picked" in t for t in page_texts(at))
    picks = at.session_state["picks"]
    assert [e.text for e in picks.values()] == [picked_text]
    assert at.checkbox[0].value is True  # stays ticked across reruns

    at.button(key="explore.to_refine").click()
    run(at)
    assert at.title[0].value == "Refine"
    assert any(picked_text in t for t in page_texts(at)), "the picked prompt is shown on Refine"

    at.switch_page("pages/explore.py")
    run(at)
    assert at.checkbox[0].value is True  # back on Explore: still ticked, the search still there
    assert at.text_input(key="explore.query").value == "lighthouse"
    assert at.segmented_control(key="explore.mode").value == "keyword"
    at.button(key="explore.clear_picks").click()
    run(at)
    assert dict(at.session_state["picks"]) == {}
    assert at.checkbox[0].value is False


def test_hostile_prompts_and_queries_render_as_text(make_app, tiny_index):
    at = run(make_app(tiny_index))
    search(at, "lighthouse <script>alert(1)</script> [x](javascript:alert(1)) **bold**", mode="keyword")
    cards = card_texts(at)
    for hostile in HOSTILE:
        assert hostile in cards  # shown verbatim, in a code block (rendered as text)
    for element in markdown_elements(at):
        value = str(element.value)
        assert "<script>" not in value and "<img" not in value
        assert "](javascript:" not in value
        assert "**bold**" not in value
        assert not getattr(element.proto, "allow_html", False)
    # the query is echoed, escaped
    assert any("\\<script\\>" in t for t in page_texts(at))


def test_empty_search_and_no_results_keep_the_page_usable(make_app, tiny_index):
    at = run(make_app(tiny_index))
    search(at, "   ")
    assert any("Type what you are looking for" in w.value for w in at.warning)
    search(at, "zzzzqqq", mode="keyword")
    assert any("No prompts match" in i.value for i in at.info)
    assert at.text_input(key="explore.query").value == "zzzzqqq"


def test_suggestion_runs_a_search(make_app, tiny_index):
    at = run(make_app(tiny_index))
    at.button(key="explore.suggest.0").click()
    run(at)
    assert at.text_input(key="explore.query").value == "a lighthouse in a storm"
    assert len(card_texts(at)) == 10


def test_a_card_shows_images_made_here_from_its_prompt(make_app, tiny_index, isolated_env, tmp_path):
    from types import SimpleNamespace

    from PIL import Image

    from enhancers.registry import get_enhancer
    from rag.assistant import PromptAssistant
    from app.history import History
    from rag.retriever import Retriever

    image = tmp_path / "made-here.png"
    Image.new("RGB", (64, 64), (200, 80, 40)).save(image)
    result = PromptAssistant(Retriever.load(tiny_index), get_enhancer("rules")).run("a lighthouse")
    history = History()
    round_id = history.add_round(session_id="s", result=result)
    history.add_images(round_id, SimpleNamespace(backend="diffusers", model="tiny", paths=[image], seeds=[7],
                                                 parameters={"prompt": POPULAR, "steps": 2}, timings={}))

    at = run(make_app(tiny_index))
    search(at, "lighthouse on a cliff in a storm", mode="keyword")
    assert card_texts(at)[0] == POPULAR
    assert len(at.image) == 1  # only the card of the prompt the image was made from


def test_a_folded_prompt_shows_its_other_wordings(make_app, tmp_path):
    import json

    import pytest

    from ingest import run_ingest

    kept, other = "a lighthouse in a storm, oil painting, dramatic sky", "oil painting, a lighthouse in a storm, dramatic sky"
    source = tmp_path / "folded.jsonl"
    rows = [kept] * 3 + [other] * 2 + ["bowl of ramen with steam, food photography"]
    source.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in rows), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTRAG_HOME", str(tmp_path / "home"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        run_ingest(source=str(source), index=tmp_path / "index", progress=False)  # folds `other` into `kept`

    at = run(make_app(tmp_path / "index"))
    search(at, "lighthouse storm", mode="keyword")
    assert card_texts(at) == [kept]  # one card, not two copies
    assert any("seen 5×" in t for t in page_texts(at))
    assert [e.label for e in at.expander if "wording" in e.label] == ["1 other wording"]
    assert f"2× {other}" in [t.value for t in at.text]
