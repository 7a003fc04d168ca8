"""Settings: the one place that reads the environment, `.env` and Streamlit secrets.

Every value comes, highest priority first, from: real environment variables, a `.env` file in the
current directory, the top-level keys of Streamlit's `secrets.toml` (`~/.streamlit/secrets.toml`,
overridden by the working directory's `.streamlit/secrets.toml`, as Streamlit itself layers them),
then the defaults below. Knobs are named `PROMPTRAG_<FIELD>`; keys keep the names their own SDKs
use (`ANTHROPIC_API_KEY`, `AWS_ACCESS_KEY_ID`, ...), so one `.env` serves both.

Keys are `SecretStr` fields: their value never shows in a repr, a log line or a page (only
`get_secret_value()` at the call that needs it). `resolve_secret(name)` is the one function callers
use to demand a key: it answers a SecretStr or raises MissingCredentialError naming the variable.

Deliberately not here: the AWS region and profile, and the rest of boto3's credential chain
(~/.aws files, SSO, instance roles): boto3 resolves those itself. Only AWS *keys* written in
`.env` or secrets.toml are read here, so that they reach boto3 although it never reads those files.
Streamlit is never imported (secrets.toml is TOML, read with tomllib).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, create_model, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from core.errors import ConfigError, MissingCredentialError

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DOTENV_FILE = ".env"
STREAMLIT_SECRETS = Path(".streamlit") / "secrets.toml"  # relative to the working directory


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("promptrag", appauthor=False))


def streamlit_secrets_files() -> tuple[Path, Path]:
    """Where Streamlit keeps secrets: the user's global file, then the project's (which wins)."""
    return Path.home() / STREAMLIT_SECRETS, STREAMLIT_SECRETS


class StreamlitSecretsSource(EnvSettingsSource):
    """The top-level keys of Streamlit's secrets.toml files, read as if they were environment
    variables (same names, same parsing). Tables ([connections.x]) are Streamlit's business."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        values: dict[str, str] = {}
        for path in streamlit_secrets_files():
            if not path.is_file():
                continue
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read {path}: {exc}; fix or remove the file") from None
            for key, value in data.items():
                if isinstance(value, (str, int, float, bool)) and value != "":
                    values[key if self.case_sensitive else key.lower()] = str(value)
        return values


class _Sources(BaseSettings):
    """Shared configuration: where values come from, in which order."""

    model_config = SettingsConfigDict(
        env_prefix="PROMPTRAG_", env_file=DOTENV_FILE, env_ignore_empty=True, extra="ignore",
        frozen=True, populate_by_name=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier wins: arguments, environment, .env, Streamlit secrets.
        return init_settings, env_settings, dotenv_settings, StreamlitSecretsSource(settings_cls)


def _key(name: str, what: str) -> Any:
    return Field(default=None, validation_alias=name, description=f"{what} ({name}); never shown or logged.")


class Settings(_Sources):
    """Every knob promptrag reads (prefix PROMPTRAG_), and the keys (their SDKs' own names)."""

    home: Path = Field(
        default_factory=_default_home,
        description="Directory holding indexes, history and user templates (PROMPTRAG_HOME).",
    )
    embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description="sentence-transformers model id or local path used to embed prompts.",
    )
    onnx_export: bool = Field(
        default=True,
        description="Embed prompts at ingest and queries at search through the embedding model's ONNX export "
        "(onnxruntime, no torch; one shared copy per model under <home>/onnx, written on first use); "
        "PROMPTRAG_ONNX_EXPORT=0 embeds with sentence-transformers and records no export.",
    )
    enhancer_chain: list[str] = Field(
        default_factory=lambda: ["anthropic", "rules"],
        description="Enhancers tried in order; the chain always ends in 'rules'.",
    )
    anthropic_model: str = Field(default="claude-sonnet-4-6", description="Claude model id (Anthropic API).")
    anthropic_base_url: str | None = Field(
        default=None, description="Override of the Anthropic API URL (proxies, tests)."
    )
    bedrock_text_model: str = Field(
        default="us.anthropic.claude-sonnet-4-6",
        description="Bedrock model or inference-profile id for Claude.",
    )
    bedrock_image_model: str = Field(
        default="stability.sd3-5-large-v1:0", description="Bedrock Stability model id for images."
    )
    bedrock_endpoint_url: str | None = Field(
        default=None, description="Override of the bedrock-runtime endpoint URL (tests, VPC endpoints)."
    )
    local_llm_model: str = Field(
        default="Qwen/Qwen2.5-3B-Instruct",
        description="Hugging Face chat model id, local directory or .gguf file for the local enhancer.",
    )
    langchain_model: str | None = Field(
        default=None, pattern=r"^[^:\s]+:\S",
        description="LangChain chat model of the 'langchain' enhancer as PROVIDER:MODEL, e.g. openai:gpt-4.1-mini "
        "or ollama:qwen2.5:7b (PROMPTRAG_LANGCHAIN_MODEL); unset: 'langchain' is not configured.",
    )
    image_model: str = Field(
        default="stabilityai/sd-turbo",
        description="diffusers text-to-image model id or local directory.",
    )
    index: Path | None = Field(
        default=None, description="Index directory used instead of the home's default index (PROMPTRAG_INDEX)."
    )
    store: str | None = Field(
        default=None,
        pattern=r"^milvus(-lite)?://",
        description="A Milvus store the app opens instead of an index directory (PROMPTRAG_STORE): "
        "milvus://HOST:PORT/COLLECTION or milvus-lite://PATH/FILE.db/COLLECTION.",
    )
    ray_address: str | None = Field(
        default=None,
        pattern=r"^ray://\S+$",
        description="A Ray cluster's client address, ray://HOST:PORT (PROMPTRAG_RAY_ADDRESS): the Campaign page "
        "then offers to run a campaign on it (`--executor` of `promptrag batch`); unset: runs stay on this machine.",
    )
    blocklist: Path | None = Field(
        default=None, description="Blocklist file of words and artist names removed from every prompt "
        "(PROMPTRAG_BLOCKLIST; default <home>/blocklist.txt; one entry a line, re:PATTERN for a regex).",
    )
    request_timeout_s: float = Field(default=60.0, gt=0, description="Timeout for one remote call.")
    max_retries: int = Field(default=3, ge=0, le=10, description="Retries on 429 / 5xx / timeouts.")

    # Hugging Face Hub downloads (DiffusionDB). huggingface_hub reads HF_ENDPOINT and
    # HF_HUB_OFFLINE once, at its import; reading them here, per call, lets a process (the app,
    # a test) change them later, and lets `.env` / secrets.toml set them too.
    hub_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("PROMPTRAG_HUB_ENDPOINT", "HF_ENDPOINT"),
        description="Hugging Face Hub endpoint or mirror for downloads (HF_ENDPOINT; default "
        "https://huggingface.co).",
    )
    hub_offline: bool = Field(
        default=False,
        validation_alias=AliasChoices("PROMPTRAG_HUB_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"),
        description="Never download from the Hub; use only what is already cached (HF_HUB_OFFLINE=1).",
    )
    hub_cache: Path | None = Field(
        default=None, description="Hugging Face cache directory for downloads (default: huggingface_hub's own, "
        "HF_HUB_CACHE or ~/.cache/huggingface/hub).",
    )
    thumbnail_cache_mb: float = Field(
        default=500.0, gt=0, description="Most megabytes of example-image thumbnails (and full images) kept in "
        "<home>/thumbnails; the least recently used go first (PROMPTRAG_THUMBNAIL_CACHE_MB).",
    )

    # Sign-in, roles and spend caps (app/auth.py, core/spend.py; docs/auth.md).
    admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="E-mail addresses (or OIDC subjects) of the app's admins when sign-in is configured "
        "(PROMPTRAG_ADMINS, comma separated or a JSON list; also [promptrag] admins in secrets.toml).",
    )
    spend_cap_user_day_usd: float | None = Field(
        default=None, ge=0, description="Most US dollars of paid LLM calls one user may spend per UTC day, "
        "estimated from tokens and core/spend.py's price table (PROMPTRAG_SPEND_CAP_USER_DAY_USD; unset: no cap).",
    )
    spend_cap_campaign_usd: float | None = Field(
        default=None, ge=0, description="Most US dollars of paid LLM calls one campaign run (or evaluation run) "
        "may spend (PROMPTRAG_SPEND_CAP_CAMPAIGN_USD; unset: no cap).",
    )
    spend_user: str | None = Field(
        default=None, description="Who a background run's paid calls are counted for (PROMPTRAG_SPEND_USER; "
        "set by the app when it starts a campaign or evaluation; unset: 'local').",
    )
    spend_campaign: str | None = Field(
        default=None, description="The campaign / evaluation run a process's paid calls are counted for "
        "(PROMPTRAG_SPEND_CAMPAIGN; set by the app when it starts one). A cap reached there stops the run.",
    )

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: Any) -> Any:
        """'a@x.org, b@y.org' or '["a@x.org"]' (env / .env) or a list (secrets, arguments)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    # Keys. AWS keys are optional: boto3's own chain (profiles, SSO, roles) works without them.
    anthropic_api_key: SecretStr | None = _key("ANTHROPIC_API_KEY", "Anthropic API key")
    aws_access_key_id: SecretStr | None = _key("AWS_ACCESS_KEY_ID", "AWS access key id")
    aws_secret_access_key: SecretStr | None = _key("AWS_SECRET_ACCESS_KEY", "AWS secret access key")
    aws_session_token: SecretStr | None = _key("AWS_SESSION_TOKEN", "AWS session token (temporary keys)")

    @property
    def indexes_dir(self) -> Path:
        return self.home / "indexes"

    @property
    def default_index(self) -> Path:
        """PROMPTRAG_INDEX when set, else `<home>/indexes/default`."""
        return self.index.expanduser() if self.index else self.indexes_dir / "default"

    @property
    def templates_dir(self) -> Path:
        """User overrides of the LLM templates live here (same file names as the package's)."""
        return self.home / "templates"

    @property
    def blocklist_file(self) -> Path:
        """PROMPTRAG_BLOCKLIST when set, else `<home>/blocklist.txt`."""
        return self.blocklist.expanduser() if self.blocklist else self.home / "blocklist.txt"

    @property
    def history_db(self) -> Path:
        return self.home / "history.sqlite"

    @property
    def spend_db(self) -> Path:
        """The append-only audit log of paid LLM calls (core/spend.py)."""
        return self.home / "spend.sqlite"

    @property
    def images_dir(self) -> Path:
        """Images made in the app, one folder per refine session."""
        return self.home / "images"

    @property
    def cache_dir(self) -> Path:
        """Downloads from arbitrary URLs (and uploads) are cached here."""
        return self.home / "cache"

    def aws_keys(self) -> dict[str, str]:
        """boto3 keyword arguments for keys set here (empty when boto3 should use its own chain).

        Keys come as a pair (id + secret, plus the session token of temporary keys); a lone id or
        secret is an error naming the missing variable, not a silent fall-back to another identity.
        """
        key_id, secret = self.aws_access_key_id, self.aws_secret_access_key
        if key_id is None and secret is None:
            return {}
        if key_id is None or secret is None:
            missing = "AWS_ACCESS_KEY_ID" if key_id is None else "AWS_SECRET_ACCESS_KEY"
            raise MissingCredentialError(
                f"{missing} is not set but its partner is: set both AWS_ACCESS_KEY_ID and "
                f"AWS_SECRET_ACCESS_KEY (environment, .env or .streamlit/secrets.toml), or neither to use "
                f"an AWS profile"
            )
        keys = {"aws_access_key_id": key_id.get_secret_value(),
                "aws_secret_access_key": secret.get_secret_value()}
        if self.aws_session_token is not None:
            keys["aws_session_token"] = self.aws_session_token.get_secret_value()
        return keys


def get_settings() -> Settings:
    """A fresh Settings object (cheap; not cached so tests and the app see env changes)."""
    return Settings()


# Secret name (the variable a user sets) -> Settings field.
SECRET_FIELDS: dict[str, str] = {
    str(info.validation_alias): name
    for name, info in Settings.model_fields.items()
    if info.annotation == (SecretStr | None)
}


@lru_cache(maxsize=None)
def _one_secret_model(name: str) -> type[_Sources]:
    # An add-on's own key (not a Settings field) is read from the very same sources.
    return create_model(f"Secret_{name}", __base__=_Sources,
                        value=(SecretStr | None, Field(default=None, validation_alias=name)))


def _secret_value(name: str) -> SecretStr | None:
    field = SECRET_FIELDS.get(name)
    if field is not None:
        return getattr(get_settings(), field)
    return _one_secret_model(name)().value  # pyright: ignore[reportAttributeAccessIssue] (create_model's field)


def resolve_secret(name: str, *, purpose: str = "") -> SecretStr:
    """Secret `name` from the environment, `.env`, or Streamlit secrets (in that order).

    Raises MissingCredentialError naming the exact variable to set. The value stays wrapped in
    SecretStr so an accidental log or repr never shows it.
    """
    value = _secret_value(name)
    if value is None or not value.get_secret_value():
        why = f" to use {purpose}" if purpose else ""
        raise MissingCredentialError(
            f"{name} is not set{why}: export {name}=... or put it in .env "
            f"or .streamlit/secrets.toml."
        )
    return value
