//! A small W3C WebDriver client (the handful of commands the playground test needs) over HTTP
//! to a chromedriver this module starts, driving Debian's headless Chromium. Both come from
//! `scripts/setup.sh`; when either is missing the test fails and says which.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// W3C's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session; dropping it ends both.
pub(crate) struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

/// An element of the page.
pub(crate) struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Browser {
    /// Start chromedriver on a free loopback port and a headless Chromium session.
    pub(crate) fn start() -> Browser {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "the playground's browser test needs {path} (Debian package `{package}`); run scripts/setup.sh, which installs it"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {CHROMEDRIVER}: {err}"));
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            agent,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser
                .agent
                .get(&format!("{}/status", browser.base))
                .call()
                .ok()
                .and_then(|r| r.into_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            if let Ok(Some(status)) = browser.driver.try_wait() {
                panic!("chromedriver exited at start ({status})");
            }
            assert!(Instant::now() < deadline, "chromedriver never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The flags that work on a machine without a network or a display (as root).
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,860",
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let session = browser.send(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
                "goog:loggingPrefs": {"browser": "ALL"},
            }}}),
        );
        browser.session = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session from chromedriver: {session}"))
            .to_owned();
        browser
    }

    /// A command; its `value`, or a panic with WebDriver's error.
    fn send(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let request = self.agent.request(method, &url);
        let result = if method == "GET" {
            request.call()
        } else {
            request.send_json(body)
        };
        let value: Value = match result {
            Ok(response) => response.into_json().expect("a JSON answer"),
            Err(ureq::Error::Status(_, response)) => {
                let body: Value = response.into_json().unwrap_or(Value::Null);
                panic!("WebDriver {method} {path} failed: {}", body["value"]);
            }
            Err(err) => panic!("WebDriver {method} {path}: {err}"),
        };
        value["value"].clone()
    }

    fn session(&self, method: &str, path: &str, body: Value) -> Value {
        self.send(method, &format!("/session/{}{path}", self.session), body)
    }

    pub(crate) fn goto(&self, url: &str) {
        self.session("POST", "/url", json!({"url": url}));
    }

    /// The first element matching a CSS selector (waiting up to 10 s for it).
    pub(crate) fn find(&self, css: &str) -> Element<'_> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.session(
                "POST",
                "/elements",
                json!({"using": "css selector", "value": css}),
            );
            if let Some(id) = found[0][ELEMENT].as_str() {
                return Element {
                    browser: self,
                    id: id.to_owned(),
                };
            }
            assert!(Instant::now() < deadline, "no element matches `{css}`");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Run `script` (a function body; `arguments` holds `args`) in the page.
    pub(crate) fn run(&self, script: &str, args: Value) -> Value {
        self.session(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// Wait up to `limit` until `script` returns true; panics with `what` and `show()`'s
    /// value otherwise.
    pub(crate) fn wait_until(&self, what: &str, limit: Duration, script: &str, show: &str) {
        let deadline = Instant::now() + limit;
        while self.run(script, json!([])) != Value::Bool(true) {
            if Instant::now() >= deadline {
                panic!(
                    "timed out waiting until {what}; the page shows: {}",
                    self.run(show, json!([]))
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The browser's console messages at level SEVERE (script errors, refused loads).
    pub(crate) fn severe_logs(&self) -> Vec<String> {
        let logs = self.session("POST", "/se/log", json!({"type": "browser"}));
        logs.as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// A PNG of the window.
    pub(crate) fn screenshot(&self) -> Vec<u8> {
        let data = self.session("GET", "/screenshot", Value::Null);
        base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("a base64 screenshot"))
            .expect("valid base64")
    }
}

impl Element<'_> {
    fn path(&self, what: &str) -> String {
        format!("/element/{}/{what}", self.id)
    }

    /// Type `text` into the element (as keystrokes).
    pub(crate) fn type_text(&self, text: &str) {
        self.browser
            .session("POST", &self.path("value"), json!({"text": text}));
    }

    pub(crate) fn clear(&self) {
        self.browser.session("POST", &self.path("clear"), json!({}));
    }

    pub(crate) fn click(&self) {
        self.browser.session("POST", &self.path("click"), json!({}));
    }

    /// The rendered text.
    pub(crate) fn text(&self) -> String {
        self.browser
            .session("GET", &self.path("text"), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = self.agent.delete(&url).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
