"""Floor 1: settings (the one place that reads the environment) and the errors a user may see."""
from core.errors import (
    BackendError,
    Cancelled,
    ConfigError,
    IndexLoadError,
    InputError,
    MissingCredentialError,
    PromptragError,
    SourceError,
)
from core.settings import Settings, get_settings, resolve_secret

__all__ = [
    "Cancelled",
    "BackendError",
    "ConfigError",
    "IndexLoadError",
    "InputError",
    "MissingCredentialError",
    "PromptragError",
    "Settings",
    "SourceError",
    "get_settings",
    "resolve_secret",
]
