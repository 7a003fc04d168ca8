"""Does grounded fusion follow the examples' style better than the plain rule-based enhancer?

For N ideas (subjects of real DiffusionDB prompts, seeded), the benchmark index (built by
bench_retrieval.py) gives the top 3 hybrid examples, the idea's own source prompt excluded.
Both enhancers get the same request (idea + examples). Measured per idea, then averaged:

- style similarity: cosine between the embedding of what the enhancer added (the prompt after
  the idea) and the mean embedding of the examples' modifier parts (each example minus its
  subject) — higher means the added words follow the examples' style;
- novelty: highest cosine of the whole prompt to any example (a copy would be ~1.0);
- tokens: CLIP tokens of the prompt (budget 77).

Run: .venv/bin/python benchmarks/bench_fusion.py [--n 200]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_retrieval import CachedIndex, build_index, unique_prompts  # noqa: E402

from enhancers.base import EnhanceRequest, Example  # noqa: E402
from enhancers.grounded import GroundedEnhancer, split_phrases, subject_of  # noqa: E402
from enhancers.rules import RuleBasedEnhancer  # noqa: E402
from enhancers.tokens import count_clip_tokens  # noqa: E402
from rag.retriever import Retriever  # noqa: E402


def modifier_part(text: str) -> str:
    return ", ".join(split_phrases(text)[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/promptrag-bench"))
    args = parser.parse_args()

    prompts = unique_prompts()
    index = CachedIndex(build_index(args.workdir / f"index-{len(prompts)}", prompts))
    retriever = Retriever(index)
    rng = random.Random(args.seed)
    # Ideas from prompts that have modifiers, so "the examples' style" means something.
    pool = [p for p in prompts if len(split_phrases(p)) >= 4 and len(subject_of(p).split()) >= 2]
    chosen = rng.sample(pool, args.n)
    index.prime([subject_of(p) for p in chosen])
    enhancers = {"grounded": GroundedEnhancer(), "rules": RuleBasedEnhancer()}
    # Pass 1: prompts from both enhancers; pass 2: every text embedded in one batch (fast on a busy CPU).
    cases = []
    for source in chosen:
        idea = subject_of(source)
        hits = [r for r in retriever.search(idea, k=4, mode="hybrid") if r.prompt != source][:3]
        examples = [Example(text=r.prompt, score=r.dense_score or 0.0, count=r.count, id=r.id) for r in hits]
        mods = [modifier_part(e.text) for e in examples if modifier_part(e.text)]
        if not mods:
            continue
        request = EnhanceRequest(idea=idea, examples=examples, creativity=0.7)
        outputs = {name: enhancer.enhance(request).prompt for name, enhancer in enhancers.items()}
        cases.append((idea, examples, mods, outputs))
    texts = {t for idea, examples, mods, outputs in cases for t in
             [*mods, *(e.text for e in examples), *outputs.values(),
              *(p[len(idea):].strip(" ,") or idea for p in outputs.values())]}
    texts = sorted(texts)
    vectors = dict(zip(texts, index.embedder.embed(texts, batch_size=128)))
    figures: dict[str, dict[str, list[float]]] = {n: {"style": [], "novelty": [], "tokens": []} for n in enhancers}
    for idea, examples, mods, outputs in cases:
        style_vec = np.mean([vectors[m] for m in mods], axis=0)
        style_vec /= np.linalg.norm(style_vec)
        example_vecs = np.stack([vectors[e.text] for e in examples])
        for name, prompt in outputs.items():
            added = prompt[len(idea):].strip(" ,") or idea
            figures[name]["style"].append(float(vectors[added] @ style_vec))
            figures[name]["novelty"].append(float((example_vecs @ vectors[prompt]).max()))
            figures[name]["tokens"].append(count_clip_tokens(prompt))
    n = len(figures["grounded"]["style"])
    print(f"{n} ideas, 3 hybrid examples each (source prompt excluded)")
    print("| enhancer | style similarity to examples' modifiers | max similarity to an example | CLIP tokens |")
    print("|---|---|---|---|")
    for name, f in figures.items():
        print(f"| {name} | {np.mean(f['style']):.3f} | {np.mean(f['novelty']):.3f} | {np.mean(f['tokens']):.1f} |")
    wins = sum(g > r for g, r in zip(figures["grounded"]["style"], figures["rules"]["style"]))
    print(f"grounded closer to the examples' style on {wins}/{n} ideas")


if __name__ == "__main__":
    main()
