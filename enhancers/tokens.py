"""CLIP token counting with the real CLIP BPE vocabulary (instant-clip-tokenizer, no torch).

`count_clip_tokens` counts like the SD text encoders do: the prompt's BPE tokens plus the
start and end tokens, so a result fits a 77-token CLIP window when the count is <= 77.
Deliberately not here: truncation policy (that is each enhancer's business).
"""

from __future__ import annotations

from functools import lru_cache

START_END_TOKENS = 2


@lru_cache(maxsize=1)
def _tokenizer():
    import instant_clip_tokenizer

    return instant_clip_tokenizer.Tokenizer()


def clip_token_ids(text: str) -> list[int]:
    """CLIP BPE ids of `text`, without start/end tokens."""
    return list(_tokenizer().encode(text))


def count_clip_tokens(text: str) -> int:
    """Tokens `text` takes in a CLIP text encoder, start and end tokens included."""
    return len(clip_token_ids(text)) + START_END_TOKENS
