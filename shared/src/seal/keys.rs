//! Where data keys come from: KMS in production, a local in-memory master key for benches
//! and unit tests.

use std::future::Future;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::{SealContext, SealError};

/// A 256-bit data key: the plaintext (zeroized on drop) and the wrapped form that is stored.
pub struct DataKey {
    plaintext: Zeroizing<[u8; 32]>,
    pub wrapped: Vec<u8>,
}

impl DataKey {
    /// Takes ownership of the plaintext key bytes and wipes the source buffer.
    pub fn new(mut plaintext: Vec<u8>, wrapped: Vec<u8>) -> Result<Self, SealError> {
        let mut key = Zeroizing::new([0u8; 32]);
        let ok = plaintext.len() == 32;
        if ok {
            key.copy_from_slice(&plaintext);
        }
        zeroize::Zeroize::zeroize(&mut plaintext);
        if !ok {
            return Err(SealError::Crypto("data key is not 32 bytes"));
        }
        Ok(Self {
            plaintext: key,
            wrapped,
        })
    }

    pub(super) fn plaintext(&self) -> &[u8] {
        &self.plaintext[..]
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// The key service port.
pub trait KeyProvider: Send + Sync {
    /// A fresh data key whose wrapped form is bound to `ctx`.
    fn generate_data_key(
        &self,
        ctx: &SealContext,
    ) -> impl Future<Output = Result<DataKey, SealError>> + Send;

    /// Unwrap a stored data key; fails unless `ctx` is the one it was generated under.
    fn decrypt_data_key(
        &self,
        ctx: &SealContext,
        wrapped: &[u8],
    ) -> impl Future<Output = Result<DataKey, SealError>> + Send;
}

impl<K: KeyProvider> KeyProvider for std::sync::Arc<K> {
    fn generate_data_key(
        &self,
        ctx: &SealContext,
    ) -> impl Future<Output = Result<DataKey, SealError>> + Send {
        (**self).generate_data_key(ctx)
    }

    fn decrypt_data_key(
        &self,
        ctx: &SealContext,
        wrapped: &[u8],
    ) -> impl Future<Output = Result<DataKey, SealError>> + Send {
        (**self).decrypt_data_key(ctx, wrapped)
    }
}

/// Least privilege in code, mirroring the KMS key policy: a function may open only the classes
/// its purpose needs, and seal none unless told. (The key policy enforces the same in AWS.)
#[derive(Debug, Clone)]
pub struct ClassGuard<K> {
    inner: K,
    may_open: &'static [super::PiiClass],
    may_seal: &'static [super::PiiClass],
}

impl<K> ClassGuard<K> {
    pub fn new(
        inner: K,
        may_open: &'static [super::PiiClass],
        may_seal: &'static [super::PiiClass],
    ) -> Self {
        Self {
            inner,
            may_open,
            may_seal,
        }
    }
}

impl<K: KeyProvider> KeyProvider for ClassGuard<K> {
    async fn generate_data_key(&self, ctx: &SealContext) -> Result<DataKey, SealError> {
        if !self.may_seal.contains(&ctx.class) {
            return Err(SealError::ClassNotPermitted {
                operation: "seal",
                class: ctx.class,
            });
        }
        self.inner.generate_data_key(ctx).await
    }

    async fn decrypt_data_key(
        &self,
        ctx: &SealContext,
        wrapped: &[u8],
    ) -> Result<DataKey, SealError> {
        if !self.may_open.contains(&ctx.class) {
            return Err(SealError::ClassNotPermitted {
                operation: "open",
                class: ctx.class,
            });
        }
        self.inner.decrypt_data_key(ctx, wrapped).await
    }
}

/// An in-memory master key that wraps data keys with AES-256-GCM under the context, as KMS
/// would. For benches and unit tests only: production uses [`KmsKeyProvider`].
pub struct LocalKeyProvider {
    master: LessSafeKey,
}

impl std::fmt::Debug for LocalKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKeyProvider")
    }
}

impl LocalKeyProvider {
    pub fn random() -> Self {
        let mut master = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(&mut master[..])
            .expect("system randomness");
        Self {
            master: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &master[..]).expect("32 bytes")),
        }
    }

    /// Generate a data key synchronously (the bench's "local data key").
    pub fn generate(&self, ctx: &SealContext) -> Result<DataKey, SealError> {
        let rng = SystemRandom::new();
        let mut plaintext = vec![0u8; 32];
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut plaintext)
            .and_then(|()| rng.fill(&mut nonce))
            .map_err(|_| SealError::Crypto("randomness"))?;
        let mut wrapped = plaintext.clone();
        self.master
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(ctx.aad(0)),
                &mut wrapped,
            )
            .map_err(|_| SealError::Crypto("wrap"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&wrapped);
        DataKey::new(plaintext, out)
    }

    pub fn unwrap_key(&self, ctx: &SealContext, wrapped: &[u8]) -> Result<DataKey, SealError> {
        if wrapped.len() < NONCE_LEN {
            return Err(SealError::OpenFailed);
        }
        let (nonce, body) = wrapped.split_at(NONCE_LEN);
        let mut in_out = body.to_vec();
        let plain = self
            .master
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::OpenFailed)?,
                Aad::from(ctx.aad(0)),
                &mut in_out,
            )
            .map_err(|_| SealError::OpenFailed)?
            .to_vec();
        zeroize::Zeroize::zeroize(&mut in_out);
        DataKey::new(plain, wrapped.to_vec())
    }
}

impl KeyProvider for LocalKeyProvider {
    async fn generate_data_key(&self, ctx: &SealContext) -> Result<DataKey, SealError> {
        self.generate(ctx)
    }

    async fn decrypt_data_key(
        &self,
        ctx: &SealContext,
        wrapped: &[u8],
    ) -> Result<DataKey, SealError> {
        self.unwrap_key(ctx, wrapped)
    }
}

#[cfg(feature = "kms")]
pub use kms::KmsKeyProvider;

#[cfg(feature = "kms")]
mod kms {
    use aws_sdk_kms::Client;
    use aws_sdk_kms::error::ProvideErrorMetadata;
    use aws_sdk_kms::primitives::Blob;
    use aws_sdk_kms::types::DataKeySpec;

    use super::{DataKey, KeyProvider};
    use crate::seal::{SealContext, SealError};

    /// Data keys from AWS KMS under a customer managed key.
    #[derive(Debug, Clone)]
    pub struct KmsKeyProvider {
        client: Client,
        key_id: String,
    }

    impl KmsKeyProvider {
        pub fn new(client: Client, key_id: impl Into<String>) -> Self {
            Self {
                client,
                key_id: key_id.into(),
            }
        }
    }

    fn context(ctx: &SealContext) -> std::collections::HashMap<String, String> {
        ctx.encryption_context()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn service_error<E: ProvideErrorMetadata>(operation: &'static str, e: &E) -> SealError {
        SealError::KeyService {
            operation,
            code: e.code().unwrap_or("unknown").to_owned(),
        }
    }

    impl KeyProvider for KmsKeyProvider {
        async fn generate_data_key(&self, ctx: &SealContext) -> Result<DataKey, SealError> {
            let out = self
                .client
                .generate_data_key()
                .key_id(&self.key_id)
                .key_spec(DataKeySpec::Aes256)
                .set_encryption_context(Some(context(ctx)))
                .send()
                .await
                .map_err(|e| service_error("GenerateDataKey", &e))?;
            let plaintext = out
                .plaintext
                .ok_or(SealError::Crypto("KMS returned no plaintext key"))?;
            let wrapped = out
                .ciphertext_blob
                .ok_or(SealError::Crypto("KMS returned no wrapped key"))?;
            DataKey::new(plaintext.into_inner(), wrapped.into_inner())
        }

        async fn decrypt_data_key(
            &self,
            ctx: &SealContext,
            wrapped: &[u8],
        ) -> Result<DataKey, SealError> {
            let out = self
                .client
                .decrypt()
                .key_id(&self.key_id)
                .ciphertext_blob(Blob::new(wrapped))
                .set_encryption_context(Some(context(ctx)))
                .send()
                .await
                .map_err(|e| {
                    if e.code() == Some("InvalidCiphertextException") {
                        SealError::OpenFailed
                    } else {
                        service_error("Decrypt", &e)
                    }
                })?;
            let plaintext = out
                .plaintext
                .ok_or(SealError::Crypto("KMS returned no plaintext key"))?;
            DataKey::new(plaintext.into_inner(), wrapped.to_vec())
        }
    }
}
