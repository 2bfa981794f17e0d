//! Scrubs secrets from log text: `token=…`, `password=…`, `accessToken=…` (any key ending in token,
//! password, secret, credential, apiKey), `Authorization: Bearer/Basic …`, `Bearer …` and JWT-shaped strings.
//!
//! [`Secret`](red5_signal::Secret) already prints `***`; this is the net under it for secrets that arrive as
//! plain text (URLs with query strings, server replies, error messages from other crates).

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;

/// What a secret is replaced with.
pub const MASK: &str = "***";

const KEYS: &str = r"(?:token|password|passwd|pwd|secret|credential|api[_-]?key|jwt)";

struct Rules {
    quoted: Regex,
    bare: Regex,
    authorization: Regex,
    bearer: Regex,
    jwt: Regex,
}

fn rules() -> &'static Rules {
    static R: OnceLock<Rules> = OnceLock::new();
    R.get_or_init(|| {
        let build = |re: &str| Regex::new(re).unwrap_or_else(|e| panic!("built-in redaction rule {re}: {e}"));
        Rules {
            // key="value with spaces" / \"key\":\"value\" (JSON inside a Debug string)
            quoted: build(&format!(r#"(?i)([A-Za-z_-]*{KEYS}\\?["']?\s*[=:]\s*)(\\?")(.*?)(\\?")"#)),
            // key=value / key: value / "key": value, up to a delimiter
            bare: build(&format!(r#"(?i)([A-Za-z_-]*{KEYS}\\?["']?\s*[=:]\s*\\?'?)([^\s&"',;}}\]\\)]+)"#)),
            authorization: build(
                r#"(?i)(authorization\\?["']?\s*[=:]\s*\\?["']?\s*(?:(?:bearer|basic|digest|token)\s+)?)([^\s"',;\\)]+)"#,
            ),
            bearer: build(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]{6,})"),
            jwt: build(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
        }
    })
}

/// Returns `text` with every secret replaced by [`MASK`]. Borrowed when nothing matched.
pub fn redact(text: &str) -> Cow<'_, str> {
    let r = rules();
    let mut out = Cow::Borrowed(text);
    let mut apply = |re: &Regex, rep: &str| {
        if re.is_match(&out) {
            out = Cow::Owned(re.replace_all(&out, rep).into_owned());
        }
    };
    apply(&r.jwt, MASK);
    apply(&r.authorization, "${1}***");
    apply(&r.bearer, "${1}***");
    apply(&r.quoted, "${1}${2}***${4}");
    apply(&r.bare, "${1}***");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXZhbHVl";

    fn clean(s: &str) -> String {
        redact(s).into_owned()
    }

    #[test]
    fn query_parameters() {
        assert_eq!(
            clean("GET /streammanager/api/4.0/admin?accessToken=abc123&x=1"),
            "GET /streammanager/api/4.0/admin?accessToken=***&x=1"
        );
        assert_eq!(
            clean("wss://h/live?id=s1&token=t0k&password=p4ss"),
            "wss://h/live?id=s1&token=***&password=***"
        );
    }

    #[test]
    fn structured_fields_and_json() {
        assert_eq!(
            clean(r#"password="two words" user=bob"#),
            r#"password="***" user=bob"#
        );
        assert_eq!(
            clean(r#"{"adminPassword":"hunter2","user":"a"}"#),
            r#"{"adminPassword":"***","user":"a"}"#
        );
        assert_eq!(
            clean(r#"body: "{\"token\":\"s3\"}""#),
            r#"body: "{\"token\":\"***\"}""#
        );
        assert_eq!(clean("credential: tc-1, urls"), "credential: ***, urls");
        assert_eq!(clean("refresh_token=xyz"), "refresh_token=***");
    }

    #[test]
    fn authorization_headers() {
        assert_eq!(
            clean("Authorization: Bearer abc.def-ghi"),
            "Authorization: Bearer ***"
        );
        assert_eq!(
            clean("authorization: Basic YWRtaW46aHVudGVyMg=="),
            "authorization: Basic ***"
        );
        assert_eq!(
            clean(r#"{"authorization": "Bearer zzz123"}"#),
            r#"{"authorization": "Bearer ***"}"#
        );
        assert_eq!(clean("sent bearer abcdef123456"), "sent bearer ***");
    }

    #[test]
    fn jwts_anywhere() {
        assert_eq!(
            clean(&format!("login ok, got {JWT} for admin")),
            "login ok, got *** for admin"
        );
        assert!(!clean(&format!("Authorization: Bearer {JWT}")).contains("eyJ"));
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for s in [
            "connected to https://sm.example.com:443/live (nodeGroup=default)",
            "tokens: 5 remaining",
            "the Stream Manager rejected the token (401)",
            "password field is empty",
        ] {
            assert!(
                matches!(redact(s), Cow::Borrowed(_)),
                "{s} -> {}",
                redact(s)
            );
        }
    }

    #[test]
    fn idempotent() {
        let once = clean("token=a password=\"b c\" Authorization: Bearer d");
        assert_eq!(clean(&once), once);
    }
}
