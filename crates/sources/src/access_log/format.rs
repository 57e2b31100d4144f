//! Line formats: nginx `log_format` templates (the combined format is one of
//! them) and JSON lines, parsed without allocation on the hot path.
//!
//! A template is compiled once into literals and fields. Matching walks the
//! line: a literal must be there; a field runs up to the first byte of the
//! next literal (skipping `\"` inside quotes, which Apache writes), or to the
//! end of the line. Only the fields perfsage needs are decoded (time,
//! request or method and URI, status, request and upstream times); the rest
//! are skipped. The combined format's trailing `$request_time
//! $upstream_response_time` may be absent, so plain combined logs parse too
//! (their requests count, without latency).

use std::borrow::Cow;

use serde::Deserialize;

/// nginx's `combined` format extended with the request and upstream times.
pub const COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \
\"$http_referer\" \"$http_user_agent\" $request_time $upstream_response_time";

/// One parsed line, borrowing from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// Unix milliseconds, where the format has a time.
    pub time_ms: Option<i64>,
    pub method: Cow<'a, [u8]>,
    pub target: Cow<'a, [u8]>,
    pub status: u16,
    /// `$request_time` in microseconds.
    pub request_us: Option<u64>,
    /// `$upstream_response_time` in microseconds (summed over retried upstreams).
    pub upstream_us: Option<u64>,
}

/// Why a line did not parse.
pub type LineError = &'static str;

/// Why a format string was refused.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("log format {format:?}: fields ${first} and ${second} touch; nothing separates them")]
    AdjacentFields { format: String, first: String, second: String },
    #[error("log format {format:?} has no $status")]
    NoStatus { format: String },
    #[error("log format {format:?} has neither $request nor $request_uri/$uri")]
    NoRequest { format: String },
}

/// How the lines of a log are laid out.
#[derive(Debug, Clone)]
pub enum LogFormat {
    Template(Template),
    JsonLines,
}

impl LogFormat {
    /// `combined`, `json`, or an nginx `log_format` string.
    pub fn parse(spec: &str) -> Result<Self, FormatError> {
        match spec.trim() {
            "combined" => Template::compile(COMBINED).map(LogFormat::Template),
            "json" => Ok(LogFormat::JsonLines),
            other => Template::compile(other).map(LogFormat::Template),
        }
    }

    pub fn parse_line<'a>(&self, line: &'a [u8], clock: &mut MinuteClock) -> Result<Record<'a>, LineError> {
        match self {
            LogFormat::Template(t) => t.parse_line(line, clock),
            LogFormat::JsonLines => parse_json_line(line, clock),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    TimeLocal,
    TimeIso8601,
    Msec,
    Request,
    Method,
    Uri,
    Status,
    RequestTime,
    UpstreamTime,
    Other,
}

impl Field {
    fn named(name: &str) -> Field {
        match name {
            "time_local" => Field::TimeLocal,
            "time_iso8601" => Field::TimeIso8601,
            "msec" => Field::Msec,
            "request" => Field::Request,
            "request_method" => Field::Method,
            "request_uri" | "uri" => Field::Uri,
            "status" => Field::Status,
            "request_time" => Field::RequestTime,
            "upstream_response_time" => Field::UpstreamTime,
            _ => Field::Other,
        }
    }

    /// Fields a line may lack at its end (plain combined logs have no times).
    fn optional(self) -> bool {
        matches!(self, Field::RequestTime | Field::UpstreamTime)
    }
}

#[derive(Debug, Clone)]
enum Token {
    Literal(Vec<u8>),
    Field(Field),
}

/// A compiled nginx `log_format`.
#[derive(Debug, Clone)]
pub struct Template {
    tokens: Vec<Token>,
    /// A line may end once this many tokens matched: the rest are optional
    /// fields and the blanks between them.
    required: usize,
}

impl Template {
    pub fn compile(format: &str) -> Result<Self, FormatError> {
        let bytes = format.as_bytes();
        let mut tokens: Vec<Token> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut literal = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let braced = bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{');
            let start = if braced { i + 2 } else { i + 1 };
            let len =
                bytes[start.min(bytes.len())..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
            if bytes[i] != b'$' || len == 0 {
                literal.push(bytes[i]);
                i += 1;
                continue;
            }
            let name = &format[start..start + len];
            if literal.is_empty() {
                if let (Some(Token::Field(_)), Some(previous)) = (tokens.last(), names.last()) {
                    return Err(FormatError::AdjacentFields {
                        format: format.into(),
                        first: previous.clone(),
                        second: name.into(),
                    });
                }
            } else {
                tokens.push(Token::Literal(std::mem::take(&mut literal)));
            }
            tokens.push(Token::Field(Field::named(name)));
            names.push(name.into());
            i = start + len + usize::from(braced && bytes.get(start + len) == Some(&b'}'));
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        let has = |f: Field| tokens.iter().any(|t| matches!(t, Token::Field(x) if *x == f));
        if !has(Field::Status) {
            return Err(FormatError::NoStatus { format: format.into() });
        }
        if !has(Field::Request) && !has(Field::Uri) {
            return Err(FormatError::NoRequest { format: format.into() });
        }
        let required = tokens
            .iter()
            .rposition(|t| match t {
                Token::Field(f) => !f.optional(),
                Token::Literal(l) => !l.iter().all(u8::is_ascii_whitespace),
            })
            .map_or(0, |i| i + 1);
        Ok(Template { tokens, required })
    }

    fn parse_line<'a>(&self, line: &'a [u8], clock: &mut MinuteClock) -> Result<Record<'a>, LineError> {
        let mut record = Record {
            time_ms: None,
            method: Cow::Borrowed(b"-"),
            target: Cow::Borrowed(b"/"),
            status: 0,
            request_us: None,
            upstream_us: None,
        };
        let mut has_status = false;
        let mut pos = 0;
        for (i, token) in self.tokens.iter().enumerate() {
            if pos >= line.len() && i >= self.required {
                break;
            }
            match token {
                Token::Literal(l) => {
                    let rest = &line[pos..];
                    if !rest.starts_with(l) {
                        // The line may end inside the last required literal when only
                        // blanks and optional fields would follow (`..." ` + times).
                        let ends_here = i + 1 >= self.required
                            && l.starts_with(rest)
                            && l[rest.len()..].iter().all(u8::is_ascii_whitespace);
                        if ends_here {
                            break;
                        }
                        return Err("the line does not match the log format");
                    }
                    pos += l.len();
                }
                Token::Field(field) => {
                    let rest = &line[pos..];
                    let end = match self.tokens.get(i + 1) {
                        Some(Token::Literal(next)) => field_end(rest, next[0], pos > 0 && line[pos - 1] == b'"')
                            .ok_or("a field runs off the line")?,
                        _ => rest.len(),
                    };
                    let value = &rest[..end];
                    pos += end;
                    match field {
                        Field::TimeLocal => record.time_ms = Some(clock.time_local(value)?),
                        Field::TimeIso8601 => record.time_ms = Some(clock.iso8601(value)?),
                        Field::Msec => record.time_ms = Some(epoch_ms(value)?),
                        Field::Request => {
                            let (method, target) = split_request(value)?;
                            record.method = Cow::Borrowed(method);
                            record.target = Cow::Borrowed(target);
                        }
                        Field::Method => record.method = Cow::Borrowed(value),
                        Field::Uri => record.target = Cow::Borrowed(value),
                        Field::Status => {
                            record.status = parse_status(value)?;
                            has_status = true;
                        }
                        Field::RequestTime => record.request_us = seconds_us(value)?,
                        Field::UpstreamTime => record.upstream_us = upstream_us(value)?,
                        Field::Other => {}
                    }
                }
            }
        }
        if !has_status {
            return Err("the line ends before its status");
        }
        Ok(record)
    }
}

/// Where a field ends: at the next `stop` byte; inside quotes, an escaped `\"` does not end it.
fn field_end(rest: &[u8], stop: u8, quoted: bool) -> Option<usize> {
    let mut from = 0;
    loop {
        let at = from + memchr::memchr(stop, &rest[from..])?;
        if quoted && stop == b'"' && at > 0 && rest[at - 1] == b'\\' {
            from = at + 1;
            continue;
        }
        return Some(at);
    }
}

/// `GET /path HTTP/1.1` → (`GET`, `/path`).
fn split_request(request: &[u8]) -> Result<(&[u8], &[u8]), LineError> {
    let space = memchr::memchr(b' ', request).ok_or("the request is not `METHOD TARGET PROTOCOL`")?;
    let rest = &request[space + 1..];
    let target = match memchr::memrchr(b' ', rest) {
        Some(end) => &rest[..end],
        None => rest, // HTTP/0.9: no protocol
    };
    if space == 0 || target.is_empty() {
        return Err("the request is not `METHOD TARGET PROTOCOL`");
    }
    Ok((&request[..space], target))
}

fn parse_status(value: &[u8]) -> Result<u16, LineError> {
    match value {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err("the status is not three digits"),
    }
}

/// `0.123` seconds → 123000 µs; `-` → none.
fn seconds_us(value: &[u8]) -> Result<Option<u64>, LineError> {
    if value == b"-" || value.is_empty() {
        return Ok(None);
    }
    let (whole, fraction) = match memchr::memchr(b'.', value) {
        Some(dot) => (&value[..dot], &value[dot + 1..]),
        None => (value, &b""[..]),
    };
    if whole.is_empty() && fraction.is_empty() {
        return Err("a time is not a number of seconds");
    }
    let mut us: u64 = 0;
    for b in whole {
        if !b.is_ascii_digit() {
            return Err("a time is not a number of seconds");
        }
        us = us.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    us = us.saturating_mul(1_000_000);
    let mut scale = 100_000;
    for b in fraction {
        if !b.is_ascii_digit() {
            return Err("a time is not a number of seconds");
        }
        // `999999…9.9` would pass u64::MAX: saturate, never wrap or panic.
        us = us.saturating_add(u64::from(b - b'0') * scale);
        scale /= 10;
    }
    Ok(Some(us))
}

/// `$upstream_response_time`: one time per upstream tried, separated by `, `
/// (next upstream) or ` : ` (internal redirect); their sum is the time upstream.
fn upstream_us(value: &[u8]) -> Result<Option<u64>, LineError> {
    if memchr::memchr2(b',', b':', value).is_none() {
        return seconds_us(value);
    }
    let mut total = None;
    for part in value.split(|b| *b == b',' || *b == b':') {
        if let Some(us) = seconds_us(part.trim_ascii())? {
            total = Some(total.unwrap_or(0u64).saturating_add(us));
        }
    }
    Ok(total)
}

/// `1700000000.123` → unix ms.
fn epoch_ms(value: &[u8]) -> Result<i64, LineError> {
    seconds_us(value)?.map(|us| (us / 1000) as i64).ok_or("the time is missing")
}

/// Caches the last minute it decoded: log lines come in time order, so most
/// lines share their date, hour and minute with the line before.
#[derive(Debug, Default, Clone)]
pub struct MinuteClock {
    key: Vec<u8>,
    minute_ms: i64,
}

impl MinuteClock {
    /// `10/Oct/2000:13:55:36 -0700` → unix ms.
    pub fn time_local(&mut self, value: &[u8]) -> Result<i64, LineError> {
        const BAD: LineError = "the time is not `dd/Mon/yyyy:HH:MM:SS +zzzz`";
        if value.len() != 26 || value[2] != b'/' || value[6] != b'/' || value[11] != b':' || value[20] != b' ' {
            return Err(BAD);
        }
        // The minute's key: everything but the seconds.
        let seconds = digits(&value[18..20]).ok_or(BAD)?;
        if self.key.len() != 23 || self.key[..17] != value[..17] || self.key[17..] != value[20..] {
            let day = digits(&value[0..2]).ok_or(BAD)?;
            let month = month(&value[3..6]).ok_or(BAD)?;
            let year = digits(&value[7..11]).ok_or(BAD)?;
            let hour = digits(&value[12..14]).ok_or(BAD)?;
            let minute = digits(&value[15..17]).ok_or(BAD)?;
            let offset = zone_offset_min(&value[21..]).ok_or(BAD)?;
            self.minute_ms = minute_ms(year, month, day, hour, minute, offset).ok_or(BAD)?;
            self.key.clear();
            self.key.extend_from_slice(&value[..17]);
            self.key.extend_from_slice(&value[20..]);
        }
        Ok(self.minute_ms + seconds * 1000)
    }

    /// `2000-10-10T13:55:36-07:00` (or `Z`, optional fraction) → unix ms.
    pub fn iso8601(&mut self, value: &[u8]) -> Result<i64, LineError> {
        const BAD: LineError = "the time is not ISO 8601 `yyyy-mm-ddTHH:MM:SS±hh:mm`";
        if value.len() < 20 || value[4] != b'-' || value[7] != b'-' || value[10] != b'T' || value[13] != b':' {
            return Err(BAD);
        }
        let year = digits(&value[0..4]).ok_or(BAD)?;
        let month = digits(&value[5..7]).ok_or(BAD)?;
        let day = digits(&value[8..10]).ok_or(BAD)?;
        let hour = digits(&value[11..13]).ok_or(BAD)?;
        let minute = digits(&value[14..16]).ok_or(BAD)?;
        let seconds = digits(&value[17..19]).ok_or(BAD)?;
        let mut rest = &value[19..];
        let mut millis = 0;
        if rest.first() == Some(&b'.') {
            let n = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            let frac = &rest[1..1 + n];
            for (i, b) in frac.iter().take(3).enumerate() {
                millis += i64::from(b - b'0') * [100, 10, 1][i];
            }
            rest = &rest[1 + n..];
        }
        let offset = match rest {
            b"Z" => 0,
            [sign, h1, h2, b':', m1, m2] => zone_offset_min(&[*sign, *h1, *h2, *m1, *m2]).ok_or(BAD)?,
            _ => zone_offset_min(rest).ok_or(BAD)?,
        };
        let minute_ms = minute_ms(year, month, day, hour, minute, offset).ok_or(BAD)?;
        Ok(minute_ms + seconds * 1000 + millis)
    }
}

fn digits(value: &[u8]) -> Option<i64> {
    value.iter().try_fold(0i64, |n, b| b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0')))
}

fn month(name: &[u8]) -> Option<i64> {
    const MONTHS: [&[u8; 3]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    MONTHS.iter().position(|m| m[..] == *name).map(|i| i as i64 + 1)
}

/// `+0130` → 90 minutes east of UTC.
fn zone_offset_min(zone: &[u8]) -> Option<i64> {
    let (sign, rest) = match zone {
        [b'+', rest @ ..] => (1, rest),
        [b'-', rest @ ..] => (-1, rest),
        _ => return None,
    };
    if rest.len() != 4 {
        return None;
    }
    Some(sign * (digits(&rest[..2])? * 60 + digits(&rest[2..])?))
}

/// The unix ms of a local date and minute with its UTC offset.
fn minute_ms(year: i64, month: i64, day: i64, hour: i64, minute: i64, offset_min: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute - offset_min) * 60_000)
}

/// One JSON log line. nginx's `escape=json` writes every value as a string;
/// other shippers write numbers: both are accepted.
#[derive(Debug, Deserialize)]
struct JsonLine<'a> {
    #[serde(borrow, alias = "time_local", alias = "time_iso8601", alias = "timestamp", alias = "@timestamp")]
    time: Option<Scalar<'a>>,
    #[serde(borrow)]
    msec: Option<Scalar<'a>>,
    #[serde(borrow)]
    request: Option<Cow<'a, str>>,
    #[serde(borrow, alias = "request_method")]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, alias = "request_uri", alias = "path", alias = "url")]
    uri: Option<Cow<'a, str>>,
    #[serde(borrow)]
    status: Option<Scalar<'a>>,
    #[serde(borrow)]
    request_time: Option<Scalar<'a>>,
    #[serde(borrow)]
    upstream_response_time: Option<Scalar<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar<'a> {
    Number(f64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

impl Scalar<'_> {
    fn text(&self) -> Cow<'_, [u8]> {
        match self {
            Scalar::Number(n) => Cow::Owned(n.to_string().into_bytes()),
            Scalar::Text(t) => Cow::Borrowed(t.as_bytes()),
        }
    }
}

fn parse_json_line<'a>(line: &'a [u8], clock: &mut MinuteClock) -> Result<Record<'a>, LineError> {
    let json: JsonLine<'a> = serde_json::from_slice(line).map_err(|_| "not a JSON object with log fields")?;
    let time_ms = match (&json.time, &json.msec) {
        (_, Some(msec)) => Some(epoch_ms(&msec.text())?),
        // `as` saturates: a time of 1e300 s is i64::MAX ms, not a panic.
        (Some(Scalar::Number(seconds)), None) => Some((seconds * 1000.0) as i64),
        (Some(Scalar::Text(t)), None) => {
            let t = t.as_bytes();
            Some(if t.get(10) == Some(&b'T') { clock.iso8601(t)? } else { clock.time_local(t)? })
        }
        (None, None) => None,
    };
    let status = parse_status(&json.status.as_ref().ok_or("the line has no status")?.text())?;
    let (method, target): (Cow<'a, [u8]>, Cow<'a, [u8]>) = match (json.request, json.method, json.uri) {
        (_, Some(method), Some(uri)) => (cow_bytes(method), cow_bytes(uri)),
        (Some(Cow::Borrowed(request)), _, _) => {
            let (m, t) = split_request(request.as_bytes())?;
            (Cow::Borrowed(m), Cow::Borrowed(t))
        }
        (Some(Cow::Owned(request)), _, _) => {
            let (m, t) = split_request(request.as_bytes())?;
            (Cow::Owned(m.to_vec()), Cow::Owned(t.to_vec()))
        }
        _ => return Err("the line has neither request nor method and uri"),
    };
    let request_us = json.request_time.as_ref().map(|v| seconds_us(&v.text())).transpose()?.flatten();
    let upstream_us = json.upstream_response_time.as_ref().map(|v| upstream_us(&v.text())).transpose()?.flatten();
    Ok(Record { time_ms, method, target, status, request_us, upstream_us })
}

fn cow_bytes(s: Cow<'_, str>) -> Cow<'_, [u8]> {
    match s {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUMS: [&str; 22] = [
        "0",
        "-0",
        "-1",
        "1e308",
        "-1e308",
        "1e309",
        "NaN",
        "nan",
        "+Inf",
        "-Inf",
        "inf",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999.999999999",
        "9223372036854775808",
        "-9223372036854775809",
        "0.0000000000000000001",
        ".",
        "",
        "-",
        "1.2.3",
        "٣",
    ];

    const LINE: &str = r#"10.0.0.7 - - [10/Oct/2024:13:55:36 +0200] "GET /api/contacts/42?x=1 HTTP/1.1" 200 512 "-" "Mozilla/5.0 (X11) \"quoted\"" 0.123 0.120"#;

    fn parse(format: &str, line: &str) -> Result<Record<'static>, LineError> {
        let line: &'static str = Box::leak(line.to_owned().into_boxed_str());
        LogFormat::parse(format).unwrap().parse_line(line.as_bytes(), &mut MinuteClock::default())
    }

    #[test]
    fn combined_with_times() {
        let r = parse("combined", LINE).unwrap();
        assert_eq!(r.method.as_ref(), b"GET");
        assert_eq!(r.target.as_ref(), b"/api/contacts/42?x=1");
        assert_eq!(r.status, 200);
        assert_eq!(r.request_us, Some(123_000));
        assert_eq!(r.upstream_us, Some(120_000));
        // 2024-10-10T11:55:36Z
        assert_eq!(r.time_ms, Some(1_728_561_336_000));
    }

    #[test]
    fn plain_combined_has_no_times_and_upstream_lists_sum() {
        let plain = LINE.rsplitn(3, ' ').last().unwrap();
        let r = parse("combined", plain).unwrap();
        assert_eq!((r.status, r.request_us, r.upstream_us), (200, None, None));
        let retried = LINE.replace(" 0.120", " 0.050, 0.070 : -");
        assert_eq!(parse("combined", &retried).unwrap().upstream_us, Some(120_000));
        let no_upstream = LINE.replace(" 0.120", " -");
        assert_eq!(parse("combined", &no_upstream).unwrap().upstream_us, None);
    }

    #[test]
    fn custom_log_format() {
        let format = "$time_iso8601|$request_method|$uri|$status|${request_time}s";
        let r = parse(format, "2024-10-10T11:55:36+00:00|POST|/api/deals|502|1.5s").unwrap();
        assert_eq!((r.method.as_ref(), r.target.as_ref(), r.status), (&b"POST"[..], &b"/api/deals"[..], 502));
        assert_eq!((r.request_us, r.time_ms), (Some(1_500_000), Some(1_728_561_336_000)));
    }

    #[test]
    fn json_lines_with_strings_or_numbers() {
        let r = parse(
            "json",
            r#"{"time_iso8601":"2024-10-10T11:55:36Z","request":"GET /a/1 HTTP/1.1","status":"404","request_time":"0.004","upstream_response_time":""}"#,
        )
        .unwrap();
        assert_eq!((r.status, r.request_us, r.upstream_us), (404, Some(4000), None));
        let r = parse("json", r#"{"msec":1728561336.5,"method":"GET","uri":"/a","status":200,"request_time":0.25}"#)
            .unwrap();
        assert_eq!((r.time_ms, r.request_us), (Some(1_728_561_336_500), Some(250_000)));
    }

    #[test]
    fn corrupt_lines_say_why() {
        assert!(parse("combined", "garbage").is_err());
        assert!(parse("combined", &LINE.replace(" 200 ", " OK ")).is_err());
        assert!(parse("combined", &LINE.replace("Oct", "Foo")).is_err());
        assert!(parse("combined", &LINE.replace("0.123", "fast")).is_err());
        assert!(parse("json", "{not json").is_err());
        assert!(parse("json", r#"{"status":"200"}"#).is_err());
    }

    proptest::proptest! {
        /// Lines of every format with extreme numbers and long fields in
        /// every numeric place: parsed or refused, never a panic (debug build:
        /// overflow checks on).
        #[test]
        fn extreme_numbers_never_panic(
            n in proptest::collection::vec(proptest::sample::select(NUMS.to_vec()), 6),
            long in 0usize..70_000,
        ) {
            let path = format!("/{}", "a".repeat(long));
            let lines = [
                format!("1.2.3.4 - - [10/Oct/2024:13:55:36 +0200] \"GET {path} HTTP/1.1\" {} {} \"-\" \"-\" {} {}, {} : {}", n[0], n[1], n[2], n[3], n[4], n[5]),
                format!("{{\"time\":{},\"msec\":\"{}\",\"request\":\"GET {path} HTTP/1.1\",\"status\":\"{}\",\"request_time\":\"{}\",\"upstream_response_time\":\"{}\"}}", n[0].parse::<f64>().ok().filter(|f| f.is_finite()).unwrap_or(1.0), n[1], n[2], n[3], n[4]),
                format!("{{\"time\":{},\"request\":\"GET / HTTP/1.1\",\"status\":{},\"request_time\":{}}}", n[0], n[1], n[2]),
            ];
            for (format, line) in [("combined", &lines[0]), ("json", &lines[1]), ("json", &lines[2]),
                ("$msec|$request_method|$uri|$status|$request_time", &format!("{}|GET|{path}|{}|{}", n[0], n[1], n[2]))] {
                let _ = LogFormat::parse(format).unwrap().parse_line(line.as_bytes(), &mut MinuteClock::default());
            }
        }
    }

    #[test]
    fn bad_formats_are_refused() {
        assert!(matches!(LogFormat::parse("$status$request"), Err(FormatError::AdjacentFields { .. })));
        assert!(matches!(LogFormat::parse("$request"), Err(FormatError::NoStatus { .. })));
        assert!(matches!(LogFormat::parse("$status"), Err(FormatError::NoRequest { .. })));
    }
}
