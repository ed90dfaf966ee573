//! Container ids: 1–64 characters of `[A-Za-z0-9][A-Za-z0-9_.-]*`.

use crate::error::{Error, Result};

pub const MAX_ID_LEN: usize = 64;

/// Checks a container id (also used for checkpoint names).
pub fn validate_id(what: &str, id: &str) -> Result<()> {
    let bad = || {
        Error::invalid(format!(
            "invalid {what} {id:?}: must be 1-{MAX_ID_LEN} characters of [A-Za-z0-9][A-Za-z0-9_.-]*"
        ))
    };
    let bytes = id.as_bytes();
    match bytes.first() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return Err(bad()),
    }
    if bytes.len() > MAX_ID_LEN {
        return Err(bad());
    }
    if !bytes
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
    {
        return Err(bad());
    }
    if id.contains("..") {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_ids() {
        for id in ["a", "A9", "web-1", "db_2.x", &"x".repeat(64)] {
            assert!(validate_id("id", id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_bad_ids() {
        for id in ["", "-a", ".a", "_a", "a/b", "a..b", "a b", "é", &"x".repeat(65), "a\0"] {
            assert!(validate_id("id", id).is_err(), "{id:?}");
        }
    }
}
