//! VC-JOSE-COSE (W3C Recommendation, 2025) §3.1: a VC 2.0 credential secured as a compact
//! JWS with `typ: vc+jwt` and `cty: vc`, the credential itself as the payload, carried in
//! JSON-LD as an `EnvelopedVerifiableCredential` whose `id` is a
//! `data:application/vc+jwt,<jws>` URL. (ssi's `JoseVc` still emits the draft `vc-ld+jwt`.)
//!
//! §3.2: the same credential secured with SD-JWT (`typ: vc+sd-jwt`,
//! `data:application/vc+sd-jwt,<jws>~<disclosure>~…~`): chosen claims are replaced by
//! digests in `_sd` and disclosed separately (concealing and revealing are ssi's
//! `ssi_sd_jwt`; the header is set here, where ssi's helper uses the draft media type).

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value, json};

use crate::contexts::CREDENTIALS_V2;
use crate::keys::SsiSigner;

pub const VC_TYP: &str = "vc+jwt";
pub const SD_TYP: &str = "vc+sd-jwt";
pub const SD_MEDIA: &str = "application/vc+sd-jwt";
pub const VP_TYP: &str = "vp+jwt";
pub const VC_MEDIA: &str = "application/vc+jwt";
pub const VP_MEDIA: &str = "application/vp+jwt";
pub const ENVELOPED_VC: &str = "EnvelopedVerifiableCredential";
pub const ENVELOPED_VP: &str = "EnvelopedVerifiablePresentation";

/// What is secured: the `typ`/`cty` and media type differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secured {
    Credential,
    Presentation,
    /// A credential secured with SD-JWT.
    SdCredential,
}

impl Secured {
    pub fn typ(self) -> &'static str {
        match self {
            Secured::Credential => VC_TYP,
            Secured::Presentation => VP_TYP,
            Secured::SdCredential => SD_TYP,
        }
    }
    pub fn cty(self) -> &'static str {
        match self {
            Secured::Credential | Secured::SdCredential => "vc",
            Secured::Presentation => "vp",
        }
    }
    pub fn media_type(self) -> &'static str {
        match self {
            Secured::Credential => VC_MEDIA,
            Secured::Presentation => VP_MEDIA,
            Secured::SdCredential => SD_MEDIA,
        }
    }
    pub fn envelope_type(self) -> &'static str {
        match self {
            Secured::Credential | Secured::SdCredential => ENVELOPED_VC,
            Secured::Presentation => ENVELOPED_VP,
        }
    }
}

struct Payload {
    secured: Secured,
    bytes: Vec<u8>,
}

impl ssi::claims::JwsPayload for Payload {
    fn typ(&self) -> Option<&str> {
        Some(self.secured.typ())
    }
    fn cty(&self) -> Option<&str> {
        Some(self.secured.cty())
    }
    fn payload_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
}

/// Signs `document` (a VC 2.0 credential or presentation) as a compact JWS whose `kid` is
/// the signer's verification method.
pub async fn sign(
    document: &Map<String, Value>,
    secured: Secured,
    signer: &SsiSigner,
) -> Result<String, ssi::claims::SignatureError> {
    let payload = Payload {
        secured,
        bytes: serde_json::to_vec(document).expect("JSON serializes"),
    };
    let jws = ssi::claims::JwsPayload::sign(&payload, signer).await?;
    Ok(jws.as_str().to_owned())
}

/// The JSON-LD envelope of a JWS.
pub fn envelope(jws: &str, secured: Secured) -> Value {
    json!({
        "@context": CREDENTIALS_V2,
        "id": format!("data:{},{jws}", secured.media_type()),
        "type": secured.envelope_type(),
    })
}

/// Why a JWS could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    #[error("the envelope's `id` is not a `data:{0},` URL")]
    NotAnEnvelope(&'static str),
    #[error("not a compact JWS (three base64url parts)")]
    NotCompact,
    #[error("the JWS header is not a JSON object")]
    BadHeader,
    #[error("the JWS payload is not a JSON object")]
    BadPayload,
    #[error("the JWS signature is not base64url")]
    BadSignature,
    #[error("SD-JWT: {0}")]
    SdJwt(String),
}

/// A compact JWS, split and decoded (not verified).
#[derive(Debug, Clone)]
pub struct DecodedJws {
    pub header: Map<String, Value>,
    pub payload: Map<String, Value>,
    pub signature: Vec<u8>,
    /// `base64url(header) . base64url(payload)`: what the signature covers.
    pub signing_input: String,
}

/// The JWS an envelope carries (`data:<media type>,<jws>`).
pub fn unwrap_envelope(envelope: &Map<String, Value>, secured: Secured) -> Result<&str, JoseError> {
    let id = envelope
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let prefix = format!("data:{},", secured.media_type());
    id.strip_prefix(&prefix)
        .ok_or(JoseError::NotAnEnvelope(secured.media_type()))
}

pub fn decode(jws: &str) -> Result<DecodedJws, JoseError> {
    let mut parts = jws.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::NotCompact);
    };
    let object = |part: &str, err: JoseError| -> Result<Map<String, Value>, JoseError> {
        let bytes = B64.decode(part).map_err(|_| err.clone())?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(err),
        }
    };
    Ok(DecodedJws {
        header: object(h, JoseError::BadHeader)?,
        payload: object(p, JoseError::BadPayload)?,
        signature: B64.decode(s).map_err(|_| JoseError::BadSignature)?,
        signing_input: format!("{h}.{p}"),
    })
}

/// Disclosures one SD-JWT may carry. Revealing recurses once per nested disclosure
/// (ssi), before any signature is checked: the count bounds that depth.
pub const MAX_DISCLOSURES: usize = 128;

fn check_disclosure_count(sd_jwt: &str) -> Result<(), JoseError> {
    let count = sd_jwt.split('~').skip(1).filter(|d| !d.is_empty()).count();
    if count > MAX_DISCLOSURES {
        return Err(JoseError::SdJwt(format!(
            "{count} disclosures; at most {MAX_DISCLOSURES} are read"
        )));
    }
    Ok(())
}

fn json_pointers(pointers: &[String]) -> Result<Vec<ssi::JsonPointerBuf>, JoseError> {
    pointers
        .iter()
        .map(|p| {
            ssi::JsonPointerBuf::new(p.clone())
                .map_err(|_| JoseError::SdJwt(format!("`{p}` is not a JSON pointer")))
        })
        .collect()
}

/// Signs `credential` as an SD-JWT whose `pointers` (JSON pointers into the credential,
/// e.g. `/credentialSubject/birthDate`) are selectively disclosable: the compact
/// `<jws>~<disclosure>~…~`.
pub async fn sign_sd(
    credential: &Map<String, Value>,
    pointers: &[String],
    signer: &SsiSigner,
) -> Result<String, JoseError> {
    use ssi::claims::sd_jwt::{SdAlg, SdJwtPayload};
    let pointers = json_pointers(pointers)?;
    let (payload, disclosures) = SdJwtPayload::conceal(credential, SdAlg::Sha256, &pointers)
        .map_err(|e| JoseError::SdJwt(e.to_string()))?;
    let payload = Payload {
        secured: Secured::SdCredential,
        bytes: serde_json::to_vec(&payload).expect("JSON serializes"),
    };
    let jws = ssi::claims::JwsPayload::sign(&payload, signer)
        .await
        .map_err(|e| JoseError::SdJwt(e.to_string()))?;
    let mut out = jws.as_str().to_owned();
    out.push('~');
    for d in &disclosures {
        out.push_str(d.encoded.as_str());
        out.push('~');
    }
    Ok(out)
}

/// An SD-JWT split and revealed (not verified): the issuer-signed JWS and the claims
/// with the disclosures it carries put back (`_sd` and `_sd_alg` gone). A disclosure
/// the JWT does not reference, or one used twice, is refused.
pub fn decode_sd(sd_jwt: &str) -> Result<(DecodedJws, Map<String, Value>), JoseError> {
    use ssi::claims::sd_jwt::SdJwt;
    check_disclosure_count(sd_jwt)?;
    let parsed = SdJwt::new(sd_jwt).map_err(|e| JoseError::SdJwt(e.to_string()))?;
    if parsed.has_kb() {
        return Err(JoseError::SdJwt(
            "a key-binding JWT is not expected in a VC-JOSE-COSE SD-JWT credential".into(),
        ));
    }
    let jws = decode(parsed.jwt().as_str())?;
    let revealed = parsed
        .decode_reveal_any()
        .map_err(|e| JoseError::SdJwt(e.to_string()))?;
    match serde_json::to_value(revealed.claims()) {
        Ok(Value::Object(claims)) => Ok((jws, claims)),
        _ => Err(JoseError::BadPayload),
    }
}

/// Keeps only the disclosures of `sd_jwt` whose JSON pointer is in `keep` (what a holder
/// chooses to show); the issuer's JWS is unchanged.
pub fn select_disclosures(sd_jwt: &str, keep: &[String]) -> Result<String, JoseError> {
    use ssi::claims::sd_jwt::SdJwt;
    check_disclosure_count(sd_jwt)?;
    let parsed = SdJwt::new(sd_jwt).map_err(|e| JoseError::SdJwt(e.to_string()))?;
    let pointers = json_pointers(keep)?;
    let revealed = parsed
        .decode_reveal_any()
        .map_err(|e| JoseError::SdJwt(e.to_string()))?;
    Ok(revealed.retaining(&pointers).into_encoded().into_string())
}
