//! samd's store, read-only, for what no endpoint lists (the users table)
//! and the objects as stored.

use crate::err;
use crate::ledger::{Stored, StoredObject};
use std::path::Path;

/// The users and objects of the SQLite file `db`.
pub fn read(db: &Path) -> Result<Stored, String> {
    use rusqlite::{Connection, OpenFlags};
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(err("samd.db"))?;
    let mut stored = Stored::default();
    let mut users = conn
        .prepare("SELECT user_id, role FROM users")
        .map_err(err("users"))?;
    let rows = users
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(err("users"))?;
    for row in rows {
        let (id, role) = row.map_err(err("users"))?;
        stored.users.insert(id, role);
    }
    let mut objects = conn
        .prepare("SELECT id, type, state, key_id, value IS NULL FROM objects")
        .map_err(err("objects"))?;
    let rows = objects
        .query_map([], |r| {
            Ok(StoredObject {
                id: r.get(0)?,
                kind: r.get(1)?,
                state: r.get(2)?,
                key_id: r.get(3)?,
                value_null: r.get(4)?,
            })
        })
        .map_err(err("objects"))?;
    for row in rows {
        stored.objects.push(row.map_err(err("objects"))?);
    }
    Ok(stored)
}
