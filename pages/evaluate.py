"""Evaluate: read a finished `promptrag eval` run — figures per configuration and category, the
images side by side with the judge's verdicts, a paired comparison, and the HTML report.

Runs are folders under `<PROMPTRAG_HOME>/evals/` (newest first), or any run folder typed in the
path box. Everything shown comes from evaluation (load_run, the report's tables, compare);
this page only lays it out. Untrusted text (ideas, prompts, reasoning, errors, configuration
names) goes through st.code, st.dataframe or escape_md.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import state
from app.widgets import escape_md, guard
from evaluation.compare import METRICS, Side, compare, find_runs, load_run
from evaluation.report import COLUMNS, category_table, config_table, format_value, idea_groups, image_path

state.require_shell(__file__)

PAGE_SIZE = 5
ALL = "all categories"

st.title("Evaluate")
st.caption("Does an enhancer make better prompts than the raw idea? Open a run of `promptrag eval` "
           "to see its figures, its images side by side with the judge's verdicts, and compare two "
           "configurations.")

# ---- which run -------------------------------------------------------------------------------
runs: list[Path] = []
with guard("Listing the runs"):
    runs = find_runs()
pick, typed = st.columns([2, 3], vertical_alignment="bottom")
chosen = pick.selectbox("Run", options=[str(p) for p in runs], format_func=lambda p: Path(p).name,
                        index=0 if runs else None, key="evaluate.run",
                        placeholder="No runs in the evals folder",
                        help="Folders under the evals folder of PROMPTRAG_HOME, newest first.")
path_text = typed.text_input("…or a run folder", key="evaluate.path", placeholder="/path/to/eval-run",
                             help="The -o folder of any `promptrag eval` run.").strip()
run_dir = path_text or chosen
if not run_dir:
    st.info("No evaluation runs yet. Run `promptrag eval PROMPTSET -o <PROMPTRAG_HOME>/evals/NAME` "
            "(add `--images --judge anthropic` for judged images), then open it here.",
            icon=":material/analytics:")
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
        from evaluation.report import write_report

        st.session_state["evaluate.report"] = str(write_report(run.path))
report_file = Path(st.session_state.get("evaluate.report", "") or "/nonexistent")
if report_file.parent == run.path and report_file.is_file():
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
