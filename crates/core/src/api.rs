//! Wire types and paths shared by the server's handlers and the client's HTTP transport,
//! so that the two cannot drift: request bodies, responses and path constants of the
//! admin, DID and operations endpoints.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::id::{Did, KeyId, Owner, UserId, UserName};
pub use crate::keys::KeyInfo;
use crate::keys::KeyType;

/// Path constants of the server's HTTP API.
pub mod paths {
    pub const SERVER_DID_DOCUMENT: &str = "/.well-known/did.json";
    pub const USER_DID_DOCUMENT: &str = "/users/{name}/did.json";
    pub const RESOLVE: &str = "/1.0/identifiers/{did}";
    pub const HEALTH: &str = "/healthz";
    pub const READY: &str = "/readyz";
    pub const METRICS: &str = "/metrics";
    pub const ADMIN_USERS: &str = "/admin/users";
    pub const ADMIN_USER: &str = "/admin/users/{name}";
    pub const ADMIN_USER_TOKENS: &str = "/admin/users/{name}/tokens";
    pub const ADMIN_USER_TOKEN: &str = "/admin/users/{name}/tokens/{id}";
    pub const ADMIN_KEYS: &str = "/admin/keys";
    pub const ADMIN_KEY: &str = "/admin/keys/{id}";
    pub const ADMIN_KEY_ROTATE: &str = "/admin/keys/{id}/rotate";
    pub const ADMIN_KEYS_IMPORT: &str = "/admin/keys/import";
    pub const ADMIN_DIDS: &str = "/admin/dids";
    pub const ADMIN_CLIENTS: &str = "/admin/clients";
    pub const ADMIN_CLIENT: &str = "/admin/clients/{id}";
    pub const ADMIN_OIDC_CLAIMS: &str = "/admin/oidc/claims";
    pub const ADMIN_OIDC_CLAIM: &str = "/admin/oidc/claims/{id}";
    pub const JWKS: &str = "/jwks";
    pub const TOKEN: &str = "/token";
    pub const USERINFO: &str = "/userinfo";
    pub const OIDC_DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const AUTHORIZE: &str = "/authorize";
    pub const AUTHORIZE_CONTINUE: &str = "/authorize/continue";
    pub const AUTHORIZE_CONSENT: &str = "/authorize/consent";
    pub const LOGIN: &str = "/login";
    pub const LOGOUT: &str = "/logout";
    pub const ACCOUNT: &str = "/account";
    pub const REGISTER: &str = "/register";
    pub const CREDENTIALS_ISSUE: &str = "/credentials/issue";
    pub const CREDENTIALS_VERIFY: &str = "/credentials/verify";
    pub const PRESENTATIONS_VERIFY: &str = "/presentations/verify";
    pub const CREDENTIALS_STATUS: &str = "/credentials/status";
    pub const CREDENTIALS: &str = "/credentials";
    pub const CREDENTIAL: &str = "/credentials/{id}";
    pub const PRESENTATIONS: &str = "/presentations";
    pub const STATUS_LISTS: &str = "/status";
    pub const STATUS_LIST: &str = "/status/{list}";
    pub const HOSTED_DIDS: &str = "/dids";

    /// `path` with its one `{…}` parameter replaced by `value` (which the caller has
    /// percent-encoded where needed).
    pub fn with_param(path: &str, value: &str) -> String {
        match (path.find('{'), path.find('}')) {
            (Some(start), Some(end)) if start < end => {
                format!("{}{value}{}", &path[..start], &path[end + 1..])
            }
            _ => path.to_owned(),
        }
    }
}

/// Body of `POST /admin/users`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 1–64 characters: a–z, 0–9, `.`, `_`, `-`; becomes the did:web path segment.
    pub name: UserName,
    /// Optional login password (8–1024 characters), stored as an Argon2id hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The user's email address (OpenID Connect `email`; not verified by this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's full name (OpenID Connect `name`).
    #[serde(
        default,
        rename = "displayName",
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
}

/// A user as the admin API and CLI show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: UserId,
    pub name: UserName,
    pub did: Did,
    pub has_password: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub keys: Vec<KeyInfo>,
}

/// Whose keys: `server` (default) or `user:<name>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct OwnerQuery {
    pub owner: Option<String>,
}

/// Body of `POST /admin/keys`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GenerateKey {
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// `server` (default) or `user:<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Body of `POST /admin/keys/import`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportKey {
    /// A private JWK: OKP Ed25519/X25519 or EC P-256, with `d`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub jwk: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl std::fmt::Debug for ImportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportKey")
            .field("jwk", &"<private JWK>")
            .field("owner", &self.owner)
            .finish()
    }
}

/// The DID method of a [`DidEntry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DidKind {
    #[serde(rename = "did:web")]
    Web,
    #[serde(rename = "did:key")]
    Key,
}

/// A DID this server controls, for `sichat did list` and `GET /admin/dids`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DidEntry {
    pub did: Did,
    pub owner: Owner,
    /// `did:web`, or `did:key` for a signing key of that owner.
    pub method: DidKind,
    /// For did:key entries, the key's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<KeyId>,
}

/// Response of `GET /dids`: the did:web identifiers a server hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostedDids {
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub dids: Vec<Did>,
}

/// Body of `/healthz` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    pub status: String,
}

/// DID Resolution options accepted as query parameters of `GET /1.0/identifiers/{did}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ResolveQuery {
    /// did:key verification method format: `Multikey` (default), `JsonWebKey2020`,
    /// `Ed25519VerificationKey2018`.
    #[serde(
        rename = "publicKeyFormat",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", param(rename = "publicKeyFormat"))]
    pub public_key_format: Option<String>,
}

/// An RFC 9457 problem details object as the server sends it (extension members, such as
/// `didResolutionMetadata`, are kept in `extensions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    #[serde(default)]
    pub detail: String,
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_substituted() {
        assert_eq!(
            paths::with_param(paths::ADMIN_KEY_ROTATE, "k1"),
            "/admin/keys/k1/rotate"
        );
        assert_eq!(paths::with_param(paths::HEALTH, "x"), "/healthz");
    }

    #[test]
    fn bodies_refuse_unknown_fields_and_bad_names() {
        assert!(serde_json::from_str::<CreateUser>(r#"{"name":"dave"}"#).is_ok());
        assert!(serde_json::from_str::<CreateUser>(r#"{"nam":"dave"}"#).is_err());
        assert!(serde_json::from_str::<CreateUser>(r#"{"name":"Bad Name"}"#).is_err());
        assert!(serde_json::from_str::<GenerateKey>(r#"{"type":"RSA-4096"}"#).is_err());
    }
}

/// `options` of `POST /credentials/issue` (VC-API): `{"type": "DataIntegrityProof",
/// "cryptosuite": "eddsa-rdfc-2022" | "ecdsa-rdfc-2019"}`, `{"format": "vc+jwt"}`, or `{}`
/// for the default (`eddsa-rdfc-2022`, or `ecdsa-rdfc-2019` for a P-256 issuer key).
/// Other members are ignored, as the VC-API asks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssueOptions {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub proof_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cryptosuite: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Status entries: absent or `{}` for a revocation and a suspension entry,
    /// `{"type": "BitstringStatusListEntry", "statusPurpose": "revocation"}` (or a list of
    /// purposes) for those, `false` for none.
    #[serde(
        rename = "credentialStatus",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub credential_status: Option<Value>,
    /// With `"format": "vc+sd-jwt"`: JSON pointers of the claims the holder may disclose
    /// one by one (default: every claim of every subject but `id` and `type`).
    #[serde(
        rename = "selectivePointers",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub selective_pointers: Option<Vec<String>>,
}

/// Keeps an explicit `null` apart from an absent member.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Body of `POST /credentials/issue`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssueRequest {
    /// The unsecured credential (VC Data Model 2.0 or 1.1).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credential: Value,
    #[serde(default)]
    pub options: IssueOptions,
}

/// Response of `POST /credentials/issue`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IssueResponse {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub verifiable_credential: Value,
}

/// `options` of the verify endpoints: the challenge and domain a presentation's proof
/// must carry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// Body of `POST /credentials/verify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VerifyCredentialRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub verifiable_credential: Value,
    #[serde(default)]
    pub options: VerifyOptions,
}

/// Body of `POST /presentations/verify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VerifyPresentationRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub verifiable_presentation: Value,
    #[serde(default)]
    pub options: VerifyOptions,
}

/// One problem a verification found (VC Data Model 2.0 §7.1 problem details, with the
/// name of the check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerificationProblem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub detail: String,
    pub check: String,
}

/// Response of the verify endpoints: 200 when `verified`, 400 otherwise.
/// `problemDetails` repeats `errors` under the VC-API's newer name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VerificationResult {
    pub verified: bool,
    /// The checks that ran and passed.
    pub checks: Vec<String>,
    pub warnings: Vec<VerificationProblem>,
    pub errors: Vec<VerificationProblem>,
    pub problem_details: Vec<VerificationProblem>,
}

/// One state asked of `POST /credentials/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusUpdate {
    /// `BitstringStatusListCredential` (the VC-API's name for the method).
    #[serde(rename = "type")]
    pub kind: String,
    /// `revoked` (permanent), `suspended`, or `active` (lifts a suspension).
    pub status: String,
}

/// Body of `POST /credentials/status` (VC-API "update status").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UpdateStatusRequest {
    pub credential_id: String,
    pub credential_status: Vec<StatusUpdate>,
}

/// One status entry of a credential and its bit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StatusEntryState {
    pub status_purpose: String,
    pub status_list_credential: String,
    pub status_list_index: String,
    /// Whether the bit is set (revoked, suspended).
    pub set: bool,
}

/// Response of `POST /credentials/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UpdateStatusResponse {
    pub credential_id: String,
    /// `revoked`, `suspended` or `active`.
    pub status: String,
    pub credential_status: Vec<StatusEntryState>,
}

/// A status list this server publishes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PublishedStatusList {
    /// Where the signed `BitstringStatusListCredential` is served.
    pub id: String,
    pub issuer: String,
    pub status_purpose: String,
    /// Entries in the list.
    pub size: u32,
}

/// Response of `GET /status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StatusListsResponse {
    pub status_lists: Vec<PublishedStatusList>,
}

/// Body of `POST /admin/users/{name}/tokens`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateUserToken {
    /// What the token is for (at most 128 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A user's API token, without the secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserTokenView {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds; set once revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

/// Response of `POST /admin/users/{name}/tokens`: the token is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedUserToken {
    #[serde(flatten)]
    pub info: UserTokenView,
    pub token: String,
}

/// A credential in a holder's store (without the credential itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HeldCredentialView {
    pub id: String,
    /// `eddsa-rdfc-2022`, `ecdsa-rdfc-2019`, `vc+jwt`...
    pub format: String,
    pub issuer: String,
    pub types: Vec<String>,
    /// Unix milliseconds.
    pub received_at: i64,
}

/// Response of `GET /credentials`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldCredentials {
    pub credentials: Vec<HeldCredentialView>,
}

/// Body of `POST /credentials`: a credential to keep (verified first).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StoreCredentialRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub verifiable_credential: Value,
}

/// `options` of `POST /presentations`: the proof (`{}`: Data Integrity
/// `eddsa-rdfc-2022`; `{"cryptosuite": "ecdsa-rdfc-2019"}`; `{"format": "vp+jwt"}`) and
/// what binds it to one verifier's request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PresentOptions {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub proof_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cryptosuite: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// Body of `POST /presentations`: the ids of credentials the holder keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PresentRequest {
    pub credentials: Vec<String>,
    #[serde(default)]
    pub options: PresentOptions,
    /// For SD-JWT credentials (by id): the JSON pointers of the claims to disclose; the
    /// others stay concealed. A credential not named here is presented with every
    /// disclosure it has.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub disclose: std::collections::BTreeMap<String, Vec<String>>,
}

/// Response of `POST /presentations`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PresentResponse {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub verifiable_presentation: Value,
}

/// Body of `POST /admin/clients`: an OpenID Connect client, with the client metadata
/// names of RFC 7591 §2 (snake_case). Omitted members take the defaults named.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    pub client_id: String,
    /// Exact redirect URIs (`https`, `http` on loopback; a public client may use a
    /// reverse-domain private-use scheme). Required for `authorization_code`.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (an app on the user's device): no secret, `none` authentication,
    /// PKCE always.
    #[serde(default)]
    pub public: bool,
    /// `client_secret_basic` (default for a confidential client), `client_secret_post`,
    /// `private_key_jwt` (needs `jwks`), or `none` (public clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// The secret (32 to 512 printable characters); generated when a secret method is
    /// used and none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// `authorization_code` (default), `refresh_token`, `client_credentials`.
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// The scopes the client may ask for, space-separated (default for a login client:
    /// `openid profile email offline_access`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client's public keys for `private_key_jwt` (a JWK set; public members only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub jwks: Option<serde_json::Value>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// The DIDs a `client_credentials` token with scope `issue:credentials` may issue as
    /// (default: the server's did:web).
    #[serde(default)]
    pub issuer_dids: Vec<String>,
    /// A confidential client that may skip PKCE (only for conformance test suites that
    /// send none; PKCE stays required for every other client).
    #[serde(default)]
    pub allow_no_pkce: bool,
}

/// A registered OpenID Connect client, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientView {
    pub client_id: String,
    pub public: bool,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scope: String,
    pub id_token_signed_response_alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    pub issuer_dids: Vec<String>,
    pub require_pkce: bool,
    /// `true` when the client has `jwks` for `private_key_jwt`.
    pub has_jwks: bool,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// Response of `POST /admin/clients`: the secret, when one was generated or given, is
/// shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: ClientView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// Body of `POST /admin/oidc/claims`: an OpenID Connect claim that a verifiable credential
/// the user holds on this server can back, released with `scope`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateClaimRule {
    /// The scope that asks for the claim (`vc:email`); the claim can also be asked for by
    /// name with the `claims` parameter.
    pub scope: String,
    /// The claim's name (`email_verified`, `age_over_18`).
    pub claim: String,
    /// The credential type that backs it (`EmailCredential`).
    pub credential_type: String,
    /// The issuers trusted for it (default: this server's DIDs).
    #[serde(default)]
    pub issuers: Vec<String>,
    /// The credential field whose value the claim takes (`credentialSubject.email`);
    /// without it the claim is `true` while a matching credential verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// A claim rule as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimRuleView {
    pub id: String,
    pub scope: String,
    pub claim: String,
    pub credential_type: String,
    /// Empty: this server's DIDs.
    pub issuers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// Body of `POST /admin/didcomm/channels`: a credential-bound DIDComm channel. Forwards
/// to `recipient` (a DID mediated by this server, or one of its recipient DIDs) are
/// accepted only from peers bound to the channel by presenting a credential of
/// `credentialType`, issued by one of `issuers` (default: this server's DIDs), about the
/// peer, whose `credentialSubject` has each of `claims` (dotted path → value).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateChannel {
    pub name: String,
    pub recipient: String,
    /// Who the channel is for (`server` or `user:<name>`); default `server`.
    #[serde(default)]
    pub owner: Option<String>,
    pub credential_type: String,
    #[serde(default)]
    pub issuers: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub claims: serde_json::Map<String, Value>,
}

/// A credential-bound channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChannelView {
    pub name: String,
    pub recipient: String,
    pub owner: String,
    pub credential_type: String,
    pub issuers: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub claims: serde_json::Map<String, Value>,
    /// RFC 3339.
    pub created_at: String,
}

/// A peer bound to a channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChannelMemberView {
    pub peer: String,
    /// The presented credential's `id`, if it has one.
    pub credential_id: Option<String>,
    /// RFC 3339.
    pub bound_at: String,
}
