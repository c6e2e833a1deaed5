//! The `sichat` binary: init, serve, and admin commands against a running server's data.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{ServerProcess, fresh_database_url, is_postgres, sichat_bin, sichat_cmd};

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
    let (ok, _, err) = run(
        sichat_cmd(dir.path(), &db).args(["key", "rotate", &ed_id]),
        None,
    );
    assert!(ok, "{err}");
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
    server.stop();
}

#[test]
fn init_creates_a_private_master_key_and_shows_the_admin_token_once() {
    if is_postgres() {
        return; // covered on SQLite: this checks the data dir files
    }
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
    if is_postgres() {
        return; // a data dir property, checked on SQLite
    }
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
    if is_postgres() {
        return; // a data dir property, checked on SQLite
    }
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
