//! Access tokens: which account each one opens, when it was issued, whether it was revoked
//! and which permissions it lacks. The dataset's own tokens are registered at start; tests
//! can issue more (for instance a Shopee token issued five hours ago, to see `error_auth`)
//! and revoke any of them mid-run.

use std::collections::HashMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::Channel;
use crate::dataset::{Account, Dataset};
use crate::mix::{ALNUM, Mix, token_chars};

/// What a token is, which decides the rate-limit regime on Graph [M6].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Facebook Page token: Business Use Case limits.
    Page,
    /// Facebook user token of the Page's admin: Platform limits.
    User,
    /// Instagram User token (Instagram API with Instagram Login).
    Instagram,
    /// Zalo Official Account token.
    Zalo,
    /// Shopee shop token.
    Shopee,
}

/// Why a token stopped working. On Graph each maps to a code 190 subcode [M8]; Zalo answers
/// every one of them with its invalid-token error and Shopee with `error_auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// 190/460: the user changed their password.
    #[default]
    PasswordChanged,
    /// 190/492: invalid session, e.g. the admin lost their role on the Page.
    SessionInvalidated,
    /// 190/463: expired.
    Expired,
}

/// Permissions a test can take away from a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Facebook conversations and messages: answered with code 200 when missing.
    PagesMessaging,
    /// Facebook feed, posts and comments: code 10 when missing.
    PagesReadEngagement,
    /// Instagram conversations and messages: code 200 when missing.
    InstagramManageMessages,
    /// Instagram media and comments: code 10 when missing.
    InstagramManageComments,
}

#[derive(Debug, Clone)]
pub(crate) struct TokenInfo {
    pub account: usize,
    pub kind: TokenKind,
    pub issued_at: SystemTime,
    pub revoked: Option<RevokeReason>,
    pub denied: Vec<Permission>,
}

#[derive(Debug)]
pub(crate) struct TokenRegistry {
    tokens: HashMap<String, TokenInfo>,
    mix: Mix,
    issued: u64,
}

impl TokenRegistry {
    pub(crate) fn new(dataset: &Dataset, issued_at: SystemTime) -> Self {
        let mut registry = TokenRegistry {
            tokens: HashMap::new(),
            mix: Mix::new(dataset.seed()).with_str("issued-tokens"),
            issued: 0,
        };
        for account in dataset.accounts() {
            registry.insert(
                &account.access_token,
                account,
                default_kind(account.channel),
                issued_at,
            );
            if let Some(user_token) = &account.user_token {
                registry.insert(user_token, account, TokenKind::User, issued_at);
            }
        }
        registry
    }

    fn insert(&mut self, token: &str, account: &Account, kind: TokenKind, issued_at: SystemTime) {
        self.tokens.insert(
            token.to_owned(),
            TokenInfo {
                account: account.ix,
                kind,
                issued_at,
                revoked: None,
                denied: Vec::new(),
            },
        );
    }

    pub(crate) fn get(&self, token: &str) -> Option<&TokenInfo> {
        self.tokens.get(token)
    }

    pub(crate) fn revoke(&mut self, token: &str, reason: RevokeReason) -> bool {
        self.tokens
            .get_mut(token)
            .map(|info| info.revoked = Some(reason))
            .is_some()
    }

    /// Revokes every token of an account; returns how many.
    pub(crate) fn revoke_account(&mut self, account: usize, reason: RevokeReason) -> usize {
        self.tokens
            .values_mut()
            .filter(|info| info.account == account)
            .map(|info| info.revoked = Some(reason))
            .count()
    }

    pub(crate) fn deny(&mut self, token: &str, permission: Permission) -> bool {
        self.tokens
            .get_mut(token)
            .map(|info| info.denied.push(permission))
            .is_some()
    }

    /// A new token of the account's main kind, issued at `issued_at`.
    pub(crate) fn issue(&mut self, account: &Account, issued_at: SystemTime) -> String {
        self.issued += 1;
        let m = self.mix.with(self.issued);
        let token = match account.channel {
            Channel::Facebook => format!("EAAB{}", token_chars(m, ALNUM, 150)),
            Channel::Instagram => format!("IGAA{}", token_chars(m, ALNUM, 140)),
            Channel::Zalo => token_chars(m, ALNUM, 128),
            Channel::Shopee => token_chars(m, ALNUM, 32),
        };
        self.insert(&token, account, default_kind(account.channel), issued_at);
        token
    }
}

fn default_kind(channel: Channel) -> TokenKind {
    match channel {
        Channel::Facebook => TokenKind::Page,
        Channel::Instagram => TokenKind::Instagram,
        Channel::Zalo => TokenKind::Zalo,
        Channel::Shopee => TokenKind::Shopee,
    }
}
