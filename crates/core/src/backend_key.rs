//! A generation endpoint's API key: read from an environment variable or from the OS keyring when
//! a question is answered, never written into settings.json. The keyring holds one entry per
//! endpoint URL (service [`KEYRING_SERVICE`], user the base URL), so switching between two
//! endpoints keeps both keys. Why the keyring and which one: docs/decisions/0012-backend-key-in-the-os-keyring.md.

use serde::Serialize;

use crate::{Backend, Error, KeySource, Result};

/// The keyring entry's service name; its user name is the endpoint's base URL.
pub const KEYRING_SERVICE: &str = "almanac-backend";

/// The longest key accepted (real ones are well under 200 bytes).
pub const MAX_KEY_BYTES: usize = 4096;

/// What a front end may know about the key: where it comes from and whether there is one, never
/// the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyStatus {
    pub source: KeySource,
    /// The variable read, with `source: "env"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    pub present: bool,
    /// Why the keyring could not be read (no Secret Service running, locked…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The key for the configured endpoint, or None when it needs none (an unset variable). A
/// keyring source with no entry, or a keyring that cannot be reached, is an error: the user chose
/// it, and sending no key would only come back as the endpoint's 401.
pub fn read(backend: &Backend) -> Result<Option<String>> {
    let Backend::Openai {
        base_url,
        api_key_from,
        api_key_env,
        ..
    } = backend
    else {
        return Ok(None);
    };
    match api_key_from {
        KeySource::Env => Ok(std::env::var(api_key_env).ok().filter(|k| !k.is_empty())),
        KeySource::Keyring => match entry(base_url)?.get_password() {
            Ok(key) => Ok(Some(key)),
            Err(keyring::Error::NoEntry) => Err(keyring_error(
                base_url,
                "no API key stored for this endpoint; store one in the models view or with `almanac backend-key set`",
            )),
            Err(e) => Err(keyring_error(base_url, describe(&e))),
        },
    }
}

/// Where the configured endpoint's key comes from and whether it is there; None for the local model.
pub fn status(backend: &Backend) -> Option<KeyStatus> {
    let Backend::Openai {
        base_url,
        api_key_from,
        api_key_env,
        ..
    } = backend
    else {
        return None;
    };
    Some(match api_key_from {
        KeySource::Env => KeyStatus {
            source: KeySource::Env,
            env: Some(api_key_env.clone()),
            present: std::env::var(api_key_env).is_ok_and(|k| !k.is_empty()),
            error: None,
        },
        KeySource::Keyring => {
            let found = is_stored(base_url);
            KeyStatus {
                source: KeySource::Keyring,
                env: None,
                present: found.as_ref().is_ok_and(|p| *p),
                error: found.err().map(|e| e.to_string()),
            }
        }
    })
}

/// Whether the OS keyring holds a key for the endpoint at `base_url`.
pub fn is_stored(base_url: &str) -> Result<bool> {
    match entry(base_url)?.get_password() {
        Ok(_) => Ok(true),
        Err(keyring::Error::NoEntry) => Ok(false),
        Err(e) => Err(keyring_error(base_url, describe(&e))),
    }
}

/// Stores `key` in the OS keyring for the endpoint at `base_url`, replacing any earlier one.
pub fn store(base_url: &str, key: &str) -> Result<()> {
    check_key(key)?;
    entry(base_url)?
        .set_password(key)
        .map_err(|e| keyring_error(base_url, describe(&e)))
}

/// Removes the endpoint's key from the OS keyring; false when there was none.
pub fn delete(base_url: &str) -> Result<bool> {
    match entry(base_url)?.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring::Error::NoEntry) => Ok(false),
        Err(e) => Err(keyring_error(base_url, describe(&e))),
    }
}

/// A key goes into an `Authorization` header: printable ASCII without spaces, not empty.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(Error::invalid(
            "key",
            format!("must be 1 to {MAX_KEY_BYTES} bytes"),
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "key",
            "must be printable ASCII without spaces (it is sent in an HTTP header)",
        ));
    }
    Ok(())
}

fn entry(base_url: &str) -> Result<keyring::Entry> {
    keyring::Entry::new(KEYRING_SERVICE, base_url.trim_end_matches('/'))
        .map_err(|e| keyring_error(base_url, describe(&e)))
}

fn keyring_error(base_url: &str, detail: impl Into<String>) -> Error {
    Error::Keyring {
        url: base_url.trim_end_matches('/').to_owned(),
        detail: detail.into(),
    }
}

/// The keyring's error on one line, with what to do when no keyring service answers.
fn describe(error: &keyring::Error) -> String {
    // "No default store" hides why: the store's own start-up error says it (no session bus…).
    let error = match (error, keyring::Entry::store_status()) {
        (keyring::Error::NoDefaultStore, Err(cause)) => cause,
        _ => error,
    };
    let text: String = error
        .to_string()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match error {
        keyring::Error::NoDefaultStore
        | keyring::Error::NoStorageAccess(_)
        | keyring::Error::PlatformFailure(_) => format!(
            "{text} (on Linux the key lives in a Secret Service on the session D-Bus: \
             gnome-keyring, KWallet or KeePassXC, running and unlocked; or use api_key_from \"env\")"
        ),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_must_fit_in_a_header() {
        assert!(check_key("sk-abc_123.XYZ").is_ok());
        for bad in [
            "",
            "has space",
            "line\nbreak",
            "é",
            &"k".repeat(MAX_KEY_BYTES + 1),
        ] {
            let err = check_key(bad).unwrap_err().to_string();
            assert!(err.starts_with("key: "), "{bad:?}: {err}");
        }
    }

    #[test]
    fn an_env_key_is_read_from_the_named_variable_and_an_empty_one_is_none() {
        let var = "ALMANAC_TEST_BACKEND_KEY_FOR_UNIT_TEST";
        let Backend::Openai {
            base_url,
            model,
            context_length,
            timeout_s,
            ..
        } = Backend::openai("http://127.0.0.1:9/v1", None)
        else {
            unreachable!()
        };
        let backend = Backend::Openai {
            base_url,
            model,
            context_length,
            api_key_from: KeySource::Env,
            api_key_env: var.into(),
            timeout_s,
        };
        std::env::set_var(var, "sk-test");
        assert_eq!(read(&backend).unwrap().as_deref(), Some("sk-test"));
        let seen = status(&backend).unwrap();
        assert!(seen.present && seen.env.as_deref() == Some(var), "{seen:?}");
        std::env::set_var(var, "");
        assert_eq!(read(&backend).unwrap(), None);
        assert!(!status(&backend).unwrap().present);
        std::env::remove_var(var);
        assert_eq!(status(&Backend::Local), None);
    }
}
