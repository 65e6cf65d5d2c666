use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Identifies one execution of a job: the claim that started it.
///
/// The database draws a fresh random 128-bit token for every claim (`gen_random_uuid()` on
/// PostgreSQL, `randomblob(16)` on SQLite) and requires it on every write of that execution:
/// outcome, heartbeat, progress and result. `(job id, lease token)` names one execution; the
/// attempt number is kept for history only.
///
/// A random token rather than a counter, because a claim commits without waiting for the disk:
/// after a database crash a sequence can hand out a value again, while two random 128-bit values
/// colliding is not a practical concern.
///
/// Shown (and serialized) as 32 lowercase hex digits.
///
/// ```
/// use backlog_types::LeaseToken;
///
/// let token = LeaseToken::from_bytes([0xab; 16]);
/// assert_eq!(token.to_string(), "ab".repeat(16));
/// assert_eq!(token.to_string().parse::<LeaseToken>().unwrap(), token);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseToken([u8; 16]);

impl LeaseToken {
    /// A token from its 16 bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> LeaseToken {
        LeaseToken(bytes)
    }

    /// The 16 bytes, as stored.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// A lease token that is not 16 bytes or 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid lease token {0:?}: expected 16 bytes, written as 32 hex digits")]
pub struct InvalidLeaseToken(pub String);

impl TryFrom<&[u8]> for LeaseToken {
    type Error = InvalidLeaseToken;

    fn try_from(bytes: &[u8]) -> Result<LeaseToken, InvalidLeaseToken> {
        <[u8; 16]>::try_from(bytes)
            .map(LeaseToken)
            .map_err(|_| InvalidLeaseToken(format!("{} bytes", bytes.len())))
    }
}

impl fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LeaseToken({self})")
    }
}

impl FromStr for LeaseToken {
    type Err = InvalidLeaseToken;

    /// Parses 32 hex digits; dashes (a UUID's spelling) and a leading `\\x` (PostgreSQL's
    /// spelling of bytes, as in archived rows) are ignored.
    fn from_str(s: &str) -> Result<LeaseToken, InvalidLeaseToken> {
        let hex = s.strip_prefix("\\x").unwrap_or(s);
        let digits: Vec<u8> = hex.bytes().filter(|b| *b != b'-').collect();
        let invalid = || InvalidLeaseToken(s.to_owned());
        if digits.len() != 32 {
            return Err(invalid());
        }
        let mut bytes = [0u8; 16];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks(2)) {
            let text = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(text, 16).map_err(|_| invalid())?;
        }
        Ok(LeaseToken(bytes))
    }
}

impl Serialize for LeaseToken {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LeaseToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<LeaseToken, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_hex_and_json() {
        let token = LeaseToken::from_bytes(*b"0123456789abcdef");
        let text = token.to_string();
        assert_eq!(text, "30313233343536373839616263646566");
        let json = serde_json::to_string(&token).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<LeaseToken>(&json).unwrap(), token);
        let uuid = "30313233-3435-3637-3839-616263646566";
        assert_eq!(uuid.parse::<LeaseToken>().unwrap(), token);
        assert_eq!(format!("\\x{text}").parse::<LeaseToken>().unwrap(), token);
    }

    #[test]
    fn rejects_bad_input() {
        assert!("abc".parse::<LeaseToken>().is_err());
        assert!("zz".repeat(16).parse::<LeaseToken>().is_err());
        assert!(LeaseToken::try_from(&[1u8, 2][..]).is_err());
    }
}
