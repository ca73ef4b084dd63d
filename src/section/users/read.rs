//! Reading the users section back from an archive. The section is held in memory
//! while an import plans and applies it (about 1 KB per user): a plan compares the
//! whole pool, and Amplify pools are far smaller than their tables.

use std::io::{BufRead, BufReader, Read};

use crate::archive::users::{Group, PoolSettings, User};
use crate::archive::{ArchiveError, EntryKind};

/// A snapshot's users section.
#[derive(Debug, Clone)]
pub struct UsersSnapshot {
    pub pool: PoolSettings,
    pub groups: Vec<Group>,
    pub users: Vec<User>,
}

/// Parses one users entry into `section` (which the pool entry, always first, creates).
/// Other entries are ignored.
pub(crate) fn read_entry(
    kind: &EntryKind,
    path: &str,
    data: &mut dyn Read,
    section: &mut Option<UsersSnapshot>,
) -> Result<(), ArchiveError> {
    match kind {
        EntryKind::UserPool => {
            let mut bytes = Vec::new();
            data.read_to_end(&mut bytes)
                .map_err(ArchiveError::io(format!("reading {path}")))?;
            let pool: PoolSettings = serde_json::from_slice(&bytes)
                .map_err(|e| ArchiveError::Corrupt(format!("{path}: {e}")))?;
            *section = Some(UsersSnapshot {
                pool,
                groups: Vec::new(),
                users: Vec::new(),
            });
        }
        EntryKind::Groups => {
            let groups = read_lines(path, data)?;
            started(section, path)?.groups = groups;
        }
        EntryKind::Users => {
            let users = read_lines(path, data)?;
            started(section, path)?.users = users;
        }
        _ => {}
    }
    Ok(())
}

fn started<'a>(
    section: &'a mut Option<UsersSnapshot>,
    path: &str,
) -> Result<&'a mut UsersSnapshot, ArchiveError> {
    section
        .as_mut()
        .ok_or_else(|| ArchiveError::Corrupt(format!("{path} without users/pool.json")))
}

/// One JSON document per line; an error names the file and line.
fn read_lines<T: serde::de::DeserializeOwned>(
    path: &str,
    data: &mut dyn Read,
) -> Result<Vec<T>, ArchiveError> {
    let mut out = Vec::new();
    for (n, line) in BufReader::new(data).lines().enumerate() {
        let line = line.map_err(ArchiveError::io(format!("reading {path}")))?;
        let value = serde_json::from_str(&line)
            .map_err(|e| ArchiveError::Corrupt(format!("{path} line {}: {e}", n + 1)))?;
        out.push(value);
    }
    Ok(out)
}
