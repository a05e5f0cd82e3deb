//! The front the worker calls: one [`Connector`] for all four channels, which maps a
//! step to the right channel call.

use backfill_policy::{Channel, Cursor, StepKind, StepSpec};
use secrecy::SecretString;
use tracing::Instrument;
use url::Url;

use crate::config::ConnectorsConfig;
use crate::credentials::{Account, Credentials, ShopeeAuth};
use crate::graph::{GraphClient, GraphLimits};
use crate::http::Transport;
use crate::outcome::{CallResult, Outcome};
use crate::shopee::{ShopeeClient, ShopeeSettings};
use crate::zalo::{ZaloClient, ZaloSettings};

/// A configuration [`Connector::new`] refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{channel}: base_url {url:?} is not an absolute http(s) URL")]
    BaseUrl { channel: Channel, url: String },
    #[error("{channel}: API version {version:?} must be one non-empty path segment")]
    ApiVersion { channel: Channel, version: String },
    #[error("{channel}: {field} must be at least 1")]
    PageSize {
        channel: Channel,
        field: &'static str,
    },
    #[error("the HTTP client could not be built")]
    Client(#[source] reqwest::Error),
}

/// The four channel clients over one connection pool.
///
/// Cheap to clone (the pool is shared); build one per process.
#[derive(Debug, Clone)]
pub struct Connector {
    facebook: GraphClient,
    instagram: GraphClient,
    zalo: ZaloClient,
    shopee: ShopeeClient,
}

impl Connector {
    pub fn new(config: ConnectorsConfig) -> Result<Self, ConfigError> {
        let transport = Transport::new(&config).map_err(ConfigError::Client)?;
        let fb = &config.facebook;
        let facebook = GraphClient::new(
            Channel::Facebook,
            transport.clone(),
            graph_root(Channel::Facebook, &fb.base_url, &fb.api_version)?,
            GraphLimits {
                conversations: at_least_one(
                    Channel::Facebook,
                    "conversations_page_max",
                    fb.conversations_page_max,
                )?,
                messages: at_least_one(
                    Channel::Facebook,
                    "messages_page_max",
                    fb.messages_page_max,
                )?,
                posts: at_least_one(Channel::Facebook, "posts_page_max", fb.posts_page_max)?,
                comments: at_least_one(
                    Channel::Facebook,
                    "comments_page_max",
                    fb.comments_page_max,
                )?,
                nested_expansion: at_least_one(
                    Channel::Facebook,
                    "nested_expansion_max",
                    fb.nested_expansion_max,
                )?,
            },
            config.reduce_data_retries,
        );
        let ig = &config.instagram;
        let instagram = GraphClient::new(
            Channel::Instagram,
            transport.clone(),
            graph_root(Channel::Instagram, &ig.base_url, &ig.api_version)?,
            GraphLimits {
                conversations: at_least_one(
                    Channel::Instagram,
                    "conversations_page_max",
                    ig.conversations_page_max,
                )?,
                messages: at_least_one(
                    Channel::Instagram,
                    "messages_page_max",
                    ig.messages_page_max,
                )?,
                posts: at_least_one(Channel::Instagram, "media_page_max", ig.media_page_max)?,
                comments: at_least_one(
                    Channel::Instagram,
                    "comments_page_max",
                    ig.comments_page_max,
                )?,
                nested_expansion: at_least_one(
                    Channel::Instagram,
                    "nested_expansion_max",
                    ig.nested_expansion_max,
                )?,
            },
            config.reduce_data_retries,
        );
        let z = &config.zalo;
        let zalo = ZaloClient::new(
            transport.clone(),
            base_url(Channel::Zalo, &z.base_url)?,
            ZaloSettings {
                chat_api_version: segment(Channel::Zalo, &z.chat_api_version)?,
                user_api_version: segment(Channel::Zalo, &z.user_api_version)?,
                recent_chats_page_max: at_least_one(
                    Channel::Zalo,
                    "recent_chats_page_max",
                    z.recent_chats_page_max,
                )?,
                messages_page_max: at_least_one(
                    Channel::Zalo,
                    "messages_page_max",
                    z.messages_page_max,
                )?,
            },
        );
        let s = &config.shopee;
        let shopee = ShopeeClient::new(
            transport,
            base_url(Channel::Shopee, &s.base_url)?,
            ShopeeSettings {
                api_version: segment(Channel::Shopee, &s.api_version)?,
                conversations_page_max: at_least_one(
                    Channel::Shopee,
                    "conversations_page_max",
                    s.conversations_page_max,
                )?,
                messages_page_max: at_least_one(
                    Channel::Shopee,
                    "messages_page_max",
                    s.messages_page_max,
                )?,
            },
        );
        Ok(Self {
            facebook,
            instagram,
            zalo,
            shopee,
        })
    }

    pub fn facebook(&self) -> &GraphClient {
        &self.facebook
    }

    pub fn instagram(&self) -> &GraphClient {
        &self.instagram
    }

    pub fn zalo(&self) -> &ZaloClient {
        &self.zalo
    }

    pub fn shopee(&self) -> &ShopeeClient {
        &self.shopee
    }

    /// Makes the one call `step` stands for (DESIGN decision 2) and classifies the
    /// answer. Asks for `step.want` items, clamped to the channel's page maximum, and on
    /// Graph conversation listings for `step.nested_want` messages of each (the channel
    /// maximum when `None`, no expansion when `Some(0)`).
    pub async fn execute(&self, account: &Account, step: &StepSpec) -> CallResult {
        let span = tracing::debug_span!(
            "channel_call",
            channel = %account.channel,
            step = step.kind.name()
        );
        self.dispatch(account, step).instrument(span).await
    }

    async fn dispatch(&self, account: &Account, step: &StepSpec) -> CallResult {
        let cursor = step.cursor.as_ref();
        let want = step.want.unwrap_or(u32::MAX);
        match (account.channel, &account.credentials) {
            (Channel::Facebook, Credentials::Meta { access_token }) => {
                graph_step(&self.facebook, access_token, &account.account_id, step).await
            }
            (Channel::Instagram, Credentials::Meta { access_token }) => {
                graph_step(&self.instagram, access_token, &account.account_id, step).await
            }
            (Channel::Zalo, Credentials::Zalo { access_token }) => {
                let offset = match offset(cursor) {
                    Ok(offset) => offset,
                    Err(outcome) => return CallResult::unsent(outcome),
                };
                match &step.kind {
                    StepKind::ListConversations(_) => {
                        self.zalo.recent_chats(access_token, offset, want).await
                    }
                    StepKind::FetchMessages(walk) => {
                        self.zalo
                            .conversation_messages(
                                access_token,
                                &walk.conversation_id,
                                offset,
                                want,
                            )
                            .await
                    }
                    StepKind::CheckFollower(check) => {
                        self.zalo
                            .follower_status(access_token, &check.user_id)
                            .await
                    }
                    kind => unsupported(Channel::Zalo, kind),
                }
            }
            (
                Channel::Shopee,
                Credentials::Shopee {
                    partner_id,
                    partner_key,
                    access_token,
                },
            ) => {
                let Ok(shop_id) = account.account_id.parse() else {
                    return CallResult::unsent(Outcome::Permanent(format!(
                        "shopee: account id {:?} is not a numeric shop_id",
                        account.account_id
                    )));
                };
                let auth = ShopeeAuth {
                    partner_id: *partner_id,
                    partner_key,
                    access_token,
                    shop_id,
                };
                match &step.kind {
                    StepKind::ListConversations(_) => {
                        self.shopee.conversation_list(auth, cursor, want).await
                    }
                    StepKind::FetchMessages(walk) => {
                        self.shopee
                            .messages(auth, &walk.conversation_id, cursor, want)
                            .await
                    }
                    kind => unsupported(Channel::Shopee, kind),
                }
            }
            (channel, credentials) => CallResult::unsent(Outcome::Permanent(format!(
                "{channel} account holds {} credentials",
                credentials.kind()
            ))),
        }
    }
}

async fn graph_step(
    client: &GraphClient,
    token: &SecretString,
    owner_id: &str,
    step: &StepSpec,
) -> CallResult {
    let cursor = step.cursor.as_ref();
    let want = step.want.unwrap_or(u32::MAX);
    match &step.kind {
        StepKind::ListConversations(_) => {
            let nested = match step.nested_want {
                Some(0) => None,
                Some(n) => Some(n),
                None => Some(u32::MAX),
            };
            client
                .list_conversations(token, owner_id, cursor, want, nested)
                .await
        }
        StepKind::FetchMessages(walk) => {
            client
                .list_messages(token, owner_id, &walk.conversation_id, cursor, want)
                .await
        }
        StepKind::ListPosts(_) => client.list_posts(token, owner_id, cursor, want).await,
        StepKind::FetchComments(walk) => {
            client
                .list_comments(token, &walk.post_id, cursor, want)
                .await
        }
        kind => unsupported(client.channel(), kind),
    }
}

fn unsupported(channel: Channel, kind: &StepKind) -> CallResult {
    CallResult::unsent(Outcome::Permanent(format!(
        "{channel} has no {} call",
        kind.name()
    )))
}

/// A Zalo cursor: the next offset as a decimal string.
fn offset(cursor: Option<&Cursor>) -> Result<u32, Outcome> {
    cursor.map_or(Ok(0), |c| {
        c.as_str().parse().map_err(|_| {
            Outcome::Permanent(format!("zalo: cursor {:?} is not an offset", c.as_str()))
        })
    })
}

fn base_url(channel: Channel, text: &str) -> Result<Url, ConfigError> {
    let refuse = || ConfigError::BaseUrl {
        channel,
        url: text.to_owned(),
    };
    let url = Url::parse(text).map_err(|_| refuse())?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() || url.query().is_some()
    {
        return Err(refuse());
    }
    Ok(url)
}

fn graph_root(channel: Channel, base: &str, version: &str) -> Result<Url, ConfigError> {
    let mut root = base_url(channel, base)?;
    let version = segment(channel, version)?;
    root.path_segments_mut()
        .map_err(|()| ConfigError::BaseUrl {
            channel,
            url: base.to_owned(),
        })?
        .pop_if_empty()
        .push(&version);
    Ok(root)
}

fn segment(channel: Channel, version: &str) -> Result<String, ConfigError> {
    if version.is_empty() || version.contains(['/', '?', '#']) {
        return Err(ConfigError::ApiVersion {
            channel,
            version: version.to_owned(),
        });
    }
    Ok(version.to_owned())
}

fn at_least_one(channel: Channel, field: &'static str, value: u32) -> Result<u32, ConfigError> {
    if value == 0 {
        return Err(ConfigError::PageSize { channel, field });
    }
    Ok(value)
}
