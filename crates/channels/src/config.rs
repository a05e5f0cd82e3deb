//! Connector configuration: hosts, API versions, page-size maxima, timeouts.
//!
//! Every default points at the real channel (C9): the production hosts, a current Graph
//! version, and the largest page sizes the spec documents or practitioners observed.
//! Tests and the demo point `base_url` at the simulator instead. Each channel section can
//! be given partially; missing fields keep that channel's defaults.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Everything [`crate::Connector::new`] needs. `Default` is production.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectorsConfig {
    /// Whole-request timeout, connect to last body byte (seconds in files).
    #[serde(deserialize_with = "seconds")]
    pub request_timeout: Duration,
    /// TCP + TLS connect timeout (seconds in files).
    #[serde(deserialize_with = "seconds")]
    pub connect_timeout: Duration,
    /// How long a throttled account waits when the channel names no time: Graph throttle
    /// codes without `estimated_time_to_regain_access`, Zalo -32, a 429 without
    /// `Retry-After` (seconds in files).
    #[serde(deserialize_with = "seconds")]
    pub default_throttle_backoff: Duration,
    /// Bodies larger than this (after decompression) are refused as `Permanent`, so a
    /// runaway answer cannot exhaust a worker's memory.
    pub max_body_bytes: usize,
    /// How many times a Graph code 1 "reduce the amount of data" answer is asked again
    /// with half the page size before the call gives up as `Transient`.
    pub reduce_data_retries: u32,
    pub facebook: FacebookConfig,
    pub instagram: InstagramConfig,
    pub zalo: ZaloConfig,
    pub shopee: ShopeeConfig,
}

impl Default for ConnectorsConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            // Meta: "stop calling when limited, further calls extend the block" [M6]; a
            // minute is long enough not to extend it and short enough to be cheap.
            default_throttle_backoff: Duration::from_secs(60),
            max_body_bytes: 32 * 1024 * 1024,
            // 4 halvings take a nested listing from 100 x 100 to 6 x 6.
            reduce_data_retries: 4,
            facebook: FacebookConfig::default(),
            instagram: InstagramConfig::default(),
            zalo: ZaloConfig::default(),
            shopee: ShopeeConfig::default(),
        }
    }
}

/// Facebook Pages on the Graph API [M1–M11].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FacebookConfig {
    pub base_url: String,
    /// `vNN.0`; M2 documents v25.0.
    pub api_version: String,
    /// `/{page-id}/conversations`. A third-party claim says 200 [§1.2, UNVERIFIED];
    /// practitioners' back-fills use 100, which also keeps nested expansions small.
    pub conversations_page_max: u32,
    /// `/{conversation-id}/messages` and the nested `messages.limit(n)` [§1.2, UNVERIFIED].
    pub messages_page_max: u32,
    /// `/{page-id}/posts`: the feed rules cap `limit` at 100 [M10].
    pub posts_page_max: u32,
    /// `/{post-id}/comments`: no cap documented [M11]; 100 like the feed.
    pub comments_page_max: u32,
    /// Conversations times nested messages one listing may ask for. Graph refuses a
    /// larger expansion with code 1 "reduce the amount of data" [PR1], and the retry with
    /// less would be a second call on one rate-limit token; the figure is UNVERIFIED.
    pub nested_expansion_max: u32,
}

impl Default for FacebookConfig {
    fn default() -> Self {
        Self {
            base_url: "https://graph.facebook.com".to_owned(),
            api_version: "v25.0".to_owned(),
            conversations_page_max: 100,
            messages_page_max: 100,
            posts_page_max: 100,
            comments_page_max: 100,
            nested_expansion_max: 5_000,
        }
    }
}

/// Instagram API with Instagram Login, on `graph.instagram.com` [IG1–IG4].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstagramConfig {
    pub base_url: String,
    pub api_version: String,
    /// `/{ig-user-id}/conversations`: no documented cap; as Facebook.
    pub conversations_page_max: u32,
    /// `/{conversation-id}/messages` and the nested expansion: as Facebook.
    pub messages_page_max: u32,
    /// `/{ig-user-id}/media`: no documented cap [IG3]; 100 as the Graph edges.
    pub media_page_max: u32,
    /// `/{ig-media-id}/comments`: "max 50 comments per query" [IG2].
    pub comments_page_max: u32,
    /// As Facebook's.
    pub nested_expansion_max: u32,
}

impl Default for InstagramConfig {
    fn default() -> Self {
        Self {
            base_url: "https://graph.instagram.com".to_owned(),
            api_version: "v25.0".to_owned(),
            conversations_page_max: 100,
            messages_page_max: 100,
            media_page_max: 100,
            comments_page_max: 50,
            nested_expansion_max: 5_000,
        }
    }
}

/// Zalo Official Account Open API [Z1, Z2].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZaloConfig {
    pub base_url: String,
    /// Chat history reads stay on v2.0 after sending moved to v3.0 [§3.1].
    pub chat_api_version: String,
    /// User APIs moved to v3.0; v2 answers -240 [Z2].
    pub user_api_version: String,
    /// `listrecentchat` `count`: several clients cap at 10 [Z2].
    pub recent_chats_page_max: u32,
    /// `conversation` `count`: the same 10 [Z2].
    pub messages_page_max: u32,
}

impl Default for ZaloConfig {
    fn default() -> Self {
        Self {
            base_url: "https://openapi.zalo.me".to_owned(),
            chat_api_version: "v2.0".to_owned(),
            user_api_version: "v3.0".to_owned(),
            recent_chats_page_max: 10,
            messages_page_max: 10,
        }
    }
}

/// Shopee Open Platform v2 seller chat [S1–S5].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShopeeConfig {
    /// The SG host; CN, BR and sandbox hosts are listed in [S1].
    pub base_url: String,
    /// The path segment after `/api/`: `v2`.
    pub api_version: String,
    /// `get_conversation_list` `page_size`: above 25 the list comes back empty [S5].
    pub conversations_page_max: u32,
    /// `get_message` `page_size`: one production client uses 60, others 20–50 [S5,
    /// UNVERIFIED]. 60 fits the 30-message rule (H9) into one call.
    pub messages_page_max: u32,
}

impl Default for ShopeeConfig {
    fn default() -> Self {
        Self {
            base_url: "https://partner.shopeemobile.com".to_owned(),
            api_version: "v2".to_owned(),
            conversations_page_max: 25,
            messages_page_max: 60,
        }
    }
}

/// Durations are whole or fractional seconds in configuration files.
fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(deserializer)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_section_keeps_that_channels_own_defaults() {
        let config: ConnectorsConfig = serde_json::from_str(
            r#"{"request_timeout": 2.5, "instagram": {"base_url": "http://127.0.0.1:9"}}"#,
        )
        .unwrap();
        assert_eq!(config.request_timeout, Duration::from_millis(2500));
        assert_eq!(config.instagram.base_url, "http://127.0.0.1:9");
        assert_eq!(config.instagram.comments_page_max, 50);
        assert_eq!(config.facebook, FacebookConfig::default());
    }

    #[test]
    fn unknown_fields_are_refused_rather_than_ignored() {
        let err =
            serde_json::from_str::<ConnectorsConfig>(r#"{"zalo": {"count": 50}}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
