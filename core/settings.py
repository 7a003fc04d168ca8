"""Settings: the one place that reads the environment.

Values come, highest priority first, from: real environment variables, a `.env` file in the
current directory, then the defaults below. Secrets (API keys) are resolved by
`resolve_secret`, which also looks at Streamlit's `secrets.toml` when running inside the app.

Deliberately not here: AWS credentials and region. boto3 resolves those itself from the
standard AWS configuration (env vars, ~/.aws, instance roles), and we let it.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import MissingCredentialError

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("promptrag", appauthor=False))


class Settings(BaseSettings):
    """Every knob promptrag reads from the environment (prefix PROMPTRAG_)."""

    model_config = SettingsConfigDict(
        env_prefix="PROMPTRAG_", env_file=".env", extra="ignore", frozen=True
    )

    home: Path = Field(
        default_factory=_default_home,
        description="Directory holding indexes, history and user templates (PROMPTRAG_HOME).",
    )
    embedding_model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description="sentence-transformers model id or local path used to embed prompts.",
    )
    enhancer_chain: list[str] = Field(
        default_factory=lambda: ["anthropic", "rules"],
        description="Enhancers tried in order; the chain always ends in 'rules'.",
    )
    anthropic_model: str = Field("claude-sonnet-4-6", description="Claude model id (Anthropic API).")
    anthropic_base_url: str | None = Field(
        None, description="Override of the Anthropic API URL (proxies, tests)."
    )
    bedrock_text_model: str = Field(
        "us.anthropic.claude-sonnet-4-6",
        description="Bedrock model or inference-profile id for Claude.",
    )
    bedrock_image_model: str = Field(
        "stability.sd3-5-large-v1:0", description="Bedrock Stability model id for images."
    )
    bedrock_endpoint_url: str | None = Field(
        None, description="Override of the bedrock-runtime endpoint URL (tests, VPC endpoints)."
    )
    local_llm_model: str = Field(
        "Qwen/Qwen2.5-3B-Instruct",
        description="Hugging Face chat model id, local directory or .gguf file for the local enhancer.",
    )
    image_model: str = Field(
        "stabilityai/sd-turbo",
        description="diffusers text-to-image model id or local directory.",
    )
    index: Path | None = Field(
        None, description="Index directory used instead of the home's default index (PROMPTRAG_INDEX)."
    )
    request_timeout_s: float = Field(60.0, gt=0, description="Timeout for one remote call.")
    max_retries: int = Field(3, ge=0, le=10, description="Retries on 429 / 5xx / timeouts.")

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
    def history_db(self) -> Path:
        return self.home / "history.sqlite"

    @property
    def images_dir(self) -> Path:
        """Images made in the app, one folder per refine session."""
        return self.home / "images"

    @property
    def cache_dir(self) -> Path:
        """Downloads (e.g. DiffusionDB metadata) are cached here."""
        return self.home / "cache"


def get_settings() -> Settings:
    """A fresh Settings object (cheap; not cached so tests and the app see env changes)."""
    return Settings()


def _streamlit_secret(name: str) -> str | None:
    # Only consult Streamlit when it is already imported (i.e. we run inside the app):
    # importing it here would slow every CLI call and st.secrets raises without a file.
    import sys

    if "streamlit" not in sys.modules:
        return None
    try:
        import streamlit as st

        value = st.secrets.get(name)
    except (FileNotFoundError, KeyError, AttributeError):
        return None
    except Exception as exc:  # streamlit raises its own StreamlitSecretNotFoundError
        if type(exc).__name__ == "StreamlitSecretNotFoundError":
            return None
        raise
    return str(value) if value else None


def _dotenv_value(name: str) -> str | None:
    path = Path(".env")
    if not path.is_file():
        return None
    from dotenv import dotenv_values

    value = dotenv_values(path).get(name)
    return value or None


def resolve_secret(name: str, *, purpose: str = "") -> SecretStr:
    """Find secret `name` in the environment, `.env`, or Streamlit secrets.

    Raises MissingCredentialError naming the exact variable to set. The value is wrapped in
    SecretStr so an accidental log or repr never shows it.
    """
    value = os.environ.get(name) or _dotenv_value(name) or _streamlit_secret(name)
    if not value:
        why = f" to use {purpose}" if purpose else ""
        raise MissingCredentialError(
            f"{name} is not set{why}: export {name}=... or put it in .env "
            f"or .streamlit/secrets.toml."
        )
    return SecretStr(value)
