"""Campaign: one brief in, many distinct on-brand variants out — run, watch, review, download.

The batch never runs in this script: "Start the run" writes the brief to a new run directory
and starts a detached `promptrag batch` process (campaign/jobs.py), so the run goes on
when the tab closes or the script reruns. Any session reattaches to a run by its id (the run
picker, or `?run=<id>` in the address bar). While a run is going, a fragment polls its
status and variants every few seconds; approve / reject / re-roll act on the run directory,
and the approved set downloads as a ZIP with its manifest. With a Ray cluster configured
(PROMPTRAG_RAY_ADDRESS) the form also offers "Run on: this machine | Ray cluster"; the run's
process is on this machine either way (it drives the cluster), so reattaching is the same.

State and callbacks: app/campaign_state.py. Layout only here.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import campaign_state as cs
from app import gallery, resources, state
from app.widgets import escape_md, guard, shorten
from campaign import jobs
from campaign.brief import ASPECT_RATIOS, CAMPAIGN_STYLES, MAX_VARIANTS, NO_IMAGES, Brief
from campaign.review import reviews
from campaign.variant import read_variants
from core.errors import InputError
from enhancers.registry import enhancer_names
from enhancers.user_styles import load_user_styles
from generate.registry import image_backend_names

cs.remember_url_run()
state.require_shell(__file__)

POLL_S = 2.0
PAGE_SIZE = 12
COLUMNS = 3
STATE_BADGES = {
    "running": ":blue-badge[:material/progress_activity: running]",
    "cancelling": ":gray-badge[:material/progress_activity: cancelling]",
    "finished": ":green-badge[:material/check: finished]",
    "cancelled": ":gray-badge[:material/stop_circle: cancelled]",
    "interrupted": ":orange-badge[:material/pause_circle: interrupted]",
    "failed": ":red-badge[:material/error: failed]",
}
VARIANT_BADGES = {
    "ok": ":green-badge[ok]",
    "brand_violation": ":orange-badge[:material/warning: brand]",
    "error": ":red-badge[:material/error: error]",
}
VERDICT_BADGES = {"approved": ":green-badge[:material/thumb_up: approved]",
                  "rejected": ":red-badge[:material/thumb_down: rejected]"}



def show_problems(action: str, exc: InputError) -> None:
    """A brief's InputError lists one bad field a line: show every line, not just the first."""
    lines = [escape_md(line.strip()) for line in str(exc).splitlines() if line.strip()]
    st.error(f"{escape_md(action)} failed: " + "  \n".join(lines), icon=":material/error:")


campaign = cs.campaign()
# Placeholders are examples, not values: italic and faint, so an empty field never reads as filled.
st.html("<style>.stMain input::placeholder, .stMain textarea::placeholder "
        "{font-style: italic; opacity: 0.55;}</style>")
st.title("Campaign")
notice = cs.take_notice() if not cs.attached() else None
if notice:
    st.error(escape_md(notice), icon=":material/error:")
st.caption("One brief in, many distinct on-brand variants out. Runs keep going in the background: "
           "close the tab and come back to them here by their id.")

# ---- which run -------------------------------------------------------------------------------
runs = []
with guard("Opening the run from the address bar"):
    cs.attach_from_url()
with guard("Listing the runs"):
    runs = jobs.list_runs()
run_on = cs.executor_choices()  # this machine, plus the configured Ray cluster (PROMPTRAG_RAY_ADDRESS)
labels = {run.run_id: f"{run.title} · {run.state} · {run.done}/{run.total}"
                      + (f" · on {cs.where_it_runs(run.executor)}" if cs.show_where(run.executor, run_on) else "")
                      + f" · {run.run_id}" for run in runs}
if cs.attached() and cs.attached() not in labels:
    cs.attach(None)  # deleted from disk meanwhile
cs.sync_picker()
st.selectbox("Open a run", options=list(labels), format_func=lambda rid: labels.get(rid, rid), index=None,
             key=cs.PICK, on_change=cs.picked, placeholder="Pick a run (newest first) …",
             help="Every run started here or with `promptrag batch` into the campaigns folder.")

# ---- a new run ---------------------------------------------------------------------------------
with st.expander("New campaign", icon=":material/add_circle:", expanded=not cs.attached()):
    with st.container(horizontal=True, vertical_alignment="center"):
        uploaded = st.file_uploader("Load a brief (YAML)", type=["yaml", "yml"], key="campaign.upload",
                                    help="A brief saved here or written for `promptrag batch` "
                                         "(see examples/brief.yaml).")
        st.button("Load the example brief", key="campaign.example", icon=":material/lightbulb:", width="content",
                  on_click=cs.load_example_clicked, disabled=not cs.EXAMPLE_BRIEF.is_file(),
                  help=f"Fill the form from {cs.EXAMPLE_BRIEF.name}: a prompts-only launch of a steel bottle."
                  if cs.EXAMPLE_BRIEF.is_file() else "examples/brief.yaml is not part of this install.")
    if uploaded is not None and uploaded.file_id != campaign.get("upload"):
        campaign["upload"] = uploaded.file_id
        with guard("Reading the brief"):
            try:
                cs.fill_form(cs.brief_from_upload(uploaded.getvalue(), uploaded.name))
                st.success(f"Loaded {escape_md(uploaded.name)} into the form.", icon=":material/upload_file:")
            except InputError as exc:
                show_problems("Reading the brief", exc)
    loaded = campaign.pop("loaded", None)
    if loaded:
        st.success(f"Loaded {escape_md(loaded)} into the form: check it, then start the run.",
                   icon=":material/lightbulb:")
    cs.ensure_form_defaults()
    start = check = False
    with guard("Drawing the brief form"):
        def helptext(name: str) -> str:
            return Brief.model_fields[name].description or ""

        f = cs.FORM
        with st.form("campaign.form", border=False):
            a, b = st.columns(2)
            a.text_input(cs.LABELS["name"], key=f + "name", help=helptext("name"))
            b.text_input(cs.LABELS["subject"], key=f + "subject", help=helptext("subject"),
                         placeholder="e.g. a reusable steel water bottle")
            a.text_input(cs.LABELS["audience"], key=f + "audience", help=helptext("audience"),
                         placeholder="e.g. young urban commuters")
            b.text_input(cs.LABELS["message"], key=f + "message", help=helptext("message"),
                         placeholder="e.g. hydration that goes where you go")
            st.markdown("**Brand**")
            a, b, c = st.columns(3)
            a.text_input(cs.LABELS["must_have"], key=f + "must_have", placeholder="e.g. steel, teal cap",
                         help="Words or phrases every prompt must contain.")
            b.text_input(cs.LABELS["must_not"], key=f + "must_not", placeholder="e.g. plastic, cigarette",
                         help="Words no prompt may contain; they go to the negative prompt.")
            c.text_input(cs.LABELS["colours"], key=f + "colours", placeholder="e.g. teal",
                         help="Colours every prompt names.")
            a, b, c = st.columns(3)
            a.checkbox(cs.LABELS["no_text"], key=f + "no_text",
                       help="Adds text, letters, watermark, logo to every negative prompt.")
            b.checkbox(cs.LABELS["artist_credits"], key=f + "artist_credits", help=helptext("artist_credits"))
            c.selectbox(cs.LABELS["subject_kind"], options=cs.subject_kinds(), key=f + "subject_kind",
                        help=helptext("subject_kind"))
            st.markdown("**Variants**")
            a, b, c = st.columns([1, 3, 2])
            a.number_input(cs.LABELS["variants"], min_value=1, max_value=MAX_VARIANTS, step=1, key=f + "variants",
                           help=helptext("variants"))
            b.multiselect(cs.LABELS["styles"], options=[*CAMPAIGN_STYLES, *load_user_styles()], key=f + "styles",
                          help=helptext("styles"))
            c.multiselect(cs.LABELS["sizes"], options=list(ASPECT_RATIOS), key=f + "sizes", accept_new_options=True,
                          help=helptext("sizes"))
            a, b = st.columns(2)
            a.multiselect(cs.LABELS["backends"], options=[NO_IMAGES, *image_backend_names()], key=f + "backends",
                          help=helptext("backends"))
            enhancers = list(dict.fromkeys(["grounded", "rules", "chain", *enhancer_names()]))
            b.selectbox(cs.LABELS["enhancer"], options=enhancers, key=f + "enhancer", accept_new_options=True,
                        help=helptext("enhancer"))
            with st.expander("Angles, seeds and limits", icon=":material/tune:"):
                a, b, c = st.columns(3)
                builtin = "(empty: the built-in list)"
                a.text_area(cs.LABELS["scenes"], key=f + "scenes", help=helptext("scenes"), height=110,
                            placeholder=builtin)
                b.text_area(cs.LABELS["moods"], key=f + "moods", help=helptext("moods"), height=110,
                            placeholder=builtin)
                c.text_area(cs.LABELS["compositions"], key=f + "compositions", height=110,
                            help=helptext("compositions"), placeholder=builtin)
                a, b, c = st.columns(3)
                a.text_input(cs.LABELS["model"], key=f + "model", help=helptext("model"),
                             placeholder="(the backend's default)")
                b.number_input(cs.LABELS["steps"], min_value=1, max_value=150, step=1, key=f + "steps",
                               help=helptext("steps"), placeholder="(the backend's default)")
                c.number_input(cs.LABELS["guidance"], min_value=0.0, max_value=30.0, step=0.5, key=f + "guidance",
                               help=helptext("guidance"), placeholder="(the backend's default)")
                a.number_input(cs.LABELS["seed"], min_value=0, max_value=2**32 - 1, step=1, key=f + "seed",
                               help=helptext("seed"))
                b.selectbox(cs.LABELS["seed_policy"], options=cs.seed_policies(), key=f + "seed_policy",
                            help=helptext("seed_policy"))
                c.selectbox(cs.LABELS["model_family"], options=cs.model_families(), key=f + "model_family",
                            help=helptext("model_family"))
                a.slider(cs.LABELS["creativity"], 0.0, 1.0, step=0.05, key=f + "creativity",
                         help=helptext("creativity"))
                b.slider(cs.LABELS["similarity_threshold"], 0.05, 1.0, step=0.01, key=f + "similarity_threshold",
                         help=helptext("similarity_threshold"))
                c.number_input(cs.LABELS["examples_per_variant"], min_value=0, max_value=10, step=1,
                               key=f + "examples_per_variant", help=helptext("examples_per_variant"))
                a.number_input(cs.LABELS["max_rerolls"], min_value=0, max_value=20, step=1,
                               key=f + "max_rerolls", help=helptext("max_rerolls"))
                b.number_input(cs.LABELS["requests_per_minute"], min_value=1.0, step=10.0,
                               key=f + "requests_per_minute", help=helptext("requests_per_minute"),
                               placeholder="(no limit)")
                c.number_input("Concurrent variants", min_value=1, max_value=16, value=1, step=1,
                               key="campaign.concurrency", help="Variants in flight at once (API enhancers).")
            if len(run_on) > 1:
                st.radio("Run on", options=list(run_on), format_func=run_on.get, key=cs.RUN_ON, horizontal=True,
                         help="A Ray cluster runs the variants (and images) on its nodes; the run itself is "
                              "watched, reviewed and resumed here either way.")
            with st.container(horizontal=True):
                start = st.form_submit_button("Start the run", type="primary", icon=":material/play_arrow:",
                                              key="campaign.start")
                check = st.form_submit_button("Check the brief", icon=":material/fact_check:",
                                              key="campaign.check")
    if start or check:
        campaign["brief_yaml"] = None
        with guard("Starting the run" if start else "Checking the brief"):
            try:
                brief = cs.brief_from_form()
            except InputError as exc:
                show_problems("Checking the brief", exc)
                brief = None
            if brief is not None:
                campaign["brief_yaml"] = brief.to_yaml()
                if start:
                    run_id = jobs.start_run(brief, images=brief.makes_images,
                                            concurrency=int(st.session_state["campaign.concurrency"]),
                                            index=resources.current_index_path(),
                                            executor=cs.chosen_executor())
                    cs.attach(run_id)
                    st.rerun()
                st.success("The brief is valid. Save it as YAML for `promptrag batch`, or start the run.",
                           icon=":material/check_circle:")
                st.info(escape_md(jobs.cost_notice(brief)), icon=":material/payments:")  # core/spend.py
    if campaign.get("brief_yaml"):
        st.download_button("Save the brief as YAML", data=campaign["brief_yaml"], file_name="brief.yaml",
                           mime="application/x-yaml", key="campaign.save_brief", icon=":material/download:")


# ---- the attached run --------------------------------------------------------------------------
def _card(out_dir: Path, variant, verdict: str | None, run_id: str, busy: bool, pictures: dict) -> None:
    with st.container(border=True, key=f"campaign.card.{variant.id}"):
        image = Path(variant.image_path) if variant.image_path else None
        if image is not None and not image.is_absolute():
            image = out_dir / image
        if image is not None and image.is_file():
            st.image(str(image), width="stretch")
        badges = [VARIANT_BADGES.get(variant.status, escape_md(variant.status))]
        if verdict:
            badges.append(VERDICT_BADGES[verdict])
        st.markdown(f"**{escape_md(variant.id)}** " + " ".join(badges))
        angle = " · ".join(f"{k}: {v}" for k, v in (variant.angle or {}).items())
        if angle:
            st.caption(escape_md(angle))
        st.code(variant.prompt, language=None, wrap_lines=True)
        if variant.negative_prompt:
            negative = variant.negative_prompt
            st.caption("Negative: " + escape_md(negative if len(negative) <= 180 else negative[:179] + "…"),
                       help=None if len(negative) <= 180 else escape_md(negative))
        if variant.examples:
            _examples(variant, pictures, key=f"campaign.examples.{run_id}.{variant.id}")
        if variant.problems:
            st.warning(escape_md("; ".join(variant.problems)), icon=":material/warning:")
        if variant.error:
            st.error(escape_md(variant.error), icon=":material/error:")
        key = f"{run_id}.{variant.id}"
        with st.container(horizontal=True, gap="small"):
            st.button("Approve", key=f"campaign.approve.{key}", icon=":material/thumb_up:",
                      type="primary" if verdict == "approved" else "secondary",
                      on_click=cs.review_clicked, args=(str(out_dir), variant.id, "approved", verdict))
            st.button("Reject", key=f"campaign.reject.{key}", icon=":material/thumb_down:",
                      type="primary" if verdict == "rejected" else "secondary",
                      on_click=cs.review_clicked, args=(str(out_dir), variant.id, "rejected", verdict))
            st.button("Re-roll", icon=":material/casino:", key=f"campaign.reroll.{key}", disabled=busy,
                      help="Make this variant again (new seed and angle draw)"
                      + (" — wait for the run to finish first." if busy else "."),
                      on_click=cs.reroll_clicked, args=(run_id, variant.id))


def _examples(variant, pictures: dict, key: str) -> None:
    """The real prompts a variant was written from: their text, and a small picture where known."""
    with st.expander(f"{len(variant.examples)} example{'s' if len(variant.examples) != 1 else ''} used",
                     icon=":material/format_quote:", key=key):
        for example in variant.examples:
            fetched = pictures.get(example.get("id"))
            if fetched is not None and fetched.path is not None:
                picture, text = st.columns([1, 3], vertical_alignment="top")
                picture.image(str(fetched.path), width="stretch")
            else:
                text = st.container()
            text.text(shorten(str(example.get("text") or ""), 200))


def run_panel(run_id: str, was_alive: bool) -> None:
    notice = cs.take_notice()
    if notice:
        st.error(escape_md(notice), icon=":material/error:")
    with guard("Reading the run"):
        status = jobs.run_status(run_id)
        if status.alive != was_alive:
            st.rerun(scope="app")  # started or ended: poll (or stop polling) from a fresh page
        variants = read_variants(status.out_dir)
        verdicts = reviews(status.out_dir)

        head, actions = st.columns([4, 2], vertical_alignment="center")
        shown_state = "cancelling" if status.alive and status.cancel_requested else status.state
        badge = STATE_BADGES.get(shown_state, escape_md(shown_state))
        head.markdown(f"### {escape_md(status.title)} {badge}")
        started = (status.started_at or "").replace("T", " ")[:16]
        facts = [f"Run id `{status.run_id}`", "started " + escape_md(started)]
        if not status.images:
            facts.append("prompts only")
        if cs.show_where(status.executor, cs.executor_choices()):
            facts.append("on " + escape_md(cs.where_it_runs(status.executor)))
        if status.max_similarity is not None and not status.alive:
            facts.append(f"max similarity {float(status.max_similarity):.2f}")
        head.caption(" · ".join(facts))
        with actions.container(horizontal=True, horizontal_alignment="right"):
            if status.alive:
                st.button("Cancel", key="campaign.cancel", icon=":material/stop:",
                          disabled=status.cancel_requested, on_click=cs.cancel_clicked, args=(run_id,))
            elif status.state in ("interrupted", "cancelled", "failed"):
                st.button("Resume", key="campaign.resume", icon=":material/play_arrow:",
                          on_click=cs.resume_clicked, args=(run_id,),
                          help="Start it again; finished variants are kept, the rest are made.")
        if status.alive or status.state != "finished":
            st.progress(status.fraction, text=cs.progress_text(status))
        if status.state == "interrupted":
            st.warning("The run stopped before it finished (its process is gone). "
                       "Resume it to make the rest.", icon=":material/pause_circle:")
        elif status.state == "failed":
            st.error("The run failed: " + escape_md(status.error or "see its log"), icon=":material/error:")
            with st.expander("Run log"):
                st.code(jobs.read_log(run_id), language=None)
        elif status.state == "cancelled" and status.error:  # why it stopped: a cancel, or the spend cap reached
            st.warning(escape_md(status.error), icon=":material/stop_circle:")

        approved = sum(v == "approved" for v in verdicts.values())
        rejected = sum(v == "rejected" for v in verdicts.values())
        bar, download = st.columns([4, 2], vertical_alignment="bottom")
        bar.caption(f"{len(variants)} variants · {approved} approved · {rejected} rejected · "
                    f"{sum(v.id not in verdicts for v in variants)} to review")
        out_dir = status.out_dir
        download.download_button(
            f"Download approved ({approved})", data=lambda: cs.approved_download(out_dir),
            file_name=f"{run_id}-approved.zip", mime="application/zip", key="campaign.download",
            icon=":material/download:", disabled=not approved, width="stretch",
            help="A ZIP of the approved variants: prompts.txt (one prompt a line), prompts/<id>.txt "
                 "(prompt and negative), their images when the run made any, and a manifest of just them.")

        shown_filter = st.segmented_control("Show", options=list(cs.FILTERS), format_func=cs.FILTERS.get,
                                            default="all", key="campaign.filter",
                                            label_visibility="collapsed") or "all"
        shown = cs.filter_variants(variants, verdicts, shown_filter)
        if not variants:
            st.info("No variants yet; they appear here as they are made.", icon=":material/hourglass_top:")
        elif not shown:
            st.info("No variant matches this filter.", icon=":material/filter_alt_off:")
        pages = max(1, -(-len(shown) // PAGE_SIZE))
        page = min(int(st.session_state.get(f"campaign.page.{run_id}.{shown_filter}", 1)), pages)
        first = (page - 1) * PAGE_SIZE
        pictures: dict = {}
        with guard("Loading the example pictures"):
            pictures = gallery.run_example_thumbnails(out_dir, shown[first:first + PAGE_SIZE])
        columns = st.columns(COLUMNS)
        for i, variant in enumerate(shown[first:first + PAGE_SIZE]):
            with columns[i % COLUMNS]:
                _card(out_dir, variant, verdicts.get(variant.id), run_id, status.alive, pictures)
        if pages > 1:
            st.pagination(pages, key=f"campaign.page.{run_id}.{shown_filter}")


run_id = cs.attached()
if run_id:
    alive = False
    with guard("Reading the run"):
        alive = jobs.run_status(run_id).alive
    st.divider()
    st.fragment(run_every=POLL_S if alive else None)(run_panel)(run_id, alive)
elif not runs:
    st.info("No campaign runs yet. Fill in a brief above and start one.", icon=":material/campaign:")
