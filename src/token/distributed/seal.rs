//! Values at rest in Redis: AES-256-GCM with a key of 32 random bytes from
//! `TokenCache.Distributed.EncryptionKeyFile` (ring's AEAD, the one rustls already uses), a random
//! nonce per value, and the Redis key as associated data, so a value copied under another key
//! does not open. A value names the id of the key that sealed it: `v1.<key id>.<nonce+ciphertext>`.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};
use crate::files::{FileKind, read_regular_file};

pub struct SealingKey {
    key: LessSafeKey,
    /// Names the key in values (not secret: a hash of it).
    id: String,
}

impl SealingKey {
    /// Reads the key file: 32 bytes as they are, or written as 64 hex digits or base64.
    pub fn from_file(path: &str, field: &str) -> Result<SealingKey> {
        let unusable = |why: String| Error::new(ErrorKind::Config, format!("{field}: {why}"));
        let data = read_regular_file(Path::new(path), FileKind::CacheKey).map_err(unusable)?;
        let bytes = decode_key(&data).ok_or_else(|| {
            unusable(format!(
                "{} does not hold 32 bytes (raw, 64 hex digits or base64); make one with \
                 `openssl rand -out <file> 32`",
                quote(path)
            ))
        })?;
        SealingKey::new(&bytes)
    }

    pub fn new(bytes: &[u8; 32]) -> Result<SealingKey> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| Error::new(ErrorKind::Config, "the cache key is not an AES-256 key"))?;
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            &[b"downstream-api token cache key id\0".as_slice(), bytes].concat(),
        );
        let id = digest.as_ref()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(SealingKey {
            key: LessSafeKey::new(key),
            id,
        })
    }

    /// `plaintext` sealed, bound to `context` (the Redis key).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::new(ErrorKind::Config, "no random bytes for a nonce"))?;
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| Error::new(ErrorKind::Config, "sealing a cache value failed"))?;
        let mut data = nonce.to_vec();
        data.extend_from_slice(&sealed);
        Ok(format!("v1.{}.{}", self.id, URL_SAFE_NO_PAD.encode(data)))
    }

    /// The plaintext of a value sealed by this key for `context`; why not, otherwise.
    pub fn open(&self, context: &str, value: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let text = std::str::from_utf8(value).map_err(|_| "not text".to_string())?;
        let mut parts = text.splitn(3, '.');
        let (Some("v1"), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("not a sealed value of this library".to_string());
        };
        if id != self.id {
            return Err(format!(
                "sealed with key {id}, not this client's key {}",
                self.id
            ));
        }
        let data = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| "not base64".to_string())?;
        if data.len() < NONCE_LEN {
            return Err("too short".to_string());
        }
        let (nonce, sealed) = data.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "bad nonce".to_string())?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut sealed)
            .map_err(|_| "does not open (altered, or stored under another key)".to_string())?;
        Ok(plain.to_vec())
    }
}

fn decode_key(data: &[u8]) -> Option<[u8; 32]> {
    if let Ok(raw) = <[u8; 32]>::try_from(data) {
        return Some(raw);
    }
    let text = std::str::from_utf8(data).ok()?.trim();
    let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        STANDARD.decode(text).ok()?
    };
    <[u8; 32]>::try_from(decoded.as_slice()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_open_only_with_their_key_and_context() {
        let key = SealingKey::new(&[7; 32]).unwrap();
        let sealed = key.seal("dsapi:token:ab", b"secret token").unwrap();
        assert!(!sealed.contains("secret"));
        assert_eq!(
            key.open("dsapi:token:ab", sealed.as_bytes()).unwrap(),
            b"secret token"
        );
        assert!(key.open("dsapi:token:cd", sealed.as_bytes()).is_err());
        let other = SealingKey::new(&[8; 32]).unwrap();
        assert!(
            other
                .open("dsapi:token:ab", sealed.as_bytes())
                .unwrap_err()
                .contains("sealed with key")
        );
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(key.open("dsapi:token:ab", &altered).is_err());
        assert!(key.open("dsapi:token:ab", b"\xff\xfe").is_err());
    }

    #[test]
    fn keys_are_read_raw_hex_or_base64() {
        assert_eq!(decode_key(&[1; 32]), Some([1; 32]));
        assert_eq!(decode_key("01".repeat(32).as_bytes()), Some([1; 32]));
        assert_eq!(
            decode_key(STANDARD.encode([1u8; 32]).as_bytes()),
            Some([1; 32])
        );
        assert_eq!(decode_key(b"short"), None);
        assert_eq!(decode_key(&[1; 31]), None);
    }
}
