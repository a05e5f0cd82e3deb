//! A tiny scripted HTTP server on 127.0.0.1:0 and helpers shared by the test binaries.
//!
//! Each test queues the answers it wants, in order; the server records every request
//! (method, target, headers) so a test can check what the client asked for.

#![allow(dead_code)] // Each test binary uses its own part of the helpers.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backfill_channels::{Account, Connector, ConnectorsConfig, Credentials, SecretString};
use backfill_policy::{Channel, Cursor, Priority, StepKind, StepSpec};
use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const TOKEN: &str = "EAAGm0PX4ZCpsBAKZBSecretTok3n";
pub const PARTNER_KEY: &str = "shpk-partner-key-7f3a9c";
pub const PAGE_ID: &str = "1200000000000009";
pub const IG_ID: &str = "17841400000000000";
pub const SHOP_ID: &str = "300001";
pub const PARTNER_ID: u64 = 2_000_001;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub behaviour: Behaviour,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Answer,
    /// Read the request, then say nothing until the client gives up.
    Hang,
    /// Close the connection without answering.
    Hangup,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            behaviour: Behaviour::Answer,
        }
    }

    pub fn fixture(status: u16, name: &str) -> Self {
        Self::json(status, fixture(name))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn behaving(behaviour: Behaviour) -> Self {
        Self {
            behaviour,
            ..Self::json(200, "")
        }
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://fixture{}", self.target)).unwrap()
    }

    pub fn path(&self) -> String {
        self.url().path().to_owned()
    }

    pub fn query(&self, name: &str) -> Option<String> {
        self.url()
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    seen: Vec<Seen>,
}

pub struct FixtureServer {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl FixtureServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(Script::default()));
        let shared = script.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Self { addr, script }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn push(&self, reply: Reply) -> &Self {
        self.script.lock().unwrap().replies.push_back(reply);
        self
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script.lock().unwrap().seen.clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("a request was made")
    }

    /// A connector whose four channels all point at this server, with a short timeout.
    pub fn connector(&self) -> Connector {
        let mut config = ConnectorsConfig {
            request_timeout: Duration::from_millis(700),
            connect_timeout: Duration::from_millis(700),
            ..ConnectorsConfig::default()
        };
        config.facebook.base_url = self.url();
        config.instagram.base_url = self.url();
        config.zalo.base_url = self.url();
        config.shopee.base_url = self.url();
        Connector::new(config).unwrap()
    }
}

async fn serve(mut stream: TcpStream, script: Arc<Mutex<Script>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let reply = {
        let mut script = script.lock().unwrap();
        script.seen.push(Seen {
            method,
            target,
            headers,
        });
        script.replies.pop_front()
    };
    let reply = reply.unwrap_or_else(|| Reply::json(599, r#"{"fixture":"none queued"}"#));
    match reply.behaviour {
        Behaviour::Hangup => return,
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        Behaviour::Answer => {}
    }
    let mut out = format!(
        "HTTP/1.1 {} Fixture\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&reply.body);
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

/// The text of `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn meta(channel: Channel) -> Account {
    let account_id = if channel == Channel::Instagram {
        IG_ID
    } else {
        PAGE_ID
    };
    Account {
        channel,
        account_id: account_id.to_owned(),
        credentials: Credentials::Meta {
            access_token: SecretString::from(TOKEN),
        },
    }
}

pub fn zalo() -> Account {
    Account {
        channel: Channel::Zalo,
        account_id: "2200000000000000002".to_owned(),
        credentials: Credentials::Zalo {
            access_token: SecretString::from(TOKEN),
        },
    }
}

pub fn shopee() -> Account {
    Account {
        channel: Channel::Shopee,
        account_id: SHOP_ID.to_owned(),
        credentials: Credentials::Shopee {
            partner_id: PARTNER_ID,
            partner_key: SecretString::from(PARTNER_KEY),
            access_token: SecretString::from(TOKEN),
        },
    }
}

pub fn step(
    kind: StepKind,
    cursor: Option<&str>,
    want: Option<u32>,
    nested_want: Option<u32>,
) -> StepSpec {
    StepSpec {
        kind,
        cursor: cursor.map(Cursor::new),
        priority: Priority::Slice,
        not_before: Utc::now(),
        want,
        nested_want,
    }
}

pub fn list_conversations() -> StepKind {
    StepKind::ListConversations(backfill_policy::step::ConversationWalk {
        page: 0,
        mode: backfill_policy::step::ListingMode::Initial,
        seen: 0,
        skip: 0,
        round1: 0,
        round2: 0,
        in_round2: false,
    })
}

pub fn fetch_messages(conversation_id: &str) -> StepKind {
    StepKind::FetchMessages(backfill_policy::step::MessageWalk {
        page: 0,
        conversation_id: conversation_id.to_owned(),
        slice_conversation: true,
        seen: 0,
        kept: 0,
        cap: None,
        late_arrival_at: None,
    })
}

pub fn check_follower(user_id: &str) -> StepKind {
    StepKind::CheckFollower(backfill_policy::step::FollowerCheck {
        user_id: user_id.to_owned(),
        slice_conversation: true,
    })
}

pub fn list_posts() -> StepKind {
    StepKind::ListPosts(backfill_policy::step::PostWalk {
        page: 0,
        seen: 0,
        kept: 0,
        queued: Vec::new(),
    })
}

pub fn fetch_comments(post_id: &str) -> StepKind {
    StepKind::FetchComments(backfill_policy::step::CommentWalk {
        page: 0,
        post_id: post_id.to_owned(),
        seen: 0,
        kept: 0,
        budget: None,
        next_posts: Vec::new(),
    })
}
