//! The DIDComm interop commands of `sichat-client` (`didcomm did|pack|unpack`, the library
//! function the binary prints): one JSON object in and out, identities kept in a home dir.

use std::sync::Arc;

use serde_json::{Value, json};
use sichat_client::didcomm::interop::{Action, run};
use sichat_core::did::StandardResolver;

async fn call(home: &std::path::Path, action: Action, input: Value) -> Result<Value, String> {
    run(action, &input, home, Arc::new(StandardResolver::offline()))
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn two_homes_exchange_authcrypted_signed_and_anonymous_messages() {
    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (alice_home, bob_home) = (alice_dir.path(), bob_dir.path());
    let a = call(alice_home, Action::Did, json!({"kind": "peer2"}))
        .await
        .unwrap();
    let b = call(bob_home, Action::Did, json!({"kind": "key"}))
        .await
        .unwrap();
    let (a, b) = (a["did"].as_str().unwrap(), b["did"].as_str().unwrap());
    assert!(a.starts_with("did:peer:2.") && b.starts_with("did:key:z6Mk"));

    let message = json!({"id": "1", "type": "https://didcomm.org/basicmessage/2.0/message",
        "from": a, "to": [b], "body": {"content": "hello"}});
    for (from, sign) in [(json!(a), true), (json!(a), false), (Value::Null, false)] {
        let mut m = message.clone();
        if from.is_null() {
            m.as_object_mut().unwrap().remove("from");
        }
        let packed = call(
            alice_home,
            Action::Pack,
            json!({"message": m, "to": b, "from": from, "sign": sign}),
        )
        .await
        .unwrap();
        assert!(packed["packed"]["ciphertext"].is_string());
        let got = call(
            bob_home,
            Action::Unpack,
            json!({"packed": packed["packed"]}),
        )
        .await
        .unwrap();
        assert_eq!(got["message"]["body"]["content"], "hello");
        let meta = &got["metadata"];
        assert_eq!(meta["authenticated"], !from.is_null(), "{meta}");
        assert_eq!(meta["encrypted"], true);
        assert_eq!(
            meta["encrypted_from"].is_string(),
            !from.is_null(),
            "{meta}"
        );
        assert_eq!(meta["sign_from"].is_string(), sign, "{meta}");
        assert!(meta["encrypted_to"][0].as_str().unwrap().starts_with(b));
        // Alice cannot open what she sent to Bob.
        assert!(
            call(
                alice_home,
                Action::Unpack,
                json!({"packed": packed["packed"]})
            )
            .await
            .is_err()
        );
    }
    for (action, input) in [
        (Action::Did, json!({"kind": "sov"})),
        (
            Action::Pack,
            json!({"message": message, "to": "did:example:nobody", "from": a}),
        ),
        (Action::Pack, json!({"message": {"id": "1"}, "to": b})),
        (
            Action::Pack,
            json!({"message": message, "to": b, "from": b}),
        ),
        (Action::Unpack, json!({"packed": {"ciphertext": "x"}})),
        (Action::Unpack, json!({})),
    ] {
        let err = call(alice_home, action, input.clone()).await.unwrap_err();
        assert!(!err.is_empty(), "{action:?} {input}");
    }
}
