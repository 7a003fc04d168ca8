"""The Dockerfile, .dockerignore and compose.yaml agree with the project and with each other.

Docker and docker compose may be missing (they are on CI's machine), so the files are read as
data: compose.yaml with PyYAML, the Dockerfile instruction by instruction. The image itself is
built only where a Docker daemon answers (`test_the_image_builds`, slow).
"""

from __future__ import annotations

import fnmatch
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HEALTH = "/_stcore/health"


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += " " + line.removesuffix("\\").strip()
        if not line.endswith("\\"):
            lines.append(current.strip())
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def instructions(name: str) -> list[str]:
    return [args for kind, args in dockerfile() if kind == name]


def runtime_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage (what the image runs)."""
    steps = dockerfile()
    last_from = max(i for i, (kind, _) in enumerate(steps) if kind == "FROM")
    return steps[last_from:]


def image_env() -> dict[str, str]:
    env = {}
    for kind, args in runtime_stage():
        if kind == "ENV":
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def dockerignored(path: str) -> bool:
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern.removeprefix("**/")) for prefix in prefixes for pattern in patterns)


def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))


# ---- the Dockerfile ----------------------------------------------------------------------------
def test_the_image_installs_extras_the_project_has_with_the_torch_pin():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    extras = set(pyproject["project"]["optional-dependencies"])
    args = {a.split("=", 1)[0].split()[-1]: a.split("=", 1)[1] for a in instructions("ARG") if "=" in a}
    chosen = args["EXTRAS"].split(",")
    assert set(chosen) <= extras, f"unknown extras {set(chosen) - extras}"
    assert {"app", "milvus", "ray"} <= set(chosen)  # the server, the compose file's Milvus, the Campaign page's Ray
    assert "local-llm" not in chosen and "all" not in chosen  # llama-cpp-python compiles for minutes: left out
    install = next(a for a in instructions("RUN") if "pip install" in a)
    assert "-c constraints/cpu.txt" in install and '".[${EXTRAS}]"' in install
    assert args["TORCH_INDEX"].endswith("/whl/cpu")  # the CPU build unless the CUDA variant's index is given


def test_the_image_runs_serve_as_a_non_root_user_with_its_home_on_a_volume():
    stage = runtime_stage()
    users = [args for kind, args in stage if kind == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any("useradd" in args and "${UID}" in args for kind, args in stage if kind == "RUN")
    env = image_env()
    volumes = [args for kind, args in stage if kind == "VOLUME"]
    assert env["PROMPTRAG_HOME"] in volumes and env["HF_HOME"].startswith(env["PROMPTRAG_HOME"] + "/")
    cmd = yaml.safe_load(instructions("CMD")[-1])  # exec form: a JSON (= YAML) list
    assert cmd[:2] == ["promptrag", "serve"] and "--starter" in cmd
    port = cmd[cmd.index("--port") + 1]
    assert instructions("EXPOSE") == [port]
    health = instructions("HEALTHCHECK")[-1]
    assert f"http://127.0.0.1:{port}{HEALTH}" in health


def test_what_the_image_copies_exists_and_reaches_the_build_context():
    for kind, args in dockerfile():
        if kind != "COPY" or args.startswith("--from"):
            continue
        *sources, _target = shlex.split(args)
        for source in sources:
            if source == ".":
                continue
            assert (REPO / source).exists(), source
            assert not dockerignored(source.rstrip("/")), f"{source} is copied but .dockerignore drops it"


def test_dockerignore_keeps_secrets_out_and_the_packages_in():
    for secret in (".env", ".streamlit/secrets.toml", ".venv", ".git"):
        assert dockerignored(secret), secret
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    needed = [*pyproject["tool"]["setuptools"]["packages"], "streamlit_app.py", "pyproject.toml", "README.md",
              "constraints/cpu.txt", "ingest/starter_data/diffusiondb_starter.jsonl"]
    for path in needed:
        assert not dockerignored(path), f"{path} is needed to install promptrag in the image"


# ---- compose.yaml ------------------------------------------------------------------------------
def test_compose_runs_the_app_beside_a_pinned_milvus_standalone():
    services = compose()["services"]
    assert {"app", "milvus", "etcd", "minio"} <= set(services)
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
        if "build" not in service:
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image version ({image})"
    assert services["milvus"]["depends_on"] == {"etcd": {"condition": "service_healthy"},
                                                "minio": {"condition": "service_healthy"}}
    assert services["app"]["depends_on"] == {"milvus": {"condition": "service_healthy"}}


def test_the_app_service_points_at_that_milvus_and_keeps_its_home_and_secrets():
    from index.milvus_location import parse_uri

    spec = compose()
    app = spec["services"]["app"]
    assert app["build"] == "."
    assert HEALTH in " ".join(app["healthcheck"]["test"])
    store = app["environment"]["PROMPTRAG_STORE"]  # ${PROMPTRAG_STORE:-default}
    default = store.split(":-", 1)[1].rstrip("}")
    location = parse_uri(default)
    assert location.client_uri == "http://milvus:19530"  # the milvus service, on the compose network
    home = image_env()["PROMPTRAG_HOME"]
    named = {mount.split(":")[0]: mount.split(":")[1] for mount in app["volumes"]}
    assert home in named.values()
    assert set(named) <= set(spec["volumes"]), "every volume the app mounts is declared"
    workdir = [args for kind, args in runtime_stage() if kind == "WORKDIR"][-1]
    [secret] = app["secrets"]
    assert secret["target"] == f"{workdir}/.streamlit/secrets.toml"  # where Streamlit and core.settings read it
    source = spec["secrets"][secret["source"]]["file"]
    assert source.removeprefix("./") == ".streamlit/secrets.toml"
    assert ".streamlit/secrets.toml" in (REPO / ".gitignore").read_text().splitlines(), "never committed"
    published = [p for p in app["ports"] if p.endswith(":8501")]
    assert published and published[0].startswith("${PROMPTRAG_PUBLISH:-127.0.0.1:"), "loopback unless told"


def test_the_ray_address_is_optional(monkeypatch):
    from core.settings import get_settings

    app = compose()["services"]["app"]
    assert app["environment"]["PROMPTRAG_RAY_ADDRESS"] == "${RAY_ADDRESS:-}"
    monkeypatch.setenv("PROMPTRAG_RAY_ADDRESS", "")  # what compose passes when RAY_ADDRESS is unset
    assert get_settings().ray_address is None
    monkeypatch.setenv("PROMPTRAG_RAY_ADDRESS", "ray://ray-head:10001")
    assert get_settings().ray_address == "ray://ray-head:10001"
    monkeypatch.setenv("PROMPTRAG_RAY_ADDRESS", "ray-head:10001")
    with pytest.raises(ValueError, match="ray_address"):
        get_settings()


# ---- the image itself, where Docker runs -------------------------------------------------------
def _docker_answers() -> str | None:
    """Why the image cannot be built here, or None when a Docker daemon answers."""
    docker = shutil.which("docker")
    if docker is None:
        return "docker is not on PATH"
    done = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        return f"no Docker daemon answers: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    return None


@pytest.mark.slow
def test_the_image_builds_and_its_entry_point_runs():
    why = _docker_answers()
    if why:
        pytest.skip(f"cannot build the image here ({why}); tests/deploy/test_serve.py runs its entry point")
    tag = "promptrag:test-build"
    built = subprocess.run(["docker", "build", "-t", tag, str(REPO)], capture_output=True, text=True, timeout=3600)
    assert built.returncode == 0, built.stderr[-3000:]
    try:
        ran = subprocess.run(["docker", "run", "--rm", tag, "promptrag", "serve", "--help"], capture_output=True,
                             text=True, timeout=300)
        assert ran.returncode == 0 and "--starter" in ran.stdout, ran.stderr[-2000:]
        user = subprocess.run(["docker", "run", "--rm", tag, "id", "-u"], capture_output=True, text=True, timeout=300)
        assert user.stdout.strip() not in ("", "0")
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, timeout=300)
