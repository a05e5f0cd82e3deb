//! The manifest: where each channel is served and which accounts exist, with their
//! credentials. `backfill sim --manifest FILE` writes it so that other processes (the
//! demo, a worker fleet, a benchmark) can connect accounts without reading the dataset.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::Channel;
use crate::dataset::Dataset;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub base_urls: BaseUrls,
    pub accounts: Vec<ManifestAccount>,
}

/// The URL that stands in for each channel's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseUrls {
    pub facebook: String,
    pub instagram: String,
    pub zalo: String,
    pub shopee: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestAccount {
    pub channel: Channel,
    /// Page id, Instagram user id, OA id, or (Shopee) the shop id.
    pub account_id: String,
    pub access_token: String,
    /// Shopee only.
    pub partner_id: Option<u64>,
    /// Shopee only.
    pub partner_key: Option<String>,
}

impl Manifest {
    pub(crate) fn new(base: &str, dataset: &Dataset) -> Self {
        let url = |channel: Channel| format!("{base}/{channel}");
        Manifest {
            base_urls: BaseUrls {
                facebook: url(Channel::Facebook),
                instagram: url(Channel::Instagram),
                zalo: url(Channel::Zalo),
                shopee: url(Channel::Shopee),
            },
            accounts: dataset
                .accounts()
                .iter()
                .map(|a| ManifestAccount {
                    channel: a.channel,
                    account_id: a.id.clone(),
                    access_token: a.access_token.clone(),
                    partner_id: a.shopee.as_ref().map(|s| s.partner_id),
                    partner_key: a.shopee.as_ref().map(|s| s.partner_key.clone()),
                })
                .collect(),
        }
    }

    pub fn base_url(&self, channel: Channel) -> &str {
        match channel {
            Channel::Facebook => &self.base_urls.facebook,
            Channel::Instagram => &self.base_urls.instagram,
            Channel::Zalo => &self.base_urls.zalo,
            Channel::Shopee => &self.base_urls.shopee,
        }
    }

    /// Writes the manifest as JSON, atomically: a reader never sees half a file.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        let partial = path.with_extension("partial");
        std::fs::write(&partial, json).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, path).with_context(|| format!("renaming to {}", path.display()))
    }

    pub fn read(path: &Path) -> anyhow::Result<Manifest> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
    }
}
