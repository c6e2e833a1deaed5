//! The `sichat` binary: init, serve, and admin commands against a running server's data.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{ServerProcess, free_port, fresh_database_url, sichat_bin, sichat_cmd};

fn run(cmd: &mut Command, stdin: Option<&str>) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn admin_commands_work_against_the_database_of_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path()).await;
    let server = ServerProcess::start(dir.path(), &db, "warn").await;
    let host = server
        .base
        .trim_start_matches("http://")
        .replace(':', "%3A");

    let (ok, out, err) = run(
        sichat_cmd(dir.path(), &db).args(["user", "add", "bob", "--password-stdin"]),
        Some("hunter2hunter2\n"),
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        format!("did:web:{host}:users:bob"),
        "the CLI uses the server's public URL"
    );

    // Several writers at once (other processes) while the server answers requests.
    let mut children = Vec::new();
    for i in 0..4 {
        children.push(
            sichat_cmd(dir.path(), &db)
                .args(["user", "add", &format!("u{i}")])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    let client = reqwest::Client::new();
    for _ in 0..20 {
        assert_eq!(
            client
                .get(format!("{}/.well-known/did.json", server.base))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let resp = client
        .get(format!("{}/users/bob/did.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "the running server serves the user the CLI added"
    );

    let (ok, out, err) = run(sichat_cmd(dir.path(), &db).args(["did", "list"]), None);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("did:web:{host}"));
    assert!(lines.contains(&format!("did:web:{host}:users:bob").as_str()));
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("did:key:z")).count(),
        2 * 6,
        "2 signing keys x (server + 5 users)"
    );
    assert_eq!(lines.len(), 1 + 5 + 12);

    let (ok, out, _) = run(sichat_cmd(dir.path(), &db).args(["key", "list"]), None);
    assert!(ok);
    let ed_id = out
        .lines()
        .find(|l| l.contains("\tEd25519\t"))
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_owned();
    let document = || async {
        client
            .get(format!("{}/.well-known/did.json", server.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let cached = document().await;
    let (ok, rotated, err) = run(
        sichat_cmd(dir.path(), &db).args(["key", "rotate", &ed_id]),
        None,
    );
    assert!(ok, "{err}");
    // The running server drops its cached document within its sync interval (1 s).
    let new_key = rotated.trim().split('\t').nth(2).unwrap().to_owned();
    assert!(!cached.contains(&new_key));
    let mut served = String::new();
    for _ in 0..50 {
        served = document().await;
        if served.contains(&new_key) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        served.contains(&new_key),
        "the CLI's rotation is served: {served}"
    );
    let (ok, _, err) = run(
        sichat_cmd(dir.path(), &db).args(["key", "rotate", &ed_id]),
        None,
    );
    assert!(
        !ok && err.starts_with("error:") && err.trim().lines().count() == 1,
        "{err}"
    );
    let (ok, _, err) = run(
        sichat_cmd(dir.path(), &db).args(["user", "add", "bob"]),
        None,
    );
    assert!(!ok && err.contains("already exists"), "{err}");
    let log = server.stop();
    assert!(
        log.contains("did:web forbids IP hosts"),
        "serving an IP-address public URL is warned about: {log}"
    );
}

#[test]
fn init_creates_a_private_master_key_and_shows_the_admin_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let init = || {
        Command::new(sichat_bin())
            .current_dir(dir.path())
            .env_clear()
            .args(["init", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let first = init();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(out.contains("Admin token (shown once"), "{out}");
    assert!(
        out.contains("Server DID: did:web:127.0.0.1%3A8080"),
        "{out}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let second = init();
    assert!(second.status.success());
    assert!(
        !String::from_utf8_lossy(&second.stdout).contains("sat_"),
        "the token is shown only once"
    );

    let wrong = Command::new(sichat_bin())
        .current_dir(dir.path())
        .env_clear()
        .env("SICHAT_MASTER_KEY", "ff".repeat(32))
        .args(["did", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        !wrong.status.success() && err.contains("master key") && err.trim().lines().count() == 1,
        "{err}"
    );
}

#[test]
fn bad_configuration_is_a_one_line_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (args, env, key) in [
        (vec!["serve", "--listen", "nope"], None, "--listen"),
        (
            vec!["serve", "--public-url", "ftp://x"],
            None,
            "--public-url",
        ),
        (
            vec!["init"],
            Some(("SICHAT_DATABASE_URL", "mysql://x")),
            "SICHAT_DATABASE_URL",
        ),
        (
            vec!["init"],
            Some(("SICHAT_MASTER_KEY", "short")),
            "SICHAT_MASTER_KEY",
        ),
        (
            vec!["init"],
            Some(("SICHAT_REQUEST_TIMEOUT_SECS", "soon")),
            "SICHAT_REQUEST_TIMEOUT_SECS",
        ),
    ] {
        let mut cmd = Command::new(sichat_bin());
        cmd.current_dir(dir.path())
            .env_clear()
            .args(&args)
            .arg("--data-dir")
            .arg(dir.path());
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            err.contains(key) && err.trim().lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}

#[test]
fn an_admin_command_that_initialises_the_data_dir_shows_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(sichat_bin())
        .current_dir(dir.path())
        .env_clear()
        .args(["user", "add", "zed", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "did:web:127.0.0.1%3A8080:users:zed"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Admin token (shown once"));
}

#[test]
fn a_missing_master_key_is_an_error_and_no_new_key_file_appears() {
    let dir = tempfile::tempdir().unwrap();
    let with_env = Command::new(sichat_bin())
        .current_dir(dir.path())
        .env_clear()
        .env("SICHAT_MASTER_KEY", crate::common::MASTER_KEY)
        .args(["init", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(with_env.status.success());
    let without = Command::new(sichat_bin())
        .current_dir(dir.path())
        .env_clear()
        .args(["did", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&without.stderr);
    assert!(
        !without.status.success()
            && err.contains("no master key")
            && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(
        !dir.path().join("master.key").exists(),
        "no key file that could never open the stored keys"
    );
}

/// The public URL is pinned like the master key: another one refuses to start, admin
/// commands never store one, and changing it is an explicit command listing the DIDs
/// that change, after which running instances report themselves not ready.
#[tokio::test]
async fn the_public_url_cannot_change_behind_the_servers_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path()).await;
    // An admin command on a fresh data dir stores no URL.
    let (ok, _, err) = run(
        sichat_cmd(dir.path(), &db).args(["user", "add", "ann"]),
        None,
    );
    assert!(ok, "{err}");
    let (ok, out, _) = run(
        sichat_cmd(dir.path(), &db).args(["public-url", "show"]),
        None,
    );
    assert!(ok && out.contains("not stored yet"), "{out}");

    let port = free_port();
    let server = ServerProcess::start_on(dir.path(), &db, "warn", port, &[]).await;
    let first = server.base.clone();
    let first_did = format!("did:web:127.0.0.1%3A{port}");
    // A second instance with another public URL on the same database refuses to start.
    let other = format!("http://localhost:{port}");
    let (ok, _, err) = run(
        sichat_cmd(dir.path(), &db).args(["init", "--public-url", &other]),
        None,
    );
    assert!(!ok, "a mismatching instance must not start");
    assert!(
        err.contains(&first) && err.contains(&other) && err.contains("sichat public-url set"),
        "{err}"
    );
    // Admin commands follow the stored URL.
    let (ok, out, _) = run(sichat_cmd(dir.path(), &db).args(["did", "list"]), None);
    assert!(
        ok && out.lines().next() == Some(first_did.as_str()),
        "{out}"
    );

    // A dry run lists what would change and changes nothing.
    let (ok, out, err) = run(
        sichat_cmd(dir.path(), &db).args(["public-url", "set", &other]),
        None,
    );
    assert!(ok, "{err}");
    let new_did = format!("did:web:localhost%3A{port}");
    assert!(out.contains(&format!("{first_did} -> {new_did}")), "{out}");
    assert!(
        out.contains(&format!("{first_did}:users:ann -> {new_did}:users:ann")),
        "{out}"
    );
    assert!(out.contains("--yes"), "{out}");
    let (_, out, _) = run(
        sichat_cmd(dir.path(), &db).args(["public-url", "show"]),
        None,
    );
    assert_eq!(out.trim(), first);

    let (ok, out, err) = run(
        sichat_cmd(dir.path(), &db).args(["public-url", "set", &other, "--yes"]),
        None,
    );
    assert!(ok && out.contains("restart"), "{out}{err}");
    // The running instance notices and takes itself out of rotation.
    let client = reqwest::Client::new();
    let mut status = 0;
    for _ in 0..60 {
        status = client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 503, "an instance serving the old URL is not ready");
    server.stop();
    let (ok, out, _) = run(sichat_cmd(dir.path(), &db).args(["did", "list"]), None);
    assert!(ok && out.lines().next() == Some(new_did.as_str()), "{out}");
}

/// Container secrets come as files: `SICHAT_MASTER_KEY_FILE`, `SICHAT_ADMIN_TOKEN_FILE`.
#[test]
fn secrets_can_be_passed_as_files() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let key_file = secrets.path().join("master");
    let token_file = secrets.path().join("token");
    std::fs::write(&key_file, format!("{}\n", crate::common::MASTER_KEY)).unwrap();
    std::fs::write(&token_file, format!("{}\n", crate::common::ADMIN_TOKEN)).unwrap();
    let out = Command::new(sichat_bin())
        .current_dir(dir.path())
        .env_clear()
        .env("SICHAT_MASTER_KEY_FILE", &key_file)
        .env("SICHAT_ADMIN_TOKEN_FILE", &token_file)
        .args(["init", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("taken from SICHAT_ADMIN_TOKEN"), "{stdout}");
    assert!(
        !dir.path().join("master.key").exists(),
        "the file's key is used"
    );
    // The same key from the environment opens the data; both at once is refused.
    let both = Command::new(sichat_bin())
        .current_dir(dir.path())
        .env_clear()
        .env("SICHAT_MASTER_KEY", crate::common::MASTER_KEY)
        .env("SICHAT_MASTER_KEY_FILE", &key_file)
        .args(["did", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&both.stderr);
    assert!(!both.status.success() && err.contains("not both"), "{err}");
    let missing = Command::new(sichat_bin())
        .current_dir(dir.path())
        .env_clear()
        .env("SICHAT_MASTER_KEY_FILE", secrets.path().join("nope"))
        .args(["did", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        !missing.status.success() && err.contains("SICHAT_MASTER_KEY_FILE"),
        "{err}"
    );
}

/// A data dir that already exists (a Docker volume, mode 0755) still gets a database,
/// WAL and shared-memory file readable by the owner only.
#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private_in_an_existing_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("sichat.db").display()
    );
    // In process (umask 022, unlike the binary's 077): the bootstrap alone must do it.
    let server = crate::common::TestServer::start(
        dir.path().to_owned(),
        db.clone(),
        "127.0.0.1:0",
        crate::common::Options::default(),
    )
    .await;
    assert_eq!(
        server
            .admin_post("/admin/users", serde_json::json!({"name": "vol"}))
            .await
            .0,
        201
    );
    for name in ["sichat.db", "sichat.db-wal", "sichat.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    let addr = server.addr();
    let (_, _, keep) = server.stop().await;
    drop(keep);
    // A database created 0644 by an earlier version is tightened at the next start.
    std::fs::set_permissions(
        dir.path().join("sichat.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let again = crate::common::TestServer::start(
        dir.path().to_owned(),
        db,
        &addr,
        crate::common::Options::default(),
    )
    .await;
    let mode = std::fs::metadata(dir.path().join("sichat.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    drop(again);
}

#[tokio::test]
async fn credential_commands_issue_verify_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path()).await;
    let server = ServerProcess::start(dir.path(), &db, "warn").await;
    let unsigned = dir.path().join("unsigned.json");
    std::fs::write(
        &unsigned,
        serde_json::json!({
            "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
            "type": ["VerifiableCredential", "ExampleAlumniCredential"],
            "credentialSubject": {"id": "did:example:alice", "alumniOf": "Example University"},
        })
        .to_string(),
    )
    .unwrap();
    let (ok, vc, err) = run(
        sichat_cmd(dir.path(), &db).args(["credential", "issue", unsigned.to_str().unwrap()]),
        None,
    );
    assert!(ok, "{err}");
    let parsed: serde_json::Value = serde_json::from_str(&vc).unwrap();
    assert_eq!(parsed["proof"]["cryptosuite"], "eddsa-rdfc-2022");
    let id = parsed["id"].as_str().unwrap().to_owned();
    let signed = dir.path().join("vc.json");
    std::fs::write(&signed, &vc).unwrap();
    let verify = || {
        run(
            sichat_cmd(dir.path(), &db).args(["credential", "verify", signed.to_str().unwrap()]),
            None,
        )
    };
    let (ok, out, err) = verify();
    assert!(ok, "{out}{err}");
    assert!(out.contains("\"verified\": true"), "{out}");
    // The running server agrees.
    let client = reqwest::Client::new();
    let http_verify = || {
        client
            .post(format!("{}/credentials/verify", server.base))
            .json(&serde_json::json!({"verifiableCredential": parsed}))
            .send()
    };
    assert_eq!(http_verify().await.unwrap().status(), 200);

    let (ok, out, err) = run(
        sichat_cmd(dir.path(), &db).args(["credential", "revoke", &id]),
        None,
    );
    assert!(ok, "{err}");
    assert!(
        out.lines().any(|l| l.starts_with("revocation\tset\t")),
        "{out}"
    );
    let (ok, out, _) = verify();
    assert!(!ok && out.contains("Revoked"), "{out}");
    // The running server serves its signed lists for up to a second before it checks
    // whether another process changed them.
    let mut seen = 0;
    for _ in 0..30 {
        seen = http_verify().await.unwrap().status().as_u16();
        if seen == 400 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, 400, "the server sees the CLI's revocation");
    let (ok, _, err) = run(
        sichat_cmd(dir.path(), &db).args(["credential", "reinstate", &id]),
        None,
    );
    assert!(!ok && err.contains("permanent"), "{err}");

    // Other formats and bad input.
    let (ok, jwt, err) = run(
        sichat_cmd(dir.path(), &db).args([
            "credential",
            "issue",
            unsigned.to_str().unwrap(),
            "--format",
            "vc+jwt",
            "--no-status",
        ]),
        None,
    );
    assert!(ok, "{err}");
    assert!(jwt.contains("data:application/vc+jwt,"), "{jwt}");
    let (ok, _, err) = run(
        sichat_cmd(dir.path(), &db).args(["credential", "issue", "/nonexistent.json"]),
        None,
    );
    assert!(!ok && err.starts_with("error:"), "{err}");
    let (ok, _, err) = run(
        sichat_cmd(dir.path(), &db).args([
            "credential",
            "issue",
            unsigned.to_str().unwrap(),
            "--issuer",
            "did:web:elsewhere.example",
        ]),
        None,
    );
    assert!(
        !ok && err.contains("not a DID this server controls"),
        "{err}"
    );
    // A file that is JSON but not an object: an error, not a panic.
    let array = dir.path().join("array.json");
    std::fs::write(&array, "[1, 2]").unwrap();
    let (ok, _, err) = run(
        sichat_cmd(dir.path(), &db).args([
            "credential",
            "issue",
            array.to_str().unwrap(),
            "--issuer",
            "did:web:elsewhere.example",
        ]),
        None,
    );
    assert!(
        !ok && err.starts_with("error:") && err.contains("not a JSON object"),
        "{err}"
    );
    server.stop();
}

#[tokio::test]
async fn client_commands_register_list_and_remove_openid_connect_clients() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path()).await;
    let server = ServerProcess::start(dir.path(), &db, "warn").await;
    let client = |args: &[&str], stdin: Option<&str>| {
        run(sichat_cmd(dir.path(), &db).arg("client").args(args), stdin)
    };
    // A confidential client: a generated secret, printed once on stdout.
    let (ok, secret, err) = client(
        &[
            "add",
            "web-app",
            "--redirect-uri",
            "https://app.example/cb",
            "--name",
            "Web App",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(secret.trim().len(), 43, "{secret}");
    assert!(err.contains("shown once"), "{err}");
    // A secret from stdin is never echoed.
    let given = "a-secret-of-at-least-thirty-two-characters";
    let (ok, out, err) = client(
        &[
            "add",
            "posting",
            "--redirect-uri",
            "https://b.example/cb",
            "--secret-stdin",
            "--auth-method",
            "client_secret_post",
            "--id-token-alg",
            "EdDSA",
        ],
        Some(&format!("{given}\n")),
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "posting");
    assert!(!out.contains(given) && !err.contains(given));
    let (ok, _, err) = client(
        &[
            "add",
            "phone",
            "--public",
            "--redirect-uri",
            "com.example.phone:/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb",
        ],
        None,
    );
    assert!(ok, "{err}");
    let (ok, _, err) = client(
        &[
            "add",
            "bot",
            "--grant",
            "client_credentials",
            "--scope",
            "issue:credentials",
        ],
        None,
    );
    assert!(ok, "{err}");

    // Refusals name the problem and change nothing.
    for (args, expected) in [
        (
            vec!["add", "web-app", "--redirect-uri", "https://app.example/cb"],
            "already exists",
        ),
        (
            vec!["add", "x", "--redirect-uri", "http://app.example/cb"],
            "loopback",
        ),
        (
            vec!["add", "x", "--redirect-uri", "https://app.example/cb#f"],
            "fragment",
        ),
        (vec!["add", "x"], "redirect URI"),
        (
            vec!["add", "x y", "--redirect-uri", "https://app.example/cb"],
            "client id",
        ),
        (
            vec![
                "add",
                "x",
                "--redirect-uri",
                "https://a.example/cb",
                "--grant",
                "implicit",
            ],
            "implicit",
        ),
        (
            vec![
                "add",
                "x",
                "--redirect-uri",
                "https://a.example/cb",
                "--id-token-alg",
                "HS256",
            ],
            "HS256",
        ),
        (vec!["remove", "nobody"], "no client"),
    ] {
        let (ok, _, err) = client(&args, None);
        assert!(!ok && err.contains(expected), "{args:?}: {err}");
    }
    let (ok, _, err) = client(
        &[
            "add",
            "x",
            "--redirect-uri",
            "https://a.example/cb",
            "--secret-stdin",
        ],
        Some("short\n"),
    );
    assert!(!ok && err.contains("32"), "{err}");

    let (ok, list, err) = client(&["list"], None);
    assert!(ok, "{err}");
    let ids: Vec<&str> = list
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(ids, ["web-app", "posting", "phone", "bot"], "{list}");
    assert!(
        list.contains("phone\tpublic\tnone\tcom.example.phone:/cb http://127.0.0.1/cb"),
        "{list}"
    );
    assert!(!list.contains(secret.trim()) && !list.contains(given));

    // The running server sees what the CLI did.
    let http = reqwest::Client::new();
    let admin = |path: &str| {
        http.get(format!("{}{path}", server.base))
            .bearer_auth(crate::common::ADMIN_TOKEN)
            .send()
    };
    let web: serde_json::Value = admin("/admin/clients/web-app")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(web["client_name"], "Web App");
    assert_eq!(web["token_endpoint_auth_method"], "client_secret_basic");
    // Users get a profile for the `email` and `name` claims.
    let (ok, _, err) = run(
        sichat_cmd(dir.path(), &db).args([
            "user",
            "add",
            "carol",
            "--email",
            "carol@example.org",
            "--name",
            "Carol Example",
        ]),
        None,
    );
    assert!(ok, "{err}");
    let carol: serde_json::Value = admin("/admin/users/carol")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (carol["email"].as_str(), carol["displayName"].as_str()),
        (Some("carol@example.org"), Some("Carol Example"))
    );
    let (ok, _, err) = run(
        sichat_cmd(dir.path(), &db).args(["user", "add", "dan", "--email", "nope"]),
        None,
    );
    assert!(!ok && err.contains("email"), "{err}");
    let (ok, out, err) = client(&["remove", "web-app"], None);
    assert!(ok && out.trim() == "removed web-app", "{err}");
    assert_eq!(admin("/admin/clients/web-app").await.unwrap().status(), 404);
}

#[tokio::test]
async fn oidc_claim_commands_declare_credential_backed_claims() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path()).await;
    let server = ServerProcess::start(dir.path(), &db, "warn").await;
    let claim = |args: &[&str]| {
        run(
            sichat_cmd(dir.path(), &db)
                .args(["oidc", "claim"])
                .args(args),
            None,
        )
    };
    let (ok, id, err) = claim(&[
        "add",
        "vc:email",
        "--claim",
        "email",
        "--from",
        "credentialSubject.email",
        "--credential-type",
        "EmailCredential",
    ]);
    assert!(ok, "{err}");
    assert_eq!(id.trim().len(), 36, "the rule's id: {id}");
    let (ok, _, err) = claim(&[
        "add",
        "vc:email",
        "--claim",
        "email_verified",
        "--credential-type",
        "EmailCredential",
        "--issuer",
        "did:web:issuer.example",
    ]);
    assert!(ok, "{err}");
    for (args, expected) in [
        (
            vec![
                "add",
                "vc:email",
                "--claim",
                "email",
                "--credential-type",
                "EmailCredential",
            ],
            "exists",
        ),
        (
            vec![
                "add",
                "vc:age",
                "--claim",
                "sub",
                "--credential-type",
                "AgeCredential",
            ],
            "ID token claim",
        ),
        (
            vec![
                "add",
                "vc:age",
                "--claim",
                "over18",
                "--credential-type",
                "AgeCredential",
                "--issuer",
                "nope",
            ],
            "nope",
        ),
        (
            vec!["add", "openid", "--claim", "x", "--credential-type", "X"],
            "openid",
        ),
        (vec!["remove", "no-such-rule"], "no claim rule"),
    ] {
        let (ok, _, err) = claim(&args);
        assert!(!ok && err.contains(expected), "{args:?}: {err}");
    }
    let (ok, list, err) = claim(&["list"]);
    assert!(ok, "{err}");
    assert!(
        list.contains("vc:email\temail\tEmailCredential\t(this server)\tcredentialSubject.email"),
        "{list}"
    );
    assert!(
        list.contains("vc:email\temail_verified\tEmailCredential\tdid:web:issuer.example\t(true)"),
        "{list}"
    );

    // The running server's discovery follows (the identity stamp moves).
    let http = reqwest::Client::new();
    let mut listed = false;
    for _ in 0..100 {
        let metadata: serde_json::Value = http
            .get(format!("{}/.well-known/openid-configuration", server.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if metadata["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("vc:email"))
        {
            assert!(
                metadata["claims_supported"]
                    .as_array()
                    .unwrap()
                    .contains(&serde_json::json!("email_verified"))
            );
            listed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(listed, "discovery lists the new scope");
    let (ok, out, err) = claim(&["remove", id.trim()]);
    assert!(
        ok && out.trim() == format!("removed {}", id.trim()),
        "{err}"
    );
}
