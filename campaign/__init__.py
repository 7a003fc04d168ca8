"""campaign: many distinct, on-brand prompt (and image) variants from one brief.

Modules: brief.py (the YAML brief), plan.py (angles; one fused, brand-checked draft per angle),
brand.py (must-have / must-not words, no text), diversity.py (no two prompts too alike),
pacing.py (rate limit, throttling), render.py (one variant's image), folder.py (lock, leftovers),
outputs.py (manifest, contact sheet, HTML gallery), variant.py (`Variant`, `read_variants`),
work.py (the work units: a draft, an image), resume.py (what a folder holds, what is left),
runner.py (`run_campaign`); review.py and jobs.py (approve / reject, ZIP, background runs for the app).
Importing the package imports nothing heavy.
"""
