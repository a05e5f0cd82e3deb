//! Every number of the channel APIs that no official source confirmed is a setting here, with
//! the documented or observed value as its default; the doc comment of each field names its
//! source tag from `channel-apis.md` or says UNVERIFIED. Settings are fixed when the
//! simulator starts; faults (`faults.rs`) are what changes at runtime.
//!
//! All structs deserialize from partial JSON: a missing field keeps its default.

use serde::{Deserialize, Serialize};

/// All settings of one simulator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimSettings {
    pub graph: GraphSettings,
    pub zalo: ZaloSettings,
    pub shopee: ShopeeSettings,
}

/// A budget of calls per rolling window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateBudget {
    pub calls: u32,
    pub window_secs: f64,
}

impl RateBudget {
    pub const fn new(calls: u32, window_secs: f64) -> Self {
        RateBudget { calls, window_secs }
    }
}

/// What an edge does with a `limit` above its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverMax {
    /// Serve at most the maximum, silently.
    Cap,
    /// Answer a parameter error.
    Reject,
}

/// `limit` rules of one Graph edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeLimit {
    /// When `limit` is absent.
    pub default: u32,
    pub max: u32,
    pub over_max: OverMax,
}

impl EdgeLimit {
    const fn new(default: u32, max: u32, over_max: OverMax) -> Self {
        EdgeLimit {
            default,
            max,
            over_max,
        }
    }
}

/// A Graph error the simulator can be told to answer differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphErrorSpec {
    pub code: u32,
    pub subcode: Option<u32>,
    pub message: String,
    pub http_status: u16,
}

/// What `/conversations` does with `since`/`until`, which it does not support [M2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsupportedParam {
    Ignore,
    Reject,
}

/// Which calls count towards the per-account Conversations API rate (M7: 2 calls/s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationsRateScope {
    /// Only the `/{page-id}/conversations` listing.
    Listing,
    /// Every conversation read: listing, conversation node, `/messages`, message detail.
    AllConversationReads,
}

/// Facebook Pages and Instagram (Graph API) settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GraphSettings {
    /// `/conversations`: 25 by default [PR1], 200 at most (UNVERIFIED, one Q&A).
    pub conversations_limit: EdgeLimit,
    /// `/messages` and nested `messages.limit(n)`: 25 / 100 (UNVERIFIED, one Q&A).
    pub messages_limit: EdgeLimit,
    /// `/feed`, `/posts`, `/published_posts`: at most 100, above is an error [M10].
    pub feed_limit: EdgeLimit,
    /// Facebook `/comments`: the maximum is UNVERIFIED [M11]; 100, capped.
    pub comments_limit: EdgeLimit,
    /// Instagram `/comments`: 50 per query [IG2].
    pub instagram_comments_limit: EdgeLimit,
    /// Instagram `/media`: UNVERIFIED; 25 / 100, capped.
    pub media_limit: EdgeLimit,
    /// Code 1 "reduce the amount of data" when a listing's `limit` times its nested
    /// `messages.limit(n)` exceeds this [PR1]; the threshold is UNVERIFIED.
    pub reduce_data_threshold: u32,
    pub reduce_data_error: GraphErrorSpec,
    /// Only the newest N messages of a conversation have details [M1]. The v19 references
    /// scope this to Instagram [M3, M4]; the 2026 guide does not. `None` = all messages.
    pub facebook_detail_depth: Option<u32>,
    pub instagram_detail_depth: Option<u32>,
    /// The answer to a detail request for an older message. Code and subcode UNVERIFIED [M1].
    pub deleted_message_error: GraphErrorSpec,
    /// Share of non-first pages served empty, with `next` still present [M5].
    pub empty_page_rate: f64,
    /// Share of pages holding fewer than `limit` items although more follow [M5].
    pub short_page_rate: f64,
    pub conversations_since_until: UnsupportedParam,
    /// Conversations API calls per second per Page or Instagram account [M7].
    pub conversations_calls_per_second: u32,
    pub conversations_rate_scope: ConversationsRateScope,
    /// The answer to a call beyond that rate; M2 lists 613 for `/conversations`.
    pub conversations_rate_error: GraphErrorSpec,
    /// Business Use Case budget per account and type (`pages`, `messenger`, `instagram`) for
    /// Page and Instagram tokens [M6]. Meta's is "4800 × engaged users" per 24 h (older copy:
    /// per hour); the simulator uses one engaged user and an hour so that a demo recovers.
    pub buc_budget: RateBudget,
    /// Platform limit of the app, shared by all user-token calls: 200 × users per rolling
    /// hour [M6]; 10 users. Throttle code 4.
    pub app_budget: RateBudget,
    /// Per user token (UNVERIFIED): code 32 on Page calls, 17 otherwise.
    pub user_budget: RateBudget,
    /// Usage headers appear once usage reaches this percentage [M6: "once enough calls"].
    pub usage_header_threshold_pct: u32,
    /// Each call made while blocked extends the block by this much [M6].
    pub block_extension_secs: f64,
    /// HTTP status of BUC and rate throttles (UNVERIFIED: "do not assume 429").
    pub throttle_http_status: u16,
    /// HTTP status of code 4, observed as 403 [GH1].
    pub app_throttle_http_status: u16,
}

impl Default for GraphSettings {
    fn default() -> Self {
        GraphSettings {
            conversations_limit: EdgeLimit::new(25, 200, OverMax::Cap),
            messages_limit: EdgeLimit::new(25, 100, OverMax::Cap),
            feed_limit: EdgeLimit::new(25, 100, OverMax::Reject),
            comments_limit: EdgeLimit::new(25, 100, OverMax::Cap),
            instagram_comments_limit: EdgeLimit::new(25, 50, OverMax::Cap),
            media_limit: EdgeLimit::new(25, 100, OverMax::Cap),
            reduce_data_threshold: 5_000,
            reduce_data_error: GraphErrorSpec {
                code: 1,
                subcode: None,
                message: "Please reduce the amount of data you're asking for, then retry your request"
                    .into(),
                http_status: 500,
            },
            facebook_detail_depth: None,
            instagram_detail_depth: Some(20),
            deleted_message_error: GraphErrorSpec {
                code: 100,
                subcode: Some(33),
                message: "(#100) The message has been deleted: only the 20 most recent messages of a conversation can be read"
                    .into(),
                http_status: 400,
            },
            empty_page_rate: 0.1,
            short_page_rate: 0.1,
            conversations_since_until: UnsupportedParam::Ignore,
            conversations_calls_per_second: 2,
            conversations_rate_scope: ConversationsRateScope::Listing,
            conversations_rate_error: GraphErrorSpec {
                code: 613,
                subcode: None,
                message: "(#613) Calls to this api have exceeded the rate limit.".into(),
                http_status: 400,
            },
            buc_budget: RateBudget::new(4_800, 3_600.0),
            app_budget: RateBudget::new(2_000, 3_600.0),
            user_budget: RateBudget::new(1_000, 3_600.0),
            usage_header_threshold_pct: 10,
            block_extension_secs: 60.0,
            throttle_http_status: 400,
            app_throttle_http_status: 403,
        }
    }
}

/// Business error codes of Zalo, all UNVERIFIED officially [Z2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ZaloErrorCodes {
    pub invalid_token: i32,
    pub rate_limit: i32,
    pub invalid_param: i32,
    pub api_shut_down: i32,
}

impl Default for ZaloErrorCodes {
    fn default() -> Self {
        ZaloErrorCodes {
            invalid_token: -216,
            rate_limit: -32,
            invalid_param: -201,
            api_shut_down: -240,
        }
    }
}

/// Zalo Official Account settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ZaloSettings {
    /// `count` maximum of `listrecentchat` and `conversation` [Z2].
    pub chat_count_max: u32,
    /// `count` maximum of `user/getlist` [Z2].
    pub user_list_count_max: u32,
    /// A larger `count` is served capped (default) or refused with `invalid_param`.
    pub over_max_count: OverMax,
    /// `user/getlist` refuses `offset + count` above this (UNVERIFIED, one client).
    pub user_list_offset_limit: u32,
    /// Calls per OA per window before `rate_limit` (no official quota found).
    pub budget: RateBudget,
    pub errors: ZaloErrorCodes,
}

impl Default for ZaloSettings {
    fn default() -> Self {
        ZaloSettings {
            chat_count_max: 10,
            user_list_count_max: 50,
            over_max_count: OverMax::Cap,
            user_list_offset_limit: 10_000,
            budget: RateBudget::new(1_000, 60.0),
            errors: ZaloErrorCodes::default(),
        }
    }
}

/// What `get_conversation_list` does with a `page_size` above its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OversizePage {
    /// Answer an empty list with `more: false`, as observed in production [S5].
    Empty,
    Cap,
    Reject,
}

/// Shopee seller-chat settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShopeeSettings {
    /// `get_conversation_list` `page_size` maximum [S5].
    pub conversation_page_size_max: u32,
    pub conversation_page_size_default: u32,
    pub oversize_conversation_page: OversizePage,
    /// `get_message` `page_size` maximum (UNVERIFIED: 60 is the largest any client used);
    /// larger values are capped.
    pub message_page_size_max: u32,
    pub message_page_size_default: u32,
    /// `timestamp` must be within this many seconds of the server's clock [S1].
    pub timestamp_tolerance_secs: u64,
    /// Access tokens live this long [S1].
    pub token_lifetime_secs: u64,
    /// Calls per shop per window (UNVERIFIED; a community report says ~1000 rps).
    pub budget: RateBudget,
    /// Error name and HTTP status of a rate-limited call (UNVERIFIED).
    pub rate_limit_error: String,
    pub rate_limit_http_status: u16,
    /// Error name of a stale or future `timestamp` (UNVERIFIED).
    pub stale_timestamp_error: String,
    /// HTTP statuses of the error classes (UNVERIFIED; some clients saw 403 for auth).
    pub auth_error_http_status: u16,
    pub sign_error_http_status: u16,
    pub param_error_http_status: u16,
    /// `next_offset` on the last page of messages; clients treat `"0"` and `""` alike [S5].
    pub end_of_messages_offset: String,
}

impl Default for ShopeeSettings {
    fn default() -> Self {
        ShopeeSettings {
            conversation_page_size_max: 25,
            conversation_page_size_default: 25,
            oversize_conversation_page: OversizePage::Empty,
            message_page_size_max: 60,
            message_page_size_default: 25,
            timestamp_tolerance_secs: 300,
            token_lifetime_secs: 4 * 3_600,
            budget: RateBudget::new(1_000, 1.0),
            rate_limit_error: "error_rate_limit".into(),
            rate_limit_http_status: 429,
            stale_timestamp_error: "error_param".into(),
            auth_error_http_status: 403,
            sign_error_http_status: 403,
            param_error_http_status: 400,
            end_of_messages_offset: String::new(),
        }
    }
}
