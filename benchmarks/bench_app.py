"""App benchmark: the real Streamlit server on a 100,000-prompt index, driven by headless Chromium.

What it measures (every figure from a real browser talking to a real `streamlit run` server):

1. cold start: a new server process → first page interactive in a new browser session (the
   first session also loads the index, retriever and embedder: `st.cache_resource`), then
   that session's first search;
2. warm start: a new browser session on the running server → first page interactive;
3. search round trip on Explore (submit → results rendered), p50 / p95 over --queries queries,
   beside the retrieval time the page reports and a flip to the next page of results (the same
   rerun and render without retrieval), which together say where the time goes;
4. fuse round trip on Refine (write prompt → prompt rendered) with the rules and the grounded
   enhancer, p50 / p95;
5. --sessions concurrent browser sessions (Playwright contexts in one Chromium) searching at the
   same time: errors, p50 / p95, and the server's resident memory (psutil, the process and its
   children) against one session's — the index and model must exist once per server;
6. models on first use (benchmarks/first_image.py): Download → first image with the tiny model
   served by the local Hub stand-in, and `promptrag models pull`'s throughput against plain
   huggingface_hub on the same file (`--only first-image` runs just these, in ~2 minutes).

Round trips are timed inside the page (see tests/e2e/browser.py: from the click / key press to
the end of the script run it triggered, the page already updated). Warm-up queries are distinct from the
measured ones.

The index (built once, cached under benchmarks/out/, git-ignored): the 8.7k unique real
DiffusionDB prompts of shared/data/diffusiondb_imagereward embedded with the real model, plus
synthetic near-duplicates up to --rows (a real prompt with its modifier phrases shuffled and one
subject word swapped, as in bench_retrieval.py --distractors) whose vector is the base prompt's
real vector plus small Gaussian noise, re-normalised: serving cost depends on row count and
dimension, not on content. `--embed-all` embeds every row for real instead (~50 min on 2 cores).
Written with the library's IndexWriter (FAISS + SQLite + manifest; no pickle).

Run: .venv/bin/python benchmarks/bench_app.py [--rows 100000] [--queries 30] [--sessions 10] [--embed-all]
     [--only first-image] [--pull-mb 200]
Writes benchmarks/out/bench_app.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import first_image  # noqa: E402  (benchmarks/, beside this file)

from tests.e2e.browser import (  # noqa: E402
    BrowserUnavailable,
    StreamlitServer,
    app_env,
    arm_round_trip,
    by_key,
    choose,
    ensure_chromium,
    launch_chromium,
    page_errors,
    rerun,
    round_trip_ms,
)

DATA = ROOT.parent / "shared" / "data" / "diffusiondb_imagereward" / "refl_prompts_dev.json"
OUT = ROOT / "benchmarks" / "out"
NOISE_SIGMA = 0.015  # per dimension: cosine to the base vector ≈ 0.95 at 384 dimensions
SAMPLERS = ["k_euler_ancestral", "k_euler", "k_lms", "ddim", "plms", "k_dpm_2_ancestral"]
SIZES = [(512, 512), (512, 768), (768, 512), (640, 640), (1024, 576)]


# --- the 100k index ---------------------------------------------------------------------------


def real_prompts() -> list[str]:
    rows = json.loads(DATA.read_text(encoding="utf-8"))
    return list(dict.fromkeys(t for t in (" ".join(r["text"].split()) for r in rows) if t))


def near_duplicates(prompts: list[str], n: int, seed: int) -> list[tuple[str, int]]:
    """(text, index of its base prompt): modifiers shuffled, one subject word swapped."""
    rng = random.Random(seed)
    words = [w for p in prompts for w in p.split() if w.isalpha() and len(w) > 3]
    out: list[tuple[str, int]] = []
    while len(out) < n:
        base = rng.randrange(len(prompts))
        parts = [p.strip() for p in prompts[base].split(",") if p.strip()]
        if not parts:
            continue
        head, tail = parts[0].split(), parts[1:]
        if head:
            head[rng.randrange(len(head))] = rng.choice(words)
        rng.shuffle(tail)
        out.append((", ".join([" ".join(head), *tail]), base))
    return out


def records_for(texts: list[str], n_real: int, seed: int):
    """PromptRecords with plausible, seeded generation settings (the cards show them)."""
    from index import PromptRecord

    rng = random.Random(seed)
    records = []
    for i, text in enumerate(texts):
        width, height = rng.choice(SIZES)
        records.append(
            PromptRecord(
                text,
                count=1 + int(rng.expovariate(0.7)),
                seed=rng.randrange(2**31),
                steps=rng.choice([20, 30, 50]),
                cfg=rng.choice([5.0, 7.0, 7.5, 9.0, 12.0]),
                sampler=rng.choice(SAMPLERS),
                width=width,
                height=height,
                source=DATA.name if i < n_real else "bench_app near-duplicate",
            )
        )
    return records


def embed_cached(embedder, texts: list[str], cache: Path) -> np.ndarray:
    """Real embeddings of `texts`, cached as .npy (+ the texts, to detect a stale cache)."""
    names = cache.with_suffix(".texts.json")
    if cache.is_file() and names.is_file() and json.loads(names.read_text(encoding="utf-8")) == texts:
        return np.load(cache, allow_pickle=False)
    started = time.perf_counter()
    vectors = np.asarray(embedder.embed(texts, batch_size=128), dtype=np.float32)
    print(
        f"embedded {len(texts):,} prompts in {time.perf_counter() - started:.0f}s",
        file=sys.stderr,
        flush=True,
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors, allow_pickle=False)
    names.write_text(json.dumps(texts), encoding="utf-8")
    return vectors


def build_bench_index(rows: int, *, embed_all: bool, seed: int = 20261130, out: Path = OUT) -> Path:
    """The cached benchmark index with `rows` rows (built on first use)."""
    from index import IndexWriter, load_embedder
    from index.manifest import read_manifest

    path = out / f"app-index-{rows}{'-embedded' if embed_all else ''}"
    if (path / "manifest.json").is_file() and read_manifest(path).row_count == rows:
        return path
    prompts = real_prompts()
    embedder = load_embedder()
    if rows <= len(prompts):
        texts = prompts[:rows]
        vectors = embed_cached(embedder, texts, out / f"real-vectors-{rows}.npy")
    else:
        real = embed_cached(embedder, prompts, out / f"real-vectors-{len(prompts)}.npy")
        extra = near_duplicates(prompts, rows - len(prompts), seed)
        texts = prompts + [t for t, _ in extra]
        if embed_all:
            vectors = np.concatenate(
                [
                    real,
                    embed_cached(
                        embedder, [t for t, _ in extra], out / f"synthetic-vectors-{len(extra)}.npy"
                    ),
                ]
            )
        else:
            rng = np.random.default_rng(seed)
            noisy = real[[b for _, b in extra]] + rng.normal(0.0, NOISE_SIGMA, (len(extra), real.shape[1]))
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            vectors = np.concatenate([real, noisy.astype(np.float32)])
    started = time.perf_counter()
    writer = IndexWriter(path, model_id=embedder.model_id, dimension=embedder.dimension)
    records = records_for(texts, len(prompts), seed)
    for start in range(0, len(texts), 10_000):
        writer.add(records[start : start + 10_000], vectors[start : start + 10_000])
    manifest = writer.publish()
    print(
        f"index: {manifest.row_count:,} rows, {manifest.index_type}, written in "
        f"{time.perf_counter() - started:.0f}s at {path}",
        file=sys.stderr,
        flush=True,
    )
    return path


# --- queries ----------------------------------------------------------------------------------


def ideas(prompts: list[str], n: int, seed: int) -> list[str]:
    """`n` distinct short ideas: subjects (first clause) of real prompts, 2 to 8 words."""
    from enhancers.grounded import subject_of

    subjects = list(
        dict.fromkeys(s for s in (subject_of(p).strip() for p in prompts) if 2 <= len(s.split()) <= 8)
    )
    random.Random(seed).shuffle(subjects)
    if len(subjects) < n:
        raise SystemExit(f"only {len(subjects)} distinct ideas for {n} queries")
    return subjects[:n]


# --- page actions (selectors: the widgets' keys and visible labels) --------------------------

# Resolves (in the page) with performance.now() — milliseconds since this navigation started —
# at the first frame where the app is connected, its first script run is over and the search
# box exists: "first page interactive".
FIRST_PAGE_JS = """
() => new Promise((resolve) => {
  const ready = () => {
    const app = document.querySelector("[data-testid='stApp']");
    return app && app.getAttribute("data-test-connection-state") === "CONNECTED"
      && app.getAttribute("data-test-script-state") === "notRunning"
      && document.querySelector(".st-key-explore-query input");
  };
  const poll = () => ready() ? resolve(performance.now()) : requestAnimationFrame(poll);
  poll();
})
"""


def open_session(browser, url: str) -> tuple[object, object, float]:
    """A new browser context (= a new Streamlit session) on Explore; (context, page, ms to interactive)."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(180_000)
    page.goto(url, wait_until="commit")
    ms = float(page.evaluate(FIRST_PAGE_JS))
    return context, page, ms


def search(page, query: str, server_ms: list[float] | None = None) -> float:
    """Type `query`, press Enter: milliseconds until the results are rendered (raises on an error).

    `server_ms` collects the retrieval time the page reports in its caption ("… · 42 ms").
    """
    box = by_key(page, "explore.query").locator("input")
    box.fill(query)
    ms = rerun(page, lambda: box.press("Enter"), done=showing(page, query))
    reported = check_results(page, query)
    if server_ms is not None and reported is not None:
        server_ms.append(reported)
    return ms


def showing(page, query: str):
    """A `done` check for round trips: the results caption names `query`."""
    from playwright.sync_api import expect

    return lambda: expect(page.get_by_text("prompts for “", exact=False).first).to_contain_text(
        query, timeout=120_000
    )


def failure_shot(page, what: str) -> Path:
    """A whole-page screenshot of a failed step, for the error message (under benchmarks/out/)."""
    path = OUT / f"bench_app-failure-{re.sub(r'[^a-z0-9]+', '-', what.lower())[:60]}.png"
    try:
        state = page.evaluate(
            "() => { const a = document.querySelector(\"[data-testid='stApp']\"); "
            "return a ? [a.getAttribute('data-test-script-state'), "
            "a.getAttribute('data-test-connection-state')] : null; }"
        )
        page.screenshot(path=str(path))
        print(
            f"failure screenshot ({what}; script/connection state {state}): {path}",
            file=sys.stderr,
            flush=True,
        )
    except Exception as exc:  # noqa: BLE001 - the screenshot is a diagnostic, the real error follows
        print(f"no failure screenshot for {what}: {exc}", file=sys.stderr, flush=True)
    return path


def check_results(page, query: str) -> float | None:
    """Raise unless the results for `query` are on the page; return the retrieval ms it reports."""
    errors = page_errors(page)
    if errors:
        raise RuntimeError(f"search {query!r}: {errors[0][:200]}")
    caption = page.get_by_text("prompts for “", exact=False).first.inner_text(timeout=5000)
    if query not in caption or page.locator("[class*='st-key-card-explore-']").count() == 0:
        raise RuntimeError(f"search {query!r}: results not shown ({caption[:120]!r})")
    found = re.search(r"([0-9][0-9,]*) ms", caption)
    return float(found.group(1).replace(",", "")) if found else None


def open_refine(page, enhancer: str) -> None:
    rerun(page, page.get_by_role("link", name="Refine", exact=True).click)
    choose(page, "refine-enhancer", enhancer)


def fuse(page, idea: str, written_by: dict[str, int] | None = None) -> float:
    """Suggest examples for `idea` (untimed), then "Write prompt": ms until the prompt is rendered.

    The examples are retrieved by "Suggest examples" first, so the timed click fuses only.
    `written_by` counts who answered (a fallback to the next enhancer is a visible notice, not an error).
    """
    by_key(page, "refine-idea").locator("textarea").fill(idea)
    rerun(page, page.get_by_role("button", name="Suggest examples").click)
    from playwright.sync_api import expect

    draft_box = by_key(page, "refine-draft").locator("textarea")
    # rules and grounded keep the idea verbatim: the new round's prompt starts from it.
    new_round = re.compile(re.escape(idea[:30]), re.IGNORECASE)
    ms = rerun(
        page,
        by_key(page, "refine-write-now").get_by_role("button").click,
        done=lambda: expect(draft_box).to_have_value(new_round, timeout=120_000),
    )
    errors = page_errors(page)
    draft = draft_box.input_value(timeout=5000)
    if errors or not draft.strip():
        failure_shot(page, f"fuse {idea}")
        raise RuntimeError(f"fuse {idea!r}: {(errors or ['no prompt rendered'])[0][:200]}")
    if written_by is not None:
        caption = page.get_by_text(re.compile(r"^Written by ")).first.inner_text(timeout=5000)
        found = re.match(r"Written by (\S+)", caption)
        who = found.group(1) if found else "?"
        written_by[who] = written_by.get(who, 0) + 1
    return ms


# --- the benchmark ----------------------------------------------------------------------------


def cpu_seconds(server: StreamlitServer) -> tuple[float, float]:
    """CPU seconds used so far by (the server, everything else this benchmark started: Chromium)."""
    import psutil

    def used(process) -> float:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            return 0.0
        return times.user + times.system

    server_pids = {server.process.pid} | {
        c.pid for c in psutil.Process(server.process.pid).children(recursive=True)
    }
    children = psutil.Process().children(recursive=True)
    return (
        sum(used(c) for c in children if c.pid in server_pids),
        sum(used(c) for c in children if c.pid not in server_pids),
    )


def summary(samples: list[float]) -> dict:
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)
    return {
        "n": len(samples),
        "p50_ms": round(float(np.percentile(ordered, 50)), 1),
        "p95_ms": round(float(np.percentile(ordered, 95)), 1),
        "max_ms": round(ordered[-1], 1),
    }


def run(args: argparse.Namespace) -> dict:
    from playwright.sync_api import sync_playwright

    try:
        chromium = ensure_chromium()
    except BrowserUnavailable as exc:
        raise SystemExit(f"bench_app: no headless Chromium: {exc}") from None
    index_path = args.index or build_bench_index(args.rows, embed_all=args.embed_all)
    prompts = real_prompts()
    per_round = args.sessions
    need = args.warmup + args.queries + per_round * (args.rounds + 1) + 2 * (args.fuse + 2)
    pool = ideas(prompts, need, args.seed)
    take = iter(pool)
    warm_queries = [next(take) for _ in range(args.warmup)]
    measured_queries = [next(take) for _ in range(args.queries)]
    from index.manifest import read_manifest

    manifest = read_manifest(index_path)
    results: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "rows": manifest.row_count,
        "index_type": manifest.index_type,
        "streamlit_options": args.streamlit_option,
        "embed_all": args.embed_all,
        "index": str(index_path),
        "sessions": args.sessions,
    }

    with tempfile.TemporaryDirectory(prefix="promptrag-bench-app-") as tmp:
        home = Path(tmp) / "home"
        (home / "promptrag" / "indexes").mkdir(parents=True)
        (home / "promptrag" / "indexes" / "default").symlink_to(
            index_path.resolve(), target_is_directory=True
        )
        env = app_env(home, OMP_NUM_THREADS="1")
        server = StreamlitServer(
            Path(tmp) / "cwd",
            env,
            log_path=OUT / "bench_app-streamlit.log",
            options=dict(option.split("=", 1) for option in args.streamlit_option),
        )
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, chromium)
            try:
                # 1. cold: new server process → first page interactive (it loads the index), first search.
                server.start()
                health_s = server.wait_healthy(timeout_s=300)
                before_goto = time.perf_counter() - server.started_at
                context, page, first_ms = open_session(browser, server.url)
                results["cold"] = {
                    "server_health_s": round(health_s, 2),
                    "first_page_s": round(before_goto + first_ms / 1000, 2),
                }
                results["cold"]["first_search_s"] = round(search(page, warm_queries[0]) / 1000, 2)
                results["rss_idle_mb"] = round(server.rss_bytes() / 2**20)
                print(f"cold: {results['cold']}", file=sys.stderr, flush=True)

                # 2. search round trips in this session (warm-up queries first, not measured).
                for query in warm_queries[1:]:
                    search(page, query)
                server_ms: list[float] = []
                cpu_before = cpu_seconds(server)
                samples = [search(page, q, server_ms) for q in measured_queries]
                cpu_after = cpu_seconds(server)
                results["search"] = summary(samples) | {
                    "samples_ms": [round(s, 1) for s in samples],
                    "retrieval_in_server": summary(server_ms),
                    "cpu_ms_per_search_server": round(1000 * (cpu_after[0] - cpu_before[0]) / len(samples)),
                    "cpu_ms_per_search_browser": round(1000 * (cpu_after[1] - cpu_before[1]) / len(samples)),
                }
                # The same rerun and render without retrieval: flip to the next page of results and back.
                flips = []
                for i in range(args.flips):
                    pager = page.locator("[class*='st-key-explore-page-']")
                    flips.append(
                        rerun(
                            page,
                            pager.get_by_role("button", name="Previous page" if i % 2 else "Next page").click,
                        )
                    )
                results["page_flip"] = summary(flips) | {"samples_ms": [round(s, 1) for s in flips]}
                results["rss_one_session_mb"] = round(server.rss_bytes() / 2**20)
                print(f"search: {summary(samples)}", file=sys.stderr, flush=True)

                # 3. warm: a new session on the running server → first page interactive.
                warm = []
                for _ in range(args.warm_sessions):
                    other, _page, ms = open_session(browser, server.url)
                    warm.append(ms)
                    other.close()
                results["warm_first_page"] = summary(warm) | {"samples_ms": [round(s, 1) for s in warm]}
                print(f"warm first page: {summary(warm)}", file=sys.stderr, flush=True)

                # 4. N concurrent sessions: each presses Enter on its own query at the same moment
                #    (each is timed by its own page, so dispatching them one after another is fair).
                sessions = [open_session(browser, server.url)[:2] for _ in range(per_round)]
                rounds = [[next(take) for _ in range(per_round)] for _ in range(args.rounds + 1)]
                concurrent, errors, peak, retrieval_ms = [], [], 0, []
                cpu_before, wall_before = cpu_seconds(server), time.perf_counter()
                for r, queries in enumerate(rounds):
                    if r == 1:
                        cpu_before, wall_before = cpu_seconds(server), time.perf_counter()
                    for (_, p), query in zip(sessions, queries):
                        p.locator(".st-key-explore-query input").fill(query)
                        arm_round_trip(p)
                    for _, p in sessions:
                        p.locator(".st-key-explore-query input").press("Enter")
                    peak = max(peak, server.rss_bytes())
                    for (_, p), query in zip(sessions, queries):
                        try:
                            ms = round_trip_ms(p, done=showing(p, query))
                            reported = check_results(p, query)
                            if r > 0:  # round 0 warms every session up
                                concurrent.append(ms)
                                if reported is not None:
                                    retrieval_ms.append(reported)
                        except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                            failure_shot(p, f"concurrent {query}")
                            errors.append(f"{query!r}: {str(exc).splitlines()[0][:200]}")
                    peak = max(peak, server.rss_bytes())
                rss_n = server.rss_bytes()
                cpu_after, wall = cpu_seconds(server), time.perf_counter() - wall_before
                results["concurrent"] = summary(concurrent) | {
                    "retrieval_in_server": summary(retrieval_ms),
                    "wall_s": round(wall, 1),
                    "cpu_s_server": round(cpu_after[0] - cpu_before[0], 1),
                    "cpu_s_browser": round(cpu_after[1] - cpu_before[1], 1),
                    "sessions": per_round,
                    "rounds": args.rounds,
                    "errors": len(errors),
                    "error_samples": errors[:5],
                    "rss_mb": round(rss_n / 2**20),
                    "rss_peak_mb": round(peak / 2**20),
                    "rss_ratio_vs_one_session": round(rss_n / 2**20 / results["rss_one_session_mb"], 3),
                }
                print(f"concurrent: {results['concurrent']}", file=sys.stderr, flush=True)
                for other, _ in sessions:
                    other.close()

                # 5. fuse round trips on Refine, rules then grounded (2 warm-up ideas each).
                for enhancer in ("rules", "grounded"):
                    open_refine(page, enhancer)
                    fuse_ideas = [next(take) for _ in range(args.fuse + 2)]
                    for idea in fuse_ideas[:2]:
                        fuse(page, idea)
                    written_by: dict[str, int] = {}
                    samples = [fuse(page, idea, written_by) for idea in fuse_ideas[2:]]
                    results[f"fuse_{enhancer}"] = summary(samples) | {
                        "samples_ms": [round(s, 1) for s in samples],
                        "written_by": written_by,
                    }
                    print(f"fuse {enhancer}: {summary(samples)}", file=sys.stderr, flush=True)
                results["rss_end_mb"] = round(server.rss_bytes() / 2**20)
                context.close()
            finally:
                browser.close()
                server.stop()
    return results


def run_first_image(args: argparse.Namespace) -> dict:
    """6. Download → first image in a browser, then the pull's throughput (first_image.py)."""
    from playwright.sync_api import sync_playwright

    try:
        chromium = ensure_chromium()
    except BrowserUnavailable as exc:
        raise SystemExit(f"bench_app: no headless Chromium: {exc}") from None
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium)
        try:
            measured = {"first_image": first_image.download_to_first_image(browser, OUT)}
        finally:
            browser.close()
    print(f"first image: {measured['first_image']}", file=sys.stderr, flush=True)
    measured["pull"] = first_image.pull_throughput(args.pull_mb)
    print(f"pull: {measured['pull']}", file=sys.stderr, flush=True)
    return measured


def table(r: dict) -> str:
    if "search" not in r:  # --only first-image
        lines = ["| what | result | target |", "|---|---|---|"]
        return "\n".join(lines + [f"| {a} | {b} | {t} |" for a, b, t in first_image.rows(r)])
    c, q = r["concurrent"], r["search"]
    nan = float("nan")
    rows = [
        (
            "cold: new server process → first page interactive (Explore loads the index + embedder)",
            f"{r['cold']['first_page_s']:.2f} s (server up in {r['cold']['server_health_s']:.2f} s)",
            "—",
        ),
        ("cold: the first search after that", f"{r['cold']['first_search_s']:.2f} s", "—"),
        (
            "warm: new session → first page interactive",
            f"p50 {r['warm_first_page']['p50_ms']/1000:.2f} s · "
            f"max {r['warm_first_page']['max_ms']/1000:.2f} s",
            "≤ 3 s",
        ),
        (
            f"search round trip ({q['n']} queries)",
            f"p50 {q['p50_ms']:.0f} ms · p95 {q['p95_ms']:.0f} ms (retrieval in the server: p50 "
            f"{q['retrieval_in_server'].get('p50_ms', nan):.0f} ms; CPU per search: server "
            f"{q['cpu_ms_per_search_server']} ms, Chromium {q['cpu_ms_per_search_browser']} ms)",
            "p50 ≤ 200 ms",
        ),
        (
            f"next page of results ({r['page_flip']['n']} flips: the same rerun and render, no retrieval)",
            f"p50 {r['page_flip']['p50_ms']:.0f} ms · p95 {r['page_flip']['p95_ms']:.0f} ms",
            "—",
        ),
        *[
            (
                f"fuse round trip, {name} ({f['n']} ideas)",
                f"p50 {f['p50_ms']:.0f} ms · p95 {f['p95_ms']:.0f} ms "
                f"(written by: {', '.join(f'{k} {v}' for k, v in f['written_by'].items())})",
                "—",
            )
            for name, f in ((n, r[f"fuse_{n}"]) for n in ("rules", "grounded"))
        ],
        (
            f"{c['sessions']} concurrent sessions searching ({c['n']} searches)",
            f"{c['errors']} errors · p50 {c['p50_ms']:.0f} ms · p95 {c['p95_ms']:.0f} ms "
            f"(retrieval in the server: p50 {c['retrieval_in_server'].get('p50_ms', nan):.0f} ms; "
            f"CPU over {c['wall_s']:.0f} s: "
            f"server {c['cpu_s_server']:.0f} s, Chromium {c['cpu_s_browser']:.0f} s)",
            "0 errors",
        ),
        (
            f"server RSS: one session → {c['sessions']} more sessions",
            f"{r['rss_one_session_mb']} → {c['rss_mb']} MB "
            f"(×{c['rss_ratio_vs_one_session']:.2f}; peak {c['rss_peak_mb']} MB)",
            "≤ 1.2×",
        ),
        *first_image.rows(r),
    ]
    lines = ["| what | result | target |", "|---|---|---|"] + [f"| {a} | {b} | {t} |" for a, b, t in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=100_000, help="index size (real prompts + near-duplicates)"
    )
    parser.add_argument(
        "--embed-all", action="store_true", help="embed every row for real (~50 min on 2 cores)"
    )
    parser.add_argument("--queries", type=int, default=30, help="measured searches in one session (≥ 20)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured searches first (distinct queries)")
    parser.add_argument(
        "--flips", type=int, default=10, help="result-page flips timed (rerun without search)"
    )
    parser.add_argument(
        "--warm-sessions", type=int, default=5, help="new sessions timed on the running server"
    )
    parser.add_argument("--sessions", type=int, default=10, help="concurrent browser sessions")
    parser.add_argument(
        "--rounds", type=int, default=5, help="concurrent search rounds (after one warm-up round)"
    )
    parser.add_argument("--fuse", type=int, default=10, help="measured fuse round trips per enhancer")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument(
        "--streamlit-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pass a Streamlit option to the server, e.g. runner.postScriptGC=false (repeatable)",
    )
    parser.add_argument("--index", type=Path, help="benchmark this existing index instead (no build)")
    parser.add_argument("--build-only", action="store_true", help="build (or find) the cached index and stop")
    parser.add_argument("--out", type=Path, default=OUT / "bench_app.json")
    parser.add_argument("--only", choices=["first-image"], help="run only the models-on-first-use figures")
    parser.add_argument("--pull-mb", type=int, default=200, help="size of the file the download throughput uses")
    args = parser.parse_args()
    if args.build_only:
        print(build_bench_index(args.rows, embed_all=args.embed_all))
        return
    bad = [o for o in args.streamlit_option if "=" not in o]
    if bad:
        parser.error(f"--streamlit-option must be NAME=VALUE, got {bad[0]!r}")
    if args.only == "first-image":
        results = {"date": time.strftime("%Y-%m-%d"), **run_first_image(args)}
    else:
        results = run(args) | run_first_image(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(table(results))
    print(f"\nraw samples: {args.out}")


if __name__ == "__main__":
    main()
