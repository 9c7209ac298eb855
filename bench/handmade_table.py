"""The token tracker bot authors build by hand (the setups tokq replaces):
an in-process SQLite table of calls, a 30-day sum before each LLM call, an
insert and a commit after it.  WAL, the default synchronous setting, an
index on (user_id, timestamp): a fair, careful version of it, for
py_bot_bench.py to compare with.
"""

import sqlite3
import time

WINDOW_S = 30 * 86400

SCHEMA = """
CREATE TABLE IF NOT EXISTS token_usage (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    guild_id TEXT,
    channel_id TEXT,
    session_id TEXT,
    call_index INTEGER,
    model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    total_tokens INTEGER NOT NULL,
    timestamp REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_token_usage_user_time ON token_usage(user_id, timestamp);
"""


class HandmadeTracker:
    """One per bot process, all on one database file."""

    def __init__(self, path: str, user_limit: int) -> None:
        self.db = sqlite3.connect(path, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self.db.commit()
        self.user_limit = user_limit

    def can_process_request(self, user_id: str, estimate: int) -> bool:
        (used,) = self.db.execute(
            "SELECT COALESCE(SUM(total_tokens), 0) FROM token_usage "
            "WHERE user_id = ? AND timestamp >= ?",
            (user_id, time.time() - WINDOW_S)).fetchone()
        return used + estimate <= self.user_limit

    def record_token_usage(self, user_id: str, guild_id: str, model: str, prompt: int,
                           completion: int) -> None:
        self.db.execute(
            "INSERT INTO token_usage (user_id, guild_id, model, prompt_tokens, "
            "completion_tokens, total_tokens, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (user_id, guild_id, model, prompt, completion, prompt + completion, time.time()))
        self.db.commit()

    def close(self) -> None:
        self.db.close()
