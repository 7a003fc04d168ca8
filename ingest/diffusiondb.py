"""DiffusionDB's metadata table: where it lives, its exact schema, and its sampler codes.

DiffusionDB (poloclub/diffusiondb, CC0-1.0) ships one metadata table per subset:
`metadata.parquet` (2M images, ~1.5M unique prompts) and `metadata-large.parquet` (14M images,
~1.8M unique prompts). Column meanings follow the dataset card:

- `image_nsfw`: LAION NSFW-detector likelihood that the image is NSFW, 0..1; **2.0 means Stable
  Diffusion's own safety filter already flagged and blurred the image**.
- `prompt_nsfw`: Detoxify likelihood that the prompt is NSFW (max of `toxicity` and
  `sexual_explicit`), 0..1.

This module only describes the table and where it lives; it reads nothing and downloads nothing
(ingest/download.py fetches it through huggingface_hub).
"""

from __future__ import annotations

REPO_ID = "poloclub/diffusiondb"
REPO_TYPE = "dataset"
REVISION = "main"
DEFAULT_HUB_ENDPOINT = "https://huggingface.co"
DEFAULT_BASE_URL = f"{DEFAULT_HUB_ENDPOINT}/datasets/{REPO_ID}/resolve/{REVISION}"
DEFAULT_FILE = "metadata.parquet"
LARGE_FILE = "metadata-large.parquet"


def file_url(filename: str = DEFAULT_FILE, endpoint: str | None = None, revision: str = REVISION) -> str:
    """The Hub's resolve URL of one DiffusionDB file (on `endpoint`, a mirror, or huggingface.co)."""
    base = (endpoint or DEFAULT_HUB_ENDPOINT).rstrip("/")
    return f"{base}/datasets/{REPO_ID}/resolve/{revision}/{filename}"

# (name, pyarrow type string) in file order, exactly as in metadata.parquet.
SCHEMA_FIELDS: tuple[tuple[str, str], ...] = (
    ("image_name", "string"),
    ("prompt", "string"),
    ("part_id", "uint16"),
    ("seed", "uint32"),
    ("step", "uint16"),
    ("cfg", "float32"),
    ("sampler", "uint8"),
    ("width", "uint16"),
    ("height", "uint16"),
    ("user_name", "string"),
    ("timestamp", "timestamp[us, tz=UTC]"),
    ("image_nsfw", "float32"),
    ("prompt_nsfw", "float32"),
)

SAMPLER_NAMES: dict[int, str] = {
    1: "ddim",
    2: "plms",
    3: "k_euler",
    4: "k_euler_ancestral",
    5: "k_heun",
    6: "k_dpm_2",
    7: "k_dpm_2_ancestral",
    8: "k_lms",
    9: "others",
}

# Image score DiffusionDB uses for "already blurred by the SD safety checker".
BLURRED_IMAGE_SCORE = 2.0


def arrow_schema():
    """The pyarrow schema of DiffusionDB's metadata table (for tests and benchmarks)."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "uint8": pa.uint8(),
        "uint16": pa.uint16(),
        "uint32": pa.uint32(),
        "float32": pa.float32(),
        "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([(name, types[kind]) for name, kind in SCHEMA_FIELDS])


def sampler_name(code: object) -> str | None:
    """Map DiffusionDB's uint8 sampler code to its name; strings pass through, unknowns -> None."""
    if code is None:
        return None
    if isinstance(code, str):
        text = code.strip()
        return text or None
    try:
        return SAMPLER_NAMES.get(int(code))
    except (TypeError, ValueError):
        return None
