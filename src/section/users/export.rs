//! Export of the users section: the pool's settings, every group, and every user with
//! its group memberships, into `users/pool.json`, `users/groups.jsonl` and
//! `users/users.jsonl`.
//!
//! Memberships come from ListUsersInGroup, one paginated listing per group (not one
//! call per user), gathered first into username → groups. Users then stream from
//! ListUsers page by page into a staged temporary file, so memory holds the
//! memberships, never the users.

use std::io::{Seek, SeekFrom, Write};

use crate::archive::users::{to_json_line, User};
use crate::aws::cognito::{Cognito, PoolUser};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::snapshot::write::{ArchiveSink, WriterMessage};

/// The users section, read from Cognito and staged, ready for the archive writer.
pub(crate) struct StagedUsers {
    pool: Vec<u8>,
    groups: Vec<u8>,
    users: std::fs::File,
    users_bytes: u64,
}

/// Reads the pool, its groups, memberships and users.
pub(crate) async fn collect_users(
    cognito: &Cognito,
    progress: &dyn Progress,
) -> Result<StagedUsers> {
    let described = cognito.describe_pool().await?;
    let (settings, estimate) = (described.settings, described.estimate);
    let mut groups = cognito.list_groups().await?;
    groups.sort_by(|a, b| (a.precedence, &a.name).cmp(&(b.precedence, &b.name)));
    let mut memberships = super::memberships(cognito, &groups).await?;
    let with_mfa = settings.mfa_configuration != "OFF";
    let task = progress.start(&format!("users of {}", cognito.pool_id()), Some(estimate));
    let mut staged = tempfile::tempfile().map_err(Error::io("staging users.jsonl"))?;
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut token = None;
    loop {
        let (page, next) = cognito.list_users_page(token).await?;
        let on_page = page.len() as u64;
        for user in page {
            let mfa = if with_mfa {
                cognito.user_mfa(&user.username).await?
            } else {
                user.mfa_options.clone()
            };
            let groups = memberships.remove(&user.username).unwrap_or_default();
            let line = to_json_line(&snapshot_user(user, groups, mfa));
            staged
                .write_all(&line)
                .map_err(Error::io("staging users.jsonl"))?;
            bytes += line.len() as u64;
        }
        count += on_page;
        task.advance(on_page);
        match next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    task.finish(&format!("{count} users, {} groups", groups.len()));
    staged
        .seek(SeekFrom::Start(0))
        .map_err(Error::io("staging users.jsonl"))?;
    let mut pool = serde_json::to_vec_pretty(&settings)
        .map_err(|e| Error::Failed(format!("encoding pool.json: {e}")))?;
    pool.push(b'\n');
    Ok(StagedUsers {
        pool,
        groups: groups.iter().flat_map(to_json_line).collect(),
        users: staged,
        users_bytes: bytes,
    })
}

/// Hands the staged section to the archive writer, in layout order.
pub(crate) async fn send_users(staged: StagedUsers, sink: &ArchiveSink) -> Result<()> {
    for (path, bytes) in [
        ("users/pool.json", staged.pool),
        ("users/groups.jsonl", staged.groups),
    ] {
        sink.send(WriterMessage::Entry {
            path: path.to_owned(),
            size: bytes.len() as u64,
            data: Box::new(std::io::Cursor::new(bytes)),
        })
        .await?;
    }
    sink.send(WriterMessage::Entry {
        path: "users/users.jsonl".to_owned(),
        size: staged.users_bytes,
        data: Box::new(std::io::BufReader::new(staged.users)),
    })
    .await
}

/// A Cognito user as the archive records it: `sub` apart, every other attribute kept.
fn snapshot_user(user: PoolUser, groups: Vec<String>, mfa_enabled: Vec<String>) -> User {
    let mut attributes = user.attributes;
    let sub = attributes.remove("sub").unwrap_or_default();
    let mut groups = groups;
    groups.sort();
    User {
        username: user.username,
        sub,
        attributes,
        enabled: user.enabled,
        status: user.status,
        groups,
        mfa_enabled,
        created_at: user.created_at,
    }
}
