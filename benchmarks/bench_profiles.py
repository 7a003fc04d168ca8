"""Prompt profiles: does each model family get prompts in its own form? Rules and grounded.

Ideas: 200 T2I-CompBench training prompts (seeded sample; none of them in the index). One idea
in four gets an A1111 weight on one of its words ("a (red:1.3) apple"), the way users type
them, so "weights present only where parsed" is measured on real input. Grounded fuses each
idea with its top 6 hybrid examples from the DiffusionDB index of bench_coherence.py
(`retrieve_cases`; the index is built once under benchmarks/out/coherence and reused).

For every family (sd1, sdxl, sd3, flux, turbo) and enhancer, the fraction of outputs that are
- in the right form: `profiles.prompt_form` is "tags" for sd1, "mixed" (a sentence, then at
  most 4 tags) for sdxl / turbo, "prose" (sentences) for sd3 / flux;
- right about weights: weight syntax present exactly when the idea had it and the family's
  backend parses it (sd1, sdxl, turbo), absent otherwise;
- within budget: CLIP-BPE tokens <= the family's budget (77; 256 T5 for sd3; 512 for flux);
- honest about negatives: empty negative prompt plus a notice where the family ignores it
  (turbo, flux), a negative prompt where it works;
and "all four" together. Figures print as a Markdown table and go to benchmarks/out/profiles-seed*.json.

Run: .venv/bin/python benchmarks/bench_profiles.py [--seed 2] [--n 200]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "out"
FAMILIES = ("sd1", "sdxl", "sd3", "flux", "turbo")
EXPECTED_FORM = {"sd1": "tags", "sdxl": "mixed", "turbo": "mixed", "sd3": "prose", "flux": "prose"}
WEIGHTED_SHARE = 4  # one idea in four carries a weight


def pick_ideas(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    ideas = sorted(
        {line.strip() for f in sorted((DATA / "t2i_compbench_train").glob("*_train.txt")) for line in f.open()} - {""}
    )
    return rng.sample(ideas, n)


def weighted(idea: str, rng: random.Random) -> str:
    """The idea with one content word weighted the A1111 way: "a (red:1.3) apple"."""
    words = [m for m in re.finditer(r"[A-Za-z]{4,}", idea)]
    if not words:
        return idea
    m = rng.choice(words)
    return f"{idea[:m.start()]}({m.group(0)}:{rng.choice((0.8, 1.2, 1.3, 1.5))}){idea[m.end():]}"


def run(cases: list[dict], seed: int) -> dict:
    from enhancers.base import TOKEN_BUDGET, EnhanceRequest, Example
    from enhancers.grounded import GroundedEnhancer
    from enhancers.profiles import PROFILES, has_weight_syntax, prompt_form
    from enhancers.rules import RuleBasedEnhancer
    from enhancers.tokens import count_clip_tokens

    enhancers = {"rules": RuleBasedEnhancer(), "grounded": GroundedEnhancer()}
    rng = random.Random(seed)
    ideas = [weighted(c["idea"], rng) if i % WEIGHTED_SHARE == 0 else c["idea"] for i, c in enumerate(cases)]
    figures: dict = {}
    for family in FAMILIES:
        profile = PROFILES[family]
        for name, enhancer in enhancers.items():
            counts = {"form": 0, "weights": 0, "budget": 0, "negative": 0, "all": 0}
            misses: list[str] = []
            started = time.perf_counter()
            for idea, case in zip(ideas, cases):
                request = EnhanceRequest(idea=idea, model_family=family,
                                         examples=[Example(**e) for e in case["examples"]])
                result = enhancer.enhance(request)
                had_weights = has_weight_syntax(idea)
                checks = {
                    "form": prompt_form(result.prompt) == EXPECTED_FORM[family],
                    "weights": has_weight_syntax(result.prompt) == (had_weights and profile.parses_weights),
                    "budget": count_clip_tokens(result.prompt) <= TOKEN_BUDGET[family],
                    "negative": (bool(result.negative_prompt) if profile.negative_effective
                                 else result.negative_prompt == "" and bool(result.notices)),
                }
                checks["all"] = all(checks.values())
                for key, ok in checks.items():
                    counts[key] += ok
                if not checks["all"] and len(misses) < 3:
                    misses.append(result.prompt)
            n = len(cases)
            figures[f"{family}/{name}"] = {
                "n": n, **{key: value / n for key, value in counts.items()},
                "ms_per_prompt": 1000 * (time.perf_counter() - started) / n, "misses": misses,
            }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--k", type=int, default=6)
    parser.add_argument("--workdir", type=Path, default=OUT / "coherence", help="where the example index lives")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_coherence import retrieve_cases

    cases = retrieve_cases(pick_ideas(args.seed, args.n), args.workdir, args.k)
    figures = run(cases, args.seed)
    print(f"{len(cases)} T2I-CompBench ideas (seed {args.seed}; 1 in {WEIGHTED_SHARE} weighted), "
          f"{args.k} hybrid examples each")
    print("| family | enhancer | right form | weights right | within budget | negative honest | all four |")
    print("|---|---|---|---|---|---|---|")
    for key, f in figures.items():
        family, name = key.split("/")
        print(f"| {family} | {name} | {f['form']:.1%} | {f['weights']:.1%} | {f['budget']:.1%} | "
              f"{f['negative']:.1%} | {f['all']:.1%} |")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"profiles-seed{args.seed}.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
