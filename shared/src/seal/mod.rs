//! Envelope sealing of PII, one data key per order and class.
//!
//! `seal`: KMS `GenerateDataKey` (AES-256) under the encryption context
//! `{app: orderseal, seller, order, class}` → AES-256-GCM with a random 96-bit nonce and
//! AAD = the canonical encoding of that same context → a versioned blob that carries the
//! wrapped data key. `open` reverses it. Because the context is bound twice (by KMS to the
//! wrapped key, by GCM to the ciphertext), a blob copied to another order or class fails to open,
//! and the KMS key policy can allow `kms:Decrypt` per class via `kms:EncryptionContext:class`.
//! Plaintext data keys and plaintexts are zeroized after use.

mod blob;
mod keys;

use std::collections::BTreeMap;
use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

pub use blob::{BLOB_VERSION, SealedBlob};
#[cfg(feature = "kms")]
pub use keys::KmsKeyProvider;
pub use keys::{ClassGuard, DataKey, KeyProvider, LocalKeyProvider};

/// The PII classes of ARCHITECTURE §3; each is sealed under its own data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiClass {
    /// Recipient name, address, phone, address type, delivery instructions.
    Shipping,
    /// Buyer name, buyer (relay) email, buyer company.
    Contact,
    /// Gift messages.
    Gift,
}

impl PiiClass {
    pub const ALL: [PiiClass; 3] = [PiiClass::Shipping, PiiClass::Contact, PiiClass::Gift];

    pub fn as_str(self) -> &'static str {
        match self {
            PiiClass::Shipping => "shipping",
            PiiClass::Contact => "contact",
            PiiClass::Gift => "gift",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for PiiClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of the `app` key in every encryption context.
pub const APP: &str = "orderseal";

/// What a sealed blob is bound to. Seller and order ids are identifiers, not PII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealContext {
    pub seller_id: String,
    pub order_id: String,
    pub class: PiiClass,
}

impl SealContext {
    pub fn new(seller_id: impl Into<String>, order_id: impl Into<String>, class: PiiClass) -> Self {
        Self {
            seller_id: seller_id.into(),
            order_id: order_id.into(),
            class,
        }
    }

    /// The KMS encryption context (ARCHITECTURE §3).
    pub fn encryption_context(&self) -> BTreeMap<&'static str, &str> {
        BTreeMap::from([
            ("app", APP),
            ("class", self.class.as_str()),
            ("order", self.order_id.as_str()),
            ("seller", self.seller_id.as_str()),
        ])
    }

    /// Canonical AAD: the blob version, then each context pair in key order, every part
    /// length-prefixed so no two contexts encode alike.
    pub fn aad(&self, version: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        out.extend_from_slice(b"orderseal-seal");
        out.push(version);
        for (k, v) in self.encryption_context() {
            for part in [k.as_bytes(), v.as_bytes()] {
                out.extend_from_slice(&(part.len() as u32).to_be_bytes());
                out.extend_from_slice(part);
            }
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("key service refused or failed ({operation}): {code}")]
    KeyService {
        operation: &'static str,
        code: String,
    },
    #[error("sealed blob is malformed: {0}")]
    MalformedBlob(&'static str),
    #[error("sealed blob version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("sealed blob does not open under this context (wrong order, class or key)")]
    OpenFailed,
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),
    #[error("this function may not {operation} class {class}")]
    ClassNotPermitted {
        operation: &'static str,
        class: PiiClass,
    },
}

/// Seals and opens PII with data keys from a [`KeyProvider`].
#[derive(Debug, Clone)]
pub struct Sealer<K> {
    keys: K,
}

impl<K: KeyProvider> Sealer<K> {
    pub fn new(keys: K) -> Self {
        Self { keys }
    }

    pub fn key_provider(&self) -> &K {
        &self.keys
    }

    /// Seal `plaintext` under a fresh data key bound to `ctx`.
    pub async fn seal(&self, ctx: &SealContext, plaintext: &[u8]) -> Result<SealedBlob, SealError> {
        let key = self.keys.generate_data_key(ctx).await?;
        seal_with_key(&key, ctx, plaintext)
    }

    /// Open a blob sealed under `ctx`. Any change of order, class, key or bytes fails.
    pub async fn open(
        &self,
        ctx: &SealContext,
        blob: &SealedBlob,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let key = self.keys.decrypt_data_key(ctx, &blob.wrapped_key).await?;
        open_with_key(&key, ctx, blob)
    }
}

/// Seal with a data key already in hand (the KMS call is the caller's).
pub fn seal_with_key(
    key: &DataKey,
    ctx: &SealContext,
    plaintext: &[u8],
) -> Result<SealedBlob, SealError> {
    let sealing = aead_key(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| SealError::Crypto("random nonce"))?;
    let mut in_out = plaintext.to_vec();
    let sealed = sealing.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(ctx.aad(BLOB_VERSION)),
        &mut in_out,
    );
    if sealed.is_err() {
        zeroize::Zeroize::zeroize(&mut in_out);
        return Err(SealError::Crypto("aes-256-gcm seal"));
    }
    Ok(SealedBlob {
        version: BLOB_VERSION,
        wrapped_key: key.wrapped.clone(),
        nonce,
        ciphertext: in_out,
    })
}

/// Open with a data key already unwrapped for `ctx`.
pub fn open_with_key(
    key: &DataKey,
    ctx: &SealContext,
    blob: &SealedBlob,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if blob.version != BLOB_VERSION {
        return Err(SealError::UnsupportedVersion(blob.version));
    }
    let opening = aead_key(key)?;
    let mut in_out = Zeroizing::new(blob.ciphertext.clone());
    let len = opening
        .open_in_place(
            Nonce::assume_unique_for_key(blob.nonce),
            Aad::from(ctx.aad(blob.version)),
            &mut in_out,
        )
        .map_err(|_| SealError::OpenFailed)?
        .len();
    in_out.truncate(len);
    Ok(in_out)
}

fn aead_key(key: &DataKey) -> Result<LessSafeKey, SealError> {
    UnboundKey::new(&AES_256_GCM, key.plaintext())
        .map(LessSafeKey::new)
        .map_err(|_| SealError::Crypto("data key is not a 256-bit AES key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer<LocalKeyProvider> {
        Sealer::new(LocalKeyProvider::random())
    }

    #[tokio::test]
    async fn seal_then_open_roundtrips_and_ciphertext_hides_plaintext() {
        let s = sealer();
        let ctx = SealContext::new("A1SELLER", "113-1234567-1234567", PiiClass::Shipping);
        let blob = s.seal(&ctx, b"CANARY 1 Main St").await.unwrap();
        let bytes = blob.to_bytes();
        assert!(!bytes.windows(6).any(|w| w == b"CANARY"));
        let back = SealedBlob::from_bytes(&bytes).unwrap();
        assert_eq!(&*s.open(&ctx, &back).await.unwrap(), b"CANARY 1 Main St");
    }

    #[tokio::test]
    async fn a_blob_moved_to_another_order_class_or_seller_fails_to_open() {
        let s = sealer();
        let ctx = SealContext::new("A1SELLER", "113-1234567-1234567", PiiClass::Shipping);
        let blob = s.seal(&ctx, b"secret").await.unwrap();
        for other in [
            SealContext::new("A1SELLER", "113-0000000-0000000", PiiClass::Shipping),
            SealContext::new("A1SELLER", "113-1234567-1234567", PiiClass::Contact),
            SealContext::new("A2OTHER", "113-1234567-1234567", PiiClass::Shipping),
        ] {
            assert!(matches!(
                s.open(&other, &blob).await,
                Err(SealError::OpenFailed)
            ));
        }
    }

    #[tokio::test]
    async fn tampering_with_any_part_fails() {
        let s = sealer();
        let ctx = SealContext::new("S", "O", PiiClass::Gift);
        let blob = s.seal(&ctx, b"happy birthday").await.unwrap();
        let mut ct = blob.clone();
        ct.ciphertext[0] ^= 1;
        assert!(s.open(&ctx, &ct).await.is_err());
        let mut nonce = blob.clone();
        nonce.nonce[0] ^= 1;
        assert!(s.open(&ctx, &nonce).await.is_err());
        let mut wrapped = blob.clone();
        wrapped.wrapped_key[3] ^= 1;
        assert!(s.open(&ctx, &wrapped).await.is_err());
    }

    #[tokio::test]
    async fn every_seal_uses_a_fresh_nonce_and_key() {
        let s = sealer();
        let ctx = SealContext::new("S", "O", PiiClass::Contact);
        let a = s.seal(&ctx, b"same").await.unwrap();
        let b = s.seal(&ctx, b"same").await.unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.wrapped_key, b.wrapped_key);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn aad_is_unambiguous() {
        let a = SealContext::new("AB", "C", PiiClass::Gift).aad(1);
        let b = SealContext::new("A", "BC", PiiClass::Gift).aad(1);
        assert_ne!(a, b);
    }
}
