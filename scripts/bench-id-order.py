"""What the order of execution ids costs an SQLite insert: pages written to the log per commit
and time per row, with random ids (UUID v4) against ids that grow with time (UUID v7), for
batches of five creates into a table that already holds 200,000 executions, with the indexes a
successful execution's row enters on SQLite (its id; function, project and time; the partial
indexes of running rows left out) (docs/benchmarks.md, "2026-12-06 (6)"). A benchmark, not a
test: figures are printed, nothing is asserted.

    python3 scripts/bench-id-order.py [ROWS]
"""
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid

PAGE = 4096
FRAME_HEADER = 24
WAL_HEADER = 32


def v4():
    return str(uuid.uuid4())


def v7():
    """RFC 9562's layout: 48 bits of Unix milliseconds, the version, 74 random bits."""
    ms = int(time.time() * 1000)
    r = random.getrandbits(74)
    n = (ms << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | (r & ((1 << 62) - 1))
    return str(uuid.UUID(int=n))


def run(new_id, rows, batch=5, history=200_000):
    path = os.path.join(tempfile.mkdtemp(), "ridge.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE executions (id TEXT PRIMARY KEY, project_id TEXT, function_id TEXT, "
               "status TEXT, result TEXT, created_at TEXT, node TEXT)")
    db.execute("CREATE INDEX executions_function_created ON executions (function_id, created_at)")
    db.execute("CREATE INDEX executions_project_created ON executions (project_id, created_at)")
    insert = "INSERT INTO executions VALUES (?, 'p1', 'f1', 'success', '{\"output\": 1}', ?, 'n1')"
    db.execute("BEGIN")
    for i in range(history):
        db.execute(insert, (new_id(), "2026-12-06T00:%012.6fZ" % (i / 1e4)))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = os.path.getsize(path + "-wal")
    started = time.perf_counter()
    for b in range(rows // batch):
        db.execute("BEGIN")
        for i in range(batch):
            db.execute(insert, (new_id(), "2026-12-07T00:%012.6fZ" % ((b * batch + i) / 1e4)))
        db.execute("COMMIT")
    took = time.perf_counter() - started
    frames = (os.path.getsize(path + "-wal") - before - WAL_HEADER) / (PAGE + FRAME_HEADER)
    print(f"{new_id.__name__}: {frames / (rows // batch):.2f} pages per commit, "
          f"{took / rows * 1e6:.1f} us per row")


if __name__ == "__main__":
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    run(v4, rows)
    run(v7, rows)
