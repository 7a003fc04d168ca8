"""Evaluate: start a `promptrag eval` in the background, watch it, and read finished runs —
figures per configuration and category, the images side by side with the judge's verdicts, a
paired comparison, and the HTML report.

"Start the evaluation" starts a detached `promptrag eval` process (evaluation/jobs.py), like a
campaign: it goes on when the tab closes, a fragment polls its progress, Cancel / Resume act on
it, `?eval=<id>` reattaches, and the finished run (with its report.html) opens below.
Runs are folders under the evals folder of PROMPTRAG_HOME (newest first), or any run folder
typed in the path box. Everything shown comes from evaluation (load_run, the report's tables,
compare); state and callbacks are in app/evaluate_state.py. Untrusted text (ideas, prompts,
reasoning, errors, configuration names) goes through st.code, st.dataframe or escape_md.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import auth, state
from app import evaluate_state as es
from app.widgets import escape_md, guard
from core.errors import InputError
from enhancers.registry import enhancer_names, enhancer_status
from evaluation import jobs
from evaluation.compare import METRICS, Side, compare, evals_dir, find_runs, load_run
from evaluation.report import COLUMNS, category_table, config_table, format_value, idea_groups, image_path, write_report
from generate.registry import image_backend_status

es.remember_url_job()
state.require_shell(__file__)

PAGE_SIZE = 5
ALL = "all categories"
POLL_S = 2.0
STATE_BADGES = {
    "running": ":blue-badge[:material/progress_activity: running]",
    "finished": ":green-badge[:material/check: finished]",
    "cancelled": ":gray-badge[:material/stop_circle: cancelled]",
    "interrupted": ":orange-badge[:material/pause_circle: interrupted]",
    "failed": ":red-badge[:material/error: failed]",
}

st.title("Evaluate")
st.caption("Does an enhancer make better prompts than the raw idea? Start an evaluation here (or with "
           "`promptrag eval`), then read its figures, its images side by side with the judge's verdicts, "
           "and compare two configurations.")

# ---- the evaluation this session started ----------------------------------------------------
with guard("Opening the evaluation from the address bar"):
    es.attach_from_url()
job = None
if es.attached():
    with guard("Reading the evaluation"):
        try:
            job = jobs.eval_status(es.attached())
        except InputError:
            es.attach(None)  # deleted from disk meanwhile
            raise
if job is not None:
    es.open_when_finished(job)

runs: list[Path] = []
with guard("Listing the runs"):
    runs = jobs.owned_runs(find_runs())  # another user's evaluations stay theirs (app/auth.py)


# ---- a new evaluation -----------------------------------------------------------------------
def _ready(kind: str) -> list[str]:
    statuses = enhancer_status() if kind == "enhancer" else image_backend_status()
    return [s.name for s in statuses if s.ready]


with st.expander("New evaluation", icon=":material/add_circle:", expanded=not runs and job is None):
    f = es.FORM
    source = st.segmented_control("Prompt set", options=list(es.SOURCES), format_func=es.SOURCES.get,
                                  default="upload", key=f + "source",
                                  help="The ideas to evaluate: a .txt (one a line), a .tsv / .csv with a "
                                       "Prompt column (optional Category), or a .jsonl with a \"prompt\" key.")
    start = False
    with guard("Drawing the evaluation form"):
        earlier = es.earlier_promptsets() if source == "earlier" else []
        ready_images = _ready("image")
        judges = [name for name in ("anthropic", "bedrock") if name in _ready("enhancer")]
        with st.form("evaluate.form", border=False):
            if source == "earlier":
                st.selectbox("Prompt set used before", options=earlier, index=0 if earlier else None,
                             key=f + "picked", placeholder="No earlier runs with a prompt set on disk",
                             format_func=lambda p: f"{Path(p).name} · {Path(p).parent}")
            elif source == "typed":
                st.text_area("Ideas (one a line)", key=f + "typed", height=120,
                             placeholder="e.g. three red apples on a blue plate")
            else:
                st.file_uploader("Prompt set file", type=["txt", "tsv", "csv", "jsonl"], key=f + "upload")
            a, b, c = st.columns(3)
            a.number_input(es.LABELS["limit"], min_value=1, value=None, step=1, key=f + "limit",
                           placeholder="all of them", help="Evaluate N ideas spread over the set (seeded).")
            b.number_input(es.LABELS["seed"], min_value=0, value=1, step=1, key=f + "seed",
                           help="Seed of the idea sample, the images and the local model.")
            c.number_input(es.LABELS["candidates"], min_value=1, max_value=8, value=3, step=1,
                           key=f + "candidates", help="Candidate prompts per idea (diversity is measured across them).")
            a, b, c = st.columns([3, 2, 1])
            a.multiselect(es.LABELS["enhancers"], options=enhancer_names(), default=["rules", "grounded"],
                          key=f + "enhancers", help="Each is compared with the raw idea.")
            b.selectbox(es.LABELS["rag"], options=list(es.RAG), format_func=es.RAG.get, key=f + "rag",
                        help="Each enhancer with retrieved examples (+rag), without, or both.")
            c.number_input(es.LABELS["workers"], min_value=1, max_value=32, value=2, step=1, key=f + "workers",
                           help="Ideas worked on at once (a local model takes turns).")
            a, b, c = st.columns(3)
            a.checkbox(es.LABELS["images"], key=f + "images", disabled=not ready_images,
                       help="One image per idea and configuration, same seed and settings."
                       if ready_images else "No image backend is set up on this machine (see Settings).")
            b.selectbox(es.LABELS["image_backend"], options=ready_images or ["diffusers"], key=f + "image_backend",
                        disabled=not ready_images)
            c.selectbox(es.LABELS["judge"], options=[es.NO_JUDGE, *judges], key=f + "judge", disabled=not judges,
                        help="A multimodal Claude scores each image (needs Images)." if judges
                        else "No judge is set up: set ANTHROPIC_API_KEY or AWS credentials.")
            start = st.form_submit_button("Start the evaluation", type="primary", icon=":material/play_arrow:",
                                          key="evaluate.start")
    if start:
        with guard("Starting the evaluation"):
            try:
                options = es.options_from_form()
                es.start(source or "upload", options, upload=st.session_state.get(f + "upload"),
                         picked=st.session_state.get(f + "picked"), typed=st.session_state.get(f + "typed", ""))
            except InputError as exc:
                lines = [escape_md(line.strip()) for line in str(exc).splitlines() if line.strip()]
                st.error("Starting the evaluation failed: " + "  \n".join(lines), icon=":material/error:")
            else:
                st.rerun()


# ---- its progress ---------------------------------------------------------------------------
def job_panel(run_id: str, was_alive: bool) -> None:
    notice = es.take_notice()
    if notice:
        st.error(escape_md(notice), icon=":material/error:")
    with guard("Reading the evaluation"):
        status = jobs.eval_status(run_id)
        if status.alive != was_alive:
            st.rerun(scope="app")  # started or ended: poll (or stop polling, open the run) from a fresh page
        head, actions = st.columns([4, 2], vertical_alignment="center")
        shown = "cancelling" if status.alive and status.cancel_requested else status.state
        head.markdown(f"**{escape_md(status.title)}** "
                      + STATE_BADGES.get(shown, f":gray-badge[{escape_md(shown)}]"))
        head.caption(f"Evaluation `{status.run_id}` · started "
                     + escape_md((status.started_at or "").replace("T", " ")[:16]))
        with actions.container(horizontal=True, horizontal_alignment="right"):
            if status.alive:
                st.button("Cancel", key="evaluate.cancel", icon=":material/stop:",
                          disabled=status.cancel_requested, on_click=es.cancel_clicked, args=(run_id,))
            elif status.state in ("interrupted", "cancelled", "failed"):
                st.button("Resume", key="evaluate.resume", icon=":material/play_arrow:",
                          on_click=es.resume_clicked, args=(run_id,),
                          help="Start it again; the rows done are kept, the rest are made.")
        if status.state != "finished":
            st.progress(status.fraction, text=es.progress_text(status))
        if status.state == "interrupted":
            st.warning("The evaluation stopped before it finished (its process is gone). Resume it to "
                       "make the rest.", icon=":material/pause_circle:")
        elif status.state == "failed":
            st.error("The evaluation failed: " + escape_md(status.error or "see its log"), icon=":material/error:")
            with st.expander("Log"):
                st.code(jobs.read_log(run_id), language=None)
        elif status.state == "cancelled" and status.error:  # why it stopped: a cancel, or the spend cap reached
            st.warning(escape_md(status.error), icon=":material/stop_circle:")
        elif status.state == "finished":
            st.caption(f"{status.done} rows · opened below"
                       + (" with its report.html" if status.report else ""))


if job is not None:
    st.fragment(run_every=POLL_S if job.alive else None)(job_panel)(job.run_id, job.alive)
    st.divider()

# ---- which run -------------------------------------------------------------------------------
options = [str(p) for p in runs]
if st.session_state.get(es.RUN) not in options:
    st.session_state[es.RUN] = options[0] if options else None
pick, typed = st.columns([2, 3], vertical_alignment="bottom")
chosen = pick.selectbox("Run", options=options, format_func=lambda p: Path(p).name,
                        key=es.RUN, placeholder="No runs in the evals folder",
                        help=f"Folders under {evals_dir()}, newest first.")
path_text = typed.text_input("…or a run folder", key=es.PATH, placeholder="/path/to/eval-run",
                             help="The -o folder of any `promptrag eval` run (admins: it reads the server's disk).",
                             disabled=not auth.is_admin()).strip()
run_dir = path_text or chosen
if not run_dir:
    if job is None:
        home = str(evals_dir()).replace("`", "")
        st.info(f"No evaluation runs yet. Start one above, or run `promptrag eval PROMPTSET -o "
                f"{home}/NAME` (add `--images --judge anthropic` for judged images), "
                "then open it here.", icon=":material/analytics:")
    st.stop()

run = None
with guard("Reading the run"):
    run = load_run(run_dir)
if run is None:
    st.stop()

meta = run.meta
groups = idea_groups(run)
facts = [f"prompt set {meta.get('promptset', '?')}", f"seed {meta.get('seed', '?')}",
         f"created {str(meta.get('created', '?')).replace('T', ' ')[:16]}",
         f"judge {meta.get('judge') or 'none'}",
         f"{len(groups)} ideas × {len(run.configs)} configurations"]
st.caption(escape_md(" · ".join(facts)))

# ---- figures ---------------------------------------------------------------------------------
table = config_table(run)
st.subheader("By configuration", anchor=False)
st.dataframe([{"configuration": row["config"],
               **{label: format_value(row[key], kind) for key, label, kind in COLUMNS}} for row in table],
             hide_index=True, key="evaluate.configs")
judged = any(row["mean_score"] is not None for row in table)
metric = "score" if judged else "consistency"
figure = "mean_score" if judged else "mean_consistency"
plotted = [row for row in table if row[figure] is not None]
if plotted:
    st.bar_chart({"configuration": [row["config"] for row in plotted],
                  f"mean {metric}": [row[figure] for row in plotted]},
                 x="configuration", y=f"mean {metric}", horizontal=True, sort=False,
                 height=60 + 40 * len(plotted))

st.subheader(f"Mean {metric} by category", anchor=False)
st.dataframe([{"category": category, **{config: format_value(v, "num") for config, v in by_config.items()}}
              for category, by_config in category_table(run, metric).items()],
             hide_index=True, key="evaluate.categories")

# ---- compare two configurations --------------------------------------------------------------
if len(run.configs) >= 2:
    with st.expander("Compare two configurations", icon=":material/compare_arrows:"):
        a_col, b_col, m_col = st.columns(3)
        config_a = a_col.selectbox("A", run.configs, index=0, key="evaluate.compare.a")
        config_b = b_col.selectbox("B", run.configs, index=len(run.configs) - 1, key="evaluate.compare.b")
        chosen_metric = m_col.selectbox("Figure", ["auto", *METRICS], key="evaluate.compare.metric",
                                        help="auto: the judge's score when both were judged, "
                                             "else consistency.")
        if config_a == config_b:
            st.caption("Pick two different configurations.")
        else:
            with guard("Comparing"):
                result = compare(Side(run, config_a, config_a), Side(run, config_b, config_b),
                                 metric=chosen_metric)
                st.code("\n".join(result.lines()), language=None, wrap_lines=True)

# ---- the HTML report -------------------------------------------------------------------------
report_col, download_col = st.columns([1, 3], vertical_alignment="center")
if report_col.button("Write report.html", key="evaluate.write_report", icon=":material/description:"):
    with guard("Writing the report"):
        st.session_state["evaluate.report"] = str(write_report(run.path))
report_file = run.path / "report.html"  # written here, or at the end of `promptrag eval -o`
if report_file.is_file():
    download_col.download_button("Download report.html", data=report_file.read_bytes(),
                                 file_name="report.html", mime="text/html", key="evaluate.download_report",
                                 icon=":material/download:")

# ---- ideas side by side ----------------------------------------------------------------------
st.subheader("Ideas", anchor=False)
categories = sorted({g.category for g in groups if g.category})
category = ALL
if categories:
    category = st.selectbox("Category", [ALL, *categories], key="evaluate.category")
shown = [g for g in groups if category == ALL or g.category == category]
pages = max(1, (len(shown) + PAGE_SIZE - 1) // PAGE_SIZE)
page_key = f"evaluate.page.{run.path}.{category}"
page = min(max(1, int(st.session_state.get(page_key, 1))), pages)

for group in shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]:
    with st.container(border=True, key=f"evaluate.idea.{group.idea_id}"):
        st.markdown(f"**{escape_md(group.idea)}**")
        st.caption(escape_md(" · ".join(filter(None, [group.idea_id, group.category]))))
        for column, config in zip(st.columns(len(run.configs)), run.configs):
            row = group.rows.get(config)
            with column:
                st.markdown(f"**{escape_md(config)}**")
                if row is None:
                    st.caption("not run")
                    continue
                path = image_path(run, row)
                if path is not None:
                    st.image(str(path), width="stretch")
                verdict = row.get("verdict") or None
                if verdict:
                    badge = ":green-badge[correct]" if verdict.get("correct") else ":red-badge[incorrect]"
                    st.markdown(f"{badge} score {format_value(verdict.get('score'), 'num')}")
                    st.caption(escape_md(verdict.get("reasoning", "")))
                if row.get("error"):
                    st.error(escape_md(row["error"]), icon=":material/error:")
                st.code(str(row.get("prompt", "")), language=None, wrap_lines=True)

if pages > 1:
    with st.container(horizontal=True, horizontal_alignment="center", vertical_alignment="center"):
        st.pagination(pages, key=page_key, persist_state="session")
        st.caption(f"{len(shown)} ideas")
