"""`promptrag models list|pull|rm` through the real entry point; pull over HTTP from the local Hub."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.generate.test_models import REPO_ROOT, child_env, model_hub, sd_turbo_files


def test_list_says_size_licence_use_and_state(promptrag_cli):
    listed = promptrag_cli("models", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    models = {m["name"]: m for m in json.loads(listed.stdout)["models"]}
    assert models["sd-turbo"]["state"] == "not downloaded" and models["sd-turbo"]["licence"]
    text = promptrag_cli("models", "list")
    assert "sdxl-turbo" in text.stdout and "qwen2.5-1.5b" in text.stdout and "promptrag models pull" in text.stdout


def test_unknown_name_and_offline_pull_are_one_line_errors(promptrag_cli):
    assert "known: sd-turbo" in promptrag_cli("models", "pull", "sd-9").one_line_error()
    assert "unset HF_HUB_OFFLINE" in promptrag_cli("models", "pull", "sd-turbo").one_line_error()
    assert promptrag_cli("models", "rm", "sd-turbo").stdout.strip() == "sd-turbo was not cached"


def test_pull_draws_a_bar_and_says_what_it_fetched_then_rm_removes_it(tmp_path):
    with model_hub(sd_turbo_files(2 << 20)) as hub:
        env = {**child_env(hub, tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
        run = subprocess.run([sys.executable, "-m", "cli.main", "models", "pull", "sd-turbo"], env=env,
                             capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert run.returncode == 0, run.stderr
    assert "download" in run.stderr and "100%" in run.stderr  # tqdm bar with rate and ETA, on stderr
    assert run.stdout.startswith("sd-turbo: 2.1 MB in ") and "snapshots" in run.stdout
    rm = subprocess.run([sys.executable, "-m", "cli.main", "models", "rm", "sd-turbo"], env=env,
                        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert rm.stdout.startswith("removed sd-turbo (2.1 MB freed)"), rm.stderr
