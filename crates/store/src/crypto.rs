//! Secrets at rest (B4): channel credentials and webhook secrets are sealed with
//! AES-256-GCM under a key from configuration before they reach a table.
//!
//! A sealed value is `version (1 byte) ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`.
//! The nonce is random for every write: GCM loses both confidentiality and integrity if a
//! nonce repeats under one key, and 96 random bits make a repeat negligible at any write
//! rate this store will see. The owner of the secret (tenant, channel, account) is bound
//! as associated data, so a ciphertext copied onto another row does not open there.
//! The version byte leaves room for key rotation without guessing.

use std::fmt;
use std::str::FromStr;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Result, StoreError};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// The key that seals secrets at rest: 32 bytes, configured as standard base64.
///
/// Its `Debug` never shows the key, so it can sit in a configuration struct that is
/// logged.
#[derive(Clone)]
pub struct CredentialKey {
    cipher: Aes256Gcm,
}

/// Why a configured key was refused. Never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("credential key is not valid base64")]
    NotBase64,
    #[error("credential key must be 32 bytes, got {0}")]
    WrongLength(usize),
}

impl CredentialKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&bytes.into()),
        }
    }

    /// Parses the configured form: 32 bytes in standard base64 (`openssl rand -base64 32`).
    pub fn from_base64(encoded: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| KeyError::NotBase64)?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| KeyError::WrongLength(b.len()))?;
        Ok(Self::from_bytes(bytes))
    }

    /// A fresh random key, for tests and first-run setup.
    pub fn generate() -> Self {
        Self::from_bytes(rand::random())
    }

    /// Seals `secret`, binding it to `owner`.
    pub(crate) fn seal(&self, secret: &SecretString, owner: &str) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let payload = Payload {
            msg: secret.expose_secret().as_bytes(),
            aad: owner.as_bytes(),
        };
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            // AES-GCM encryption fails only for inputs beyond 64 GiB.
            .expect("a secret is far below AES-GCM's size limit");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Opens what [`seal`](Self::seal) produced for the same `owner`.
    pub(crate) fn open(
        &self,
        sealed: &[u8],
        what: &'static str,
        owner: &str,
    ) -> Result<SecretString> {
        let fail = || StoreError::Decrypt {
            what,
            owner: owner.to_owned(),
        };
        let [VERSION, rest @ ..] = sealed else {
            return Err(fail());
        };
        if rest.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: owner.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| fail())?;
        let plain = String::from_utf8(plain).map_err(|_| fail())?;
        Ok(SecretString::from(plain))
    }
}

impl FromStr for CredentialKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_base64(s)
    }
}

impl fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_owner() {
        let key = CredentialKey::generate();
        let sealed = key.seal(&SecretString::from("token-123"), "t1/facebook/p1");
        let opened = key.open(&sealed, "credentials", "t1/facebook/p1").unwrap();
        assert_eq!(opened.expose_secret(), "token-123");
        assert!(key.open(&sealed, "credentials", "t2/facebook/p1").is_err());
        assert!(
            CredentialKey::generate()
                .open(&sealed, "credentials", "t1/facebook/p1")
                .is_err()
        );
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let key = CredentialKey::generate();
        let secret = SecretString::from("same");
        assert_ne!(key.seal(&secret, "o"), key.seal(&secret, "o"));
    }

    #[test]
    fn a_key_parses_from_32_bytes_of_base64_only() {
        let encoded = STANDARD.encode([7u8; 32]);
        assert!(encoded.parse::<CredentialKey>().is_ok());
        assert_eq!(
            STANDARD
                .encode([7u8; 16])
                .parse::<CredentialKey>()
                .unwrap_err(),
            KeyError::WrongLength(16)
        );
        assert_eq!(
            "not base64!".parse::<CredentialKey>().unwrap_err(),
            KeyError::NotBase64
        );
    }
}
