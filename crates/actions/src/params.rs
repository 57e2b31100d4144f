//! Typed hook parameters: what a binding accepts, checked by the host before
//! any hook runs.
//!
//! A plugin is untrusted, and a hook script is a shell script run as root: a
//! parameter that is "just data" to perfsage can still be a glob, a client
//! escape (`\!` in mysql) or a terminal escape by the time a script and its
//! tools see it. So every `[hooks.<name>]` binding declares its parameters
//! (`params = { key = "type" | { type = "...", options } }`) and an action whose
//! parameters do not match the declaration exactly (unknown or missing key,
//! wrong type, out of range, not allowed) becomes a manual step with the
//! reason. The scripts still check again (defence in depth); this is the first
//! wall, and the one that names the problem in `plan`.
//!
//! The types, each a whole-value check over ASCII unless said otherwise:
//! - `identifier`: `[A-Za-z_][A-Za-z0-9_]*`, 1 to 63 bytes (PostgreSQL's limit);
//! - `qualified-identifier`: an identifier or `identifier.identifier`;
//! - `identifier-list`: 1 to 32 distinct identifiers joined by `,` (no spaces,
//!   no empty items);
//! - `integer` (`min`, `max` required): `-?[0-9]+` without a leading `+` or
//!   leading zeros, within `min..=max`;
//! - `key` (`allow` required): exactly one of the allowed strings (an empty
//!   list allows nothing);
//! - `path` (`roots` required; `ancestors = true` optional): an absolute path
//!   of `[A-Za-z0-9/._+@-]`, at most 4096 bytes, lexically normal (no `.` or
//!   `..` component, no `//`, no trailing `/` but for `/` itself), equal to or
//!   under one of the roots, or with `ancestors`, also a directory above one of
//!   them (the hook then works on the roots inside it). The hook still checks
//!   on disk (symlinks);
//! - `enum` (`values` required): exactly one of the values;
//! - `label`: `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 128 bytes (service names);
//! - `route`: an HTTP route as the endpoint rules name it, `[METHOD ]/path`
//!   with `METHOD` `[A-Z]{1,16}` and the path of `[A-Za-z0-9/._~:@%+{}-]`, at
//!   most 1024 bytes;
//! - `text` (`max` optional, default 256, at most 4096 bytes): any Unicode
//!   text without control characters (C0 including tab and newline, DEL, C1),
//!   bidirectional overrides and isolates, or line separators; the hook must
//!   treat it as opaque data.
//!
//! A binding without `params` refuses every action that carries a parameter:
//! a pack must say what its hook accepts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use perfsage_reports::terminal_safe;

/// Longest identifier (PostgreSQL truncates at 63 bytes; MySQL allows 64).
pub const MAX_IDENTIFIER: usize = 63;
/// Most identifiers in an `identifier-list`.
pub const MAX_LIST_ITEMS: usize = 32;
/// Longest `path` value.
pub const MAX_PATH: usize = 4096;
/// Longest `label` value.
pub const MAX_LABEL: usize = 128;
/// Longest `route` value.
pub const MAX_ROUTE: usize = 1024;
/// Default and greatest `max` of a `text` parameter.
pub const DEFAULT_TEXT_MAX: usize = 256;
pub const MAX_TEXT: usize = 4096;

/// The type names a declaration may use, for messages.
const TYPE_NAMES: &str =
    "identifier, qualified-identifier, identifier-list, integer, key, path, enum, label, route, text";

/// One declared parameter type.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamType {
    Identifier,
    QualifiedIdentifier,
    IdentifierList,
    Integer { min: i64, max: i64 },
    Key { allow: Vec<String> },
    Path { roots: Vec<String>, ancestors: bool },
    Enum { values: Vec<String> },
    Label,
    Route,
    Text { max: usize },
}

/// A binding's declared parameters, by key as the plugin spells it.
pub type Declared = BTreeMap<String, ParamType>;

/// Parse a binding's `params` table; errors name `hooks.<hook>.params.<key>`.
pub fn parse_declarations(hook: &str, table: &toml::Table) -> Result<Declared, String> {
    let mut declared = Declared::new();
    let mut env_names = BTreeSet::new();
    for (key, value) in table {
        let at = format!("hooks.{hook}.params.{key}");
        if !super::runner::is_safe_env_key(key) {
            return Err(format!("{at}: a parameter name must be [A-Za-z0-9_], 1 to 64, not starting with a digit"));
        }
        if !env_names.insert(key.to_ascii_uppercase()) {
            return Err(format!("{at}: another parameter has the same name in upper case (the hook's variable)"));
        }
        declared.insert(key.clone(), ParamType::parse(value).map_err(|e| format!("{at}: {e}"))?);
    }
    Ok(declared)
}

impl ParamType {
    /// A declaration: a type name, or a table with `type` and that type's options.
    pub fn parse(value: &toml::Value) -> Result<ParamType, String> {
        let (name, options) = match value {
            toml::Value::String(name) => (name.as_str(), toml::Table::new()),
            toml::Value::Table(table) => {
                let name = table
                    .get("type")
                    .ok_or("a table declaration needs `type`")?
                    .as_str()
                    .ok_or("`type` must be a string")?;
                let mut options = table.clone();
                options.remove("type");
                (name, options)
            }
            _ => return Err(format!("expected a type name or {{ type = \"...\", ... }}, not {value}")),
        };
        let allowed_options: &[&str] = match name {
            "integer" => &["min", "max"],
            "key" => &["allow"],
            "path" => &["roots", "ancestors"],
            "enum" => &["values"],
            "text" => &["max"],
            "identifier" | "qualified-identifier" | "identifier-list" | "label" | "route" => &[],
            other => return Err(format!("unknown type `{other}` (expected one of {TYPE_NAMES})")),
        };
        if let Some(unknown) = options.keys().find(|k| !allowed_options.contains(&k.as_str())) {
            return Err(format!(
                "`{name}` takes no option `{unknown}`{}",
                if allowed_options.is_empty() {
                    String::new()
                } else {
                    format!(" (its options: {})", allowed_options.join(", "))
                }
            ));
        }
        let integer = |key: &str| -> Result<i64, String> {
            options
                .get(key)
                .ok_or(format!("`{name}` needs `{key}`"))?
                .as_integer()
                .ok_or(format!("`{key}` must be an integer"))
        };
        let strings = |key: &str| -> Result<Vec<String>, String> {
            let array = options
                .get(key)
                .ok_or(format!("`{name}` needs `{key}`"))?
                .as_array()
                .ok_or(format!("`{key}` must be a list"))?;
            array.iter().map(|v| v.as_str().map(String::from).ok_or(format!("`{key}` must list strings"))).collect()
        };
        Ok(match name {
            "identifier" => ParamType::Identifier,
            "qualified-identifier" => ParamType::QualifiedIdentifier,
            "identifier-list" => ParamType::IdentifierList,
            "label" => ParamType::Label,
            "route" => ParamType::Route,
            "integer" => {
                let (min, max) = (integer("min")?, integer("max")?);
                if min > max {
                    return Err(format!("`min` ({min}) is above `max` ({max})"));
                }
                ParamType::Integer { min, max }
            }
            "key" => {
                let allow = strings("allow")?;
                if let Some(bad) = allow.iter().find(|k| !is_allowable_key(k)) {
                    return Err(format!(
                        "`allow` entry {:?} is not a key ([A-Za-z0-9_.-], 1 to 128)",
                        terminal_safe(bad)
                    ));
                }
                ParamType::Key { allow }
            }
            "path" => {
                let roots = strings("roots")?;
                if roots.is_empty() {
                    return Err("`roots` must name at least one directory".into());
                }
                if let Some(bad) = roots.iter().find(|r| check_path_syntax(r).is_err()) {
                    return Err(format!(
                        "root {:?} is not a normal absolute path ([A-Za-z0-9/._+@-], no `.`, `..`, `//` or trailing `/`)",
                        terminal_safe(bad)
                    ));
                }
                let ancestors = match options.get("ancestors") {
                    None => false,
                    Some(value) => value.as_bool().ok_or("`ancestors` must be true or false")?,
                };
                ParamType::Path { roots, ancestors }
            }
            "enum" => {
                let values = strings("values")?;
                if values.is_empty() {
                    return Err("`values` must list at least one value".into());
                }
                if let Some(bad) = values.iter().find(|v| check_text(v, MAX_TEXT).is_err()) {
                    return Err(format!("value {:?} holds control characters or is too long", terminal_safe(bad)));
                }
                ParamType::Enum { values }
            }
            "text" => {
                let max = match options.get("max") {
                    None => DEFAULT_TEXT_MAX as i64,
                    Some(value) => value.as_integer().ok_or("`max` must be an integer")?,
                };
                if !(1..=MAX_TEXT as i64).contains(&max) {
                    return Err(format!("`max` must be 1..={MAX_TEXT}"));
                }
                ParamType::Text { max: max as usize }
            }
            _ => unreachable!("type names are matched above"),
        })
    }

    /// Whether `value` is of this type; the error says what was expected, never echoing the value.
    pub fn check(&self, value: &str) -> Result<(), String> {
        match self {
            ParamType::Identifier => check_identifier(value),
            ParamType::QualifiedIdentifier => {
                let mut parts = value.split('.');
                let (first, second, rest) = (parts.next(), parts.next(), parts.next());
                match (first, second, rest) {
                    (Some(one), None, None) => check_identifier(one),
                    (Some(schema), Some(name), None) => check_identifier(schema).and_then(|_| check_identifier(name)),
                    _ => Err("not an identifier or schema.identifier".into()),
                }
                .map_err(|e| format!("{e} (an identifier or schema.identifier)"))
            }
            ParamType::IdentifierList => {
                let items: Vec<&str> = value.split(',').collect();
                if items.len() > MAX_LIST_ITEMS {
                    return Err(format!("more than {MAX_LIST_ITEMS} identifiers"));
                }
                for item in &items {
                    check_identifier(item)
                        .map_err(|e| format!("{e} (a list of identifiers joined by `,`, no spaces)"))?;
                }
                if items.iter().collect::<BTreeSet<_>>().len() != items.len() {
                    return Err("an identifier repeats in the list".into());
                }
                Ok(())
            }
            ParamType::Integer { min, max } => {
                let digits = value.strip_prefix('-').unwrap_or(value);
                let canonical = !digits.is_empty()
                    && digits.len() <= 19
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && (digits == "0" || !digits.starts_with('0'))
                    && value != "-0";
                let number = value.parse::<i64>().ok().filter(|_| canonical);
                match number {
                    None => {
                        Err(format!("not a whole number in {min}..={max} (digits, an optional `-`, no leading zeros)"))
                    }
                    Some(n) if n < *min || n > *max => Err(format!("out of range {min}..={max}")),
                    Some(_) => Ok(()),
                }
            }
            ParamType::Key { allow } => {
                if allow.iter().any(|k| k == value) {
                    Ok(())
                } else if allow.is_empty() {
                    Err("not allowed: this binding allows no key (`allow` is empty)".into())
                } else {
                    Err(format!("not an allowed key (allowed: {})", allow.join(", ")))
                }
            }
            ParamType::Path { roots, ancestors } => {
                check_path_syntax(value)?;
                let within = |path: &str, root: &str| {
                    root == "/" || path == root || path.strip_prefix(root).is_some_and(|rest| rest.starts_with('/'))
                };
                let allowed = roots.iter().any(|root| within(value, root) || (*ancestors && within(root, value)));
                if allowed {
                    Ok(())
                } else {
                    let relation = if *ancestors { "under or above" } else { "under" };
                    Err(format!("not {relation} an allowed root ({})", roots.join(", ")))
                }
            }
            ParamType::Enum { values } => {
                if values.iter().any(|v| v == value) {
                    Ok(())
                } else {
                    Err(format!(
                        "not one of {}",
                        values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")
                    ))
                }
            }
            ParamType::Label => {
                let ok = (1..=MAX_LABEL).contains(&value.len())
                    && value.as_bytes()[0].is_ascii_alphanumeric()
                    && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
                if ok { Ok(()) } else { Err(format!("not a name ([A-Za-z0-9][A-Za-z0-9_.-]*, 1 to {MAX_LABEL})")) }
            }
            ParamType::Route => check_route(value),
            ParamType::Text { max } => check_text(value, *max),
        }
    }
}

impl fmt::Display for ParamType {
    /// The declaration as a person reads it (`perfsage plugin list --hooks`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list =
            |items: &[String]| items.iter().map(|i| terminal_safe(i).into_owned()).collect::<Vec<_>>().join(", ");
        match self {
            ParamType::Identifier => write!(f, "identifier"),
            ParamType::QualifiedIdentifier => write!(f, "qualified-identifier"),
            ParamType::IdentifierList => write!(f, "identifier-list"),
            ParamType::Integer { min, max } => write!(f, "integer {min}..={max}"),
            ParamType::Key { allow } if allow.is_empty() => write!(f, "key, none allowed"),
            ParamType::Key { allow } => write!(f, "key, one of: {}", list(allow)),
            ParamType::Path { roots, ancestors } => {
                write!(f, "path {} {}", if *ancestors { "under or above" } else { "under" }, list(roots))
            }
            ParamType::Enum { values } => write!(f, "enum: {}", list(values)),
            ParamType::Label => write!(f, "label"),
            ParamType::Route => write!(f, "route"),
            ParamType::Text { max } => write!(f, "text, at most {max} bytes"),
        }
    }
}

/// Check an action's parameters against its binding's declaration (`None`: the
/// binding declares none). The error names each offending parameter, escaped.
pub fn check_params(declared: Option<&Declared>, params: &[(String, String)]) -> Result<(), String> {
    let Some(declared) = declared else {
        return match params.first() {
            None => Ok(()),
            Some((key, _)) => Err(format!(
                "the hook's binding declares no parameters (`params`), so none may be passed; refusing parameter `{}`",
                terminal_safe(key)
            )),
        };
    };
    let mut problems = Vec::new();
    for (key, value) in params {
        match declared.get(key) {
            None => problems.push(format!("parameter `{}` is not declared by the hook's binding", terminal_safe(key))),
            Some(kind) => {
                if let Err(why) = kind.check(value) {
                    problems.push(format!("parameter `{key}` = {}: {why}", excerpt(value)));
                }
            }
        }
    }
    for key in declared.keys() {
        if !params.iter().any(|(k, _)| k == key) {
            problems.push(format!("parameter `{key}` is missing"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("parameters do not match the hook's declaration: {}; not passed to a hook", problems.join("; ")))
    }
}

/// A value for a message: escaped, quoted, at most 64 characters.
fn excerpt(value: &str) -> String {
    const SHOWN: usize = 64;
    let mut shown: String = value.chars().take(SHOWN).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    format!("\"{}\"", terminal_safe(&shown))
}

fn check_identifier(value: &str) -> Result<(), String> {
    let bytes = value.as_bytes();
    let ok = (1..=MAX_IDENTIFIER).contains(&bytes.len())
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if ok { Ok(()) } else { Err(format!("not an identifier ([A-Za-z_][A-Za-z0-9_]*, 1 to {MAX_IDENTIFIER} bytes)")) }
}

fn is_allowable_key(key: &str) -> bool {
    (1..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// An absolute, lexically normal path of a conservative character set.
fn check_path_syntax(value: &str) -> Result<(), String> {
    if !value.starts_with('/') {
        return Err("not an absolute path".into());
    }
    if value.len() > MAX_PATH {
        return Err(format!("longer than {MAX_PATH} bytes"));
    }
    if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._+@-".contains(&b)) {
        return Err("holds a character outside [A-Za-z0-9/._+@-]".into());
    }
    if value == "/" {
        return Ok(());
    }
    if value[1..].split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err("not lexically normal (no `.` or `..` component, no `//`, no trailing `/`)".into());
    }
    Ok(())
}

fn check_route(value: &str) -> Result<(), String> {
    let expected = "not a route (`[METHOD ]/path`, the path of [A-Za-z0-9/._~:@%+{}-])";
    if value.len() > MAX_ROUTE {
        return Err(format!("longer than {MAX_ROUTE} bytes"));
    }
    let path = match value.split_once(' ') {
        Some((method, path)) => {
            if !(1..=16).contains(&method.len()) || !method.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(expected.into());
            }
            path
        }
        None => value,
    };
    let ok = path.starts_with('/') && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._~:@%+{}-".contains(&b));
    if ok { Ok(()) } else { Err(expected.into()) }
}

/// Free text: no control characters, bidi overrides or line separators; at most `max` bytes.
fn check_text(value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!("longer than {max} bytes"));
    }
    if value.chars().any(perfsage_reports::is_unsafe_for_terminal) {
        return Err("holds control characters, bidirectional overrides or line separators".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(declaration: &str) -> ParamType {
        let table: toml::Table = toml::from_str(&format!("p = {declaration}")).unwrap();
        ParamType::parse(&table["p"]).unwrap_or_else(|e| panic!("{declaration}: {e}"))
    }

    fn parse_error(declaration: &str) -> String {
        let table: toml::Table = toml::from_str(&format!("p = {declaration}")).unwrap();
        ParamType::parse(&table["p"]).expect_err(declaration)
    }

    /// Every `good` value passes and every `bad` one fails the check.
    fn accepts(kind: &ParamType, good: &[&str], bad: &[&str]) {
        for value in good {
            assert!(kind.check(value).is_ok(), "{kind} should accept {value:?}: {:?}", kind.check(value));
        }
        for value in bad {
            assert!(kind.check(value).is_err(), "{kind} should refuse {value:?}");
        }
    }

    /// Payloads every strict type refuses.
    const HOSTILE: &[&str] = &[
        "",
        "u[s]r",
        "*",
        "`id`",
        "$(id)",
        "a;b",
        "a\nb",
        "\\! id",
        "--",
        "'",
        "\"",
        "\x1b[2J",
        "\u{430}",
        "ｉｄ",
        "a\u{202e}b",
    ];

    #[test]
    fn identifier() {
        let kind = parse("\"identifier\"");
        let long = "a".repeat(MAX_IDENTIFIER + 1);
        accepts(&kind, &["users", "_x", "A1_b", &"a".repeat(MAX_IDENTIFIER)], &[&long, "1abc", "a.b", "a-b", "a b"]);
        accepts(&kind, &[], HOSTILE);
    }

    #[test]
    fn qualified_identifier() {
        let kind = parse("\"qualified-identifier\"");
        accepts(&kind, &["contacts", "public.contacts"], &["a.b.c", ".a", "a.", "a..b", "public.1x"]);
        accepts(&kind, &[], HOSTILE);
    }

    #[test]
    fn identifier_list() {
        let kind = parse("\"identifier-list\"");
        let many = vec!["c"; MAX_LIST_ITEMS + 1].iter().enumerate().map(|(i, c)| format!("{c}{i}")).collect::<Vec<_>>();
        accepts(
            &kind,
            &["email", "account_id,email"],
            &["a, b", "a,", ",a", "a,,b", "a,a", &many.join(","), "u[s`\\! id>/tmp/x #]r"],
        );
        accepts(&kind, &[], HOSTILE);
    }

    #[test]
    fn integer() {
        let kind = parse("{ type = \"integer\", min = -20, max = 19 }");
        accepts(
            &kind,
            &["-20", "0", "10", "19"],
            &["20", "-21", "+1", "010", "-0", "1.5", "1e3", " 1", "99999999999999999999"],
        );
        accepts(&kind, &[], HOSTILE);
        assert!(parse_error("{ type = \"integer\", min = 2, max = 1 }").contains("above `max`"));
        assert!(parse_error("{ type = \"integer\", min = 1 }").contains("needs `max`"));
        assert!(parse_error("\"integer\"").contains("needs `min`"));
    }

    #[test]
    fn key() {
        let kind = parse("{ type = \"key\", allow = [\"vm.swappiness\", \"net.core.netdev_max_backlog\"] }");
        accepts(&kind, &["vm.swappiness"], &["kernel.core_pattern", "vm.swappiness ", "VM.swappiness", "vm"]);
        accepts(&kind, &[], HOSTILE);
        let none = parse("{ type = \"key\", allow = [] }");
        assert!(none.check("vm.swappiness").unwrap_err().contains("allows no key"));
        assert!(parse_error("{ type = \"key\", allow = [\"a b\"] }").contains("is not a key"));
        assert!(parse_error("{ type = \"key\" }").contains("needs `allow`"));
    }

    #[test]
    fn path() {
        let kind = parse("{ type = \"path\", roots = [\"/tmp\", \"/var/tmp\"] }");
        accepts(
            &kind,
            &["/tmp", "/tmp/app", "/var/tmp/a-b_c.d"],
            &[
                "/",
                "/var",
                "/tmpx",
                "/etc",
                "tmp",
                "/tmp/",
                "/tmp//x",
                "/tmp/../etc",
                "/tmp/./x",
                "/tmp/a b",
                "/tmp/$(id)",
                "/tmp/*",
            ],
        );
        accepts(&kind, &[], HOSTILE);
        let above = parse("{ type = \"path\", roots = [\"/var/tmp\"], ancestors = true }");
        accepts(&above, &["/", "/var", "/var/tmp", "/var/tmp/x"], &["/var/lib", "/etc", "/va"]);
        accepts(&above, &[], HOSTILE);
        let long = format!("/tmp/{}", "a".repeat(MAX_PATH));
        assert!(kind.check(&long).unwrap_err().contains("longer than"));
        assert!(parse_error("{ type = \"path\", roots = [] }").contains("at least one"));
        assert!(parse_error("{ type = \"path\", roots = [\"/tmp/\"] }").contains("not a normal absolute path"));
        assert!(parse_error("{ type = \"path\", roots = [\"/tmp\"], ancestors = 1 }").contains("true or false"));
    }

    #[test]
    fn enumeration() {
        let kind = parse("{ type = \"enum\", values = [\"10\", \"bbr\"] }");
        accepts(&kind, &["10", "bbr"], &["11", "BBR", "bbr "]);
        accepts(&kind, &[], HOSTILE);
        assert!(parse_error("{ type = \"enum\", values = [] }").contains("at least one"));
        assert!(parse_error("{ type = \"enum\", values = [\"a\\u001b\"] }").contains("control characters"));
    }

    #[test]
    fn label() {
        let kind = parse("\"label\"");
        accepts(
            &kind,
            &["web", "api-server", "php8.2-fpm", "A_1"],
            &["-web", ".x", "a b", "a/b", &"a".repeat(MAX_LABEL + 1)],
        );
        accepts(&kind, &[], HOSTILE);
    }

    #[test]
    fn route() {
        let kind = parse("\"route\"");
        accepts(
            &kind,
            &["/", "GET /api/contacts/:id", "POST /v1/{id}/x%20y", "/static/app.js"],
            &[
                "get /x",
                "GET  /x",
                "GET x",
                "GET /a b",
                "GET /a?b=1",
                "GET /a;b",
                "/a*",
                "GET /api/:id $(touch y)",
                "TOOLONGMETHODNAMEX /",
            ],
        );
        accepts(&kind, &[], HOSTILE);
    }

    #[test]
    fn text() {
        let kind = parse("\"text\"");
        accepts(
            &kind,
            &["", "in flight", "$(id) `id` ; ' \" * \\!", "Привет ｉｄ", &"x".repeat(DEFAULT_TEXT_MAX)],
            &[
                "a\nb",
                "a\tb",
                "\x1b[2J",
                "\u{7f}",
                "\u{85}",
                "a\u{202e}b",
                "\u{2066}",
                "\u{2028}",
                &"x".repeat(DEFAULT_TEXT_MAX + 1),
            ],
        );
        let long = parse("{ type = \"text\", max = 4096 }");
        accepts(&long, &[&"x".repeat(4096)], &[&"x".repeat(4097)]);
        assert!(parse_error("{ type = \"text\", max = 5000 }").contains("1..=4096"));
    }

    #[test]
    fn declarations_are_checked_and_name_the_hook_and_key() {
        let table = |text: &str| -> toml::Table { toml::from_str(text).unwrap() };
        let err = |text: &str| parse_declarations("h", &table(text)).unwrap_err();
        assert!(err("cols = \"list\"").starts_with("hooks.h.params.cols: unknown type `list`"));
        assert!(err("n = { type = \"label\", max = 3 }").contains("hooks.h.params.n: `label` takes no option `max`"));
        assert!(err("n = 3").contains("hooks.h.params.n: expected a type name"));
        assert!(err("n = { max = 3 }").contains("needs `type`"));
        assert!(err("\"a-b\" = \"text\"").contains("hooks.h.params.a-b: a parameter name must be"));
        assert!(err("dir = \"text\"\nDIR = \"text\"").contains("same name in upper case"));
        let ok =
            parse_declarations("h", &table("pid = { type = \"integer\", min = 1, max = 9 }\nnote = \"text\"")).unwrap();
        assert_eq!(ok["pid"], ParamType::Integer { min: 1, max: 9 });
        assert_eq!(ok["note"].to_string(), "text, at most 256 bytes");
    }

    #[test]
    fn actions_must_match_the_declaration_exactly() {
        let declared: Declared = BTreeMap::from([
            ("pid".to_string(), ParamType::Integer { min: 1, max: 4_194_304 }),
            ("note".to_string(), ParamType::Text { max: 16 }),
        ]);
        let params = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert!(check_params(Some(&declared), &params(&[("pid", "42"), ("note", "hi")])).is_ok());
        let err = check_params(Some(&declared), &params(&[("pid", "0"), ("extra", "1")])).unwrap_err();
        assert!(err.contains("parameter `pid` = \"0\": out of range 1..=4194304"), "{err}");
        assert!(err.contains("parameter `extra` is not declared"), "{err}");
        assert!(err.contains("parameter `note` is missing"), "{err}");
        let err = check_params(Some(&declared), &params(&[("pid", "1\x1b[2J"), ("note", "a\u{202e}b")])).unwrap_err();
        assert!(!err.contains('\x1b') && !err.contains('\u{202e}'), "never echoes raw control characters: {err}");
        assert!(err.contains("\\x1b[2J") && err.contains("\\u{202e}"), "{err}");
        // No declaration: only parameter-free actions pass.
        assert!(check_params(None, &[]).is_ok());
        assert!(check_params(None, &params(&[("pid", "1")])).unwrap_err().contains("declares no parameters"));
        // An oversized value is cut in the message.
        let err = check_params(Some(&declared), &params(&[("pid", &"9".repeat(5000)), ("note", "")])).unwrap_err();
        assert!(err.len() < 400, "{err}");
    }
}
