//! Authorization codes: single use under concurrency, every binding checked, a replay
//! revokes the grant (SQLite, and PostgreSQL when `SICHAT_TEST_DATABASE_URL` is set).

use std::sync::Arc;

use serde_json::json;
use sichat::service::oidc_codes::{AuthorizationCodes, NewGrant};
use sichat::store::oidc_grants::Redemption;
use sichat_core::oauth::s256_challenge;

use crate::common::TestServer;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "https://app.example/cb";

async fn setup() -> (TestServer, NewGrant) {
    let server = TestServer::spawn().await;
    let (status, _) = server
        .admin_post(
            "/admin/clients",
            json!({"client_id": "app", "redirect_uris": [REDIRECT]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = server
        .admin_post(
            "/admin/clients",
            json!({"client_id": "other", "redirect_uris": [REDIRECT]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, user) = server
        .admin_post("/admin/users", json!({"name": "ann"}))
        .await;
    assert_eq!(status, 201);
    let grant = NewGrant {
        client_id: "app".into(),
        user_id: Some(sichat_core::id::UserId::parse(user["id"].as_str().unwrap()).unwrap()),
        scope: "openid email".into(),
        nonce: Some("n-1".into()),
        auth_time: Some(1_700_000_000),
        claims: vec![],
    };
    (server, grant)
}

fn is_redeemed(r: &Redemption) -> bool {
    matches!(r, Redemption::Redeemed(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_redemptions_of_one_code_exactly_one_succeeds() {
    let (server, grant) = setup().await;
    let codes: Arc<AuthorizationCodes> = server.services.codes.clone();
    let (code, grant_id) = codes
        .issue(grant, REDIRECT, &s256_challenge(VERIFIER))
        .await
        .unwrap();
    let code = code.expose().clone();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (codes, code) = (codes.clone(), code.clone());
            tokio::spawn(async move {
                codes
                    .redeem(&code, "app", REDIRECT, VERIFIER)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let winners = outcomes.iter().filter(|r| is_redeemed(r)).count();
    assert_eq!(winners, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|r| is_redeemed(r) || *r == Redemption::Replayed),
        "{outcomes:?}"
    );
    if let Some(Redemption::Redeemed(g)) = outcomes.iter().find(|r| is_redeemed(r)) {
        assert_eq!(
            (g.id.as_str(), g.scope.as_str(), g.nonce.as_deref()),
            (grant_id.as_str(), "openid email", Some("n-1"))
        );
    }
    // The replays revoked the grant: what the winner got is dead too (RFC 6749 §4.1.2).
    let g = codes.grant(&grant_id).await.unwrap().unwrap();
    assert!(g.revoked_at.is_some());
    assert_eq!(
        codes
            .redeem(&code, "app", REDIRECT, VERIFIER)
            .await
            .unwrap(),
        Redemption::Replayed
    );
}

#[tokio::test]
async fn a_wrong_binding_fails_without_burning_the_code() {
    let (server, grant) = setup().await;
    let codes = server.services.codes.clone();
    let (code, grant_id) = codes
        .issue(grant, REDIRECT, &s256_challenge(VERIFIER))
        .await
        .unwrap();
    let code = code.expose().clone();
    for (code, client, redirect, verifier) in [
        (code.as_str(), "other", REDIRECT, VERIFIER),
        (code.as_str(), "app", "https://app.example/cb/", VERIFIER),
        (
            code.as_str(),
            "app",
            REDIRECT,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
        ),
        (code.as_str(), "app", REDIRECT, "short"),
        (code.as_str(), "app", REDIRECT, ""),
        ("not-a-code", "app", REDIRECT, VERIFIER),
        ("", "app", REDIRECT, VERIFIER),
        // What a database could refuse never reaches the group-committed batch.
        (
            code.as_str(),
            "app",
            "https://app.example/cb\u{0}",
            VERIFIER,
        ),
        (code.as_str(), "app\u{0}", REDIRECT, VERIFIER),
    ] {
        assert_eq!(
            codes
                .redeem(code, client, redirect, verifier)
                .await
                .unwrap(),
            Redemption::Invalid,
            "{client} {redirect} {verifier}"
        );
    }
    assert!(is_redeemed(
        &codes
            .redeem(&code, "app", REDIRECT, VERIFIER)
            .await
            .unwrap()
    ));
    assert!(
        codes
            .grant(&grant_id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    // Only S256 challenges are accepted when issuing (a `plain` challenge is the verifier).
    let (_, grant) = setup().await;
    assert!(codes.issue(grant, REDIRECT, VERIFIER).await.is_err());
}

#[tokio::test]
async fn an_expired_code_or_a_revoked_grant_redeems_nothing() {
    use sichat::store::oidc_grants::{CodeRow, GrantRow, insert_grant_with_code};
    let (server, grant) = setup().await;
    let db = server.services.store.db();
    let now = chrono::Utc::now().timestamp_millis();
    let code = "expired-code-0123456789";
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(code.as_bytes()));
    let expired_grant = uuid::Uuid::new_v4().to_string();
    insert_grant_with_code(
        db,
        GrantRow {
            id: expired_grant.clone(),
            client_id: "app".into(),
            user_id: grant.user_id.as_ref().map(|u| u.to_string()),
            scope: "openid".into(),
            nonce: None,
            auth_time: None,
            created_at: now - 120_000,
            revoked_at: None,
            claims: None,
        },
        CodeRow {
            code_sha256: digest,
            grant_id: expired_grant,
            client_id: "app".into(),
            redirect_uri: REDIRECT.into(),
            code_challenge: s256_challenge(VERIFIER),
            expires_at: now - 60_000,
            redeemed_at: None,
            user_id: None,
            scope: Some("openid".into()),
            nonce: None,
            auth_time: None,
            claims: None,
        },
    )
    .await
    .unwrap();
    let codes = server.services.codes.clone();
    assert_eq!(
        codes.redeem(code, "app", REDIRECT, VERIFIER).await.unwrap(),
        Redemption::Invalid
    );
    // Expired a minute ago: kept for now (a replay within the hour still finds it); a
    // purge of what expired before now removes it.
    assert_eq!(codes.purge().await.unwrap(), 0);
    assert_eq!(
        sichat::store::oidc_grants::purge_expired(db, now)
            .await
            .unwrap(),
        1
    );
    // A code whose grant was revoked (the user withdrew consent) redeems nothing.
    let (code, grant_id) = codes
        .issue(grant, REDIRECT, &s256_challenge(VERIFIER))
        .await
        .unwrap();
    assert!(codes.revoke(&grant_id).await.unwrap());
    assert_eq!(
        codes
            .redeem(code.expose(), "app", REDIRECT, VERIFIER)
            .await
            .unwrap(),
        Redemption::Invalid
    );

    // A code issued before codes carried their grant's fields still redeems, through its
    // grant.
    let old_grant = uuid::Uuid::new_v4().to_string();
    let old_code = "pre-migration-code-0123456789";
    insert_grant_with_code(
        db,
        GrantRow {
            id: old_grant.clone(),
            client_id: "app".into(),
            user_id: None,
            scope: "openid email".into(),
            nonce: Some("n-old".into()),
            auth_time: None,
            created_at: now,
            revoked_at: None,
            claims: None,
        },
        CodeRow {
            code_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(old_code.as_bytes())),
            grant_id: old_grant.clone(),
            client_id: "app".into(),
            redirect_uri: REDIRECT.into(),
            code_challenge: s256_challenge(VERIFIER),
            expires_at: now + 60_000,
            redeemed_at: None,
            user_id: None,
            scope: None,
            nonce: None,
            auth_time: None,
            claims: None,
        },
    )
    .await
    .unwrap();
    match codes
        .redeem(old_code, "app", REDIRECT, VERIFIER)
        .await
        .unwrap()
    {
        Redemption::Redeemed(g) => {
            assert_eq!(
                (g.id.as_str(), g.scope.as_str()),
                (old_grant.as_str(), "openid email")
            );
            assert_eq!(g.nonce.as_deref(), Some("n-old"));
        }
        other => panic!("{other:?}"),
    }
}
