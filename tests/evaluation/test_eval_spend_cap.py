"""A spend cap reached in the middle of `promptrag eval`: the run stops, keeps every row it finished,
and says which cap stopped it — in the error, status.json (what the Evaluate page shows), run.json
and summary.json; a raised cap lets the same command finish the rest.

Claude answers through the real anthropic SDK from the local Messages API server
(tests/servers/anthropic_server.py); the test model's price comes from tests/core/test_spend.py.
"""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from cli.main import app
from core import spend
from core.errors import Cancelled
from evaluation.runner import options_from, run_eval
from evaluation.summary import read_results, read_run
from tests.core.test_spend import anthropic_server  # noqa: F401 (fixture)

IDEAS = ["a lighthouse in a storm", "a red fox in the snow", "a teapot on a windowsill", "a city at dawn",
         "an owl in a library", "a bicycle by a canal", "a desert at night", "a lantern in the fog"]
CAP = "0.62"  # the test model's price: one call's most (0.512) + ~2-3 answers (~0.04 each)


def test_a_spend_cap_reached_mid_eval_keeps_the_finished_rows_and_names_the_cap(anthropic_server,  # noqa: F811
                                                                                  monkeypatch, tmp_path):
    ideas = tmp_path / "ideas.txt"
    ideas.write_text("\n".join(IDEAS) + "\n", encoding="utf-8")
    monkeypatch.setenv("PROMPTRAG_SPEND_USER", "alice@x.org")  # as evaluation/jobs.py starts a run
    monkeypatch.setenv("PROMPTRAG_SPEND_CAMPAIGN", "eval-capped")
    monkeypatch.setenv("PROMPTRAG_SPEND_CAP_USER_DAY_USD", CAP)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["eval", str(ideas), "-o", str(out), "--enhancers", "anthropic", "--no-rag",
                                      "--workers", "1", "-n", "1", "--no-report"])

    assert isinstance(result.exception, Cancelled), result.output
    said = str(result.exception)
    assert re.match(r"the evaluation stopped \(spend cap reached: the daily spend cap of \$0\.62 for alice@x\.org",
                    said), said
    rows = read_results(out)
    paid = [r for r in rows if r["config"] == "anthropic"]
    assert 1 <= len(paid) < len(IDEAS), len(paid)
    assert {r["answered_by"] for r in paid} == {"anthropic"}  # stopped, not finished by the rules
    assert not [r for r in rows if r["error"]]
    assert f"({len(rows)} of {2 * len(IDEAS)} rows)" in said and "run the same command again" in said

    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert status["state"] == "cancelled" and status["error"] == said
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert re.match(r"spend cap reached: the daily spend cap of \$0\.62 for alice@x\.org", summary["stopped"])
    assert summary["configs"]["anthropic"]["n"] == len(paid) and summary["configs"]["raw"]["n"] >= len(paid)
    assert read_run(out)["sessions"][-1]["stopped"] == summary["stopped"]
    ledger = spend.Ledger()
    assert len(ledger.rows(campaign="eval-capped")) == len(anthropic_server.messages())  # every call is logged
    assert ledger.spent_today("alice@x.org") <= float(CAP)

    # The cap raised: the same evaluation finishes the rest and keeps the rows it had.
    monkeypatch.setenv("PROMPTRAG_SPEND_CAP_USER_DAY_USD", "100")
    report = run_eval(ideas, out, options_from(enhancers=["anthropic"], rag=False, workers=1, candidates=1))
    assert (report.skipped, report.written) == (len(rows), 2 * len(IDEAS) - len(rows))
    assert "stopped" not in report.summary
    assert {(r["idea_id"], r["config"]): r["prompt"] for r in rows}.items() <= {
        (r["idea_id"], r["config"]): r["prompt"] for r in read_results(out)}.items()
