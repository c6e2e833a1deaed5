//! DIDComm encrypted envelopes (DIDComm Messaging v2.1 §5.1, RFC 7516 General JSON
//! Serialization): anoncrypt (`ECDH-ES+A256KW`) and authcrypt (`ECDH-1PU+A256KW`,
//! draft-madden-jose-ecdh-1pu-04, with the content tag in the KDF), X25519 or P-256, the
//! content encrypted with `A256CBC-HS512`, `A256GCM` or `XC20P` once for every recipient.
//!
//! What is checked here, beyond the cryptography: only these algorithms (authcrypt only
//! with `A256CBC-HS512`), no `zip`, no `crit`, `apv` = SHA-256 of the recipients' sorted
//! key ids, for authcrypt `apu` = `skid`, the ephemeral key on the recipients' curve,
//! X25519 agreements that yield the all-zero secret (low-order points) refused, and one
//! error for every decryption failure (padding or tag alike: no oracle). Bounded: at most
//! [`MAX_JWE_BYTES`] and [`MAX_RECIPIENTS`].

use askar_crypto::alg::aes::{A256CbcHs512, A256Gcm, A256Kw, AesKey};
use askar_crypto::alg::chacha20::{Chacha20Key, XC20P};
use askar_crypto::alg::p256::P256KeyPair;
use askar_crypto::alg::x25519::X25519KeyPair;
use askar_crypto::buffer::{SecretBytes, WriteBuffer};
use askar_crypto::encrypt::{KeyAeadInPlace, KeyAeadMeta};
use askar_crypto::kdf::ecdh_1pu::Ecdh1PU;
use askar_crypto::kdf::ecdh_es::EcdhEs;
use askar_crypto::kdf::{FromKeyDerivation, KeyExchange};
use askar_crypto::repr::{KeyGen, KeyPublicBytes, KeySecretBytes, ToPublicBytes, ToSecretBytes};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The media type of an encrypted DIDComm message.
pub const TYP: &str = "application/didcomm-encrypted+json";
/// The largest envelope parsed.
pub const MAX_JWE_BYTES: usize = 4 * 1024 * 1024;
/// The most recipients one envelope may name.
pub const MAX_RECIPIENTS: usize = 64;

/// Why an envelope could not be made or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    #[error("malformed encrypted message: {0}")]
    Malformed(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("invalid key: {0}")]
    Key(String),
    #[error("the message is not encrypted for key {0}")]
    NotARecipient(String),
    #[error("{0}")]
    Sender(&'static str),
    /// Any failure to unwrap the content key or decrypt (never more precise).
    #[error("the message could not be decrypted")]
    Decryption,
}

fn malformed(what: impl Into<String>) -> JweError {
    JweError::Malformed(what.into())
}

/// Content encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEnc {
    A256CbcHs512,
    A256Gcm,
    Xc20p,
}

impl ContentEnc {
    pub fn name(self) -> &'static str {
        match self {
            ContentEnc::A256CbcHs512 => "A256CBC-HS512",
            ContentEnc::A256Gcm => "A256GCM",
            ContentEnc::Xc20p => "XC20P",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::A256CbcHs512, Self::A256Gcm, Self::Xc20p]
            .into_iter()
            .find(|e| e.name() == name)
    }
}

/// Key management.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyWrap {
    /// Anoncrypt.
    EcdhEsA256Kw,
    /// Authcrypt.
    Ecdh1PuA256Kw,
}

impl KeyWrap {
    pub fn name(self) -> &'static str {
        match self {
            KeyWrap::EcdhEsA256Kw => "ECDH-ES+A256KW",
            KeyWrap::Ecdh1PuA256Kw => "ECDH-1PU+A256KW",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::EcdhEsA256Kw, Self::Ecdh1PuA256Kw]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

/// A key-agreement key: public only, or with its secret.
pub enum AgreementKey {
    X25519(X25519KeyPair),
    /// An X25519 secret opened from the key store, without its public half: deriving it
    /// costs a scalar multiplication that an agreement with the secret never needs.
    X25519Secret(x25519_dalek::StaticSecret),
    P256(P256KeyPair),
}

impl std::fmt::Debug for AgreementKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgreementKey::X25519(k) => f.debug_tuple("X25519").field(k).finish(),
            AgreementKey::X25519Secret(_) => f.write_str("X25519Secret(<secret>)"),
            AgreementKey::P256(k) => f.debug_tuple("P256").field(k).finish(),
        }
    }
}

fn b64_field(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JweError> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| JweError::Key(format!("the JWK has no `{name}`")))?;
    B64.decode(text)
        .map_err(|_| JweError::Key(format!("`{name}` is not base64url")))
}

fn key_error(e: askar_crypto::Error) -> JweError {
    JweError::Key(e.to_string())
}

impl AgreementKey {
    /// A fresh key pair on the same curve (an ephemeral key).
    pub fn generate_like(&self) -> Result<Self, JweError> {
        Ok(match self {
            AgreementKey::X25519(_) | AgreementKey::X25519Secret(_) => {
                AgreementKey::X25519(X25519KeyPair::random().map_err(key_error)?)
            }
            AgreementKey::P256(_) => AgreementKey::P256(P256KeyPair::random().map_err(key_error)?),
        })
    }

    pub fn curve(&self) -> &'static str {
        match self {
            AgreementKey::X25519(_) | AgreementKey::X25519Secret(_) => "X25519",
            AgreementKey::P256(_) => "P-256",
        }
    }

    /// A key from its JWK (`OKP`/`X25519` or `EC`/`P-256`; with `d`, the secret too).
    /// The members are decoded here, so other members a JWK may carry do not matter.
    pub fn from_jwk(jwk: &Value) -> Result<Self, JweError> {
        let jwk = jwk
            .as_object()
            .ok_or_else(|| JweError::Key("a JWK is a JSON object".into()))?;
        let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default();
        let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or_default();
        let secret = match jwk.get("d") {
            Some(_) => Some(b64_field(jwk, "d")?),
            None => None,
        };
        let x = b64_field(jwk, "x")?;
        match (kty, crv) {
            ("OKP", "X25519") => {
                let key = match secret {
                    Some(d) => X25519KeyPair::from_secret_bytes(&d).map_err(key_error)?,
                    None => X25519KeyPair::from_public_bytes(&x).map_err(key_error)?,
                };
                if key.to_public_bytes().map_err(key_error)?.as_ref() != x.as_slice() {
                    return Err(JweError::Key("`x` is not the public key of `d`".into()));
                }
                Ok(AgreementKey::X25519(key))
            }
            ("EC", "P-256") => {
                let y = b64_field(jwk, "y")?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(JweError::Key("P-256 coordinates are 32 bytes".into()));
                }
                let mut sec1 = Vec::with_capacity(65);
                sec1.push(4);
                sec1.extend_from_slice(&x);
                sec1.extend_from_slice(&y);
                let public = P256KeyPair::from_public_bytes(&sec1).map_err(key_error)?;
                let key = match secret {
                    Some(d) => {
                        let pair = P256KeyPair::from_secret_bytes(&d).map_err(key_error)?;
                        if pair.to_public_bytes().map_err(key_error)?
                            != public.to_public_bytes().map_err(key_error)?
                        {
                            return Err(JweError::Key(
                                "`x`/`y` are not the public key of `d`".into(),
                            ));
                        }
                        pair
                    }
                    None => public,
                };
                Ok(AgreementKey::P256(key))
            }
            _ => Err(JweError::Unsupported(format!(
                "key agreement on {kty}/{crv} (X25519 and P-256 are supported)"
            ))),
        }
    }

    /// The agreement key of a resolved public key (X25519, or P-256 as SEC1 bytes).
    pub fn from_public(key: &crate::keys::PublicKey) -> Result<Self, JweError> {
        use crate::keys::KeyType;
        match key.key_type() {
            KeyType::X25519 => Ok(AgreementKey::X25519(
                X25519KeyPair::from_public_bytes(key.as_bytes()).map_err(key_error)?,
            )),
            KeyType::P256 => Ok(AgreementKey::P256(
                P256KeyPair::from_public_bytes(key.as_bytes()).map_err(key_error)?,
            )),
            other => Err(JweError::Unsupported(format!(
                "key agreement with a {other} key (X25519 and P-256 are supported)"
            ))),
        }
    }

    /// The agreement key of a stored secret (X25519 or P-256).
    pub fn from_secret(key: &crate::keys::SecretKey) -> Result<Self, JweError> {
        use crate::keys::KeyType;
        if let crate::keys::SecretKey::X25519(secret) = key {
            return Ok(AgreementKey::X25519Secret(secret.clone()));
        }
        let bytes = key.to_bytes();
        match key.key_type() {
            KeyType::P256 => Ok(AgreementKey::P256(
                P256KeyPair::from_secret_bytes(&bytes).map_err(key_error)?,
            )),
            other => Err(JweError::Unsupported(format!(
                "key agreement with a {other} key (X25519 and P-256 are supported)"
            ))),
        }
    }

    /// The public JWK (`kty`, `crv`, `x`, and `y` for P-256).
    pub fn public_jwk(&self) -> Result<Value, JweError> {
        use askar_crypto::jwk::ToJwk;
        let text = match self {
            AgreementKey::X25519(k) => k.to_jwk_public(None),
            AgreementKey::X25519Secret(secret) => {
                X25519KeyPair::from_public_bytes(x25519_dalek::PublicKey::from(secret).as_bytes())
                    .and_then(|k| k.to_jwk_public(None))
            }
            AgreementKey::P256(k) => k.to_jwk_public(None),
        }
        .map_err(key_error)?;
        let full: Map<String, Value> =
            serde_json::from_str(&text).map_err(|e| JweError::Key(e.to_string()))?;
        Ok(Value::Object(
            full.into_iter()
                .filter(|(k, _)| matches!(k.as_str(), "kty" | "crv" | "x" | "y"))
                .collect(),
        ))
    }
}

/// X25519 that refuses an all-zero shared secret (RFC 7748 §6.1: a low-order point).
enum CheckedX25519<'a> {
    Pair(&'a X25519KeyPair),
    Secret(&'a x25519_dalek::StaticSecret),
}

impl<'a> CheckedX25519<'a> {
    fn of(key: &'a AgreementKey) -> Option<Self> {
        match key {
            AgreementKey::X25519(pair) => Some(Self::Pair(pair)),
            AgreementKey::X25519Secret(secret) => Some(Self::Secret(secret)),
            AgreementKey::P256(_) => None,
        }
    }

    fn public(&self) -> Result<x25519_dalek::PublicKey, askar_crypto::Error> {
        Ok(match self {
            Self::Pair(pair) => {
                let bytes: [u8; 32] =
                    pair.to_public_bytes()?.as_ref().try_into().map_err(|_| {
                        askar_crypto::Error::from_msg(
                            askar_crypto::ErrorKind::InvalidKeyData,
                            "an X25519 public key is 32 bytes",
                        )
                    })?;
                x25519_dalek::PublicKey::from(bytes)
            }
            Self::Secret(secret) => x25519_dalek::PublicKey::from(*secret),
        })
    }
}

impl KeyExchange for CheckedX25519<'_> {
    fn write_key_exchange(
        &self,
        other: &Self,
        out: &mut dyn WriteBuffer,
    ) -> Result<(), askar_crypto::Error> {
        let z = match self {
            Self::Pair(pair) => match other {
                Self::Pair(other) => pair.key_exchange_bytes(other)?,
                Self::Secret(_) => pair.key_exchange_bytes(&X25519KeyPair::from_public_bytes(
                    other.public()?.as_bytes(),
                )?)?,
            },
            Self::Secret(secret) => x25519_with_secret(secret, &other.public()?)?,
        };
        if bool::from(subtle::ConstantTimeEq::ct_eq(z.as_ref(), &[0u8; 32][..])) {
            return Err(askar_crypto::Error::from_msg(
                askar_crypto::ErrorKind::InvalidKeyData,
                "low-order X25519 point",
            ));
        }
        out.buffer_write(z.as_ref())
    }
}

/// X25519 of a stored secret with a public key: AWS-LC's assembly where it builds (it
/// refuses a low-order point itself), else x25519-dalek's portable ladder.
#[cfg(not(target_arch = "wasm32"))]
fn x25519_with_secret(
    secret: &x25519_dalek::StaticSecret,
    public: &x25519_dalek::PublicKey,
) -> Result<SecretBytes, askar_crypto::Error> {
    use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
    let invalid = |what: &'static str| {
        askar_crypto::Error::from_msg(askar_crypto::ErrorKind::InvalidKeyData, what)
    };
    let key = PrivateKey::from_private_key(&X25519, secret.as_bytes())
        .map_err(|_| invalid("an X25519 secret is 32 bytes"))?;
    agreement::agree(
        &key,
        UnparsedPublicKey::new(&X25519, public.as_bytes()),
        invalid("low-order X25519 point"),
        |z| Ok(SecretBytes::from_slice(z)),
    )
}

#[cfg(target_arch = "wasm32")]
fn x25519_with_secret(
    secret: &x25519_dalek::StaticSecret,
    public: &x25519_dalek::PublicKey,
) -> Result<SecretBytes, askar_crypto::Error> {
    Ok(SecretBytes::from_slice(
        secret.diffie_hellman(public).as_bytes(),
    ))
}

/// What the KDF binds besides the keys.
struct KdfInput<'a> {
    alg: KeyWrap,
    apu: &'a [u8],
    apv: &'a [u8],
    /// The content tag (ECDH-1PU only).
    tag: &'a [u8],
    receive: bool,
}

/// The key-wrapping key for one recipient. Sending: `ephemeral` and `sender` are secret,
/// `recipient` public; receiving: the other way round.
fn kek(
    ephemeral: &AgreementKey,
    sender: Option<&AgreementKey>,
    recipient: &AgreementKey,
    k: &KdfInput<'_>,
) -> Result<AesKey<A256Kw>, JweError> {
    use AgreementKey::P256;
    let alg = k.alg.name().as_bytes();
    let x25519 = (
        CheckedX25519::of(ephemeral),
        sender.map(CheckedX25519::of),
        CheckedX25519::of(recipient),
    );
    let derived = match (ephemeral, sender, recipient) {
        (P256(e), None, P256(r)) => {
            AesKey::from_key_derivation(EcdhEs::new(e, r, alg, k.apu, k.apv, k.receive))
        }
        (P256(e), Some(P256(s)), P256(r)) => {
            AesKey::from_key_derivation(Ecdh1PU::new(e, s, r, alg, k.apu, k.apv, k.tag, k.receive))
        }
        _ => match x25519 {
            (Some(e), None, Some(r)) => {
                AesKey::from_key_derivation(EcdhEs::new(&e, &r, alg, k.apu, k.apv, k.receive))
            }
            (Some(e), Some(Some(s)), Some(r)) => AesKey::from_key_derivation(Ecdh1PU::new(
                &e, &s, &r, alg, k.apu, k.apv, k.tag, k.receive,
            )),
            _ => {
                return Err(JweError::Key(
                    "the sender's, the ephemeral and the recipient's keys must be on one curve"
                        .into(),
                ));
            }
        },
    };
    derived.map_err(|_| JweError::Decryption)
}

/// `apv`: SHA-256 of the recipients' key ids, sorted and joined with `.`.
pub fn apv_for<'a>(kids: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut kids: Vec<&str> = kids.into_iter().collect();
    kids.sort_unstable();
    Sha256::digest(kids.join(".").as_bytes()).to_vec()
}

/// Content encrypted under a fresh key.
struct Sealed {
    cek: SecretBytes,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    tag: Vec<u8>,
}

/// Encrypts with a fresh content key of type `CE`.
fn seal<CE: KeyAeadInPlace + KeyAeadMeta + KeyGen + ToSecretBytes>(
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Sealed, JweError> {
    let cek = CE::random().map_err(key_error)?;
    let iv = CE::random_nonce();
    let mut buf = SecretBytes::from_slice(plaintext);
    let len = cek
        .encrypt_in_place(&mut buf, iv.as_ref(), aad)
        .map_err(key_error)?;
    let (ciphertext, tag) = buf.as_ref().split_at(len);
    Ok(Sealed {
        cek: cek.to_secret_bytes().map_err(key_error)?,
        iv: iv.to_vec(),
        ciphertext: ciphertext.to_vec(),
        tag: tag.to_vec(),
    })
}

fn open<CE: KeyAeadInPlace + KeySecretBytes>(
    cek: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, JweError> {
    let cek = CE::from_secret_bytes(cek).map_err(|_| JweError::Decryption)?;
    let mut buf = SecretBytes::from_slice(ciphertext);
    buf.extend_from_slice(tag);
    cek.decrypt_in_place(&mut buf, iv, aad)
        .map_err(|_| JweError::Decryption)?;
    Ok(buf.to_vec())
}

/// One recipient of a message being encrypted.
pub struct To<'a> {
    /// The key's DID URL (`did:…#…`).
    pub kid: &'a str,
    pub key: &'a AgreementKey,
}

/// Encrypts `plaintext` for `recipients` (all on one curve). With `sender` (its key id and
/// secret key, on the same curve) it is authcrypt, and `enc` must be `A256CBC-HS512`;
/// without, anoncrypt. Returns the envelope's JSON.
pub fn encrypt(
    plaintext: &[u8],
    recipients: &[To<'_>],
    sender: Option<(&str, &AgreementKey)>,
    enc: ContentEnc,
) -> Result<String, JweError> {
    if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
        return Err(malformed(format!("1 to {MAX_RECIPIENTS} recipients")));
    }
    let alg = if sender.is_some() {
        KeyWrap::Ecdh1PuA256Kw
    } else {
        KeyWrap::EcdhEsA256Kw
    };
    if alg == KeyWrap::Ecdh1PuA256Kw && enc != ContentEnc::A256CbcHs512 {
        return Err(JweError::Unsupported("authcrypt uses A256CBC-HS512".into()));
    }
    let ephemeral = recipients[0].key.generate_like()?;
    let apv = apv_for(recipients.iter().map(|r| r.kid));
    let mut header = json!({
        "typ": TYP,
        "alg": alg.name(),
        "enc": enc.name(),
        "apv": B64.encode(&apv),
        "epk": ephemeral.public_jwk()?,
    });
    let apu = match sender {
        Some((skid, _)) => {
            header["skid"] = json!(skid);
            header["apu"] = json!(B64.encode(skid));
            skid.as_bytes().to_vec()
        }
        None => Vec::new(),
    };
    let protected = B64.encode(serde_json::to_vec(&header).map_err(|e| malformed(e.to_string()))?);
    let Sealed {
        cek,
        iv,
        ciphertext,
        tag,
    } = match enc {
        ContentEnc::A256CbcHs512 => seal::<AesKey<A256CbcHs512>>(plaintext, protected.as_bytes())?,
        ContentEnc::A256Gcm => seal::<AesKey<A256Gcm>>(plaintext, protected.as_bytes())?,
        ContentEnc::Xc20p => seal::<Chacha20Key<XC20P>>(plaintext, protected.as_bytes())?,
    };
    let mut out = Vec::with_capacity(recipients.len());
    for to in recipients {
        let input = KdfInput {
            alg,
            apu: &apu,
            apv: &apv,
            tag: &tag,
            receive: false,
        };
        let kek = kek(&ephemeral, sender.map(|(_, k)| k), to.key, &input)
            .map_err(|_| JweError::Key(format!("cannot agree a key with {}", to.kid)))?;
        let mut wrapped = SecretBytes::from_slice(cek.as_ref());
        kek.encrypt_in_place(&mut wrapped, &[], &[])
            .map_err(key_error)?;
        out.push(json!({"header": {"kid": to.kid}, "encrypted_key": B64.encode(wrapped.as_ref())}));
    }
    Ok(json!({
        "protected": protected,
        "recipients": out,
        "iv": B64.encode(&iv),
        "ciphertext": B64.encode(&ciphertext),
        "tag": B64.encode(&tag),
    })
    .to_string())
}

/// A parsed envelope, not yet decrypted.
#[derive(Debug)]
pub struct Envelope {
    protected: String,
    /// The protected header's `typ`, if any.
    typ: Option<Value>,
    pub alg: KeyWrap,
    pub enc: ContentEnc,
    /// The sender's key id (authcrypt).
    pub skid: Option<String>,
    apu: Vec<u8>,
    apv: Vec<u8>,
    epk: AgreementKey,
    /// `(kid, encrypted_key)` per recipient.
    recipients: Vec<(String, Vec<u8>)>,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    tag: Vec<u8>,
}

fn string_member<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, JweError> {
    obj.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(format!("`{name}` is missing")))
}

fn b64_member(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JweError> {
    B64.decode(string_member(obj, name)?)
        .map_err(|_| malformed(format!("`{name}` is not base64url")))
}

impl Envelope {
    /// Parses a JWE in General JSON Serialization, checking its header as JOSE requires
    /// (supported algorithms only, no `zip`, no `crit`). DIDComm's own rules are
    /// [`Envelope::check_didcomm`].
    pub fn parse(jwe: &str) -> Result<Self, JweError> {
        if jwe.len() > MAX_JWE_BYTES {
            return Err(malformed(format!("larger than {MAX_JWE_BYTES} bytes")));
        }
        let Ok(Value::Object(outer)) = serde_json::from_str::<Value>(jwe) else {
            return Err(malformed("not a JSON object"));
        };
        Self::from_object(&outer, jwe.len())
    }

    /// [`Envelope::parse`] of a JWE parsed already (`size`: its length in bytes).
    pub fn from_object(outer: &Map<String, Value>, size: usize) -> Result<Self, JweError> {
        if size > MAX_JWE_BYTES {
            return Err(malformed(format!("larger than {MAX_JWE_BYTES} bytes")));
        }
        let protected = string_member(outer, "protected")?.to_owned();
        let header = B64
            .decode(&protected)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .ok_or_else(|| malformed("the protected header is not a base64url JSON object"))?;
        for refused in ["zip", "crit", "jku", "x5u", "jwk"] {
            if header.contains_key(refused)
                || outer
                    .get("unprotected")
                    .is_some_and(|u| u.get(refused).is_some())
            {
                return Err(JweError::Unsupported(format!("the `{refused}` header")));
            }
        }
        let alg = string_member(&header, "alg")?;
        let alg =
            KeyWrap::parse(alg).ok_or_else(|| JweError::Unsupported(format!("alg `{alg}`")))?;
        let enc = string_member(&header, "enc")?;
        let enc =
            ContentEnc::parse(enc).ok_or_else(|| JweError::Unsupported(format!("enc `{enc}`")))?;
        if alg == KeyWrap::Ecdh1PuA256Kw && enc != ContentEnc::A256CbcHs512 {
            return Err(JweError::Unsupported(
                "ECDH-1PU with another enc than A256CBC-HS512".into(),
            ));
        }
        let epk = AgreementKey::from_jwk(
            header
                .get("epk")
                .ok_or_else(|| malformed("`epk` is missing"))?,
        )?;
        if header.get("epk").is_some_and(|k| k.get("d").is_some()) {
            return Err(malformed("`epk` carries a private key"));
        }
        let apu = match header.get("apu") {
            None | Some(Value::Null) => Vec::new(),
            Some(_) => b64_member(&header, "apu")?,
        };
        let apv = match header.get("apv") {
            None | Some(Value::Null) => Vec::new(),
            Some(_) => b64_member(&header, "apv")?,
        };
        let skid = match header.get("skid") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(malformed("`skid` is not a string")),
        };
        // v2.1 §5.1.1: without `skid`, the sender's key id is read from `apu`.
        let skid = match skid {
            None if alg == KeyWrap::Ecdh1PuA256Kw && !apu.is_empty() => {
                Some(String::from_utf8(apu.clone()).map_err(|_| malformed("`apu` is not UTF-8"))?)
            }
            skid => skid,
        };
        let list = outer
            .get("recipients")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("`recipients` is missing"))?;
        if list.is_empty() || list.len() > MAX_RECIPIENTS {
            return Err(malformed(format!("1 to {MAX_RECIPIENTS} recipients")));
        }
        let mut recipients = Vec::with_capacity(list.len());
        for r in list {
            let r = r
                .as_object()
                .ok_or_else(|| malformed("a recipient is not an object"))?;
            let kid = r
                .get("header")
                .and_then(|h| h.get("kid"))
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("a recipient has no `header.kid`"))?;
            recipients.push((kid.to_owned(), b64_member(r, "encrypted_key")?));
        }
        let envelope = Envelope {
            typ: header.get("typ").cloned(),
            protected,
            alg,
            enc,
            skid,
            apu,
            apv,
            epk,
            recipients,
            iv: b64_member(outer, "iv")?,
            ciphertext: b64_member(outer, "ciphertext")?,
            tag: b64_member(outer, "tag")?,
        };
        let (iv_len, tag_len) = match enc {
            ContentEnc::A256CbcHs512 => (16, 32),
            ContentEnc::A256Gcm => (12, 16),
            ContentEnc::Xc20p => (24, 16),
        };
        if envelope.iv.len() != iv_len || envelope.tag.len() != tag_len {
            return Err(malformed(format!(
                "{} takes a {iv_len}-byte iv and a {tag_len}-byte tag",
                enc.name()
            )));
        }
        Ok(envelope)
    }

    /// DIDComm's rules (v2.1 §5.1): `typ`, if present, is the encrypted media type;
    /// `apv` is the hash of the recipients' key ids; authcrypt names its sender in `skid`
    /// and `apu` is that key id.
    pub fn check_didcomm(&self) -> Result<(), JweError> {
        if let Some(typ) = &self.typ
            && typ != TYP
        {
            return Err(malformed(format!("`typ` must be {TYP}")));
        }
        if self.apv != apv_for(self.recipients.iter().map(|(k, _)| k.as_str())) {
            return Err(malformed(
                "`apv` is not the hash of the recipients' key ids",
            ));
        }
        if self.alg == KeyWrap::Ecdh1PuA256Kw {
            let skid = self
                .skid
                .as_deref()
                .ok_or_else(|| malformed("authcrypt without `skid`"))?;
            if self.apu != skid.as_bytes() {
                return Err(malformed("`apu` is not `skid`"));
            }
        }
        Ok(())
    }

    /// The recipients' key ids.
    pub fn recipient_kids(&self) -> impl Iterator<Item = &str> {
        self.recipients.iter().map(|(k, _)| k.as_str())
    }

    /// Decrypts as the recipient `kid` with its secret key; authcrypt needs the sender's
    /// public key (resolved from `skid`), anoncrypt refuses one.
    pub fn decrypt(
        &self,
        kid: &str,
        recipient: &AgreementKey,
        sender: Option<&AgreementKey>,
    ) -> Result<Vec<u8>, JweError> {
        let (_, wrapped) = self
            .recipients
            .iter()
            .find(|(k, _)| k == kid)
            .ok_or_else(|| JweError::NotARecipient(kid.to_owned()))?;
        match (self.alg, sender) {
            (KeyWrap::Ecdh1PuA256Kw, None) => {
                return Err(JweError::Sender("authcrypt needs the sender's key"));
            }
            (KeyWrap::EcdhEsA256Kw, Some(_)) => {
                return Err(JweError::Sender("anoncrypt has no sender key"));
            }
            _ => {}
        }
        if self.epk.curve() != recipient.curve() {
            return Err(JweError::Key(
                "the ephemeral key is not on the recipient's curve".into(),
            ));
        }
        let input = KdfInput {
            alg: self.alg,
            apu: &self.apu,
            apv: &self.apv,
            tag: &self.tag,
            receive: true,
        };
        let kek = kek(&self.epk, sender, recipient, &input)?;
        let mut cek = SecretBytes::from_slice(wrapped);
        kek.decrypt_in_place(&mut cek, &[], &[])
            .map_err(|_| JweError::Decryption)?;
        let aad = self.protected.as_bytes();
        match self.enc {
            ContentEnc::A256CbcHs512 => {
                open::<AesKey<A256CbcHs512>>(&cek, &self.iv, &self.ciphertext, &self.tag, aad)
            }
            ContentEnc::A256Gcm => {
                open::<AesKey<A256Gcm>>(&cek, &self.iv, &self.ciphertext, &self.tag, aad)
            }
            ContentEnc::Xc20p => {
                open::<Chacha20Key<XC20P>>(&cek, &self.iv, &self.ciphertext, &self.tag, aad)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(curve: &str) -> AgreementKey {
        match curve {
            "X25519" => AgreementKey::X25519(X25519KeyPair::random().unwrap()),
            _ => AgreementKey::P256(P256KeyPair::random().unwrap()),
        }
    }

    #[test]
    fn every_combination_round_trips_for_several_recipients() {
        for curve in ["X25519", "P-256"] {
            let (bob, carol, alice) = (pair(curve), pair(curve), pair(curve));
            let to = [
                To {
                    kid: "did:example:bob#k1",
                    key: &bob,
                },
                To {
                    kid: "did:example:carol#k1",
                    key: &carol,
                },
            ];
            for enc in [
                ContentEnc::A256CbcHs512,
                ContentEnc::A256Gcm,
                ContentEnc::Xc20p,
            ] {
                let jwe = encrypt(b"hello", &to, None, enc).unwrap();
                let env = Envelope::parse(&jwe).unwrap();
                env.check_didcomm().unwrap();
                assert_eq!(
                    env.decrypt("did:example:carol#k1", &carol, None).unwrap(),
                    b"hello"
                );
                assert_eq!(
                    env.decrypt("did:example:bob#k1", &bob, Some(&alice)),
                    Err(JweError::Sender("anoncrypt has no sender key"))
                );
            }
            let jwe = encrypt(
                b"hi",
                &to,
                Some(("did:example:alice#k1", &alice)),
                ContentEnc::A256CbcHs512,
            )
            .unwrap();
            let env = Envelope::parse(&jwe).unwrap();
            env.check_didcomm().unwrap();
            assert_eq!(env.skid.as_deref(), Some("did:example:alice#k1"));
            assert_eq!(
                env.decrypt("did:example:bob#k1", &bob, Some(&alice))
                    .unwrap(),
                b"hi"
            );
            // Another sender key does not decrypt: authcrypt binds the sender.
            assert_eq!(
                env.decrypt("did:example:bob#k1", &bob, Some(&pair(curve))),
                Err(JweError::Decryption)
            );
            assert!(matches!(
                env.decrypt("did:example:dave#k1", &bob, Some(&alice)),
                Err(JweError::NotARecipient(_))
            ));
            assert!(encrypt(b"x", &to, Some(("a", &alice)), ContentEnc::A256Gcm).is_err());
        }
    }

    #[test]
    fn a_low_order_ephemeral_key_is_refused() {
        let bob = pair("X25519");
        let to = [To {
            kid: "did:example:bob#k1",
            key: &bob,
        }];
        let jwe = encrypt(b"x", &to, None, ContentEnc::Xc20p).unwrap();
        let mut v: Value = serde_json::from_str(&jwe).unwrap();
        let mut header: Value =
            serde_json::from_slice(&B64.decode(v["protected"].as_str().unwrap()).unwrap()).unwrap();
        header["epk"]["x"] = json!(B64.encode([0u8; 32]));
        v["protected"] = json!(B64.encode(header.to_string()));
        let env = Envelope::parse(&v.to_string()).unwrap();
        assert_eq!(
            env.decrypt("did:example:bob#k1", &bob, None),
            Err(JweError::Decryption)
        );
    }

    #[test]
    fn tampering_and_refused_headers() {
        let bob = pair("P-256");
        let to = [To {
            kid: "did:example:bob#k1",
            key: &bob,
        }];
        let jwe = encrypt(b"secret", &to, None, ContentEnc::A256CbcHs512).unwrap();
        let v: Value = serde_json::from_str(&jwe).unwrap();
        let edit = |f: &dyn Fn(&mut Value)| {
            let mut v = v.clone();
            f(&mut v);
            v.to_string()
        };
        let with_header = |f: &dyn Fn(&mut Value)| {
            edit(&|v| {
                let mut h: Value =
                    serde_json::from_slice(&B64.decode(v["protected"].as_str().unwrap()).unwrap())
                        .unwrap();
                f(&mut h);
                v["protected"] = json!(B64.encode(h.to_string()));
            })
        };
        // Bit flips in the ciphertext or tag: one error, whatever broke.
        for field in ["ciphertext", "tag"] {
            let jwe = edit(&|v| {
                let mut b = B64.decode(v[field].as_str().unwrap()).unwrap();
                b[0] ^= 1;
                v[field] = json!(B64.encode(b));
            });
            let env = Envelope::parse(&jwe).unwrap();
            assert_eq!(
                env.decrypt("did:example:bob#k1", &bob, None),
                Err(JweError::Decryption),
                "{field}"
            );
        }
        // A header changed after encryption breaks the AAD.
        let jwe = with_header(&|h| h["cty"] = json!("application/json"));
        assert_eq!(
            Envelope::parse(&jwe)
                .unwrap()
                .decrypt("did:example:bob#k1", &bob, None),
            Err(JweError::Decryption)
        );
        for (why, jwe) in [
            ("zip", with_header(&|h| h["zip"] = json!("DEF"))),
            ("crit", with_header(&|h| h["crit"] = json!(["exp"]))),
            ("alg", with_header(&|h| h["alg"] = json!("RSA-OAEP"))),
            ("enc", with_header(&|h| h["enc"] = json!("A128GCM"))),
            (
                "private epk",
                with_header(&|h| h["epk"]["d"] = json!("AAAA")),
            ),
            ("no recipients", edit(&|v| v["recipients"] = json!([]))),
            ("short iv", edit(&|v| v["iv"] = json!("AAAA"))),
            ("not JSON", "nope".to_owned()),
        ] {
            let parsed = Envelope::parse(&jwe);
            let key_error = matches!(parsed, Err(JweError::Key(_)));
            assert!(parsed.is_err() || key_error, "{why}");
        }
        // DIDComm rules: apv over the kids.
        let jwe = with_header(&|h| h["apv"] = json!(B64.encode(b"other")));
        assert!(Envelope::parse(&jwe).unwrap().check_didcomm().is_err());
    }
}
