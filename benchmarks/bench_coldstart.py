"""Cold start of the CLI: `promptrag search` (hybrid) and `promptrag enhance --rag` (rules,
grounded), each run N times as a fresh process, as a user types them.

Variants (each on the same real-prompt index, same queries):
- `onnx`     this tree, index with its ONNX export (what `promptrag ingest` writes now);
- `torch`    this tree, same index without the export (queries embedded by sentence-transformers);
- `before`   the code of git REF (`--before HEAD`; extracted with `git archive`, never checked
             out), index without the export — the figure this work started from.

Reports wall time per command (p50 and best of N: the machine is shared, so the best run is the
closest to an idle machine), peak RSS, the load average before and after, and checks that every
variant printed the same results (ranks and prompts; scores to 3 decimals).
The index is bench_app.py's cached one (`--rows 8770`: the real DiffusionDB prompts only;
`--rows 100000`: plus near-duplicates), copied once with an export added.

    python benchmarks/bench_coldstart.py --runs 7 --before HEAD
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "out"
IDEA = "a frog dressed as a knight"
COMMANDS = {
    "search": ["search", IDEA],
    "enhance --rag -e rules": ["enhance", "--rag", "-e", "rules", IDEA],
    "enhance --rag -e grounded": ["enhance", "--rag", "-e", "grounded", IDEA],
}


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def prepare_indexes(rows: int) -> tuple[Path, Path]:
    """(index without export, copy with export) for `rows` rows."""
    from bench_app import build_bench_index

    from index.manifest import read_manifest
    from index.onnx_export import MANIFEST_KEY, add_to_index

    plain = build_bench_index(rows, embed_all=False)
    exported = OUT / f"coldstart-index-{rows}"
    if not (exported / "manifest.json").is_file() or MANIFEST_KEY not in read_manifest(exported).extra:
        shutil.rmtree(exported, ignore_errors=True)
        shutil.copytree(plain, exported)
        started = time.perf_counter()
        add_to_index(exported)
        print(f"ONNX export added in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return plain, exported


def extract(ref: str) -> Path:
    """The code of git `ref` in a temporary directory (git archive: the working tree is untouched)."""
    target = Path(tempfile.mkdtemp(prefix="coldstart-before-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def run_once(code_dir: Path, index: Path, argv: list[str], home: Path) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS (MB) and stdout of one cold
    `python -m cli.main ...` in `code_dir`. CPU time barely depends on how busy the machine is,
    so it tells what an idle machine's wall time would be when the load average is high."""
    env = {**os.environ, "PROMPTRAG_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": str(code_dir)}
    env.pop("ANTHROPIC_API_KEY", None)
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:  # a file, so a chatty stderr cannot block the pipe
        child = subprocess.Popen([sys.executable, "-m", "cli.main", *argv, "--index", str(index)], cwd=code_dir,
                                 env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
        stdout = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS
        wall = time.perf_counter() - started
        errors.seek(0)
        stderr = errors.read()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {code_dir}:\n{stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, stdout


def comparable(stdout: str) -> list[str]:
    """The lines a user reads, without timings (enhance prints none today; kept robust)."""
    return [line for line in stdout.splitlines() if "ms" not in line.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="cold runs per command and variant")
    parser.add_argument("--rows", type=int, default=8770, help="index size (bench_app's cached index)")
    parser.add_argument("--before", metavar="REF", help="also time the code of this git ref (e.g. HEAD)")
    parser.add_argument("--variants", default="onnx,torch", help="comma list of onnx, torch")
    parser.add_argument("--json", type=Path, default=OUT / "bench_coldstart.json")
    args = parser.parse_args()

    plain, exported = prepare_indexes(args.rows)
    variants = {"onnx": (ROOT, exported), "torch": (ROOT, plain)}
    variants = {name: variants[name] for name in args.variants.split(",") if name}
    if args.before:
        variants["before"] = (extract(args.before), plain)
    home = Path(tempfile.mkdtemp(prefix="coldstart-home-"))
    report = {"date": time.strftime("%Y-%m-%d"), "rows": args.rows, "runs": args.runs, "idea": IDEA,
              "load_before": load_average(), "results": {}}
    outputs: dict[str, dict[str, list[str]]] = {}
    # Interleave variants run by run, so a change in the machine's load hits them alike.
    samples: dict[tuple[str, str], list[float]] = {(v, c): [] for v in variants for c in COMMANDS}
    cpu: dict[tuple[str, str], list[float]] = {(v, c): [] for v in variants for c in COMMANDS}
    peak = {(v, c): 0 for v in variants for c in COMMANDS}
    for _ in range(args.runs):
        for command, argv in COMMANDS.items():
            for variant, (code_dir, index) in variants.items():
                wall, cpu_s, rss_mb, stdout = run_once(code_dir, index, argv, home)
                samples[variant, command].append(wall)
                cpu[variant, command].append(cpu_s)
                peak[variant, command] = max(peak[variant, command], rss_mb)
                outputs.setdefault(variant, {})[command] = comparable(stdout)
    for (variant, command), walls in samples.items():
        report["results"].setdefault(variant, {})[command] = {
            "p50_s": round(statistics.median(walls), 2), "best_s": round(min(walls), 2),
            "cpu_p50_s": round(statistics.median(cpu[variant, command]), 2),
            "peak_rss_mb": peak[variant, command], "runs_s": [round(w, 2) for w in walls],
        }
    report["load_after"] = load_average()
    reference = outputs[next(iter(outputs))]
    report["same_output"] = {v: all(o[c] == reference[c] for c in COMMANDS) for v, o in outputs.items()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")

    print(f"cold start, {args.rows:,}-row index, {args.runs} runs each; load average before "
          f"{report['load_before']}, after {report['load_after']}")
    print(f"{'command':<28}" + "".join(f"{v + ': wall p50 / best / cpu p50 (s)':>40}" for v in variants))
    for command in COMMANDS:
        cells = "".join(
            "{p50_s:>22.2f} / {best_s:.2f} / {cpu_p50_s:<6.2f}".format(**report["results"][v][command])
            for v in variants
        )
        print(f"{command:<28}{cells}")
    print("same printed results as", next(iter(outputs)), report["same_output"])
    if args.before:
        shutil.rmtree(variants["before"][0], ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
