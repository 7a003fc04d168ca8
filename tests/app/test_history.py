"""History: rounds and images survive a round trip, search, pagination, delete, export, hostile
text, missing files, and many writers (threads and processes) at once."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.history import History, HistoryImage
from core.errors import ConfigError, InputError
from generate.saving import SavedGeneration
from rag.assistant import AssistantResult, ExampleUsed
from rag.quality import QualityFigures

REPO_ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "=HYPERLINK(\"http://x\") '; DROP TABLE rounds; -- %_\\ <script>alert(1)</script> \u202e日本 \x00"



def make_result(idea: str = "a lighthouse in a storm", prompt: str | None = None,
                **changes) -> AssistantResult:
    example = ExampleUsed(rank=1, id=7, text="a lighthouse on a cliff, storm, oil painting, 8k", score=0.81,
                          count=3, settings={"seed": 42, "steps": 30, "cfg": 7.5, "sampler": "k_euler",
                                             "width": 512, "height": 512})
    values = dict(
        idea=idea, prompt=prompt or f"{idea}, dramatic lighting, oil painting",
        negative_prompt="blurry, lowres",
        style="auto", enhancer="grounded", examples=[example], candidates=[],
        fallback_reasons={"anthropic": "ANTHROPIC_API_KEY is not set"}, problems=[],
        quality=QualityFigures(token_count=12, token_budget=75, consistency=0.8, novelty=0.5,
                               closest_example_id=7, example_counts=[3]),
        options={"k": 8, "creativity": 0.7}, timings={"retrieve_s": 0.01, "enhance_s": 0.02},
    )
    values.update(changes)
    return AssistantResult(**values)


def make_saved(tmp_path: Path, prompt: str, seeds=(1, 2), create=True) -> SavedGeneration:
    paths = []
    for seed in seeds:
        path = tmp_path / f"img-{abs(hash(prompt)) % 10_000}-{seed}.png"
        if create:
            path.write_bytes(b"\x89PNG\r\n\x1a\n")
        paths.append(path)
    return SavedGeneration(backend="diffusers", model="tiny", paths=paths, seeds=list(seeds),
                           parameters={"prompt": prompt, "steps": 2, "cfg": 1.0, "width": 64, "height": 64},
                           timings={"load_s": 1.0, "generate_s": 0.5})


@pytest.fixture
def history(tmp_path) -> History:
    return History(tmp_path / "history.sqlite")


def test_default_path_is_the_settings_history_db(isolated_env):
    history = History()
    assert history.path == isolated_env / "history.sqlite" and history.path.is_file()
    assert history.count() == 0


def test_round_trip_of_a_round_with_feedback_and_images(history, tmp_path):
    result = make_result()
    round_id = history.add_round(session_id="s1", result=result, feedback="more dramatic")
    history.add_images(round_id, make_saved(tmp_path, result.prompt))
    history.add_images(round_id, make_saved(tmp_path, result.prompt, seeds=(3,)))

    got = history.get(round_id)
    assert got.result == result  # the full AssistantResult survives (to_dict / from_dict)
    assert (got.session_id, got.idea, got.prompt, got.negative_prompt, got.enhancer, got.feedback) == (
        "s1", result.idea, result.prompt, "blurry, lowres", "grounded", "more dramatic")
    assert got.fallback_reasons == {"anthropic": "ANTHROPIC_API_KEY is not set"}
    assert got.created_at.endswith("+00:00")
    assert [image.seed for image in got.images] == [1, 2, 3]
    assert all(image.exists for image in got.images)
    first = got.images[0]
    assert first.parameters["seed"] == 1 and first.parameters["steps"] == 2
    assert first.parameters["backend"] == "diffusers" and first.parameters["model"] == "tiny"
    assert Path(first.path).is_absolute()
    # the round's own timings, plus the generations' (summed) as image_*
    assert got.timings == {"retrieve_s": 0.01, "enhance_s": 0.02,
                           "image_load_s": 2.0, "image_generate_s": 1.0}
    assert got.result.examples[0].settings["seed"] == 42


def test_sessions_listing_pagination_and_count(history):
    ids = [history.add_round(session_id="a" if i % 2 == 0 else "b", result=make_result(f"idea number {i}"))
           for i in range(5)]
    assert [r.id for r in history.list_rounds()] == ids[::-1]  # newest first
    assert [r.id for r in history.list_rounds(limit=2, offset=1)] == [ids[3], ids[2]]
    assert history.list_rounds(limit=2, offset=10) == []
    assert [r.id for r in history.session("a")] == [ids[0], ids[2], ids[4]]  # oldest first
    assert history.count() == 5 and history.session("nobody") == []
    with pytest.raises(InputError, match="offset"):
        history.list_rounds(offset=-1)


def test_search_matches_idea_prompt_and_feedback_with_wildcards_taken_literally(history):
    history.add_round(session_id="s", result=make_result("a red fox in snow"))
    history.add_round(session_id="s", result=make_result("castle", prompt="castle, 100% detail"))
    history.add_round(session_id="s", result=make_result("ship"), feedback="add a STORM_CLOUD please")
    history.add_round(session_id="s", result=make_result("plain idea", prompt="plain prompt"))

    assert [r.idea for r in history.list_rounds(search="FOX")] == ["a red fox in snow"]  # case-insensitive
    assert [r.idea for r in history.list_rounds(search="100%")] == ["castle"]
    assert history.count(search="%") == 1  # a literal percent sign, not "anything"
    assert [r.idea for r in history.list_rounds(search="storm_cloud")] == ["ship"]
    assert history.count(search="m_c") == 1 and history.count(search="_") == 1
    assert history.count(search="nothing like this") == 0
    assert history.count(search="  ") == 4  # blank search = everything


def test_get_and_delete_missing_round_name_the_id(history):
    with pytest.raises(InputError, match="round 99 does not exist"):
        history.get(99)
    with pytest.raises(InputError, match="round 99"):
        history.delete(99)
    with pytest.raises(InputError, match="round 99"):
        history.add_images(99, make_saved(Path("."), "x", create=False))


def test_delete_removes_the_round_and_its_image_rows_but_never_the_files(history, tmp_path):
    keep = history.add_round(session_id="s", result=make_result("keep me"))
    gone = history.add_round(session_id="s", result=make_result("delete me"))
    saved = make_saved(tmp_path, "delete me")
    history.add_images(gone, saved)
    history.delete(gone)

    assert [r.id for r in history.list_rounds()] == [keep]
    assert all(path.is_file() for path in saved.paths)  # the user's image files stay
    with sqlite3.connect(history.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 0
    assert history.images_for_prompts(["delete me"]) == {"delete me": []}


def test_a_moved_image_file_reads_back_as_missing(history, tmp_path):
    round_id = history.add_round(session_id="s", result=make_result())
    saved = make_saved(tmp_path, "p")
    history.add_images(round_id, saved)
    saved.paths[0].unlink()
    images = history.get(round_id).images
    assert [(image.seed, image.exists) for image in images] == [(1, False), (2, True)]


def test_images_for_prompts_is_an_exact_match_newest_first(history, tmp_path):
    round_id = history.add_round(session_id="s", result=make_result(prompt="fused prompt"))
    history.add_images(round_id, make_saved(tmp_path, "a castle, 8k", seeds=(1,)))
    history.add_images(round_id, make_saved(tmp_path, "a castle, 8k", seeds=(2,)))
    history.add_images(round_id, make_saved(tmp_path, "a castle", seeds=(3,)))

    found = history.images_for_prompts(["a castle, 8k", "a castle", "A CASTLE", "never drawn"])
    assert [image.seed for image in found["a castle, 8k"]] == [2, 1]
    assert [image.seed for image in found["a castle"]] == [3]
    assert found["A CASTLE"] == [] and found["never drawn"] == []
    assert all(isinstance(image, HistoryImage) for image in found["a castle"])
    assert history.images_for_prompts([]) == {}
    many = [f"prompt {i}" for i in range(1200)] + ["a castle"]  # more than one IN (...) batch
    assert len(history.images_for_prompts(many)["a castle"]) == 1


def test_hostile_text_is_stored_and_read_back_verbatim(history, tmp_path):
    result = make_result(HOSTILE, prompt=HOSTILE + " prompt", negative_prompt="-" + HOSTILE,
                         fallback_reasons={"local": HOSTILE})
    round_id = history.add_round(session_id=HOSTILE, result=result, feedback=HOSTILE)
    history.add_images(round_id, make_saved(tmp_path, HOSTILE))

    got = history.get(round_id)
    assert (got.idea, got.feedback, got.session_id) == (HOSTILE, HOSTILE, HOSTILE)
    assert got.result == result
    assert history.count(search="DROP TABLE rounds") == 1
    assert [r.id for r in history.session(HOSTILE)] == [round_id]
    assert len(history.images_for_prompts([HOSTILE])[HOSTILE]) == 2


def test_export_csv_is_safe_against_formula_injection(history, tmp_path):
    round_id = history.add_round(session_id="s", result=make_result(
        "=1+2", prompt="+cmd|' /C calc'!A0", negative_prompt="@SUM(A1)"), feedback="-2+3")
    history.add_images(round_id, make_saved(tmp_path, "+cmd|' /C calc'!A0"))
    history.add_round(session_id="s", result=make_result("a quiet lake"))

    rows = list(csv.DictReader(io.StringIO(history.export("csv"))))
    assert [row["idea"] for row in rows] == ["'=1+2", "a quiet lake"]  # oldest first
    first = rows[0]
    assert first["prompt"] == "'+cmd|' /C calc'!A0"
    assert first["negative_prompt"] == "'@SUM(A1)" and first["feedback"] == "'-2+3"
    assert first["seeds"] == "1 2" and len(first["images"].splitlines()) == 2
    assert json.loads(first["fallback_reasons"]) == {"anthropic": "ANTHROPIC_API_KEY is not set"}
    assert first["examples"] == "a lighthouse on a cliff, storm, oil painting, 8k"
    assert [row["idea"] for row in csv.DictReader(io.StringIO(history.export("csv", search="lake")))] == [
        "a quiet lake"]


def test_export_json_round_trips_the_results(history, tmp_path):
    result = make_result(HOSTILE)
    round_id = history.add_round(session_id="s", result=result, feedback="f")
    history.add_images(round_id, make_saved(tmp_path, result.prompt))
    data = json.loads(history.export("json"))
    assert len(data) == 1
    assert data[0]["idea"] == HOSTILE and data[0]["feedback"] == "f"
    assert AssistantResult.from_dict(data[0]["result"]) == result
    assert [image["seed"] for image in data[0]["images"]] == [1, 2]
    with pytest.raises(InputError, match="'csv' or 'json'"):
        history.export("xml")  # type: ignore[arg-type]


def test_database_is_wal_and_versioned_and_a_newer_schema_is_refused(history):
    with sqlite3.connect(history.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(2,)]  # 2: rounds carry a user_id
        conn.execute("UPDATE schema_version SET version = 99")
    History(history.path.parent / "other.sqlite")  # a fresh file is fine
    with pytest.raises(ConfigError, match="schema version 99"):
        History(history.path)


def test_a_damaged_file_is_named_with_the_fix(tmp_path):
    damaged = tmp_path / "history.sqlite"
    damaged.write_bytes(b"this is not a database, just some bytes" * 100)
    with pytest.raises(ConfigError, match="sqlite failed: file is not a database.*move a damaged file"):
        History(damaged)


def test_unwritable_home_says_what_to_do(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="PROMPTRAG_HOME"):
        History(blocker / "sub" / "history.sqlite")


WRITER = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_history import make_result, make_saved
from app.history import History
history = History(Path({db!r}))
print("ready", flush=True)
sys.stdin.readline()  # wait for "go" so every writer starts together
for i in range({n}):
    round_id = history.add_round(session_id={session!r}, result=make_result(f"{session} idea {{i}}"))
    history.add_images(round_id, make_saved(Path({out!r}), f"{session} {{i}}", seeds=(i,), create=False))
print("done", flush=True)
"""


def test_concurrent_writers_in_threads_and_processes_lose_nothing(tmp_path):
    db = tmp_path / "shared.sqlite"
    history = History(db)  # one object shared by every thread, like the app's cache_resource
    per_thread, threads_n, per_process = 25, 4, 40
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER.format(tests=str(Path(__file__).parent), db=str(db), n=per_process,
                                                 session=f"proc{p}", out=str(tmp_path))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        for p in range(2)
    ]
    for process in processes:
        assert process.stdout.readline().strip() == "ready", process.stderr.read()

    errors: list[BaseException] = []
    start = threading.Barrier(threads_n + 1)

    def write(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                result = make_result(f"thread{t} idea {i}")
                round_id = history.add_round(session_id=f"thread{t}", result=result)
                history.add_images(round_id, make_saved(tmp_path, f"thread{t} {i}", seeds=(i,), create=False))
                history.list_rounds(limit=5)  # readers interleave with the writers
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(t,)) for t in range(threads_n)]
    for worker in workers:
        worker.start()
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    start.wait()
    for worker in workers:
        worker.join(timeout=120)
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0 and "done" in out, err
        assert "locked" not in err

    assert errors == []
    total = threads_n * per_thread + 2 * per_process
    assert history.count() == total
    for t in range(threads_n):
        assert len(history.session(f"thread{t}")) == per_thread
    for p in range(2):
        rounds = history.session(f"proc{p}")
        assert [r.idea for r in rounds] == [f"proc{p} idea {i}" for i in range(per_process)]
        assert all(len(r.images) == 1 for r in rounds)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM images").fetchone()[0] == total
