"""Evaluation: does promptrag make better prompts? (metrics, runner, judge, compare, report).

- promptset.py — ideas from TSV / CSV (Prompt, Category / Challenge), JSONL or plain text;
- metrics.py — CLIP tokens vs budget, idea ↔ prompt consistency, similarity to the retrieved
  examples, diversity across candidates;
- options.py — `EvalOptions` (the configurations: raw + each enhancer ± rag), `options_from`;
- rows.py — the work units: one row's prompt and text metrics, one row's image;
- runner.py — `run_eval(promptset, out_dir, EvalOptions(...))`: the rows on an executor, images
  and the judge if asked, resumable results.jsonl, summary.json, a stop by cancel or spend cap;
- summary.py — reading a run folder and aggregating it per configuration and category;
- retrieval.py — recall@k / MRR of each retrieval mode on ideas cut from an index's prompts;
- judge.py, compare.py, report.py — the image judge, paired comparison, the HTML report.

Nothing is imported here: `promptrag --help` and the app stay fast; import the module you use.
"""
