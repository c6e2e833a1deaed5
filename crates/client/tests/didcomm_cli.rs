//! `sichat-client didcomm did|pack|unpack`: the interop commands, one JSON object in and
//! out, identities kept in `$SICHAT_CLIENT_HOME`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

fn run(home: &std::path::Path, action: &str, input: &Value) -> (bool, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sichat-client"))
        .args(["didcomm", action])
        .env("SICHAT_CLIENT_HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let value: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.success(), value)
}

fn temp_home(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("sichat-didcomm-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn two_homes_exchange_authcrypted_signed_and_anonymous_messages() {
    let (alice_home, bob_home) = (temp_home("alice"), temp_home("bob"));
    let (ok, a) = run(&alice_home, "did", &json!({"kind": "peer2"}));
    assert!(ok, "{a}");
    let (ok, b) = run(&bob_home, "did", &json!({"kind": "key"}));
    assert!(ok, "{b}");
    let (a, b) = (a["did"].as_str().unwrap(), b["did"].as_str().unwrap());
    assert!(a.starts_with("did:peer:2.") && b.starts_with("did:key:z6Mk"));

    let message = json!({"id": "1", "type": "https://didcomm.org/basicmessage/2.0/message",
        "from": a, "to": [b], "body": {"content": "hello"}});
    for (from, sign) in [(json!(a), true), (json!(a), false), (Value::Null, false)] {
        let mut m = message.clone();
        if from.is_null() {
            m.as_object_mut().unwrap().remove("from");
        }
        let (ok, packed) = run(
            &alice_home,
            "pack",
            &json!({"message": m, "to": b, "from": from, "sign": sign}),
        );
        assert!(ok, "{packed}");
        assert!(packed["packed"]["ciphertext"].is_string());
        let (ok, got) = run(&bob_home, "unpack", &json!({"packed": packed["packed"]}));
        assert!(ok, "{got}");
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
        let (ok, err) = run(&alice_home, "unpack", &json!({"packed": packed["packed"]}));
        assert!(!ok && err["error"].is_string(), "{err}");
    }
    // Errors are JSON with a non-zero exit code.
    for (action, input) in [
        ("did", json!({"kind": "sov"})),
        (
            "pack",
            json!({"message": message, "to": "did:example:nobody", "from": a}),
        ),
        ("pack", json!({"message": {"id": "1"}, "to": b})),
        ("pack", json!({"message": message, "to": b, "from": b})),
        ("unpack", json!({"packed": {"ciphertext": "x"}})),
        ("unpack", json!({})),
    ] {
        let (ok, out) = run(&alice_home, action, &input);
        assert!(!ok, "{action} {input}: {out}");
        assert!(
            out["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{out}"
        );
    }
    std::fs::remove_dir_all(&alice_home).unwrap();
    std::fs::remove_dir_all(&bob_home).unwrap();
}
