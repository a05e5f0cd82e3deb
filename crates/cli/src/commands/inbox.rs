//! `backfill inbox`: an account's conversations as the merchant's inbox shows them —
//! newest activity first, 20 by default (C3, H7) — each with its messages oldest first.

use std::process::ExitCode;

use anyhow::bail;
use backfill_policy::Channel;
use backfill_store::inbox::MAX_INBOX_LIMIT;
use backfill_store::{Account, StoredMessage};
use chrono::{DateTime, Utc};
use clap::Args;
use secrecy::ExposeSecret as _;
use serde::Serialize;

use super::parse_channel;
use crate::config::Config;
use crate::store;

/// Messages shown per conversation in the human form (`--json` has them all).
const SHOWN_MESSAGES: usize = 3;

#[derive(Debug, Args)]
pub struct InboxArgs {
    /// The store (default: the configured `store.url`, a SQLite file).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// facebook, instagram, zalo or shopee.
    #[arg(long, value_parser = parse_channel)]
    pub channel: Channel,
    /// The account's channel id.
    #[arg(long, value_name = "ID")]
    pub account: String,
    /// Conversations to list, 1 to 100 (default 20).
    #[arg(long)]
    pub limit: Option<u32>,
    /// The tenant the account belongs to.
    #[arg(long, default_value = "local")]
    pub tenant: String,
    /// Print the inbox as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct InboxView {
    conversations: Vec<ConversationView>,
}

#[derive(Debug, Serialize)]
struct ConversationView {
    /// The channel's conversation id.
    id: String,
    last_activity: DateTime<Utc>,
    /// `open` when synced (H7).
    status: String,
    #[serde(skip)]
    customer: Option<String>,
    messages: Vec<MessageView>,
}

#[derive(Debug, Serialize)]
struct MessageView {
    /// The channel's message id.
    id: String,
    created_at: DateTime<Utc>,
    /// The sender's channel id (the customer's, or the account's own).
    from: Option<String>,
    text: Option<String>,
    unavailable: bool,
}

impl From<StoredMessage> for MessageView {
    fn from(m: StoredMessage) -> Self {
        Self {
            id: m.channel_id,
            created_at: m.created_at,
            from: m.sender.map(|p| p.id),
            text: m.text,
            unavailable: m.unavailable,
        }
    }
}

pub async fn run(args: InboxArgs, config: &Config) -> anyhow::Result<ExitCode> {
    if let Some(limit) = args.limit
        && !(1..=MAX_INBOX_LIMIT).contains(&limit)
    {
        bail!("--limit must be 1 to {MAX_INBOX_LIMIT}, got {limit}");
    }
    let url = args
        .store
        .clone()
        .unwrap_or_else(|| config.store.url.expose_secret().to_owned());
    if let Some(path) = store::sqlite_path(&url)
        && !path.exists()
    {
        bail!(
            "no store at {}: sync an account first, or pass --store URL",
            path.display()
        );
    }
    let key = store::credential_key(config.secrets.credential_key.as_ref(), &url)?;
    let store = store::open(&url, key, 2).await?;
    let account = Account::Channel {
        channel: args.channel,
        account_id: &args.account,
    };
    let page = store.inbox(&args.tenant, account, None, args.limit).await?;
    let total = store
        .synced_conversation_count(&args.tenant, account)
        .await?;
    let mut conversations = Vec::with_capacity(page.conversations.len());
    for conversation in page.conversations {
        let messages = store
            .messages(&args.tenant, account, &conversation.channel_id)
            .await?;
        conversations.push(ConversationView {
            id: conversation.channel_id,
            last_activity: conversation.last_activity,
            status: conversation.state,
            customer: conversation.customer.map(|c| c.name.unwrap_or(c.id)),
            messages: messages.into_iter().map(Into::into).collect(),
        });
    }
    store.close().await;
    let view = InboxView { conversations };
    if args.json {
        println!("{}", serde_json::to_string(&view)?);
    } else {
        print!("{}", human(&args, &view, total));
    }
    Ok(ExitCode::SUCCESS)
}

fn human(args: &InboxArgs, view: &InboxView, total: u32) -> String {
    let mut out = format!(
        "{} {}: the {} newest of {} conversations, newest first\n",
        args.channel,
        args.account,
        view.conversations.len(),
        total
    );
    for c in &view.conversations {
        out.push_str(&format!(
            "\n{}  {}  [{}]  {} messages  ({})\n",
            c.last_activity.format("%Y-%m-%d %H:%M"),
            c.customer.as_deref().unwrap_or("unknown customer"),
            c.status,
            c.messages.len(),
            c.id,
        ));
        let skipped = c.messages.len().saturating_sub(SHOWN_MESSAGES);
        if skipped > 0 {
            out.push_str(&format!("    … {skipped} earlier\n"));
        }
        for m in &c.messages[skipped..] {
            let text = if m.unavailable {
                "(unavailable: the channel no longer gives its content)".to_owned()
            } else {
                m.text.clone().unwrap_or_else(|| "(attachment)".to_owned())
            };
            let text: String = text.chars().take(70).collect();
            out.push_str(&format!(
                "    {}  {}\n",
                m.created_at.format("%Y-%m-%d %H:%M"),
                text.replace('\n', " ")
            ));
        }
    }
    out
}
