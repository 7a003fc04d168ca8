"""The few exceptions a user may see.

The CLI and the Streamlit pages turn these into one clear message; nothing else swallows them.
Every message names what went wrong (the argument, the value) and what fixes it.
Programming errors (bugs) stay ordinary Python exceptions and surface as tracebacks.
"""


class PromptragError(Exception):
    """Base class: an error meant for the user, whose message says what to do."""

    exit_code = 1


class InputError(PromptragError, ValueError):
    """The user gave a value we cannot use (bad argument, bad option, bad idea text)."""

    exit_code = 2


class ConfigError(PromptragError):
    """The settings / environment are inconsistent (unknown backend, bad home directory...)."""


class MissingCredentialError(ConfigError):
    """A secret (API key, AWS credentials) is missing; the message names the variable to set."""


class SourceError(PromptragError):
    """A prompt source cannot be read: missing file, wrong columns, download failure..."""


class IndexLoadError(PromptragError):
    """An index directory cannot be loaded: missing, corrupted, tampered, other model, newer format."""


class BackendError(PromptragError):
    """A remote or local backend (LLM, image model) failed in a way the user must know about."""


class Cancelled(PromptragError):
    """The user cancelled long work; the message says what was kept and how to resume."""

    exit_code = 130  # like an interrupted command


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an error message (or its type), short enough for a status line.

    A long line loses its middle, not its end: messages end in what to do ("; set X").
    """
    lines = str(exc).strip().splitlines()
    text = (lines[0].strip() if lines else "") or type(exc).__name__
    if len(text) <= limit:
        return text
    tail = limit // 3
    return text[: limit - tail - 1] + "…" + text[-tail:]
