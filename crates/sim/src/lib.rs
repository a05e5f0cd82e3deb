//! A faithful simulator of the four channel APIs the back-fill calls: Facebook Pages and
//! Instagram (Graph API), Zalo Official Account and Shopee seller chat. Tests, the demo and
//! the benchmarks point the real clients at it, because the real servers cannot be reached;
//! it is only worth what its faithfulness is, so every point of section 6 of
//! `channel-apis.md` is reproduced and every UNVERIFIED number there is a setting.
//!
//! Map of the crate:
//! - [`dataset`]: the simulated world, generated deterministically from a profile, a seed
//!   and a "now", with messages derived lazily. Other crates' tests read it to compute what
//!   a policy should have synced.
//! - `server`: one axum server, the four channels under path prefixes that stand in for their
//!   hosts ([`SimHandle::base_url`]), plus `/_sim/*` control endpoints ([`spawn`]).
//! - `graph` (Facebook and Instagram), `zalo`, `shopee`: each channel's endpoints, envelopes,
//!   paging, errors and quirks, built with `serde_json::json!`. The simulator shares no wire
//!   type with the clients (it depends on no other crate of the project), so that a mistake
//!   in one cannot hide in both.
//! - `limits`: rate-limit windows (Meta BUC and Platform budgets, 2 calls/s on
//!   conversations, Zalo and Shopee quotas); `tokens`: tokens, revocation, permissions.
//! - [`faults`]: injected latency, hangs, 5xx, malformed and truncated bodies, per channel,
//!   changeable at runtime; [`stats`]: what each account was asked and answered.
//! - [`settings`]: every tunable number with its documented default and source tag.
//! - `manifest` and `cli`: the JSON manifest and `backfill sim`'s arguments ([`run`]).
//!
//! URL layout on one port `P` (clients append the real paths to the base URL):
//! - `http://127.0.0.1:P/facebook` for `https://graph.facebook.com`: `/vNN.N/{page-id}/conversations`,
//!   `/feed`, `/posts`, `/published_posts`, `/{conversation-id}[/messages]`, `/{message-id}`,
//!   `/{post-id}[/comments]`, `/{comment-id}[/comments]`, `/me` (Page token).
//! - `http://127.0.0.1:P/instagram` for `https://graph.instagram.com`: `/vNN.N/me/conversations`,
//!   `/{ig-user-id}/conversations`, `/{ig-user-id}/media`, `/{media-id}/comments`,
//!   `/{comment-id}/replies`, conversation, message and media nodes.
//! - `http://127.0.0.1:P/zalo` for `https://openapi.zalo.me`: `/v2.0/oa/listrecentchat`,
//!   `/v2.0/oa/conversation`, `/v3.0/oa/user/detail`, `/v3.0/oa/user/getlist`,
//!   `/v2.0/oa/getfollowers` (shut down, -240).
//! - `http://127.0.0.1:P/shopee` for `https://partner.shopeemobile.com`:
//!   `/api/v2/sellerchat/get_conversation_list`, `get_message`, `get_one_conversation`.
//! - `/_sim/stats` (GET), `/_sim/stats/reset`, `/_sim/faults` (GET, POST), `/_sim/revoke`,
//!   `/_sim/tokens`, `/_sim/manifest`: the simulator's own controls.
//!
//! Invariants: the simulator only ever binds and links to loopback addresses it was given;
//! generated media URLs use the reserved `.invalid` top-level domain; the same seed always
//! yields the same data and, for a sequential client, the same injected faults.

// Reason: `[M6]`, `[S5]`... in doc comments cite the source tags of `channel-apis.md`, not items.
#![allow(rustdoc::broken_intra_doc_links)]

mod cli;
pub mod dataset;
pub mod faults;
mod graph;
mod limits;
mod manifest;
mod mix;
mod server;
pub mod settings;
mod shopee;
pub mod stats;
mod tokens;
mod zalo;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use cli::{SimArgs, run};
pub use dataset::{Dataset, Profile};
pub use faults::{ChannelFaults, Faults, Latency};
pub use manifest::{BaseUrls, Manifest, ManifestAccount};
pub use server::{SimConfig, SimError, SimHandle, spawn};
pub use settings::{GraphSettings, RateBudget, ShopeeSettings, SimSettings, ZaloSettings};
/// For tests that hand-craft Shopee requests; a client must sign with its own code.
pub use shopee::sign as shopee_sign;
pub use stats::{AccountStats, SimStats};
pub use tokens::{Permission, RevokeReason, TokenKind};

/// The four channels. The discriminants index per-channel arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Facebook = 0,
    Instagram = 1,
    Zalo = 2,
    Shopee = 3,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Facebook,
        Channel::Instagram,
        Channel::Zalo,
        Channel::Shopee,
    ];

    /// The lowercase name, which is also the channel's path prefix on the simulator.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Facebook => "facebook",
            Channel::Instagram => "instagram",
            Channel::Zalo => "zalo",
            Channel::Shopee => "shopee",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parsing an unknown channel name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel {0:?}: expected facebook, instagram, zalo or shopee")]
pub struct UnknownChannel(pub String);

impl FromStr for Channel {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownChannel(s.to_owned()))
    }
}
