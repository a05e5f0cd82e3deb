//! Who a call is made for: the connected account and its secrets (B4).
//!
//! Secrets are [`SecretString`]s: their `Debug` prints `[REDACTED]`, they have no
//! `Display`, and they are exposed in exactly two places, where a request is built and
//! where the [`crate::redact::Redactor`] looks for echoes of them.

use backfill_policy::Channel;
use secrecy::SecretString;

/// A connected channel account.
#[derive(Debug, Clone)]
pub struct Account {
    pub channel: Channel,
    /// The channel's id of the account: Facebook Page id, Instagram user id (IG ID),
    /// Zalo OA id, Shopee `shop_id`. Graph compares it with senders to tell the
    /// business's own messages from the customer's.
    pub account_id: String,
    pub credentials: Credentials,
}

/// The secrets a channel needs.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A Page access token (Facebook) or an Instagram User token (Instagram Login).
    Meta { access_token: SecretString },
    /// An OA access token, sent in the `access_token` header [Z1].
    Zalo { access_token: SecretString },
    /// The app's partner id and key (signing [S1]) and the shop's access token.
    Shopee {
        partner_id: u64,
        partner_key: SecretString,
        access_token: SecretString,
    },
}

impl Credentials {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Meta { .. } => "meta",
            Self::Zalo { .. } => "zalo",
            Self::Shopee { .. } => "shopee",
        }
    }
}

/// What a Shopee Shop API call is signed with [S1], borrowed from [`Credentials::Shopee`]
/// and the account's `shop_id`.
#[derive(Debug, Clone, Copy)]
pub struct ShopeeAuth<'a> {
    pub partner_id: u64,
    pub partner_key: &'a SecretString,
    pub access_token: &'a SecretString,
    pub shop_id: u64,
}

/// The form credentials take at rest: one JSON document, which the store encrypts as a
/// whole (B4), so the store never needs to know a channel's secrets apart.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCredentials {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partner_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partner_key: Option<String>,
}

/// Why stored or submitted credentials cannot be used. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("the access token is empty")]
    EmptyToken,
    #[error("Shopee credentials need partner_id and partner_key")]
    ShopeeIncomplete,
    #[error("partner_id and partner_key are for Shopee only, not {0}")]
    NotShopee(Channel),
    #[error("stored credentials are not readable JSON")]
    Unreadable,
}

impl Credentials {
    /// Credentials for `channel` from their parts, checked.
    pub fn for_channel(
        channel: Channel,
        access_token: SecretString,
        partner_id: Option<u64>,
        partner_key: Option<SecretString>,
    ) -> Result<Self, CredentialsError> {
        use secrecy::ExposeSecret;
        if access_token.expose_secret().trim().is_empty() {
            return Err(CredentialsError::EmptyToken);
        }
        match (channel, partner_id, partner_key) {
            (Channel::Shopee, Some(partner_id), Some(partner_key)) => Ok(Self::Shopee {
                partner_id,
                partner_key,
                access_token,
            }),
            (Channel::Shopee, _, _) => Err(CredentialsError::ShopeeIncomplete),
            (other, None, None) => Ok(match other {
                Channel::Zalo => Self::Zalo { access_token },
                _ => Self::Meta { access_token },
            }),
            (other, _, _) => Err(CredentialsError::NotShopee(other)),
        }
    }

    /// The document the store encrypts.
    pub fn to_stored(&self) -> SecretString {
        use secrecy::ExposeSecret;
        let stored = match self {
            Self::Meta { access_token } | Self::Zalo { access_token } => StoredCredentials {
                access_token: access_token.expose_secret().to_owned(),
                partner_id: None,
                partner_key: None,
            },
            Self::Shopee {
                partner_id,
                partner_key,
                access_token,
            } => StoredCredentials {
                access_token: access_token.expose_secret().to_owned(),
                partner_id: Some(*partner_id),
                partner_key: Some(partner_key.expose_secret().to_owned()),
            },
        };
        SecretString::from(serde_json::to_string(&stored).expect("credentials serialize"))
    }

    /// Reads what [`Credentials::to_stored`] wrote. The error never echoes the document.
    pub fn from_stored(channel: Channel, stored: &SecretString) -> Result<Self, CredentialsError> {
        use secrecy::ExposeSecret;
        let doc: StoredCredentials = serde_json::from_str(stored.expose_secret())
            .map_err(|_| CredentialsError::Unreadable)?;
        Self::for_channel(
            channel,
            SecretString::from(doc.access_token),
            doc.partner_id,
            doc.partner_key.map(SecretString::from),
        )
    }
}
