"""`promptrag thumbnails` and `promptrag search --images`, run as a user runs them (a child process
online against the local Hub stand-in serving a real part zip)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from index import IndexWriter, PromptRecord
from tests.index.images.conftest import PART_FILE, close_to, color, make_part, mean_color
from tests.servers.hub_server import HubServer

PROMPTS = ["a red fox in the snow", "a lighthouse in a storm", "a bowl of ramen", "a castle at dawn",
           "a koi pond in autumn", "a desert caravan at night"]


def _index(path, images: list[str | None]) -> None:
    records = [PromptRecord(p, image=image) for p, image in zip(PROMPTS, images)]
    vectors = np.random.default_rng(1).normal(size=(len(records), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with IndexWriter(path, model_id="sentence-transformers/all-MiniLM-L6-v2", dimension=384) as writer:
        writer.add(records, vectors)
        writer.publish()


def _promptrag(*args: str, hub: HubServer) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_ENDPOINT": hub.url}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_thumbnails_prefetches_with_progress_and_resumes(tmp_path, isolated_env):
    images = [f"diffusiondb:2m:1:img-{i}.png" for i in range(4)] + ["diffusiondb:2m:1:gone.png", None]
    _index(tmp_path / "idx", images)
    with HubServer({PART_FILE: make_part(count=6).data}) as hub:
        first = _promptrag("thumbnails", "--index", str(tmp_path / "idx"), "--limit", "3", hub=hub)
        assert first.returncode == 0, first.stderr
        assert "thumbnails" in first.stderr and "100%" in first.stderr  # the progress bar
        assert first.stdout.startswith("3 images: 0 already cached, 3 fetched, 0 failed")

        done = _promptrag("thumbnails", "--index", str(tmp_path / "idx"), "--json", hub=hub)
        asked = len(hub.requests)
        again = _promptrag("thumbnails", "--index", str(tmp_path / "idx"), "--json", hub=hub)
    summary, rerun = json.loads(done.stdout), json.loads(again.stdout)
    assert (summary["images"], summary["already_cached"], summary["fetched"], summary["failed"]) == (5, 3, 1, 1)
    assert summary["reasons"] == {"part 1 has no image gone.png": 1}
    assert summary["cache_dir"] == str(isolated_env / "thumbnails")
    assert (rerun["already_cached"], rerun["fetched"]) == (4, 0)
    assert rerun["reasons"] == {"part 1 has no image gone.png": 1}
    assert len(hub.requests) == asked  # the part's directory is on disk: it answers for the missing image


def test_search_images_names_each_thumbnail(tmp_path):
    _index(tmp_path / "idx", ["diffusiondb:2m:1:img-2.png", None, "diffusiondb:2m:1:img-5.png", None, None, None])
    with HubServer({PART_FILE: make_part(count=6).data}) as hub:
        found = _promptrag("search", "fox lighthouse castle", "--index", str(tmp_path / "idx"), "--mode", "keyword",
                           "--images", "--json", hub=hub)
        table = _promptrag("search", "castle", "--index", str(tmp_path / "idx"), "--mode", "keyword", "--images",
                           hub=hub)
    assert found.returncode == 0, found.stderr
    results = {r["prompt"]: r for r in json.loads(found.stdout)["results"]}
    fox, lighthouse, castle = results[PROMPTS[0]], results[PROMPTS[1]], results[PROMPTS[3]]
    assert fox["image"] == "diffusiondb:2m:1:img-2.png" and close_to(mean_color(fox["thumbnail"]), color(2))
    assert lighthouse["image"] is None and lighthouse["thumbnail"] is None
    assert lighthouse["thumbnail_reason"] == "no image for this prompt"
    assert castle["thumbnail"] is None and castle["thumbnail_reason"] == "no image for this prompt"
    assert table.returncode == 0, table.stderr
    assert "thumbnails:" in table.stdout and "no image: no image for this prompt" in table.stdout
