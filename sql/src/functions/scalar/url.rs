//! URL functions: URL_ENCODE_PARAM, URL_DECODE_PARAM and the URL_EXTRACT_* family.
//!
//! The extractors parse like Java's `java.net.URI` (RFC 2396), which ksqlDB uses: a
//! relative reference has no scheme or host, the path of `http://host?q` is empty, and the
//! query, path and fragment are returned percent-decoded. A malformed URL is an error.

use crate::functions::FunctionRegistry;
use crate::types::SqlType;
use crate::value::Value;

use super::conv::text;
use super::sig::{p, ret, ParamType as P, Udf, Variant};

/// The components of a URI, raw (still percent-encoded).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Uri {
    pub scheme: Option<String>,
    pub user_info: Option<String>,
    pub host: Option<String>,
    /// -1 when absent, as Java reports it.
    pub port: i32,
    pub path: Option<String>,
    pub query: Option<String>,
    pub fragment: Option<String>,
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Characters `java.net.URI` accepts outside escapes (ASCII unreserved and reserved
/// characters, plus any non-ASCII character that is not a control or space).
fn allowed(c: char) -> bool {
    if !c.is_ascii() {
        return !c.is_control() && !c.is_whitespace();
    }
    c.is_ascii_alphanumeric() || "-_.!~*'();/?:@&=+$,[]#".contains(c)
}

fn check_chars(s: &str, whole: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut skip_until = 0;
    for (idx, c) in s.char_indices() {
        if idx < skip_until {
            continue;
        }
        if c == '%' {
            let escaped = matches!(
                (b.get(idx + 1), b.get(idx + 2)),
                (Some(h), Some(l)) if is_hex(*h) && is_hex(*l)
            );
            if !escaped {
                return Err(format!("URL input has invalid syntax: {whole}"));
            }
            skip_until = idx + 3;
            continue;
        }
        if !allowed(c) {
            return Err(format!("URL input has invalid syntax: {whole}"));
        }
    }
    Ok(())
}

/// Parses `s` as `new URI(s)` does.
pub fn parse_uri(s: &str) -> Result<Uri, String> {
    let bad = || format!("URL input has invalid syntax: {s}");
    if s.is_empty() {
        return Ok(Uri {
            port: -1,
            path: Some(String::new()),
            ..Uri::default()
        });
    }
    let mut uri = Uri {
        port: -1,
        ..Uri::default()
    };
    let (rest, fragment) = match s.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (s, None),
    };
    if let Some(f) = fragment {
        check_chars(f, s)?;
        if f.contains('#') {
            return Err(bad());
        }
        uri.fragment = Some(f.to_string());
    }
    check_chars(rest, s)?;
    let mut rest = rest;
    // A scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":".
    if let Some(colon) = rest.find(':') {
        let candidate = &rest[..colon];
        let mut chars = candidate.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if valid {
            uri.scheme = Some(candidate.to_string());
            rest = &rest[colon + 1..];
            if rest.is_empty() {
                return Err(bad());
            }
            if !rest.starts_with('/') {
                // An opaque URI (mailto:x): no authority, path or query.
                return Ok(uri);
            }
        } else if !candidate.contains('/') && !candidate.contains('?') {
            return Err(bad());
        }
    }
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?']).unwrap_or(after.len());
        let authority = &after[..end];
        rest = &after[end..];
        parse_authority(authority, &mut uri);
    }
    let (path, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    uri.path = Some(path.to_string());
    uri.query = query.map(str::to_string);
    Ok(uri)
}

/// A server-based authority `[userinfo@]host[:port]`; anything else is registry-based
/// (no host, no port), as Java treats it.
fn parse_authority(authority: &str, uri: &mut Uri) {
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, tail)) => {
                let port = match tail.strip_prefix(':') {
                    Some(p) => Some(p),
                    None if tail.is_empty() => None,
                    None => return,
                };
                (format!("[{h}]"), port)
            }
            None => return,
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (host_port.to_string(), None),
        }
    };
    let valid_host = !host.is_empty()
        && (host.starts_with('[')
            || host
                .split('.')
                .all(|label| label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
                && !host.starts_with('.'));
    let port = match port {
        None | Some("") => -1,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => match p.parse::<i32>() {
            Ok(v) => v,
            Err(_) => return,
        },
        Some(_) => return,
    };
    if !valid_host {
        return;
    }
    uri.user_info = user_info.map(str::to_string);
    uri.host = Some(host);
    uri.port = port;
}

/// Decodes `%XX` escapes as UTF-8 (malformed sequences become U+FFFD), as Java's URI
/// getters do.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (hex_value(b.get(i + 1)), hex_value(b.get(i + 2))) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(c: Option<&u8>) -> Option<u8> {
    c.and_then(|c| (*c as char).to_digit(16)).map(|d| d as u8)
}

/// Java's `URLEncoder.encode(s, UTF-8)`.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Java's `URLDecoder.decode(s, UTF-8)`: `+` is a space; bad escapes are errors.
pub fn url_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                if i + 2 >= b.len() {
                    return Err("URLDecoder: Incomplete trailing escape (%) pattern".to_string());
                }
                match (hex_value(b.get(i + 1)), hex_value(b.get(i + 2))) {
                    (Some(h), Some(l)) => out.push(h * 16 + l),
                    _ => {
                        return Err(
                            "URLDecoder: Illegal hex characters in escape (%) pattern".to_string()
                        )
                    }
                }
                i += 3;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn opt_string(v: Option<String>) -> Value {
    v.map(Value::String).unwrap_or(Value::Null)
}

fn extractor(
    name: &str,
    description: &str,
    ty: SqlType,
    f: fn(&Uri) -> Value,
) -> std::sync::Arc<dyn crate::functions::ScalarUdf> {
    Udf::new(name, description)
        .error_name(&name.to_ascii_lowercase())
        .variant(
            Variant::new(vec![p("input", P::String)], ret(ty))
                .eval(move |a| Ok(f(&parse_uri(text(&a[0])?)?))),
        )
        .shared()
}

/// Registers the URL functions.
pub fn register(r: &mut FunctionRegistry) {
    r.register_scalar(
        Udf::new(
            "URL_ENCODE_PARAM",
            "Escapes the input string so it can be safely placed in a URL parameter value \
             (application/x-www-form-urlencoded).",
        )
        .error_name("url_encode_param")
        .variant(
            Variant::new(vec![p("input", P::String)], ret(SqlType::String))
                .eval(|a| Ok(Value::String(url_encode(text(&a[0])?)))),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "URL_DECODE_PARAM",
            "Decodes a application/x-www-form-urlencoded string.",
        )
        .error_name("url_decode_param")
        .variant(
            Variant::new(vec![p("input", P::String)], ret(SqlType::String))
                .eval(|a| Ok(Value::String(url_decode(text(&a[0])?)?))),
        )
        .shared(),
    );
    r.register_scalar(extractor(
        "URL_EXTRACT_FRAGMENT",
        "Extracts the fragment portion of the specified value. Returns NULL if the URL has \
         no fragment.",
        SqlType::String,
        |u| opt_string(u.fragment.as_deref().map(percent_decode)),
    ));
    r.register_scalar(extractor(
        "URL_EXTRACT_HOST",
        "Extracts the host-name portion of the specified value. Returns NULL if the URL has \
         no host.",
        SqlType::String,
        |u| opt_string(u.host.clone()),
    ));
    r.register_scalar(extractor(
        "URL_EXTRACT_PATH",
        "Extracts the path portion of the specified value.",
        SqlType::String,
        |u| opt_string(u.path.as_deref().map(percent_decode)),
    ));
    r.register_scalar(extractor(
        "URL_EXTRACT_PORT",
        "Extracts the port number of the specified value. Returns NULL if the URL has no \
         port.",
        SqlType::Int,
        |u| {
            if u.port < 0 {
                Value::Null
            } else {
                Value::Int(u.port)
            }
        },
    ));
    r.register_scalar(extractor(
        "URL_EXTRACT_PROTOCOL",
        "Extracts the protocol (scheme) portion of the specified value. Returns NULL if the \
         URL has no protocol.",
        SqlType::String,
        |u| opt_string(u.scheme.clone()),
    ));
    r.register_scalar(extractor(
        "URL_EXTRACT_QUERY",
        "Extracts the decoded query portion of the specified value. Returns NULL if the URL \
         has no query.",
        SqlType::String,
        |u| opt_string(u.query.as_deref().map(percent_decode)),
    ));
    r.register_scalar(
        Udf::new(
            "URL_EXTRACT_PARAMETER",
            "Extracts a parameter with a specified name encoded inside an \
             application/x-www-form-urlencoded String.",
        )
        .error_name("url_extract_parameter")
        .variant(
            Variant::new(
                vec![p("input", P::String), p("paramToFind", P::String)],
                ret(SqlType::String),
            )
            .eval(|a| {
                let uri = parse_uri(text(&a[0])?)?;
                let wanted = text(&a[1])?;
                let Some(query) = uri.query.as_deref().map(percent_decode) else {
                    return Ok(Value::Null);
                };
                for param in query.split('&') {
                    match param.split_once('=') {
                        None if param == wanted => return Ok(Value::String(String::new())),
                        Some((k, v)) if k == wanted => return Ok(Value::String(v.to_string())),
                        _ => {}
                    }
                }
                Ok(Value::Null)
            }),
        )
        .shared(),
    );
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{reg, run, s};
    use super::*;

    fn one(name: &str, url: &str) -> Result<Value, String> {
        run(&reg(), name, &[SqlType::String], &[s(url)])
    }

    #[test]
    fn encode_and_decode_params() {
        assert_eq!(one("URL_ENCODE_PARAM", "?foo $bar"), Ok(s("%3Ffoo+%24bar")));
        assert_eq!(
            one("URL_ENCODE_PARAM", "hello&world"),
            Ok(s("hello%26world"))
        );
        assert_eq!(one("URL_ENCODE_PARAM", "é"), Ok(s("%C3%A9")));
        assert_eq!(one("URL_DECODE_PARAM", "%3Ffoo+%24bar"), Ok(s("?foo $bar")));
        assert_eq!(one("URL_DECODE_PARAM", "nothing"), Ok(s("nothing")));
        assert!(one("URL_DECODE_PARAM", "bad%2").is_err());
        assert!(one("URL_DECODE_PARAM", "bad%zz").is_err());
    }

    #[test]
    fn extract_parts_like_java_uri() {
        assert_eq!(
            one(
                "URL_EXTRACT_FRAGMENT",
                "http://www.test.com/?query#fragment"
            ),
            Ok(s("fragment"))
        );
        assert_eq!(
            one("URL_EXTRACT_FRAGMENT", "http://www.nofragment.com"),
            Ok(Value::Null)
        );
        assert_eq!(
            one("URL_EXTRACT_HOST", "http://test@confluent.io:8080"),
            Ok(s("confluent.io"))
        );
        assert_eq!(
            one("URL_EXTRACT_PATH", "http://www.test.com?query#fragment"),
            Ok(s(""))
        );
        assert_eq!(
            one(
                "URL_EXTRACT_PATH",
                "http://test@confluent.io:8080/nested/path?query&jobs"
            ),
            Ok(s("/nested/path"))
        );
        assert_eq!(
            one("URL_EXTRACT_PORT", "http://test@confluent.io"),
            Ok(Value::Null)
        );
        assert_eq!(
            one(
                "URL_EXTRACT_PORT",
                "http://test@confluent.io:8080/nested/path"
            ),
            Ok(Value::Int(8080))
        );
        assert_eq!(
            one(
                "URL_EXTRACT_PROTOCOL",
                "https://test@confluent.io:8080/nested/path?query&jobs"
            ),
            Ok(s("https"))
        );
        assert_eq!(
            one("URL_EXTRACT_PROTOCOL", "www.confluent.io"),
            Ok(Value::Null)
        );
        assert_eq!(
            one("URL_EXTRACT_QUERY", "http://www.test.com/path?q1&q2"),
            Ok(s("q1&q2"))
        );
        assert_eq!(
            one("URL_EXTRACT_QUERY", "http://test@confluent.io:8080/path"),
            Ok(Value::Null)
        );
        assert!(one("URL_EXTRACT_HOST", "http://bad host/").is_err());
        assert!(one("URL_EXTRACT_HOST", "http://x/%zz").is_err());
        let r = reg();
        let param = |url: &str, name: &str| {
            run(
                &r,
                "URL_EXTRACT_PARAMETER",
                &[SqlType::String, SqlType::String],
                &[s(url), s(name)],
            )
        };
        assert_eq!(
            param("http://www.test.com/?one=a&two=b&three", "two"),
            Ok(s("b"))
        );
        assert_eq!(
            param("http://www.test.com/?one=a&two=b&three", "three"),
            Ok(s(""))
        );
        assert_eq!(param("http://www.test.com/?one=a", "four"), Ok(Value::Null));
        assert_eq!(
            param("http://www.test.com/?one=a&two=url%20encoded", "two"),
            Ok(s("url encoded"))
        );
    }
}
