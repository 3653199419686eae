//! A small W3C WebDriver client over reqwest (the protocol is JSON over HTTP), and the
//! chromedriver it talks to: Debian's `chromium` and `chromium-driver`, headless, installed by
//! `scripts/test-deps.sh`. One driver and one browser session serve the whole dashboard test.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The key of an element reference in W3C WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How many times a wait polls (every 100 ms) before failing: 20 s.
const WAIT_POLLS: usize = 200;

pub struct Driver {
    _child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver on a free loopback port and waits (bounded) until it is ready.
    pub async fn start() -> Self {
        for tool in ["/usr/bin/chromedriver", "/usr/bin/chromium"] {
            assert!(
                Path::new(tool).exists(),
                "`{tool}` is missing: install Debian's chromium and chromium-driver (scripts/test-deps.sh does)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..WAIT_POLLS {
            if let Ok(r) = http.get(format!("{url}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                return Self { _child: child, url };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not become ready at {url}");
    }

    /// A new headless Chromium session with a `width`×`height` window.
    pub async fn session(&self, width: u32, height: u32) -> Browser {
        // Chromium's own sandbox needs user namespaces it cannot have as root in a container:
        // `--no-sandbox` (the page under test is our own dashboard on loopback).
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}")],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let http = reqwest::Client::new();
        let answer: Value = http
            .post(format!("{}/session", self.url))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"));
        Browser {
            http,
            base: format!("{}/session/{id}", self.url),
        }
    }
}

pub struct Browser {
    http: reqwest::Client,
    base: String,
}

/// An element reference.
#[derive(Clone)]
pub struct El(String);

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let answer: Value = req
            .send()
            .await
            .expect("webdriver answers")
            .json()
            .await
            .expect("webdriver JSON");
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!(
                "webdriver {method} {path}: {error}: {}",
                answer["value"]["message"]
            );
        }
        answer["value"].clone()
    }

    async fn try_call(&self, path: &str, body: Value) -> Option<Value> {
        let answer: Value = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        answer["value"]["error"]
            .is_null()
            .then(|| answer["value"].clone())
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .expect("a URL")
            .to_owned()
    }

    /// Runs `script` (a function body; `arguments` as given) in the page.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The first element matching `css` once there is one (bounded wait).
    pub async fn find(&self, css: &str) -> El {
        for _ in 0..WAIT_POLLS {
            if let Some(v) = self
                .try_call("/element", json!({"using": "css selector", "value": css}))
                .await
                && let Some(id) = v[ELEMENT].as_str()
            {
                return El(id.to_owned());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element `{css}` appeared");
    }

    /// Waits (bounded) until an element matching `css` has text containing `want`; its text.
    pub async fn wait_text(&self, css: &str, want: &str) -> String {
        let mut last = String::new();
        for _ in 0..WAIT_POLLS {
            let v = self
                .script(
                    "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
                    json!([css]),
                )
                .await;
            if let Some(text) = v.as_str() {
                if text.contains(want) {
                    return text.to_owned();
                }
                last = text.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("`{css}` never showed `{want}`; last: {last:?}");
    }

    pub async fn click(&self, el: &El) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", el.0),
            Some(json!({})),
        )
        .await;
    }

    pub async fn click_css(&self, css: &str) {
        let el = self.find(css).await;
        self.click(&el).await;
    }

    pub async fn clear(&self, el: &El) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/clear", el.0),
            Some(json!({})),
        )
        .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", el.0),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Replaces the value of a field (a textarea keeps its newlines).
    pub async fn set_value(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.clear(&el).await;
        self.type_into(css, text).await;
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Chromium's color-scheme emulation, through chromedriver's DevTools passthrough.
    pub async fn prefer_dark(&self, dark: bool) {
        let value = if dark { "dark" } else { "light" };
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": "Emulation.setEmulatedMedia", "params": {
                "features": [{"name": "prefers-color-scheme", "value": value}]}})),
        )
        .await;
    }

    /// The browser console since the last call (chromedriver's log endpoint).
    pub async fn console(&self) -> Vec<Value> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/se/log",
                Some(json!({"type": "browser"})),
            )
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Writes a PNG screenshot of the window to `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 PNG"))
            .expect("valid base64");
        std::fs::create_dir_all(dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    pub async fn quit(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}
