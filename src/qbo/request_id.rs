//! The idempotency key QuickBooks accepts on writes (`?requestid=`).
//!
//! QuickBooks replays the original answer when it sees a `requestid` it has already handled for
//! the company, so the key must be the same on every retry of one logical write — including the
//! replay after a token refresh — and must be durable before the first send (the engine stores it
//! with the intent). QuickBooks allows 50 characters for a single write but only 36 for a batch
//! id and 10 for a batch item's `bId`; one type with the stricter 36 limit works everywhere.
//! The character set is kept to what survives a URL query string and a log line unescaped.

use std::fmt;
use std::str::FromStr;

/// The longest `requestid` accepted (the batch limit, which also fits single writes).
pub const MAX_LEN: usize = 36;
/// The longest `bId` of a batch item when the batch carries a `requestid`.
pub const MAX_BATCH_ITEM_ID_LEN: usize = 10;

/// A `requestid`: 1 to 36 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(String);

/// Why a text is not a valid request id or batch item id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequestId {
    #[error("a request id cannot be empty")]
    Empty,
    #[error("a request id is at most {max} characters; this one has {len}")]
    TooLong { len: usize, max: usize },
    #[error("a request id may contain only letters, digits, '-' and '_', not {0:?}")]
    BadChar(char),
}

impl RequestId {
    /// Parses `text` as a request id.
    pub fn parse(text: &str) -> Result<RequestId, InvalidRequestId> {
        check(text, MAX_LEN)?;
        Ok(RequestId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a batch item's `bId` (1 to 10 characters of the request-id alphabet).
pub fn check_batch_item_id(text: &str) -> Result<(), InvalidRequestId> {
    check(text, MAX_BATCH_ITEM_ID_LEN)
}

fn check(text: &str, max: usize) -> Result<(), InvalidRequestId> {
    if text.is_empty() {
        return Err(InvalidRequestId::Empty);
    }
    if let Some(bad) = text.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        return Err(InvalidRequestId::BadChar(bad));
    }
    // Only ASCII is left, so bytes are characters.
    if text.len() > max {
        return Err(InvalidRequestId::TooLong { len: text.len(), max });
    }
    Ok(())
}

impl FromStr for RequestId {
    type Err = InvalidRequestId;

    fn from_str(text: &str) -> Result<RequestId, InvalidRequestId> {
        RequestId::parse(text)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RequestId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_and_derived_keys() {
        for ok in ["a", "0f8fad5b-d9cb-469f-a165-70867728950e", "row_42-attempt", &"x".repeat(36)] {
            assert_eq!(RequestId::parse(ok).map(|r| r.as_str().to_owned()), Ok(ok.to_owned()), "{ok}");
        }
    }

    #[test]
    fn rejects_empty_long_and_odd_characters() {
        assert_eq!(RequestId::parse(""), Err(InvalidRequestId::Empty));
        assert_eq!(RequestId::parse(&"x".repeat(37)), Err(InvalidRequestId::TooLong { len: 37, max: 36 }));
        assert_eq!(RequestId::parse("a b"), Err(InvalidRequestId::BadChar(' ')));
        assert_eq!(RequestId::parse("a&requestid=b"), Err(InvalidRequestId::BadChar('&')));
        assert_eq!(RequestId::parse("é"), Err(InvalidRequestId::BadChar('é')));
        assert_eq!("ok-1".parse::<RequestId>().map(|r| r.to_string()), Ok("ok-1".to_owned()));
    }

    #[test]
    fn batch_item_ids_are_at_most_ten_characters() {
        assert_eq!(check_batch_item_id("b0123456789"), Err(InvalidRequestId::TooLong { len: 11, max: 10 }));
        assert_eq!(check_batch_item_id("b012345678"), Ok(()));
        assert_eq!(check_batch_item_id(""), Err(InvalidRequestId::Empty));
        assert_eq!(check_batch_item_id("b:1"), Err(InvalidRequestId::BadChar(':')));
    }
}
