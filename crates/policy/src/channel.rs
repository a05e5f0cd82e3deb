//! The channels Backfill knows and the presets that cover them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::PolicyError;

/// A channel kind. One connected account belongs to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Facebook,
    Instagram,
    Zalo,
    Shopee,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Self::Facebook, Self::Instagram, Self::Zalo, Self::Shopee];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Facebook => "facebook",
            Self::Instagram => "instagram",
            Self::Zalo => "zalo",
            Self::Shopee => "shopee",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| PolicyError::UnknownChannel(s.to_owned()))
    }
}

/// The published product whose behaviour a tenant gets (REQUIREMENTS.md: the two
/// seeds disagree, so the rules are data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresetName {
    /// SHOPLINE: Facebook Pages only, one-year look-back, peak hours (S1–S5).
    Shopline,
    /// Harasocial: four channels with per-channel quantities, no peak (H1–H9).
    Harasocial,
}

impl PresetName {
    pub const ALL: [PresetName; 2] = [Self::Shopline, Self::Harasocial];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shopline => "shopline",
            Self::Harasocial => "harasocial",
        }
    }
}

impl fmt::Display for PresetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PresetName {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| PolicyError::UnknownPreset(s.to_owned()))
    }
}
