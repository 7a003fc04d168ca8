"""Spend on paid model calls: an append-only audit log, per-user and per-run caps (prices: core/prices.py).

Every call to a paid chat model (Claude through the Anthropic API or Bedrock, a LangChain
provider) goes through `paid_call(...)`, which the chat enhancers' base class wraps around its
transport (enhancers/chat_base.py):

    with paid_call("anthropic", model, input_estimate=1800, output_limit=512) as meter:
        answer = send(call)
        meter.record(answer.input_tokens, answer.output_tokens)

1. Who pays: `current_account()`: the user and the campaign (or evaluation) run the call is
   for. The app sets the user for each script run (`use_account`); a background run learns both
   from PROMPTRAG_SPEND_USER / PROMPTRAG_SPEND_CAMPAIGN, which the app sets when it starts one;
   anything else is the single local user, "local", with no run.
2. Before the call: the caps (`Settings.spend_cap_user_day_usd`, per UTC day, and
   `spend_cap_campaign_usd`, per run) are checked against what the ledger has recorded plus
   what calls under way hold (in this process or any other writing the same ledger: Ray workers,
   other runs) plus the most this call may cost (its input estimate and its output limit at the
   model's price), and that most is held until the call ends. A call that could go over is
   refused before anything is sent: in a background run with `SpendCapStop` (a `Cancelled`:
   the run stops as if cancelled, its finished work kept), elsewhere with `SpendCapReached` (a
   `BackendError`: a fallback chain hands over to its next member and says why).
3. After the call: one row in the ledger — who, which run, what (the enhancer), the model, the
   tokens the API reported (or an estimate, flagged, when it reported none), images, the cost.

Costs are estimates: tokens × the price table of core/prices.py (re-exported here). A model
missing from the table is priced as the dearest Claude model, so a cap never under-counts; local
runtimes (Ollama, ...) cost nothing but are still logged.

The ledger (`Ledger`, `<home>/spend.sqlite`) is append-only: SQLite triggers refuse UPDATE and
DELETE, one connection per call, WAL, so many sessions and run processes write to it at once. Its
`holds` table (not part of the log) keeps the calls under way; a hold lapses after `HOLD_S`, so a
process killed mid-call does not block a cap for long. Another process counts and caps its calls
the same way when it has this one's home, caps and account (`spend_env`: what Ray workers get).

Deliberately not here: billing reconciliation with a provider's invoice, currencies other than
USD, caps across machines (a shared ledger file on several hosts is not a lock: on a cluster
each node's workers share their node's holds only), and image
generation backends (the images column counts the images a judge was shown; Bedrock's Stability
models are not metered yet).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core.errors import BackendError, Cancelled, ConfigError, one_line
from core.prices import (  # noqa: F401 (the price table's names, as callers have always imported them from here)
    IMAGE_PRICES,
    PRICES,
    UNKNOWN_IMAGE_PRICE,
    UNKNOWN_PRICE,
    Estimate,
    Price,
    cost_usd,
    estimate,
    image_price_for,
    price_for,
)
from core.settings import Settings, get_settings

LOCAL_USER = "local"
BUSY_TIMEOUT_S = 30.0
HOLD_S = 900.0  # a call under way holds its most cost this long at most (a process that died lets go then)

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


def spend_env(settings: Settings | None = None) -> dict[str, str]:
    """The variables that make another process (a Ray worker) count and cap its paid calls as this
    one does: the home (so the same ledger), the caps, who pays and for which run — as resolved
    here (`.env`, secrets.toml and `use_account`'s signed-in user included)."""
    settings = settings or get_settings()
    account = current_account(settings)
    values = {"PROMPTRAG_HOME": Path(settings.home).expanduser().absolute(), "PROMPTRAG_SPEND_USER": account.user,
              "PROMPTRAG_SPEND_CAMPAIGN": account.campaign,
              "PROMPTRAG_SPEND_CAP_USER_DAY_USD": settings.spend_cap_user_day_usd,
              "PROMPTRAG_SPEND_CAP_CAMPAIGN_USD": settings.spend_cap_campaign_usd}
    return {name: str(value) for name, value in values.items() if value is not None}


class SpendCapReached(BackendError):
    """A cap refused a paid call made while a user waits: a fallback chain falls back and says why."""


class SpendCapStop(Cancelled):
    """A cap refused a paid call of a background run: the run stops, what it finished is kept."""


def stop_reason(exc: BaseException) -> str:
    """Why a run stopped, in one line: the cap a `SpendCapStop` names (which, whose, how much), else "cancelled"."""
    return one_line(exc) if isinstance(exc, SpendCapStop) else "cancelled"


def stopped_words(why: str) -> str:
    """How a run's message says it ended early (`why` from stop_reason): "was cancelled" or "stopped (<cap>)"."""
    return "was cancelled" if why == "cancelled" else f"stopped ({why})"


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
    BEGIN SELECT RAISE(ABORT, 'the spend ledger is append-only'); END;
CREATE TABLE IF NOT EXISTS holds (  -- calls under way, in any process: their most cost, held against a cap
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,             -- user | campaign
    name TEXT NOT NULL,
    usd REAL NOT NULL,
    until REAL NOT NULL             -- epoch seconds: the hold lapses then, should its process have died
)
"""
Limit = tuple[tuple[str, str], float, str]  # ((kind, name), cap in USD, what the cap is called)


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
        with self._connect() as conn:
            return _spent(conn, "user", user)

    def spent_by_campaign(self, campaign: str) -> float:
        with self._connect() as conn:
            return _spent(conn, "campaign", campaign)

    def hold(self, limits: list[Limit], most: float, *, keep: bool = True) -> tuple[str | None, list[int]]:
        """(why a call that may cost `most` would pass a cap, None if it fits; the ids of its holds).

        Each cap is checked against what is spent plus what calls under way hold, in this process
        and any other sharing this ledger (Ray workers on this machine, run processes); when it fits
        and `keep`, `most` is held on each until `release`. One write transaction: no two callers
        can both take the last of a cap."""
        if not limits:
            return None, []
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                conn.execute("DELETE FROM holds WHERE until < ?", (now,))
                for (kind, name), cap, label in limits:
                    spent = _spent(conn, kind, name)
                    held = float(conn.execute("SELECT COALESCE(SUM(usd), 0) FROM holds WHERE kind = ? AND name = ?",
                                              (kind, name)).fetchone()[0])
                    if spent + held + most > cap:
                        return _refusal(label, spent, held, most), []
                ids = [int(conn.execute("INSERT INTO holds (kind, name, usd, until) VALUES (?, ?, ?, ?)",
                                        (kind, name, most, now + HOLD_S)).lastrowid or 0)
                       for (kind, name), _, _ in limits] if keep else []
                conn.execute("COMMIT")
                return None, ids
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    def release(self, ids: list[int]) -> None:
        """End the holds of a call that is over (its cost, if any, is in `calls` now)."""
        if ids:
            with self._connect() as conn:
                conn.execute(f"DELETE FROM holds WHERE id IN ({', '.join('?' * len(ids))})", ids)

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
def _spent(conn: sqlite3.Connection, kind: str, name: str) -> float:
    """USD recorded for a user today (since 00:00 UTC) or for a campaign / evaluation run."""
    if kind == "user":
        midnight = _now().replace(hour=0, minute=0, second=0, microsecond=0).isoformat(timespec="seconds")
        where, args = "user = ? AND at >= ?", (name, midnight)
    else:
        where, args = "campaign = ?", (name,)
    return float(conn.execute(f"SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE {where}", args).fetchone()[0])


def _limits(account: Account, settings: Settings) -> list[Limit]:
    """The caps that apply to `account`'s calls."""
    found: list[Limit] = []
    if settings.spend_cap_user_day_usd is not None:
        found.append((("user", account.user), settings.spend_cap_user_day_usd,
                      f"the daily spend cap of ${settings.spend_cap_user_day_usd:,.2f} for {account.user} "
                      "(PROMPTRAG_SPEND_CAP_USER_DAY_USD; it starts again at 00:00 UTC)"))
    if account.campaign and settings.spend_cap_campaign_usd is not None:
        found.append((("campaign", account.campaign), settings.spend_cap_campaign_usd,
                      f"the spend cap of ${settings.spend_cap_campaign_usd:,.2f} for run {account.campaign} "
                      "(PROMPTRAG_SPEND_CAP_CAMPAIGN_USD)"))
    return found


def _refusal(name: str, spent: float, in_flight: float, most: float) -> str:
    return (f"spend cap reached: {name}; ${spent:,.4f} spent"
            + (f", ${in_flight:,.4f} in calls under way" if in_flight else "")
            + (f", and this call may cost up to ${most:,.4f}" if most else "")
            + "; an admin can raise the cap")


def cap_problem(account: Account | None = None, most: float = 0.0, *, settings: Settings | None = None) -> str | None:
    """Why a call that may cost `most` USD would go over a cap now (None: it fits)."""
    settings = settings or get_settings()
    return Ledger(settings.spend_db).hold(_limits(account or current_account(settings), settings), most,
                                          keep=False)[0]


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
    problem, held = ledger.hold(_limits(account, settings), most)  # the check and the hold are one step
    if problem:
        raise (SpendCapStop if account.in_background_run else SpendCapReached)(problem)
    try:
        yield Meter(account, what, model, ledger, input_estimate)
    finally:
        ledger.release(held)
