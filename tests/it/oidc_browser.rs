//! A real browser through the real pages: headless Chromium (Debian's `chromium`) driven
//! over the DevTools protocol on a pipe (`--remote-debugging-pipe`: NUL-terminated JSON on
//! file descriptors 3 and 4, so no DevTools crate or port). It opens an authorization
//! request, types the username and password into the sign-in form, clicks Allow on the
//! consent page, and lands on the client's loopback redirect URI with a code that the
//! token endpoint accepts. A screenshot of the consent page is kept in the temp dir.
//! Without a `chromium` on the PATH the test says so and passes (`.ci/run` installs it).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use sichat_core::oauth::s256_challenge;

use crate::oidc_login::{PASSWORD, setup};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
}

/// A pipe whose ends close on exec.
fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2");
    (fds[0], fds[1])
}

struct Chrome {
    child: Child,
    to: File,
    from: BufReader<File>,
    next_id: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl Chrome {
    fn launch(binary: &PathBuf) -> Self {
        let (browser_reads, we_write) = pipe();
        let (we_read, browser_writes) = pipe();
        let profile = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(binary);
        cmd.args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: between fork and exec only async-signal-safe calls (fcntl, dup2) run.
        unsafe {
            cmd.pre_exec(move || {
                // Out of the way of 3 and 4 first, then onto them (dup2 clears CLOEXEC).
                let r = libc::fcntl(browser_reads, libc::F_DUPFD, 10);
                let w = libc::fcntl(browser_writes, libc::F_DUPFD, 10);
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start chromium");
        // SAFETY: the parent owns these descriptors from here on; the child's copies are
        // closed in the parent.
        unsafe {
            libc::close(browser_reads);
            libc::close(browser_writes);
        }
        Chrome {
            child,
            // SAFETY: fresh descriptors owned by nothing else.
            to: unsafe { File::from_raw_fd(we_write) },
            from: BufReader::new(unsafe { File::from_raw_fd(we_read) }),
            next_id: 0,
            session: None,
            _profile: profile,
        }
    }

    /// Sends a command (to the attached page once there is one) and waits for its answer.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session
            && !method.starts_with("Target.")
        {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        loop {
            let mut buf = Vec::new();
            let n = self.from.read_until(0, &mut buf).unwrap();
            assert!(n > 0, "chromium closed the pipe");
            buf.pop();
            let answer: Value = serde_json::from_slice(&buf).unwrap();
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// Polls `expression` until it is true (10 s at most).
    fn wait_for(&mut self, expression: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.eval(expression) == json!(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let page = self.eval("location.href + '\\n' + document.documentElement.outerHTML");
        panic!("timed out waiting for `{expression}` on {page}");
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The client's loopback redirect URI: answers one request and hands over its query.
fn callback_listener() -> (u16, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut buf = [0u8; 8192];
        let n = socket.read(&mut buf).unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        let target = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let body = "<!doctype html><title>RP</title><p>Signed in</p>";
        let _ = write!(
            socket,
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        target
    });
    (port, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_browser_signs_in_through_the_real_pages() {
    let Some(binary) = chromium() else {
        eprintln!(
            "SKIPPED: no `chromium` on the PATH (Debian: apt-get install chromium; .ci/run installs it)"
        );
        return;
    };
    let (server, _) = setup().await;
    let (status, body) = server
        .admin_post(
            "/admin/clients",
            json!({"client_id": "browser-app", "client_name": "Browser App", "public": true,
                   "redirect_uris": ["http://127.0.0.1/callback"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (port, callback) = callback_listener();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "browser-app")
        .append_pair("redirect_uri", &redirect)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile email")
        .append_pair("state", "browser-state")
        .append_pair("nonce", "browser-nonce")
        .append_pair("code_challenge", &s256_challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256")
        .finish();
    let url = format!("{}/authorize?{query}", server.base);
    let screenshot =
        std::env::temp_dir().join(format!("sichat-consent-{}.png", std::process::id()));
    let shot = screenshot.clone();

    tokio::task::spawn_blocking(move || {
        let mut chrome = Chrome::launch(&binary);
        let targets = chrome.call("Target.getTargets", json!({}));
        let page = targets["targetInfos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target")["targetId"]
            .clone();
        let attached = chrome.call(
            "Target.attachToTarget",
            json!({"targetId": page, "flatten": true}),
        );
        chrome.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
        chrome.call("Page.enable", json!({}));
        chrome.call("Page.navigate", json!({"url": url}));

        // The sign-in page, with its stylesheet applied (served from the binary).
        chrome.wait_for(
            "document.querySelector('#username') !== null && document.readyState === 'complete'",
        );
        let styled = chrome.eval("getComputedStyle(document.querySelector('main')).borderRadius");
        assert_eq!(styled, json!("12px"), "the stylesheet loaded under the CSP");
        chrome.eval(&format!(
            "document.querySelector('#username').value = 'ann';\
             document.querySelector('#password').value = {};\
             document.querySelector('button[type=submit]').click(); true",
            json!(PASSWORD)
        ));
        // The consent page: the client's name, then Allow.
        chrome.wait_for("document.querySelector('button[value=allow]') !== null");
        assert_eq!(
            chrome.eval("document.body.innerText.includes('Browser App')"),
            json!(true)
        );
        let png = chrome.call("Page.captureScreenshot", json!({"format": "png"}));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(&shot, &bytes).unwrap();
        chrome.eval("document.querySelector('button[value=allow]').click(); true");
        // Back at the client (the CSP's form-action let the redirect through).
        chrome.wait_for(&format!(
            "location.href.startsWith('http://127.0.0.1:{port}/callback')"
        ));
        let _ = chrome.call("Browser.close", json!({}));
    })
    .await
    .unwrap();

    let target = callback.join().unwrap();
    let params: std::collections::BTreeMap<String, String> =
        url::form_urlencoded::parse(target.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(params["state"], "browser-state");
    assert_eq!(params["iss"], server.base);
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 2000,
        "a screenshot of the consent page"
    );
    eprintln!("consent page screenshot: {}", screenshot.display());

    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("client_id", "browser-app")
        .append_pair("code", &params["code"])
        .append_pair("redirect_uri", &redirect)
        .append_pair("code_verifier", VERIFIER)
        .finish();
    let resp = server
        .client
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    assert!(tokens["id_token"].is_string());
}
