//! CURVE key pairs and their Z85 text form (40 characters per key).

/// A CURVE key pair, raw 32-byte keys.
#[derive(Clone, PartialEq, Eq)]
pub struct CurveKeyPair {
    /// The public key, given to the other side.
    pub public: [u8; 32],
    /// The secret key, kept private.
    pub secret: [u8; 32],
}

impl std::fmt::Debug for CurveKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveKeyPair")
            .field("public", &encode_key(&self.public))
            .field("secret", &"…")
            .finish()
    }
}

/// A key could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// libzmq was built without CURVE.
    #[error("the linked libzmq has no CURVE support, so no keys can be generated")]
    CurveUnavailable,
    /// libzmq failed to generate a key pair.
    #[error("libzmq could not generate a CURVE key pair: {0}")]
    Generate(zmq::Error),
    /// The text is not a Z85-encoded 32-byte key.
    #[error("{what} is not a CURVE key: expected 40 Z85 characters (as `backlog keygen` prints), got {len} characters")]
    Malformed {
        /// Which key.
        what: String,
        /// The length given.
        len: usize,
    },
}

impl CurveKeyPair {
    /// A new random key pair.
    pub fn generate() -> Result<CurveKeyPair, KeyError> {
        if zmq::has("curve") != Some(true) {
            return Err(KeyError::CurveUnavailable);
        }
        let pair = zmq::CurveKeyPair::new().map_err(KeyError::Generate)?;
        Ok(CurveKeyPair {
            public: pair.public_key,
            secret: pair.secret_key,
        })
    }

    /// A key pair from its Z85 texts.
    pub fn from_z85(public: &str, secret: &str) -> Result<CurveKeyPair, KeyError> {
        Ok(CurveKeyPair {
            public: decode_key(public, "the public key")?,
            secret: decode_key(secret, "the secret key")?,
        })
    }
}

/// A key as its 40 Z85 characters.
pub fn encode_key(key: &[u8; 32]) -> String {
    zmq::z85_encode(key).unwrap_or_default()
}

/// A key from its 40 Z85 characters; `what` names it in the error.
pub fn decode_key(text: &str, what: &str) -> Result<[u8; 32], KeyError> {
    let text = text.trim();
    let malformed = || KeyError::Malformed {
        what: what.to_owned(),
        len: text.chars().count(),
    };
    if text.len() != 40 {
        return Err(malformed());
    }
    let bytes = zmq::z85_decode(text).map_err(|_| malformed())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| malformed())
}
