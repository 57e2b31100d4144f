//! Route normalization: `/api/contacts/8812?tab=deals` → `/api/contacts/:id`.
//!
//! A CRM's paths carry record ids, so without normalization every contact
//! would be its own "endpoint". The hot path is a hand-written segment
//! classifier writing into a caller's buffer (no allocation, no regex): the
//! query string and fragment are dropped, an absolute URI loses its scheme
//! and host, and a segment that is all digits, a UUID, or hex of 16 or more
//! characters becomes `:id`. Extra patterns from the rule pack
//! (`[access_log] routes`) are regexes applied afterwards, only when
//! configured, for ids the classifier cannot know (slugs, user names).

use regex::Regex;

/// The placeholder that replaces an id segment.
pub const ID: &[u8] = b":id";

/// A user pattern: every match of `pattern` in the normalized path becomes `replace`.
#[derive(Debug, Clone)]
pub struct RoutePattern {
    pub pattern: Regex,
    pub replace: String,
}

/// Turns request targets into route names.
#[derive(Debug, Clone, Default)]
pub struct RouteNormalizer {
    patterns: Vec<RoutePattern>,
}

impl RouteNormalizer {
    pub fn new(patterns: Vec<RoutePattern>) -> Self {
        RouteNormalizer { patterns }
    }

    /// Append `METHOD /normalized/path` to `out`.
    pub fn route_into(&self, method: &[u8], target: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(method);
        out.push(b' ');
        let start = out.len();
        normalize_path_into(target, out);
        if !self.patterns.is_empty() {
            // Slow path, taken only when the rule pack asks for it.
            let mut path = String::from_utf8_lossy(&out[start..]).into_owned();
            for p in &self.patterns {
                if let std::borrow::Cow::Owned(replaced) = p.pattern.replace_all(&path, p.replace.as_str()) {
                    path = replaced;
                }
            }
            out.truncate(start);
            out.extend_from_slice(path.as_bytes());
        }
    }
}

/// Append the normalized path of a request target to `out`.
pub fn normalize_path_into(target: &[u8], out: &mut Vec<u8>) {
    let mut path = target;
    if let Some(end) = memchr::memchr2(b'?', b'#', path) {
        path = &path[..end];
    }
    for scheme in [&b"http://"[..], b"https://"] {
        if path.len() > scheme.len() && path[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &path[scheme.len()..];
            path = memchr::memchr(b'/', rest).map_or(&b"/"[..], |slash| &rest[slash..]);
        }
    }
    if path.is_empty() {
        out.push(b'/');
        return;
    }
    let mut first = true;
    for segment in path.split(|b| *b == b'/') {
        if !first {
            out.push(b'/');
        }
        first = false;
        if is_id(segment) {
            out.extend_from_slice(ID);
        } else {
            out.extend_from_slice(segment);
        }
    }
}

/// All digits, a UUID, or a hex string of 16 characters or more.
fn is_id(segment: &[u8]) -> bool {
    if segment.is_empty() {
        return false;
    }
    if segment.iter().all(u8::is_ascii_digit) {
        return true;
    }
    if segment.len() == 36 && is_uuid(segment) {
        return true;
    }
    segment.len() >= 16 && segment.iter().all(u8::is_ascii_hexdigit)
}

fn is_uuid(s: &[u8]) -> bool {
    s.iter().enumerate().all(|(i, b)| if matches!(i, 8 | 13 | 18 | 23) { *b == b'-' } else { b.is_ascii_hexdigit() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(normalizer: &RouteNormalizer, method: &str, target: &str) -> String {
        let mut out = Vec::new();
        normalizer.route_into(method.as_bytes(), target.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ids_become_placeholders_and_queries_go() {
        let n = RouteNormalizer::default();
        assert_eq!(route(&n, "GET", "/api/contacts/8812?tab=deals"), "GET /api/contacts/:id");
        assert_eq!(
            route(&n, "PUT", "/api/deals/3f2a9c1e-0b7d-4e8f-9a6b-1c2d3e4f5a6b/notes/12"),
            "PUT /api/deals/:id/notes/:id"
        );
        assert_eq!(route(&n, "GET", "/files/5f2b8c9d0e1f2a3b4c5d/raw"), "GET /files/:id/raw");
        assert_eq!(route(&n, "GET", "/api/contacts/"), "GET /api/contacts/");
        assert_eq!(route(&n, "GET", "/cafe/v2"), "GET /cafe/v2", "short hex and mixed words stay");
        assert_eq!(route(&n, "GET", "http://crm.example.com/api/x/7"), "GET /api/x/:id");
        assert_eq!(route(&n, "GET", "?q=1"), "GET /");
    }

    #[test]
    fn configured_patterns_apply_after_the_classifier() {
        let n = RouteNormalizer::new(vec![RoutePattern {
            pattern: Regex::new("^/users/[^/]+").unwrap(),
            replace: "/users/:name".into(),
        }]);
        assert_eq!(route(&n, "GET", "/users/alice/deals/7"), "GET /users/:name/deals/:id");
    }
}
