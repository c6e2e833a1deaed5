//! A minimal browser for the sign-in pages: a cookie jar, no redirects followed, and the
//! hidden fields of the forms read back from the HTML.

use std::collections::BTreeMap;

use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, LOCATION, SET_COOKIE};

pub struct Browser {
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    /// The value of the hidden field `name` in the page's forms.
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = start + self.body[start..].find('"')?;
        Some(unescape(&self.body[start..end]))
    }

    /// The query parameters of the `Location` header.
    pub fn redirect_params(&self) -> BTreeMap<String, String> {
        let location = self.location().expect("a redirect");
        url::Url::parse(location)
            .expect("an absolute redirect")
            .query_pairs()
            .into_owned()
            .collect()
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent("TestBrowser/1.0")
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn absorb(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    async fn page(&mut self, resp: reqwest::Response) -> Page {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        self.absorb(&headers);
        Page {
            status,
            headers,
            body: resp.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let resp = self
            .http
            .get(url)
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.page(resp).await
    }

    pub async fn post(&mut self, url: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let resp = self
            .http
            .post(url)
            .header(COOKIE, self.cookie_header())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.page(resp).await
    }

    /// Submits the sign-in form of `page` (at `base`).
    pub async fn sign_in(&mut self, base: &str, page: &Page, user: &str, password: &str) -> Page {
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.field("csrf").expect("a csrf field");
        let mut fields = vec![
            ("csrf", csrf.as_str()),
            ("username", user),
            ("password", password),
        ];
        let tx = page.field("tx");
        if let Some(tx) = &tx {
            fields.push(("tx", tx));
        }
        self.post(&format!("{base}/login"), &fields).await
    }

    /// Answers the consent form of `page`.
    pub async fn consent(&mut self, base: &str, page: &Page, decision: &str) -> Page {
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("/authorize/consent"), "{}", page.body);
        let csrf = page.field("csrf").unwrap();
        let tx = page.field("tx").unwrap();
        self.post(
            &format!("{base}/authorize/consent"),
            &[("csrf", &csrf), ("tx", &tx), ("decision", decision)],
        )
        .await
    }

    /// Follows a relative `Location` (within the server).
    pub async fn follow(&mut self, base: &str, page: &Page) -> Page {
        let location = page.location().expect("a redirect").to_owned();
        let url = if location.starts_with('/') {
            format!("{base}{location}")
        } else {
            location
        };
        self.get(&url).await
    }
}
