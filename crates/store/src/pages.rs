//! The page writers: each page of items, and each batch of follow-up steps, is one
//! statement.
//!
//! A step's commit writes up to a channel page of items (100 messages, 100 conversations
//! with their embedded messages) and up to one follow-up per kept conversation. Row by
//! row that is hundreds of round trips inside a transaction that holds locks; as one
//! statement it is one. PostgreSQL gets column arrays and `INSERT … SELECT FROM UNNEST`
//! (one parameter per column whatever the page size, one cached plan); SQLite gets one
//! multi-row `VALUES`, which costs no round trip in-process.
//!
//! Every write is an upsert on the channel's own id (C5). The conflict rules say what may
//! change on a second sighting: a conversation's activity moves forward only; a message is
//! immutable once known, except that an unavailable placeholder gains its details.
//!
//! Rows go in a fixed order (messages by time then id, the rest by id), so every commit
//! takes row locks in one global order: two commits of overlapping pages wait for each
//! other on PostgreSQL, and never deadlock.

use std::collections::{HashMap, HashSet};

use backfill_policy::planner::KeptConversation;
use backfill_policy::{Channel, Comment, Message, Post, StepSpec};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, QueryBuilder, Sqlite, SqliteConnection};

use crate::Store;
use crate::db::{Raw, Session, instant};
use crate::error::Result;
use crate::steps::{NewStep, priority_code};

/// SQLite allows 32,766 bind parameters per statement; at 14 per row this stays well
/// inside while keeping any channel page (at most a few hundred items) in one statement.
const SQLITE_ROWS_PER_STATEMENT: usize = 1_000;

/// Whose items these are: the connection they belong to and the run that first stored
/// them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ItemOwner<'a> {
    pub connection_id: i64,
    /// `None` for items imported outside a run.
    pub run_id: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// Where new steps go and what they inherit from the step (or connect) that made them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepOwner<'a> {
    pub run_id: &'a str,
    pub connection_id: i64,
    pub tenant_id: &'a str,
    pub channel: Channel,
    pub generation: i64,
    pub trace_context: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// The first occurrence of each id, in order. A channel page can repeat an item (an
/// offset listing that shifted under a new message); PostgreSQL refuses to upsert one
/// row twice in a statement, so duplicates go before the statement is built.
fn first_of_each<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<&T> {
    let mut seen = HashSet::with_capacity(items.len());
    items
        .iter()
        .filter(|item| seen.insert(id(item).to_owned()))
        .collect()
}

const CONVERSATION_CONFLICT: &str = "
    ON CONFLICT (connection_id, channel_id) DO UPDATE SET
        last_activity = excluded.last_activity,
        snippet = excluded.snippet,
        unread_count = excluded.unread_count,
        customer_id = COALESCE(excluded.customer_id, conversations.customer_id),
        customer_name = COALESCE(excluded.customer_name, conversations.customer_name),
        updated_at = excluded.updated_at
    WHERE excluded.last_activity >= conversations.last_activity";

const MESSAGE_CONFLICT: &str = "
    ON CONFLICT (connection_id, channel_id) DO UPDATE SET
        sender_id = excluded.sender_id,
        sender_name = excluded.sender_name,
        sender_role = excluded.sender_role,
        text = excluded.text,
        attachments = excluded.attachments,
        ad_referral = excluded.ad_referral,
        unavailable = excluded.unavailable
    WHERE messages.unavailable AND NOT excluded.unavailable";

const POST_CONFLICT: &str = "
    ON CONFLICT (connection_id, channel_id) DO UPDATE SET
        text = excluded.text,
        permalink = excluded.permalink";

const COMMENT_CONFLICT: &str = "
    ON CONFLICT (connection_id, channel_id) DO UPDATE SET
        text = excluded.text,
        author_name = COALESCE(excluded.author_name, comments.author_name)";

/// Writes a plan's items: conversations, messages, posts, comments, a statement each.
pub(crate) async fn write_items(
    session: &mut Session,
    owner: ItemOwner<'_>,
    conversations: &[KeptConversation],
    messages: &[Message],
    posts: &[Post],
    comments: &[Comment],
) -> Result<()> {
    if !conversations.is_empty() {
        upsert_conversations(session, owner, conversations).await?;
    }
    if !messages.is_empty() {
        upsert_messages(session, owner, messages).await?;
    }
    if !posts.is_empty() {
        upsert_posts(session, owner, posts).await?;
    }
    if !comments.is_empty() {
        upsert_comments(session, owner, comments).await?;
    }
    Ok(())
}

pub(crate) async fn upsert_conversations(
    session: &mut Session,
    owner: ItemOwner<'_>,
    kept: &[KeptConversation],
) -> Result<u64> {
    let mut kept = first_of_each(kept, |k| &k.conversation.id);
    kept.sort_by(|a, b| a.conversation.id.cmp(&b.conversation.id));
    match session.raw() {
        Raw::Postgres(conn) => pg_conversations(conn, owner, &kept).await,
        Raw::Sqlite(conn) => sqlite_conversations(conn, owner, &kept).await,
    }
}

async fn pg_conversations(
    conn: &mut PgConnection,
    owner: ItemOwner<'_>,
    kept: &[&KeptConversation],
) -> Result<u64> {
    let ids: Vec<&str> = kept.iter().map(|k| k.conversation.id.as_str()).collect();
    let customer_ids: Vec<Option<&str>> = kept
        .iter()
        .map(|k| k.conversation.customer.as_ref().map(|c| c.id.as_str()))
        .collect();
    let customer_names: Vec<Option<&str>> = kept
        .iter()
        .map(|k| {
            k.conversation
                .customer
                .as_ref()
                .and_then(|c| c.name.as_deref())
        })
        .collect();
    let activity: Vec<DateTime<Utc>> = kept
        .iter()
        .map(|k| instant(k.conversation.last_activity))
        .collect();
    let snippets: Vec<Option<&str>> = kept
        .iter()
        .map(|k| k.conversation.snippet.as_deref())
        .collect();
    let unread: Vec<i64> = kept
        .iter()
        .map(|k| i64::from(k.conversation.unread_count.unwrap_or(0)))
        .collect();
    let ranks: Vec<i64> = kept.iter().map(|k| i64::from(k.rank)).collect();

    let mut query = QueryBuilder::new(
        "INSERT INTO conversations (connection_id, first_run_id, stored_at, updated_at,
             channel_id, customer_id, customer_name, last_activity, snippet, unread_count,
             list_rank)
         SELECT $1, $2, $3, $3, c.channel_id, c.customer_id, c.customer_name,
             c.last_activity, c.snippet, c.unread_count, c.list_rank
         FROM UNNEST($4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[],
             $9::int8[], $10::int8[])
             AS c (channel_id, customer_id, customer_name, last_activity, snippet,
                   unread_count, list_rank)",
    );
    query.push(CONVERSATION_CONFLICT);
    let result = query
        .build()
        .bind(owner.connection_id)
        .bind(owner.run_id)
        .bind(instant(owner.now))
        .bind(ids)
        .bind(customer_ids)
        .bind(customer_names)
        .bind(activity)
        .bind(snippets)
        .bind(unread)
        .bind(ranks)
        .execute(conn)
        .await?;
    Ok(result.rows_affected())
}

async fn sqlite_conversations(
    conn: &mut SqliteConnection,
    owner: ItemOwner<'_>,
    kept: &[&KeptConversation],
) -> Result<u64> {
    let mut affected = 0;
    for chunk in kept.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO conversations (connection_id, first_run_id, stored_at, updated_at,
                 channel_id, customer_id, customer_name, last_activity, snippet, unread_count,
                 list_rank) ",
        );
        query.push_values(chunk, |mut row, k| {
            let c = &k.conversation;
            row.push_bind(owner.connection_id)
                .push_bind(owner.run_id)
                .push_bind(instant(owner.now))
                .push_bind(instant(owner.now))
                .push_bind(c.id.as_str())
                .push_bind(c.customer.as_ref().map(|p| p.id.as_str()))
                .push_bind(c.customer.as_ref().and_then(|p| p.name.as_deref()))
                .push_bind(instant(c.last_activity))
                .push_bind(c.snippet.as_deref())
                .push_bind(i64::from(c.unread_count.unwrap_or(0)))
                .push_bind(i64::from(k.rank));
        });
        query.push(CONVERSATION_CONFLICT);
        affected += query.build().execute(&mut *conn).await?.rows_affected();
    }
    Ok(affected)
}

fn role_name(message: &Message) -> Option<&'static str> {
    message.role.map(|role| match role {
        backfill_policy::SenderRole::Customer => "customer",
        backfill_policy::SenderRole::Business => "business",
    })
}

/// Upserts a page of messages in one statement (per 1,000 rows on SQLite).
///
/// Channels list messages newest first; rows go in oldest first (the lock order, see the
/// module doc), so row ids also grow with time and break ties between messages of the
/// same instant in reading order (C3).
pub(crate) async fn upsert_messages(
    session: &mut Session,
    owner: ItemOwner<'_>,
    messages: &[Message],
) -> Result<u64> {
    let mut messages = first_of_each(messages, |m| &m.id);
    messages.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    match session.raw() {
        Raw::Postgres(conn) => pg_messages(conn, owner, &messages).await,
        Raw::Sqlite(conn) => sqlite_messages(conn, owner, &messages).await,
    }
}

async fn pg_messages(
    conn: &mut PgConnection,
    owner: ItemOwner<'_>,
    messages: &[&Message],
) -> Result<u64> {
    let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
    let conversations: Vec<&str> = messages
        .iter()
        .map(|m| m.conversation_id.as_str())
        .collect();
    let created: Vec<DateTime<Utc>> = messages.iter().map(|m| instant(m.created_at)).collect();
    let sender_ids: Vec<Option<&str>> = messages
        .iter()
        .map(|m| m.from.as_ref().map(|p| p.id.as_str()))
        .collect();
    let sender_names: Vec<Option<&str>> = messages
        .iter()
        .map(|m| m.from.as_ref().and_then(|p| p.name.as_deref()))
        .collect();
    let roles: Vec<Option<&str>> = messages.iter().map(|m| role_name(m)).collect();
    let texts: Vec<Option<&str>> = messages.iter().map(|m| m.text.as_deref()).collect();
    let attachments: Vec<Json<&[backfill_policy::Attachment]>> = messages
        .iter()
        .map(|m| Json(m.attachments.as_slice()))
        .collect();
    let referrals: Vec<Option<Json<&backfill_policy::AdReferral>>> = messages
        .iter()
        .map(|m| m.ad_referral.as_ref().map(Json))
        .collect();
    let unavailable: Vec<bool> = messages.iter().map(|m| m.unavailable).collect();

    let mut query = QueryBuilder::new(
        "INSERT INTO messages (connection_id, first_run_id, stored_at, channel_id,
             conversation_channel_id, created_at, sender_id, sender_name, sender_role, text,
             attachments, ad_referral, unavailable)
         SELECT $1, $2, $3, m.channel_id, m.conversation_channel_id, m.created_at,
             m.sender_id, m.sender_name, m.sender_role, m.text, m.attachments, m.ad_referral,
             m.unavailable
         FROM UNNEST($4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[],
             $9::text[], $10::text[], $11::jsonb[], $12::jsonb[], $13::boolean[])
             AS m (channel_id, conversation_channel_id, created_at, sender_id, sender_name,
                   sender_role, text, attachments, ad_referral, unavailable)",
    );
    query.push(MESSAGE_CONFLICT);
    let result = query
        .build()
        .bind(owner.connection_id)
        .bind(owner.run_id)
        .bind(instant(owner.now))
        .bind(ids)
        .bind(conversations)
        .bind(created)
        .bind(sender_ids)
        .bind(sender_names)
        .bind(roles)
        .bind(texts)
        .bind(attachments)
        .bind(referrals)
        .bind(unavailable)
        .execute(conn)
        .await?;
    Ok(result.rows_affected())
}

async fn sqlite_messages(
    conn: &mut SqliteConnection,
    owner: ItemOwner<'_>,
    messages: &[&Message],
) -> Result<u64> {
    let mut affected = 0;
    for chunk in messages.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO messages (connection_id, first_run_id, stored_at, channel_id,
                 conversation_channel_id, created_at, sender_id, sender_name, sender_role, text,
                 attachments, ad_referral, unavailable) ",
        );
        query.push_values(chunk, |mut row, m| {
            row.push_bind(owner.connection_id)
                .push_bind(owner.run_id)
                .push_bind(instant(owner.now))
                .push_bind(m.id.as_str())
                .push_bind(m.conversation_id.as_str())
                .push_bind(instant(m.created_at))
                .push_bind(m.from.as_ref().map(|p| p.id.as_str()))
                .push_bind(m.from.as_ref().and_then(|p| p.name.as_deref()))
                .push_bind(role_name(m))
                .push_bind(m.text.as_deref())
                .push_bind(Json(m.attachments.as_slice()))
                .push_bind(m.ad_referral.as_ref().map(Json))
                .push_bind(m.unavailable);
        });
        query.push(MESSAGE_CONFLICT);
        affected += query.build().execute(&mut *conn).await?.rows_affected();
    }
    Ok(affected)
}

async fn upsert_posts(session: &mut Session, owner: ItemOwner<'_>, posts: &[Post]) -> Result<u64> {
    let mut posts = first_of_each(posts, |p| &p.id);
    posts.sort_by(|a, b| a.id.cmp(&b.id));
    match session.raw() {
        Raw::Postgres(conn) => {
            let mut query = QueryBuilder::new(
                "INSERT INTO posts (connection_id, first_run_id, stored_at, channel_id,
                     created_at, text, permalink)
                 SELECT $1, $2, $3, p.channel_id, p.created_at, p.text, p.permalink
                 FROM UNNEST($4::text[], $5::timestamptz[], $6::text[], $7::text[])
                     AS p (channel_id, created_at, text, permalink)",
            );
            query.push(POST_CONFLICT);
            let result = query
                .build()
                .bind(owner.connection_id)
                .bind(owner.run_id)
                .bind(instant(owner.now))
                .bind(posts.iter().map(|p| p.id.as_str()).collect::<Vec<_>>())
                .bind(
                    posts
                        .iter()
                        .map(|p| instant(p.created_at))
                        .collect::<Vec<_>>(),
                )
                .bind(posts.iter().map(|p| p.text.as_deref()).collect::<Vec<_>>())
                .bind(
                    posts
                        .iter()
                        .map(|p| p.permalink.as_deref())
                        .collect::<Vec<_>>(),
                )
                .execute(conn)
                .await?;
            Ok(result.rows_affected())
        }
        Raw::Sqlite(conn) => {
            let mut affected = 0;
            for chunk in posts.chunks(SQLITE_ROWS_PER_STATEMENT) {
                let mut query = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO posts (connection_id, first_run_id, stored_at, channel_id,
                         created_at, text, permalink) ",
                );
                query.push_values(chunk, |mut row, p| {
                    row.push_bind(owner.connection_id)
                        .push_bind(owner.run_id)
                        .push_bind(instant(owner.now))
                        .push_bind(p.id.as_str())
                        .push_bind(instant(p.created_at))
                        .push_bind(p.text.as_deref())
                        .push_bind(p.permalink.as_deref());
                });
                query.push(POST_CONFLICT);
                affected += query.build().execute(&mut *conn).await?.rows_affected();
            }
            Ok(affected)
        }
    }
}

async fn upsert_comments(
    session: &mut Session,
    owner: ItemOwner<'_>,
    comments: &[Comment],
) -> Result<u64> {
    let mut comments = first_of_each(comments, |c| &c.id);
    comments.sort_by(|a, b| a.id.cmp(&b.id));
    match session.raw() {
        Raw::Postgres(conn) => {
            let mut query = QueryBuilder::new(
                "INSERT INTO comments (connection_id, first_run_id, stored_at, channel_id,
                     post_channel_id, parent_channel_id, created_at, author_id, author_name,
                     text)
                 SELECT $1, $2, $3, c.channel_id, c.post_channel_id, c.parent_channel_id,
                     c.created_at, c.author_id, c.author_name, c.text
                 FROM UNNEST($4::text[], $5::text[], $6::text[], $7::timestamptz[],
                     $8::text[], $9::text[], $10::text[])
                     AS c (channel_id, post_channel_id, parent_channel_id, created_at,
                           author_id, author_name, text)",
            );
            query.push(COMMENT_CONFLICT);
            let result = query
                .build()
                .bind(owner.connection_id)
                .bind(owner.run_id)
                .bind(instant(owner.now))
                .bind(comments.iter().map(|c| c.id.as_str()).collect::<Vec<_>>())
                .bind(
                    comments
                        .iter()
                        .map(|c| c.post_id.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    comments
                        .iter()
                        .map(|c| c.parent_id.as_deref())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    comments
                        .iter()
                        .map(|c| instant(c.created_at))
                        .collect::<Vec<_>>(),
                )
                .bind(
                    comments
                        .iter()
                        .map(|c| c.from.as_ref().map(|p| p.id.as_str()))
                        .collect::<Vec<_>>(),
                )
                .bind(
                    comments
                        .iter()
                        .map(|c| c.from.as_ref().and_then(|p| p.name.as_deref()))
                        .collect::<Vec<_>>(),
                )
                .bind(
                    comments
                        .iter()
                        .map(|c| c.text.as_deref())
                        .collect::<Vec<_>>(),
                )
                .execute(conn)
                .await?;
            Ok(result.rows_affected())
        }
        Raw::Sqlite(conn) => {
            let mut affected = 0;
            for chunk in comments.chunks(SQLITE_ROWS_PER_STATEMENT) {
                let mut query = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO comments (connection_id, first_run_id, stored_at, channel_id,
                         post_channel_id, parent_channel_id, created_at, author_id,
                         author_name, text) ",
                );
                query.push_values(chunk, |mut row, c| {
                    row.push_bind(owner.connection_id)
                        .push_bind(owner.run_id)
                        .push_bind(instant(owner.now))
                        .push_bind(c.id.as_str())
                        .push_bind(c.post_id.as_str())
                        .push_bind(c.parent_id.as_deref())
                        .push_bind(instant(c.created_at))
                        .push_bind(c.from.as_ref().map(|p| p.id.as_str()))
                        .push_bind(c.from.as_ref().and_then(|p| p.name.as_deref()))
                        .push_bind(c.text.as_deref());
                });
                query.push(COMMENT_CONFLICT);
                affected += query.build().execute(&mut *conn).await?.rows_affected();
            }
            Ok(affected)
        }
    }
}

/// Inserts steps that are not in the run yet (by [`StepSpec::key`]) and returns those
/// it inserted, in the order given. A step re-executed after a crash plans the same
/// follow-ups with the same keys; `ON CONFLICT DO NOTHING` drops them (C5).
pub(crate) async fn insert_steps(
    session: &mut Session,
    owner: StepOwner<'_>,
    specs: &[StepSpec],
) -> Result<Vec<NewStep>> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let keyed: Vec<(String, &StepSpec)> = specs.iter().map(|s| (s.key(), s)).collect();
    let keyed = first_of_each(&keyed, |(key, _)| key);
    // Inserted in key order (the lock order, see the module doc); returned in plan order.
    let mut by_key = keyed.clone();
    by_key.sort_by(|a, b| a.0.cmp(&b.0));
    let inserted: Vec<(i64, String)> = match session.raw() {
        Raw::Postgres(conn) => pg_steps(conn, owner, &by_key).await?,
        Raw::Sqlite(conn) => sqlite_steps(conn, owner, &by_key).await?,
    };
    let ids: HashMap<String, i64> = inserted.into_iter().map(|(id, key)| (key, id)).collect();
    Ok(keyed
        .into_iter()
        .filter_map(|(key, spec)| {
            ids.get(key).map(|&id| NewStep {
                id,
                spec: (*spec).clone(),
            })
        })
        .collect())
}

async fn pg_steps(
    conn: &mut PgConnection,
    owner: StepOwner<'_>,
    keyed: &[&(String, &StepSpec)],
) -> Result<Vec<(i64, String)>> {
    let mut query = QueryBuilder::new(
        "INSERT INTO steps (run_id, connection_id, tenant_id, channel, generation,
             trace_context, created_at, updated_at, status, step_key, kind, priority,
             not_before, payload)
         SELECT $1, $2, $3, $4, $5, $6, $7, $7, 'pending', s.step_key, s.kind, s.priority,
             s.not_before, s.payload
         FROM UNNEST($8::text[], $9::text[], $10::int8[], $11::timestamptz[], $12::jsonb[])
             AS s (step_key, kind, priority, not_before, payload)
         ON CONFLICT (run_id, step_key) DO NOTHING
         RETURNING id, step_key",
    );
    let rows: Vec<(i64, String)> = query
        .build_query_as()
        .bind(owner.run_id)
        .bind(owner.connection_id)
        .bind(owner.tenant_id)
        .bind(owner.channel.as_str())
        .bind(owner.generation)
        .bind(owner.trace_context)
        .bind(instant(owner.now))
        .bind(
            keyed
                .iter()
                .map(|(key, _)| key.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            keyed
                .iter()
                .map(|(_, spec)| spec.kind.name())
                .collect::<Vec<_>>(),
        )
        .bind(
            keyed
                .iter()
                .map(|(_, spec)| priority_code(spec.priority))
                .collect::<Vec<_>>(),
        )
        .bind(
            keyed
                .iter()
                .map(|(_, spec)| instant(spec.not_before))
                .collect::<Vec<_>>(),
        )
        .bind(
            keyed
                .iter()
                .map(|(_, spec)| Json(*spec))
                .collect::<Vec<_>>(),
        )
        .fetch_all(conn)
        .await?;
    Ok(rows)
}

async fn sqlite_steps(
    conn: &mut SqliteConnection,
    owner: StepOwner<'_>,
    keyed: &[&(String, &StepSpec)],
) -> Result<Vec<(i64, String)>> {
    let mut inserted = Vec::with_capacity(keyed.len());
    for chunk in keyed.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO steps (run_id, connection_id, tenant_id, channel, generation,
                 trace_context, created_at, updated_at, status, step_key, kind, priority,
                 not_before, payload) ",
        );
        query.push_values(chunk, |mut row, (key, spec)| {
            row.push_bind(owner.run_id)
                .push_bind(owner.connection_id)
                .push_bind(owner.tenant_id)
                .push_bind(owner.channel.as_str())
                .push_bind(owner.generation)
                .push_bind(owner.trace_context)
                .push_bind(instant(owner.now))
                .push_bind(instant(owner.now))
                .push_bind("pending")
                .push_bind(key.as_str())
                .push_bind(spec.kind.name())
                .push_bind(priority_code(spec.priority))
                .push_bind(instant(spec.not_before))
                .push_bind(Json(*spec));
        });
        query.push(" ON CONFLICT (run_id, step_key) DO NOTHING RETURNING id, step_key");
        let rows: Vec<(i64, String)> = query.build_query_as().fetch_all(&mut *conn).await?;
        inserted.extend(rows);
    }
    Ok(inserted)
}

impl Store {
    /// Upserts a page of a connection's messages outside any step, in one statement (C5
    /// still holds: the channel's ids are unique). For importing history from elsewhere
    /// and for the page-write benchmark; the sync writes through [`Store::commit_step`].
    /// Returns the rows inserted or completed.
    pub async fn import_messages(
        &self,
        connection_id: i64,
        messages: &[Message],
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let mut tx = self.pools.begin().await?;
        let owner = ItemOwner {
            connection_id,
            run_id: None,
            now,
        };
        let written = upsert_messages(&mut tx, owner, messages).await?;
        tx.commit().await?;
        Ok(written)
    }
}
