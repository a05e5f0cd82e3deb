//! Opening the store from a URL, with the key that seals credentials at rest.
//!
//! The fleet's key comes from configuration (`BACKFILL__SECRETS__CREDENTIAL_KEY`). The
//! embedded mode needs one too but must work with no configuration at all: for a SQLite
//! store without a configured key, a key is generated once into a file beside the
//! database (`<name>.key`, mode 0600) and read from there afterwards. Losing that file
//! makes the stored tokens unreadable, exactly like losing the fleet's key.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use backfill_store::{CredentialKey, Store, StoreOptions};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};

/// The file of a `sqlite:` URL (`sqlite://backfill.db`, `sqlite:///var/lib/b.db`), if it
/// names one.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// `dir/name.db` → `dir/name.<suffix>`: files that belong with the database.
pub fn beside(database: &Path, suffix: &str) -> PathBuf {
    let stem = database
        .file_stem()
        .map_or_else(|| "backfill".into(), |s| s.to_string_lossy().into_owned());
    database.with_file_name(format!("{stem}.{suffix}"))
}

/// A URL as it may be shown: `postgres://user:***@host/db`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The credential key: configured, or (SQLite only) kept beside the database.
pub fn credential_key(
    configured: Option<&SecretString>,
    store_url: &str,
) -> anyhow::Result<CredentialKey> {
    if let Some(key) = configured {
        return CredentialKey::from_base64(key.expose_secret()).with_context(|| {
            "BACKFILL__SECRETS__CREDENTIAL_KEY must be 32 random bytes in base64 \
             (`head -c 32 /dev/urandom | base64`)"
        });
    }
    if !store_url.starts_with("postgres") && !store_url.starts_with("sqlite:") {
        bail!(
            "unsupported store URL {}: expected postgres://… or sqlite://…",
            redact(store_url)
        );
    }
    let Some(database) = sqlite_path(store_url) else {
        bail!(
            "set BACKFILL__SECRETS__CREDENTIAL_KEY to 32 random bytes in base64 \
             (`head -c 32 /dev/urandom | base64`): it encrypts channel tokens at rest"
        );
    };
    key_file(&beside(&database, "key"))
}

/// Reads the key file, or creates it (0600) with a fresh key.
fn key_file(path: &Path) -> anyhow::Result<CredentialKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                bail!(
                    "the credential key file {} is readable by others (mode {:o}); run `chmod 600 {}`",
                    path.display(),
                    mode & 0o777,
                    path.display()
                );
            }
            CredentialKey::from_base64(text.trim())
                .with_context(|| format!("the credential key file {} is damaged", path.display()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let bytes: [u8; 32] = rand::random();
            // create_new: two processes starting at once must not both write a key.
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating the credential key file {}", path.display()))?;
            writeln!(file, "{}", STANDARD.encode(bytes))?;
            file.sync_all()?;
            Ok(CredentialKey::from_bytes(bytes))
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Opens (and migrates) the store `url` names.
pub async fn open(url: &str, key: CredentialKey, max_connections: u32) -> anyhow::Result<Store> {
    if let Some(dir) = sqlite_path(url)
        .as_deref()
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let options = StoreOptions {
        max_connections,
        ..StoreOptions::default()
    };
    Store::connect_with(url, key, options)
        .await
        .with_context(|| format!("cannot open the store at {}", redact(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://backfill.db"),
            Some("backfill.db".into())
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/b.db?mode=rwc"),
            Some("/var/lib/b.db".into())
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
        assert_eq!(
            beside(Path::new("/x/store.db"), "key"),
            PathBuf::from("/x/store.key")
        );
    }

    #[test]
    fn a_password_in_a_url_is_masked() {
        assert_eq!(
            redact("postgres://app:hunter2@db:5432/backfill"),
            "postgres://app:***@db:5432/backfill"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn the_embedded_key_is_created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/store.db", dir.path().display());
        credential_key(None, &url).unwrap();
        let file = dir.path().join("store.key");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let first = std::fs::read_to_string(&file).unwrap();
        credential_key(None, &url).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), first);

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = credential_key(None, &url).unwrap_err().to_string();
        assert!(error.contains("chmod 600"), "{error}");
    }

    #[test]
    fn a_postgres_store_without_a_key_says_how_to_make_one() {
        let error = credential_key(None, "postgres://u@h/db")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("BACKFILL__SECRETS__CREDENTIAL_KEY"),
            "{error}"
        );
    }
}
