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
