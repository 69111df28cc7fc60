//! The device database's schema, upgraded step by step on `PRAGMA user_version`: each
//! version adds to the last, and a test checks that an upgraded database is the same as
//! a freshly created one.

use rusqlite::Connection;

// An upgrade that rebuilds or adds to a projected table (tickets, kb) must also delete
// the `projected:*` keys from `meta`, or unchanged documents are not projected again.
/// The current schema version.
pub const VERSION: i64 = 3;

const V1: &str = "
CREATE TABLE chunks (k1 TEXT NOT NULL, k2 TEXT NOT NULL, k3 TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (k1, k2, k3));
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tickets (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, category TEXT NOT NULL, title TEXT NOT NULL,
    description TEXT NOT NULL, address TEXT NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL,
    customer_name TEXT NOT NULL, customer_phone TEXT NOT NULL, dispatcher_notes TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    accepted_at TEXT, declined_at TEXT, en_route_at TEXT, arrived_at TEXT,
    completed_at TEXT, resolution TEXT, notes TEXT NOT NULL DEFAULT ''
);
CREATE TABLE kb (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL, body TEXT NOT NULL,
    tags TEXT NOT NULL, updated_at TEXT NOT NULL, draft INTEGER NOT NULL DEFAULT 0
);
CREATE VIRTUAL TABLE kb_fts USING fts5(title, body, tags, content='kb', content_rowid='rowid', tokenize='porter unicode61');
CREATE TRIGGER kb_ai AFTER INSERT ON kb BEGIN
    INSERT INTO kb_fts(rowid, title, body, tags) VALUES (new.rowid, new.title, new.body, new.tags); END;
CREATE TRIGGER kb_ad AFTER DELETE ON kb BEGIN
    INSERT INTO kb_fts(kb_fts, rowid, title, body, tags) VALUES ('delete', old.rowid, old.title, old.body, old.tags); END;
CREATE TRIGGER kb_au AFTER UPDATE ON kb BEGIN
    INSERT INTO kb_fts(kb_fts, rowid, title, body, tags) VALUES ('delete', old.rowid, old.title, old.body, old.tags);
    INSERT INTO kb_fts(rowid, title, body, tags) VALUES (new.rowid, new.title, new.body, new.tags); END;
";

/// Version 2: local changes not yet confirmed by the server, so the app can say
/// "3 changes waiting to sync" and the count survives a restart.
const V2: &str = "
CREATE TABLE pending (doc_id TEXT PRIMARY KEY, heads TEXT NOT NULL, since TEXT NOT NULL);
CREATE INDEX ix_tickets_status ON tickets(status, updated_at);
";

/// Version 3: prefix indexes for two- and three-letter prefixes, so search-as-you-type
/// stays fast over tens of thousands of articles (the index is rebuilt from `kb`).
const V3: &str = "
DROP TABLE kb_fts;
CREATE VIRTUAL TABLE kb_fts USING fts5(title, body, tags, content='kb', content_rowid='rowid',
    tokenize='porter unicode61', prefix='2 3');
INSERT INTO kb_fts(kb_fts) VALUES ('rebuild');
";

/// Brings the database to [`VERSION`] (one transaction per step).
pub fn upgrade(conn: &mut Connection) -> rusqlite::Result<()> {
    let mut version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    while version < VERSION {
        let tx = conn.transaction()?;
        upgrade_from(&tx, version)?;
        version += 1;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

/// One step: from `version` to `version + 1`.
fn upgrade_from(tx: &rusqlite::Transaction<'_>, version: i64) -> rusqlite::Result<()> {
    match version {
        0 => tx.execute_batch(V1),
        1 => tx.execute_batch(V2),
        2 => tx.execute_batch(V3),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(conn: &Connection) -> Vec<(String, String)> {
        let mut stmt =
            conn.prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn an_upgraded_database_is_the_same_as_a_fresh_one() {
        let mut fresh = Connection::open_in_memory().unwrap();
        upgrade(&mut fresh).unwrap();
        // A database made by version 1 of the app, holding data, then upgraded.
        let mut old = Connection::open_in_memory().unwrap();
        old.execute_batch(V1).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        old.execute("INSERT INTO meta VALUES ('expert_id', 'e1')", []).unwrap();
        old.execute(
            "INSERT INTO kb (id, title, body, tags, updated_at) VALUES ('a1', 'Flickering screen', 'Reseat the cable.', '', '')",
            [],
        )
        .unwrap();
        upgrade(&mut old).unwrap();
        assert_eq!(dump(&old), dump(&fresh));
        let v: i64 = old.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, VERSION);
        let kept: String = old.query_row("SELECT value FROM meta WHERE key = 'expert_id'", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, "e1", "an upgrade keeps the data");
        let found: String = old
            .query_row(
                "SELECT kb.id FROM kb_fts JOIN kb ON kb.rowid = kb_fts.rowid WHERE kb_fts MATCH 'fl*'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, "a1", "the rebuilt index finds articles written before the upgrade");
        // Upgrading again is a no-op.
        upgrade(&mut old).unwrap();
        assert_eq!(dump(&old), dump(&fresh));
    }
}
