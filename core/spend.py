"""Spend on paid model calls: one price table, an append-only audit log, per-user and per-run caps.

Every call to a paid chat model (Claude through the Anthropic API or Bedrock, a LangChain
provider) goes through `paid_call(...)`, which the chat enhancers' base class wraps around its
transport (enhancers/claude_base.py):

    with paid_call("anthropic", model, input_estimate=1800, output_limit=512) as meter:
        answer = send(call)
        meter.record(answer.input_tokens, answer.output_tokens)

1. Who pays: `current_account()`: the user and the campaign (or evaluation) run the call is
   for. The app sets the user for each script run (`use_account`); a background run learns both
   from PROMPTRAG_SPEND_USER / PROMPTRAG_SPEND_CAMPAIGN, which the app sets when it starts one;
   anything else is the single local user, "local", with no run.
2. Before the call: the caps (`Settings.spend_cap_user_day_usd`, per UTC day, and
   `spend_cap_campaign_usd`, per run) are checked against what the ledger has recorded plus
   what calls in flight in this process have reserved plus the most this call may cost (its
   input estimate and its output limit at the model's price). A call that could go over is
   refused before anything is sent: in a background run with `SpendCapStop` (a `Cancelled`:
   the run stops as if cancelled, its finished work kept), elsewhere with `SpendCapReached` (a
   `BackendError`: a fallback chain hands over to its next member and says why).
3. After the call: one row in the ledger — who, which run, what (the enhancer), the model, the
   tokens the API reported (or an estimate, flagged, when it reported none), images, the cost.

Costs are estimates: tokens × the prices below (US dollars per million tokens, list prices when
written). A model missing from the table is priced as the dearest Claude model, so a cap never
under-counts; local runtimes (Ollama, ...) cost nothing but are still logged.

The ledger (`Ledger`, `<home>/spend.sqlite`) is append-only: SQLite triggers refuse UPDATE and
DELETE, one connection per call, WAL, so many sessions and run processes write to it at once.

Deliberately not here: billing reconciliation with a provider's invoice, currencies other than
USD, caps across machines (a shared ledger file on several hosts is not a lock), and image
generation backends (the images column counts the images a judge was shown; Bedrock's Stability
models are not metered yet).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core.errors import BackendError, Cancelled, ConfigError
from core.settings import Settings, get_settings

LOCAL_USER = "local"
BUSY_TIMEOUT_S = 30.0

# ---- prices: the one table ---------------------------------------------------------------------
# Model id prefix (provider and region prefixes removed, lower case) → US dollars per million
# (input, output) tokens. The longest matching prefix wins.
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-6": (5.0, 25.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-3-opus": (15.0, 75.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-haiku-4": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-haiku": (0.25, 1.25),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4o": (2.5, 10.0),
}
UNKNOWN_PRICE = (15.0, 75.0)  # an unlisted model counts as the dearest Claude: caps never under-count
# Image models on Bedrock (model id prefix, provider prefix removed) → US dollars per image, list prices.
IMAGE_PRICES: dict[str, float] = {
    "stable-image-core": 0.04,
    "sd3-5-large": 0.08,
    "sd3-large": 0.08,
    "stable-image-ultra": 0.14,
}
UNKNOWN_IMAGE_PRICE = 0.14  # an unlisted image model counts as the dearest one
FREE_PROVIDERS = ("ollama", "llamacpp", "huggingface")  # LangChain providers that run on this machine
_ID_PREFIXES = ("global.", "us.", "eu.", "apac.", "anthropic.")  # Bedrock inference-profile / provider prefixes


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float
    known: bool  # False: not in PRICES, priced as UNKNOWN_PRICE


def price_for(model: str) -> Price:
    """The price of `model` ("claude-sonnet-4-6", "us.anthropic.claude-...", "openai:gpt-4.1-mini")."""
    name = model.strip().lower()
    provider, _, rest = name.partition(":")
    if rest and "/" not in provider:  # a LangChain PROVIDER:MODEL
        if provider in FREE_PROVIDERS:
            return Price(0.0, 0.0, True)
        name = rest
    for prefix in _ID_PREFIXES:
        name = name.removeprefix(prefix)
    matches = [key for key in PRICES if name.startswith(key)]
    if not matches:
        return Price(*UNKNOWN_PRICE, known=False)
    return Price(*PRICES[max(matches, key=len)], known=True)


def image_price_for(model: str) -> float:
    """US dollars per image of a Bedrock image model ("stability.sd3-5-large-v1:0")."""
    name = model.strip().lower().removeprefix("stability.")
    for prefix in _ID_PREFIXES:
        name = name.removeprefix(prefix)
    matches = [key for key in IMAGE_PRICES if name.startswith(key)]
    return IMAGE_PRICES[max(matches, key=len)] if matches else UNKNOWN_IMAGE_PRICE


def cost_usd(model: str, input_tokens: int, output_tokens: int, images: int = 0) -> float:
    """Tokens at the model's token price; images (a Bedrock image model) at its price per image."""
    if images:
        return images * image_price_for(model)
    price = price_for(model)
    return (input_tokens * price.input_per_million + output_tokens * price.output_per_million) / 1_000_000


@dataclass(frozen=True)
class Estimate:
    """What `calls` calls of `model` may cost: an estimate, never a bill."""

    model: str
    calls: int
    input_tokens: int   # per call
    output_tokens: int  # per call
    usd: float
    price_known: bool

    def text(self) -> str:
        unknown = "" if self.price_known else f" ({self.model} is not in the price table: priced as the dearest model)"
        return (f"about ${self.usd:,.2f} (an estimate: {self.calls} calls of {self.model} × ~{self.input_tokens:,} "
                f"input + up to {self.output_tokens:,} output tokens at list prices){unknown}")


def estimate(model: str, calls: int, input_tokens: int, output_tokens: int) -> Estimate:
    return Estimate(model, calls, input_tokens, output_tokens, calls * cost_usd(model, input_tokens, output_tokens),
                    price_for(model).known)


# ---- who pays ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Account:
    user: str
    campaign: str | None = None  # a campaign / evaluation run: a cap reached there stops the run

    @property
    def in_background_run(self) -> bool:
        return self.campaign is not None


_ACCOUNT: ContextVar[Account | None] = ContextVar("promptrag_spend_account", default=None)


def use_account(user: str, campaign: str | None = None) -> None:
    """Count this thread's (context's) paid calls for `user` (the app calls it on every script run)."""
    _ACCOUNT.set(Account(user or LOCAL_USER, campaign))


def clear_account() -> None:
    """Forget `use_account`'s choice in this context (back to the environment's account)."""
    _ACCOUNT.set(None)


def current_account(settings: Settings | None = None) -> Account:
    """Who the next paid call is for: `use_account`'s, else PROMPTRAG_SPEND_USER / _CAMPAIGN, else 'local'."""
    chosen = _ACCOUNT.get()
    if chosen is not None:
        return chosen
    settings = settings or get_settings()
    return Account(settings.spend_user or LOCAL_USER, settings.spend_campaign or None)


class SpendCapReached(BackendError):
    """A cap refused a paid call made while a user waits: a fallback chain falls back and says why."""


class SpendCapStop(Cancelled):
    """A cap refused a paid call of a background run: the run stops, what it finished is kept."""


# ---- the ledger ----------------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,               -- ISO 8601, UTC
    user TEXT NOT NULL,
    campaign TEXT,                  -- the campaign / evaluation run, if any
    what TEXT NOT NULL,             -- the enhancer (anthropic, bedrock, langchain) or backend
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    images INTEGER NOT NULL DEFAULT 0,
    estimated INTEGER NOT NULL,     -- 1: the API reported no usage; tokens estimated from text length
    cost_usd REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_user_at ON calls (user, at);
CREATE INDEX IF NOT EXISTS calls_campaign ON calls (campaign);
CREATE TRIGGER IF NOT EXISTS calls_no_update BEFORE UPDATE ON calls
    BEGIN SELECT RAISE(ABORT, 'the spend ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS calls_no_delete BEFORE DELETE ON calls
    BEGIN SELECT RAISE(ABORT, 'the spend ledger is append-only'); END
"""


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Ledger:
    """The audit log of paid calls (SQLite, append-only); safe to share between threads and processes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else get_settings().spend_db
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {self.path.parent} for the spend ledger: {exc.strerror}; "
                              "set PROMPTRAG_HOME to a writable directory") from None
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            for statement in filter(str.strip, _SCHEMA.split(";\n")):
                conn.execute(statement)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.OperationalError as exc:
            raise ConfigError(f"cannot open the spend ledger {self.path}: {exc}; check its permissions") from None
        with closing(conn):
            try:
                yield conn
            except sqlite3.DatabaseError as exc:
                raise ConfigError(f"the spend ledger {self.path} failed: {exc}; check that the disk has space "
                                  "and the file is writable") from exc

    def record(self, account: Account, what: str, model: str, input_tokens: int, output_tokens: int, *,
               images: int = 0, estimated: bool = False) -> float:
        """Append one call; returns its cost in USD."""
        cost = cost_usd(model, input_tokens, output_tokens, images)
        with self._connect() as conn:
            conn.execute("INSERT INTO calls (at, user, campaign, what, model, input_tokens, output_tokens, images, "
                         "estimated, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (_now().isoformat(timespec="seconds"), account.user, account.campaign, what, model,
                          int(input_tokens), int(output_tokens), int(images), int(estimated), cost))
        return cost

    def spent_today(self, user: str) -> float:
        """USD `user` has spent since 00:00 UTC today."""
        midnight = _now().replace(hour=0, minute=0, second=0, microsecond=0).isoformat(timespec="seconds")
        return self._sum("user = ? AND at >= ?", (user, midnight))

    def spent_by_campaign(self, campaign: str) -> float:
        return self._sum("campaign = ?", (campaign,))

    def _sum(self, where: str, args: tuple) -> float:
        with self._connect() as conn:
            row = conn.execute(f"SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE {where}", args).fetchone()
        return float(row[0])

    def rows(self, *, user: str | None = None, campaign: str | None = None, limit: int = 200) -> list[dict]:
        """The latest calls, newest first (optionally one user's or one run's)."""
        where, args = [], []
        for column, value in (("user", user), ("campaign", campaign)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            found = conn.execute(f"SELECT * FROM calls {clause} ORDER BY id DESC LIMIT ?", (*args, limit))
            return [dict(row) for row in found]


# ---- caps ----------------------------------------------------------------------------------------
_LOCK = threading.Lock()
_RESERVED: dict[tuple[str, str], float] = {}  # ("user", name) / ("campaign", id) → USD of calls in flight here


def _limits(account: Account, settings: Settings, ledger: Ledger) -> list[tuple[tuple[str, str], float, float, str]]:
    """(reservation key, cap, spent so far, what the cap is called) for each cap that applies."""
    found = []
    if settings.spend_cap_user_day_usd is not None:
        found.append((("user", account.user), settings.spend_cap_user_day_usd, ledger.spent_today(account.user),
                      f"the daily spend cap of ${settings.spend_cap_user_day_usd:,.2f} for {account.user} "
                      "(PROMPTRAG_SPEND_CAP_USER_DAY_USD; it starts again at 00:00 UTC)"))
    if account.campaign and settings.spend_cap_campaign_usd is not None:
        found.append((("campaign", account.campaign), settings.spend_cap_campaign_usd,
                      ledger.spent_by_campaign(account.campaign),
                      f"the spend cap of ${settings.spend_cap_campaign_usd:,.2f} for run {account.campaign} "
                      "(PROMPTRAG_SPEND_CAP_CAMPAIGN_USD)"))
    return found


def _problem(limits: list[tuple[tuple[str, str], float, float, str]], most: float) -> str | None:
    for key, cap, spent, name in limits:
        in_flight = _RESERVED.get(key, 0.0)
        if spent + in_flight + most > cap:
            return (f"spend cap reached: {name}; ${spent:,.4f} spent"
                    + (f", ${in_flight:,.4f} in calls under way" if in_flight else "")
                    + (f", and this call may cost up to ${most:,.4f}" if most else "")
                    + "; an admin can raise the cap")
    return None


def cap_problem(account: Account | None = None, most: float = 0.0, *, settings: Settings | None = None) -> str | None:
    """Why a call that may cost `most` USD would go over a cap now (None: it fits)."""
    settings = settings or get_settings()
    account = account or current_account(settings)
    limits = _limits(account, settings, Ledger(settings.spend_db))
    with _LOCK:
        return _problem(limits, most)


@dataclass
class Meter:
    """The call being paid for: `record` its usage once the answer is in."""

    account: Account
    what: str
    model: str
    ledger: Ledger
    input_estimate: int
    recorded: float | None = None

    def record(self, input_tokens: int | None, output_tokens: int | None, *, text_out: str = "",
               images: int = 0) -> float:
        """Write the call to the ledger. Token counts the API did not report are estimated (flagged):
        the input as `paid_call`'s estimate, the output as its text at 4 characters a token."""
        estimated = input_tokens is None or output_tokens is None
        tokens_in = input_tokens if input_tokens is not None else self.input_estimate
        tokens_out = output_tokens if output_tokens is not None else max(1, len(text_out) // 4)
        self.recorded = self.ledger.record(self.account, self.what, self.model, tokens_in, tokens_out,
                                           images=images, estimated=estimated)
        return self.recorded


@contextmanager
def paid_call(what: str, model: str, *, input_estimate: int = 0, output_limit: int = 0,
              images: int = 0) -> Iterator[Meter]:
    """Check the caps and hold this call's most cost while it runs (see the module docstring);
    `images`: a call to an image model, priced per image."""
    settings = get_settings()
    account = current_account(settings)
    ledger = Ledger(settings.spend_db)
    most = cost_usd(model, input_estimate, output_limit, images)
    with _LOCK:  # the check and the reservation are one step for every call in this process
        limits = _limits(account, settings, ledger)
        problem = _problem(limits, most)
        if problem:
            raise (SpendCapStop if account.in_background_run else SpendCapReached)(problem)
        keys = [key for key, *_ in limits]
        for key in keys:
            _RESERVED[key] = _RESERVED.get(key, 0.0) + most
    try:
        yield Meter(account, what, model, ledger, input_estimate)
    finally:
        with _LOCK:
            for key in keys:
                left = _RESERVED.get(key, 0.0) - most
                if left > 1e-12:
                    _RESERVED[key] = left
                else:
                    _RESERVED.pop(key, None)
