//! Policy presets: every number of POLICIES.md as data, overridable per tenant.
//!
//! A [`Policy`] is built from a preset ([`Policy::preset`]) and optionally patched with
//! a tenant's overrides ([`Policy::with_overrides`]). Overrides are a partial document
//! of the same shape as the serialized policy, so any field can be changed and an
//! unknown field is refused instead of silently ignored.

use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::calendar::PeakWindow;
use crate::channel::{Channel, PresetName};
use crate::error::PolicyError;
use crate::period::Period;

/// The complete set of rules one tenant's syncs follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub preset: PresetName,
    /// The tenant's time zone; peak hours are read in it (S3).
    pub timezone: Tz,
    /// Peak hours, when only slice steps run (S3). `None`: no peak.
    pub peak: Option<PeakWindow>,
    pub retries: RetryPolicy,
    /// The read side's defaults (H7).
    pub inbox: InboxRule,
    /// The channels this policy covers and their rules.
    pub channels: Channels,
}

/// One entry per channel; a channel left out cannot be connected under the policy.
/// (A struct rather than a map so that a misspelled channel is refused by name.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facebook: Option<ChannelPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instagram: Option<ChannelPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zalo: Option<ChannelPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shopee: Option<ChannelPolicy>,
}

impl Channels {
    pub fn get(&self, channel: Channel) -> Option<&ChannelPolicy> {
        match channel {
            Channel::Facebook => self.facebook.as_ref(),
            Channel::Instagram => self.instagram.as_ref(),
            Channel::Zalo => self.zalo.as_ref(),
            Channel::Shopee => self.shopee.as_ref(),
        }
    }

    /// The covered channels and their rules.
    pub fn iter(&self) -> impl Iterator<Item = (Channel, &ChannelPolicy)> {
        Channel::ALL
            .into_iter()
            .filter_map(|c| self.get(c).map(|rules| (c, rules)))
    }
}

/// The rules for one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelPolicy {
    pub conversations: ConversationRule,
    pub messages: MessageRule,
    /// Post comments (C2); `None` where the channel has none or the preset skips them.
    pub comments: Option<CommentRule>,
    /// What must appear first, and runs even in peak hours (S3, S4).
    pub slice: SliceRule,
    /// Zalo "load more" (H6).
    pub load_more: Option<LoadMoreRule>,
    /// Zalo late arrival (H8).
    pub late_arrival: Option<LateArrivalRule>,
    /// The channel's rate limits, enforced fleet-wide (C7).
    pub rate: RateBudget,
}

/// Which conversations are synced, walking the channel's list newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationRule {
    /// Round 1 keeps conversations whose last activity is at or after `T - lookback`
    /// and stops at the first older one (S2, H1). `None`: no time limit.
    pub lookback: Option<Period>,
    /// Round 1 keeps at most this many (H4, H5, H9). `None`: no cap (S2, H1).
    pub max: Option<u32>,
    /// Round 2, for when round 1 found too few (H2).
    pub top_up: Option<TopUp>,
}

/// H2: "if the 30 days do not give 100 conversations, the next round syncs at most 100
/// conversations, and both rounds together never exceed 200."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopUp {
    /// Round 2 runs only if round 1 kept fewer than this.
    pub if_fewer_than: u32,
    /// Round 2 keeps at most this many more.
    pub at_most: u32,
    /// Rounds 1 and 2 together keep at most this many.
    pub total_at_most: u32,
}

/// Which messages of a kept conversation are synced, walking newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRule {
    /// Keep messages created at or after `T - lookback` (S2). `None`: no time limit.
    pub lookback: Option<Period>,
    /// The newest this many per conversation (H1, H4, H5, H9). `None`: no cap.
    pub max_per_conversation: Option<u32>,
    /// For a customer who no longer follows the account (H5: Zalo, 1).
    pub max_for_non_follower: Option<u32>,
}

/// Which posts and comments are synced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentRule {
    /// Posts created, and comments written, at or after `T - lookback` (shopline).
    pub lookback: Option<Period>,
    /// The newest this many posts (H3, H4: 5).
    pub max_posts: Option<u32>,
    /// The newest this many comments, counted as `scope` says (H3: 100, H4: 20).
    pub max_comments: Option<u32>,
    /// How `max_comments` is read. "100 most recent comments" could mean per post or in
    /// all; both presets read it **per post**; `across_posts` is the other reading.
    pub scope: CommentScope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentScope {
    /// `max_comments` for each post.
    PerPost,
    /// `max_comments` in all, spent on the newest posts first.
    AcrossPosts,
}

/// The priority slice: what must be visible first (S3, S4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceRule {
    /// Conversations ranked below this (newest first) are in the slice. `None`: all of
    /// round 1 (harasocial Facebook).
    pub conversations: Option<u32>,
    /// In a slice conversation, the newest this many messages are in the slice. `None`:
    /// every kept message.
    pub messages_per_conversation: Option<u32>,
}

/// H6: each request adds the next `batch` older conversations, up to `total_at_most`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadMoreRule {
    pub batch: u32,
    pub total_at_most: u32,
}

/// H8: a customer beyond the synced conversations writes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LateArrivalRule {
    /// Older messages are synced only if the conversation's previous activity is within
    /// this period before now.
    pub window: Period,
    /// How many older messages are then synced.
    pub messages: u32,
}

/// Fleet-wide call budgets (C7), GCRA in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateBudget {
    /// Calls per second for one connected account (Meta Conversations API: 2 per Page
    /// [M7]).
    pub per_account_per_second: f64,
    /// How many calls may go at once after a pause (GCRA tolerance). The presets use 1:
    /// with a burst of `b`, up to `b + rate - 1` calls can fall inside one sliding second,
    /// and the channels count per second (M7).
    pub burst: u32,
    /// Calls per second for the whole app across accounts. Meta, Zalo and Shopee publish
    /// no per-second app figure (UNVERIFIED): a guard rail, not a documented limit.
    pub per_app_per_second: Option<f64>,
}

/// How the inbox reads what was synced (C3, H7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxRule {
    /// Conversations listed when the reader asks for no particular number (H7: 20).
    pub default_page_size: u32,
}

/// C4: retries of a step that failed for a transient reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Retries after the first attempt; after the last the run fails (C4: 3).
    pub max_retries: u32,
    /// The first retry waits about this long; each next one twice as long.
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based), with "full jitter" drawn from
    /// `jitter` in `[0, 1)`: spreads a burst of failures instead of retrying in lockstep.
    pub fn delay_ms(&self, retry: u32, jitter: f64) -> u64 {
        let exp = self
            .base_delay_ms
            .saturating_mul(1u64 << retry.saturating_sub(1).min(32))
            .min(self.max_delay_ms);
        // Half fixed, half jittered: never retry immediately, never in lockstep.
        exp / 2 + ((exp / 2) as f64 * jitter.clamp(0.0, 1.0)) as u64
    }
}

impl Policy {
    /// The preset's defaults, exactly as POLICIES.md reads them.
    pub fn preset(name: PresetName) -> Self {
        match name {
            PresetName::Shopline => shopline(),
            PresetName::Harasocial => harasocial(),
        }
    }

    /// The rules for `channel`, or why it cannot be synced under this policy.
    pub fn channel(&self, channel: Channel) -> Result<&ChannelPolicy, PolicyError> {
        self.channels
            .get(channel)
            .ok_or_else(|| PolicyError::ChannelNotCovered {
                channel: channel.to_string(),
                preset: self.preset.to_string(),
            })
    }

    /// Patches this policy with a partial document of the same shape (a tenant's
    /// overrides from configuration), then validates the result.
    ///
    /// `{"timezone": "Europe/Paris", "channels": {"facebook": {"messages":
    /// {"max_per_conversation": 80}}}}` changes two fields and keeps the rest.
    pub fn with_overrides(self, overrides: &serde_json::Value) -> Result<Self, PolicyError> {
        let mut doc = serde_json::to_value(&self).expect("a policy always serializes");
        merge(&mut doc, overrides);
        let policy: Policy = serde_path_to_error::deserialize(&doc).map_err(|e| {
            let field = e.path().to_string();
            let value = lookup(&doc, &field).map_or_else(|| "?".to_owned(), |v| v.to_string());
            if field == "timezone" {
                return PolicyError::UnknownTimeZone(value.trim_matches('"').to_owned());
            }
            PolicyError::invalid(field, value, e.into_inner().to_string())
        })?;
        policy.validate()?;
        Ok(policy)
    }

    /// Refuses zero caps, zero-length peak windows and non-positive rates, naming the
    /// field and the value.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if let Some(peak) = &self.peak {
            peak.validate("peak")?;
        }
        if self.retries.base_delay_ms == 0 || self.retries.max_delay_ms < self.retries.base_delay_ms
        {
            return Err(PolicyError::invalid(
                "retries.base_delay_ms",
                self.retries.base_delay_ms,
                "must be positive and at most retries.max_delay_ms",
            ));
        }
        if self.inbox.default_page_size == 0 {
            return Err(PolicyError::invalid(
                "inbox.default_page_size",
                0,
                "must be at least 1",
            ));
        }
        for (channel, rules) in self.channels.iter() {
            rules.validate(&format!("channels.{channel}"))?;
        }
        Ok(())
    }
}

impl ChannelPolicy {
    fn validate(&self, at: &str) -> Result<(), PolicyError> {
        let caps = [
            ("conversations.max", self.conversations.max),
            (
                "conversations.top_up.if_fewer_than",
                self.conversations.top_up.map(|t| t.if_fewer_than),
            ),
            (
                "conversations.top_up.at_most",
                self.conversations.top_up.map(|t| t.at_most),
            ),
            (
                "conversations.top_up.total_at_most",
                self.conversations.top_up.map(|t| t.total_at_most),
            ),
            (
                "messages.max_per_conversation",
                self.messages.max_per_conversation,
            ),
            (
                "messages.max_for_non_follower",
                self.messages.max_for_non_follower,
            ),
            (
                "comments.max_posts",
                self.comments.as_ref().and_then(|c| c.max_posts),
            ),
            (
                "comments.max_comments",
                self.comments.as_ref().and_then(|c| c.max_comments),
            ),
            ("slice.conversations", self.slice.conversations),
            (
                "slice.messages_per_conversation",
                self.slice.messages_per_conversation,
            ),
            ("load_more.batch", self.load_more.map(|l| l.batch)),
            (
                "load_more.total_at_most",
                self.load_more.map(|l| l.total_at_most),
            ),
            (
                "late_arrival.messages",
                self.late_arrival.map(|l| l.messages),
            ),
            ("rate.burst", Some(self.rate.burst)),
        ];
        for (field, value) in caps {
            if value == Some(0) {
                return Err(PolicyError::invalid(
                    format!("{at}.{field}"),
                    0,
                    "must be at least 1",
                ));
            }
        }
        let rates = [
            (
                "rate.per_account_per_second",
                Some(self.rate.per_account_per_second),
            ),
            ("rate.per_app_per_second", self.rate.per_app_per_second),
        ];
        for (field, value) in rates {
            if let Some(v) = value.filter(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(PolicyError::invalid(
                    format!("{at}.{field}"),
                    v,
                    "must be a positive number",
                ));
            }
        }
        if let Some(t) = self.conversations.top_up
            && t.total_at_most < t.if_fewer_than
        {
            return Err(PolicyError::invalid(
                format!("{at}.conversations.top_up.total_at_most"),
                t.total_at_most,
                "must be at least top_up.if_fewer_than",
            ));
        }
        Ok(())
    }
}

/// Deep-merges `patch` into `doc`: objects merge key by key, anything else replaces.
fn merge(doc: &mut serde_json::Value, patch: &serde_json::Value) {
    match (doc, patch) {
        (serde_json::Value::Object(doc), serde_json::Value::Object(patch)) => {
            for (key, value) in patch {
                merge(
                    doc.entry(key.clone()).or_insert(serde_json::Value::Null),
                    value,
                );
            }
        }
        (doc, patch) => *doc = patch.clone(),
    }
}

/// The value at a dotted serde path such as `channels.facebook.messages.max`.
fn lookup<'a>(doc: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.')
        .try_fold(doc, |v, key| v.get(key.trim_start_matches('?')))
}

const fn meta_rate() -> RateBudget {
    RateBudget {
        per_account_per_second: 2.0,
        burst: 1,
        per_app_per_second: Some(200.0),
    }
}

fn shopline() -> Policy {
    let year = Period::Months(12);
    let facebook = ChannelPolicy {
        // S2: one year before connecting, no count cap.
        conversations: ConversationRule {
            lookback: Some(year),
            max: None,
            top_up: None,
        },
        messages: MessageRule {
            lookback: Some(year),
            max_per_conversation: None,
            max_for_non_follower: None,
        },
        comments: Some(CommentRule {
            lookback: Some(year),
            max_posts: None,
            max_comments: None,
            scope: CommentScope::PerPost,
        }),
        // S3: the latest 50 conversations and the latest 100 messages of each.
        slice: SliceRule {
            conversations: Some(50),
            messages_per_conversation: Some(100),
        },
        load_more: None,
        late_arrival: None,
        rate: meta_rate(),
    };
    Policy {
        preset: PresetName::Shopline,
        timezone: chrono_tz::Asia::Taipei,
        // S3: 17:00 to 01:00 every day.
        peak: Some(PeakWindow {
            start: NaiveTime::from_hms_opt(17, 0, 0).expect("valid time"),
            end: NaiveTime::from_hms_opt(1, 0, 0).expect("valid time"),
            jitter_secs: 600,
        }),
        retries: default_retries(),
        inbox: InboxRule {
            default_page_size: 20,
        },
        channels: Channels {
            facebook: Some(facebook),
            ..Channels::default()
        },
    }
}

fn harasocial() -> Policy {
    let first_50 = SliceRule {
        conversations: Some(50),
        messages_per_conversation: None,
    };
    let facebook = ChannelPolicy {
        // H1, H2.
        conversations: ConversationRule {
            lookback: Some(Period::Days(30)),
            max: None,
            top_up: Some(TopUp {
                if_fewer_than: 100,
                at_most: 100,
                total_at_most: 200,
            }),
        },
        messages: MessageRule {
            lookback: None,
            max_per_conversation: Some(50),
            max_for_non_follower: None,
        },
        // H3, read per post.
        comments: Some(CommentRule {
            lookback: None,
            max_posts: Some(5),
            max_comments: Some(100),
            scope: CommentScope::PerPost,
        }),
        // POLICIES.md: for Facebook the slice is round 1.
        slice: SliceRule {
            conversations: None,
            messages_per_conversation: None,
        },
        load_more: None,
        late_arrival: None,
        rate: meta_rate(),
    };
    let instagram = ChannelPolicy {
        // H4.
        conversations: ConversationRule {
            lookback: None,
            max: Some(50),
            top_up: None,
        },
        messages: MessageRule {
            lookback: None,
            max_per_conversation: Some(50),
            max_for_non_follower: None,
        },
        comments: Some(CommentRule {
            lookback: None,
            max_posts: Some(5),
            max_comments: Some(20),
            scope: CommentScope::PerPost,
        }),
        slice: first_50.clone(),
        load_more: None,
        late_arrival: None,
        rate: meta_rate(),
    };
    let zalo = ChannelPolicy {
        // H5: "about 100" read as exactly 100 (POLICIES.md).
        conversations: ConversationRule {
            lookback: None,
            max: Some(100),
            top_up: None,
        },
        messages: MessageRule {
            lookback: None,
            max_per_conversation: Some(100),
            max_for_non_follower: Some(1),
        },
        comments: None,
        slice: first_50.clone(),
        // H6.
        load_more: Some(LoadMoreRule {
            batch: 30,
            total_at_most: 1500,
        }),
        // H8.
        late_arrival: Some(LateArrivalRule {
            window: Period::Months(6),
            messages: 100,
        }),
        // Zalo publishes no numbers (UNVERIFIED): a conservative budget.
        rate: RateBudget {
            per_account_per_second: 10.0,
            burst: 1,
            per_app_per_second: Some(100.0),
        },
    };
    let shopee = ChannelPolicy {
        // H9.
        conversations: ConversationRule {
            lookback: None,
            max: Some(100),
            top_up: None,
        },
        messages: MessageRule {
            lookback: None,
            max_per_conversation: Some(30),
            max_for_non_follower: None,
        },
        comments: None,
        slice: first_50,
        load_more: None,
        late_arrival: None,
        // Shopee publishes no numbers (UNVERIFIED; about 1000 rps reported): conservative.
        rate: RateBudget {
            per_account_per_second: 10.0,
            burst: 1,
            per_app_per_second: Some(500.0),
        },
    };
    Policy {
        preset: PresetName::Harasocial,
        timezone: chrono_tz::Asia::Ho_Chi_Minh,
        peak: None,
        retries: default_retries(),
        inbox: InboxRule {
            default_page_size: 20,
        },
        channels: Channels {
            facebook: Some(facebook),
            instagram: Some(instagram),
            zalo: Some(zalo),
            shopee: Some(shopee),
        },
    }
}

const fn default_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay_ms: 2_000,
        max_delay_ms: 60_000,
    }
}
