//! The stored form of a sealed value.
//!
//! Layout v1: `0x01 | u16 BE wrapped-key length | wrapped key | 12-byte nonce | ciphertext‖tag`.

use aws_lc_rs::aead::{MAX_TAG_LEN, NONCE_LEN};

use super::SealError;

pub const BLOB_VERSION: u8 = 1;

#[derive(Clone, PartialEq, Eq)]
pub struct SealedBlob {
    pub version: u8,
    /// The data key as KMS wrapped it (opaque ciphertext).
    pub wrapped_key: Vec<u8>,
    pub nonce: [u8; NONCE_LEN],
    /// AES-256-GCM ciphertext with its tag appended.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedBlob")
            .field("version", &self.version)
            .field("wrapped_key_len", &self.wrapped_key.len())
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

impl SealedBlob {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(3 + self.wrapped_key.len() + NONCE_LEN + self.ciphertext.len());
        out.push(self.version);
        out.extend_from_slice(&(self.wrapped_key.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.wrapped_key);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let (&version, rest) = bytes
            .split_first()
            .ok_or(SealError::MalformedBlob("empty"))?;
        if version != BLOB_VERSION {
            return Err(SealError::UnsupportedVersion(version));
        }
        if rest.len() < 2 {
            return Err(SealError::MalformedBlob("truncated header"));
        }
        let key_len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let rest = &rest[2..];
        if key_len == 0 || rest.len() < key_len + NONCE_LEN + MAX_TAG_LEN {
            return Err(SealError::MalformedBlob("truncated body"));
        }
        let (wrapped_key, rest) = rest.split_at(key_len);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        Ok(Self {
            version,
            wrapped_key: wrapped_key.to_vec(),
            nonce: nonce.try_into().expect("split at NONCE_LEN"),
            ciphertext: ciphertext.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_truncated_and_unknown_versions() {
        assert!(SealedBlob::from_bytes(&[]).is_err());
        assert!(matches!(
            SealedBlob::from_bytes(&[9, 0, 1, 0]),
            Err(SealError::UnsupportedVersion(9))
        ));
        assert!(SealedBlob::from_bytes(&[1, 0, 4, 1, 2, 3, 4]).is_err());
    }

    #[test]
    fn debug_shows_lengths_only() {
        let b = SealedBlob {
            version: 1,
            wrapped_key: vec![7; 40],
            nonce: [0; NONCE_LEN],
            ciphertext: vec![1; 20],
        };
        let dbg = format!("{b:?}");
        assert!(dbg.contains("wrapped_key_len: 40") && !dbg.contains("[7"));
    }
}
