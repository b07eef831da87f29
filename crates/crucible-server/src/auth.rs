//! The API key: sent as `Authorization: Bearer KEY`, compared in constant time, never logged.

use subtle::ConstantTimeEq;

/// A secret clients must present; its `Debug` form hides it.
#[derive(Clone)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<hidden>)")
    }
}

impl ApiKey {
    /// A key; an empty or blank one is no key.
    pub fn new(key: &str) -> Option<ApiKey> {
        let key = key.trim();
        (!key.is_empty()).then(|| ApiKey(key.to_owned()))
    }

    /// Whether an `Authorization` header value carries this key. The comparison takes the same
    /// time whatever the header holds (for a given key length), so timing tells nothing about
    /// the key.
    pub(crate) fn admits(&self, header: Option<&[u8]>) -> bool {
        let Some(header) = header else {
            return false;
        };
        let presented = header
            .strip_prefix(b"Bearer ")
            .or_else(|| header.strip_prefix(b"bearer "))
            .unwrap_or(b"");
        let presented = presented.trim_ascii();
        bool::from(presented.ct_eq(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bearer_key_is_admitted_and_the_key_stays_hidden() {
        let key = ApiKey::new(" sk-test ").unwrap();
        assert!(key.admits(Some(b"Bearer sk-test")));
        assert!(key.admits(Some(b"bearer sk-test")));
        assert!(!key.admits(Some(b"Bearer sk-tes")));
        assert!(!key.admits(Some(b"Bearer sk-test2")));
        assert!(!key.admits(Some(b"sk-test")));
        assert!(!key.admits(Some(b"Basic c2stdGVzdA==")));
        assert!(!key.admits(None));
        assert_eq!(format!("{key:?}"), "ApiKey(<hidden>)");
        assert!(ApiKey::new("  ").is_none());
    }
}
