//! Sixteen-byte identifiers sent as CBOR byte strings: lease tokens and asset UUIDs.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! bytes16 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 16]);

        impl $name {
            /// The sixteen bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl From<[u8; 16]> for $name {
            fn from(bytes: [u8; 16]) -> Self {
                $name(bytes)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_bytes(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_bytes(Bytes16Visitor).map($name)
            }
        }
    };
}

bytes16! {
    /// The token of one claim: `(job id, lease token)` names one execution of a job, and every
    /// write about that execution (heartbeat, extension, progress, release, outcome) carries it.
    /// Random, 128 bits, never reused; on the wire a CBOR byte string of exactly 16 bytes.
    ///
    /// Displayed as 32 lowercase hex digits. This is the wire form of the lease token the
    /// storage layer draws for every claim: it converts from and to the 16 bytes
    /// (`From<[u8; 16]>`, [`LeaseToken::as_bytes`]), and keeps its own type because the wire
    /// wants a byte string where JSON and logs want text.
    LeaseToken
}

bytes16! {
    /// jobq's asset identifier: a UUID the producer attaches to a job (which photo, which
    /// document) so that jobs can be found by the thing they work on. On the wire a CBOR byte
    /// string of exactly 16 bytes (the UUID's bytes in network order).
    ///
    /// Displayed in the hyphenated form `8-4-4-4-12`.
    Uuid
}

impl fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

struct Bytes16Visitor;

impl<'de> Visitor<'de> for Bytes16Visitor {
    type Value = [u8; 16];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string of exactly 16 bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        <[u8; 16]>::try_from(v).map_err(|_| E::invalid_length(v.len(), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_hex_and_uuid_forms() {
        let bytes: [u8; 16] = core::array::from_fn(|i| i as u8 * 17);
        assert_eq!(
            LeaseToken(bytes).to_string(),
            "00112233445566778899aabbccddeeff"
        );
        assert_eq!(
            Uuid(bytes).to_string(),
            "00112233-4455-6677-8899-aabbccddeeff"
        );
    }
}
