//! The dataset sizes, as data. Numbers are chosen so the policies' cut-offs bite:
//! history longer than the one-year look-back (`shopline` S2), a few dozen conversations in
//! the last 30 days (`harasocial` H1), conversations longer than one page of messages, and
//! a couple far longer than any per-conversation cap.

use serde::{Deserialize, Serialize};

use super::content::Locale;
use crate::Channel;

/// How much data a dataset holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// A handful of items per account: for the simulator's own tests and quick unit tests.
    Tiny,
    /// A realistic shop: syncable in seconds, enough to exercise every policy rule.
    Small,
    /// A big Page (20,000 conversations, some with 1,000+ messages): for benchmarks.
    Large,
    /// Two hundred accounts at once: the big Page of `large` and 199 small accounts of
    /// the four channels, for the fleet's load and fairness proof (C6).
    Crowd,
}

/// How many small accounts `crowd` adds beside its big Page.
pub const CROWD_SMALL_ACCOUNTS: usize = 199;

/// The shape of one account's data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccountSpec {
    pub channel: Channel,
    pub name: &'static str,
    pub username: Option<&'static str>,
    pub locale: Locale,
    pub conversations: u32,
    /// How many of them had activity in the last 30 days.
    pub recent: u32,
    /// Age in days of the oldest conversation's last activity.
    pub history_days: u32,
    /// Most conversations hold between 1 and this many messages, skewed towards few.
    pub typical_messages: u32,
    /// Every `long_every`-th conversation (by rank, newest first) is long; 0 means none.
    pub long_every: u32,
    pub long_messages: (u32, u32),
    /// `(rank, message count)` of conversations with a fixed, large number of messages.
    pub heavy: &'static [(u32, u32)],
    pub posts: u32,
    pub post_history_days: u32,
    pub typical_comments: u32,
    /// `(rank, comment count)` of posts with many comments.
    pub heavy_comments: &'static [(u32, u32)],
}

const BASE: AccountSpec = AccountSpec {
    channel: Channel::Facebook,
    name: "",
    username: None,
    locale: Locale::Vi,
    conversations: 0,
    recent: 0,
    history_days: 730,
    typical_messages: 12,
    long_every: 0,
    long_messages: (0, 0),
    heavy: &[],
    posts: 0,
    post_history_days: 730,
    typical_comments: 0,
    heavy_comments: &[],
};

const TW_PAGE: &str = "小森選物 Komori Select";
const VN_PAGE: &str = "Tiệm Áo Mây";
const IG_NAME: &str = "Mây Studio";
const IG_USERNAME: &str = "may.studio.vn";
const ZALO_OA: &str = "Mây Fashion";
const SHOPEE_SHOP: &str = "may_fashion_official";

impl Profile {
    pub(crate) fn accounts(self) -> Vec<AccountSpec> {
        match self {
            Profile::Tiny => vec![
                AccountSpec {
                    name: TW_PAGE,
                    locale: Locale::ZhTw,
                    conversations: 14,
                    recent: 5,
                    history_days: 420,
                    heavy: &[(1, 130), (6, 45)],
                    posts: 4,
                    post_history_days: 400,
                    typical_comments: 10,
                    heavy_comments: &[(0, 30)],
                    ..BASE
                },
                AccountSpec {
                    name: VN_PAGE,
                    conversations: 6,
                    recent: 2,
                    history_days: 420,
                    typical_messages: 8,
                    posts: 2,
                    post_history_days: 400,
                    typical_comments: 5,
                    ..BASE
                },
                AccountSpec {
                    channel: Channel::Instagram,
                    name: IG_NAME,
                    username: Some(IG_USERNAME),
                    conversations: 9,
                    recent: 3,
                    history_days: 420,
                    heavy: &[(0, 30)],
                    posts: 3,
                    post_history_days: 400,
                    typical_comments: 10,
                    heavy_comments: &[(0, 80)],
                    ..BASE
                },
                AccountSpec {
                    channel: Channel::Zalo,
                    name: ZALO_OA,
                    conversations: 13,
                    recent: 4,
                    history_days: 420,
                    heavy: &[(2, 25)],
                    ..BASE
                },
                AccountSpec {
                    channel: Channel::Shopee,
                    name: SHOPEE_SHOP,
                    conversations: 11,
                    recent: 4,
                    history_days: 420,
                    heavy: &[(0, 40)],
                    ..BASE
                },
            ],
            Profile::Small => vec![
                AccountSpec {
                    name: TW_PAGE,
                    locale: Locale::ZhTw,
                    conversations: 150,
                    recent: 40,
                    typical_messages: 40,
                    long_every: 9,
                    long_messages: (60, 180),
                    heavy: &[(2, 260), (17, 320), (60, 280)],
                    posts: 40,
                    typical_comments: 40,
                    heavy_comments: &[(1, 150), (5, 120)],
                    ..BASE
                },
                AccountSpec {
                    name: VN_PAGE,
                    conversations: 110,
                    recent: 30,
                    typical_messages: 30,
                    long_every: 10,
                    long_messages: (60, 120),
                    heavy: &[(5, 255)],
                    posts: 20,
                    typical_comments: 30,
                    heavy_comments: &[(0, 130)],
                    ..BASE
                },
                AccountSpec {
                    channel: Channel::Instagram,
                    name: IG_NAME,
                    username: Some(IG_USERNAME),
                    conversations: 80,
                    recent: 25,
                    typical_messages: 40,
                    long_every: 6,
                    long_messages: (50, 90),
                    posts: 20,
                    typical_comments: 30,
                    heavy_comments: &[(0, 70)],
                    ..BASE
                },
                AccountSpec {
                    channel: Channel::Zalo,
                    name: ZALO_OA,
                    conversations: 40,
                    recent: 12,
                    history_days: 540,
                    typical_messages: 28,
                    heavy: &[(1, 60), (9, 110)],
                    ..BASE
                },
                AccountSpec {
                    channel: Channel::Shopee,
                    name: SHOPEE_SHOP,
                    conversations: 120,
                    recent: 35,
                    typical_messages: 30,
                    long_every: 8,
                    long_messages: (35, 70),
                    ..BASE
                },
            ],
            Profile::Crowd => {
                let mut accounts = vec![Profile::Large.accounts()[0]];
                let channels = [
                    Channel::Facebook,
                    Channel::Instagram,
                    Channel::Zalo,
                    Channel::Shopee,
                ];
                accounts.extend((0..CROWD_SMALL_ACCOUNTS).map(|i| AccountSpec {
                    channel: channels[i % channels.len()],
                    name: SHOPEE_SHOP,
                    username: Some(IG_USERNAME),
                    conversations: 24,
                    recent: 12,
                    typical_messages: 10,
                    posts: 3,
                    typical_comments: 5,
                    ..BASE
                }));
                accounts
            }
            Profile::Large => vec![
                AccountSpec {
                    name: TW_PAGE,
                    locale: Locale::ZhTw,
                    conversations: 20_000,
                    recent: 2_500,
                    typical_messages: 40,
                    long_every: 25,
                    long_messages: (100, 400),
                    heavy: &[(0, 1_500), (3, 1_200), (50, 2_500), (5_000, 1_000)],
                    posts: 1_200,
                    typical_comments: 25,
                    heavy_comments: &[(0, 400), (10, 300)],
                    ..BASE
                },
                AccountSpec {
                    name: VN_PAGE,
                    conversations: 400,
                    recent: 60,
                    typical_messages: 30,
                    long_every: 10,
                    long_messages: (60, 150),
                    posts: 60,
                    typical_comments: 30,
                    ..BASE
                },
                AccountSpec {
                    channel: Channel::Instagram,
                    name: IG_NAME,
                    username: Some(IG_USERNAME),
                    conversations: 3_000,
                    recent: 400,
                    typical_messages: 40,
                    long_every: 10,
                    long_messages: (50, 150),
                    heavy: &[(0, 1_200)],
                    posts: 400,
                    typical_comments: 30,
                    heavy_comments: &[(0, 200)],
                    ..BASE
                },
                AccountSpec {
                    channel: Channel::Zalo,
                    name: ZALO_OA,
                    conversations: 1_800,
                    recent: 250,
                    typical_messages: 28,
                    long_every: 12,
                    long_messages: (40, 150),
                    heavy: &[(0, 1_000)],
                    ..BASE
                },
                AccountSpec {
                    channel: Channel::Shopee,
                    name: SHOPEE_SHOP,
                    conversations: 2_000,
                    recent: 300,
                    typical_messages: 30,
                    long_every: 10,
                    long_messages: (35, 90),
                    heavy: &[(0, 1_000)],
                    ..BASE
                },
            ],
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Profile::Tiny => "tiny",
            Profile::Small => "small",
            Profile::Large => "large",
            Profile::Crowd => "crowd",
        })
    }
}
