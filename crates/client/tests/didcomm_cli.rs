//! The `sichat-client didcomm` binary as other implementations' test harnesses drive it:
//! one JSON object on stdin, one on stdout, exit code 0 — or `{"error": ...}` on stdout
//! and exit code 1.
//!
//! A test binary of its own rather than a module of the workspace's `tests/it`: only the
//! client package's integration tests get `CARGO_BIN_EXE_sichat-client`, and having one
//! makes `cargo test --workspace` build the binary that `tests/interop` drives.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// Runs `sichat-client didcomm ACTION` with `stdin` in `home`: (exit code, stdout JSON).
fn didcomm(home: &std::path::Path, action: &str, stdin: &str) -> (i32, Value) {
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
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON object on stdout: {stdout:?}");
    (
        out.status.code().unwrap(),
        serde_json::from_str(lines[0]).unwrap(),
    )
}

#[test]
fn the_binary_speaks_one_json_object_each_way() {
    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (alice, bob) = (alice_dir.path().to_owned(), bob_dir.path().to_owned());
    let (code, a) = didcomm(&alice, "did", r#"{"kind": "peer2"}"#);
    assert_eq!(code, 0, "{a}");
    let (code, b) = didcomm(&bob, "did", r#"{"kind": "key"}"#);
    assert_eq!(code, 0, "{b}");
    let (a, b) = (a["did"].as_str().unwrap(), b["did"].as_str().unwrap());
    let message = json!({"id": "1", "type": "https://didcomm.org/basicmessage/2.0/message",
        "from": a, "to": [b], "body": {"content": "over the binary"}});
    let (code, packed) = didcomm(
        &alice,
        "pack",
        &json!({"message": message, "to": b, "from": a, "sign": false}).to_string(),
    );
    assert_eq!(code, 0, "{packed}");
    let (code, opened) = didcomm(
        &bob,
        "unpack",
        &json!({"packed": packed["packed"]}).to_string(),
    );
    assert_eq!(code, 0, "{opened}");
    assert_eq!(opened["message"]["body"]["content"], "over the binary");
    assert_eq!(opened["metadata"]["authenticated"], true);

    // Failures: exit code 1 and `{"error": ...}` on stdout, saying what is wrong.
    for (home, action, stdin, says) in [
        (&alice, "did", "not json", "JSON"),
        (&alice, "did", r#"{"kind": "rsa"}"#, "kind"),
        (
            &alice,
            "pack",
            r#"{"message": {}, "to": "did:key:z6Mk"}"#,
            "",
        ),
        // Alice cannot open what was packed for Bob.
        (
            &alice,
            "unpack",
            &json!({"packed": packed["packed"]}).to_string(),
            "",
        ),
        (&bob, "unpack", r#"{"packed": "{}"}"#, ""),
    ] {
        let (code, out) = didcomm(home, action, stdin);
        assert_eq!(code, 1, "{action} {stdin}: {out}");
        let error = out["error"].as_str().unwrap_or_else(|| panic!("{out}"));
        assert!(!error.is_empty() && error.contains(says), "{error}");
        assert_eq!(out.as_object().unwrap().len(), 1, "{out}");
    }
}
