//! A parser for the Prometheus text exposition format (0.0.4) and OpenMetrics 1.0.
//!
//! # Why our own
//!
//! The crates that parse expositions either pull in a whole client library,
//! handle only one of the two formats, or panic on some malformed inputs. An
//! advisor reads whatever a `/metrics` endpoint serves, so this parser is
//! small, total (it returns an error with a line number for anything it does
//! not accept and never panics, which a property test holds it to) and keeps
//! exactly what the mapping needs: samples with their labels, values and
//! timestamps, grouped into families with their type, help and unit.
//!
//! # The two formats
//!
//! Both are line based: `# HELP`, `# TYPE` (and in OpenMetrics `# UNIT`)
//! metadata lines, and sample lines
//! `name{label="value",...} value [timestamp]`. They differ in a few places,
//! and [`Format`] decides which rules apply:
//!
//! - timestamps are integer milliseconds in the text format, float seconds in
//!   OpenMetrics (both are stored as milliseconds);
//! - OpenMetrics ends with `# EOF` and nothing may follow; samples may carry an
//!   exemplar (` # {labels} value [timestamp]`); other `#` lines are errors
//!   there, comments in the text format; blank lines are errors there, ignored
//!   in the text format;
//! - a family's samples are its name plus a suffix its type allows
//!   (`_bucket`, `_count`, `_sum`, `_created`, `_total`, `_info`, `_gcount`,
//!   `_gsum`); samples outside any declared family form an untyped family of
//!   their own.
//!
//! [`Format::detect`] picks OpenMetrics when the content type says so or the
//! text ends with `# EOF`.
//!
//! # Bounded work on hostile input
//!
//! A scrape reads at most [`MAX_BODY_BYTES`] (16 MiB; node_exporter serves
//! about 100 KB, a large application a few MB) and keeps at most
//! [`MAX_SAMPLES`] samples (each costs a few hundred bytes parsed). Every
//! check is linear in the line's length (duplicate labels included), so
//! parsing takes time proportional to the body, well under a scrape's
//! timeout (see BENCHMARKS.md). Values are floats (NaN and ±Inf included, as
//! the format allows); consumers must not assume them finite.

use std::collections::{HashMap, HashSet};
use std::fmt;

/// The largest exposition read (over HTTP or from a file): 16 MiB.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The most samples one exposition may hold.
pub const MAX_SAMPLES: usize = 500_000;

/// Which grammar to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The classic Prometheus text format, version 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the HTTP content type names it, or (without one) when
    /// the body's last line is `# EOF`; the classic text format otherwise.
    pub fn detect(content_type: Option<&str>, body: &[u8]) -> Format {
        if let Some(content_type) = content_type {
            return if content_type.to_ascii_lowercase().contains("openmetrics") {
                Format::OpenMetrics
            } else {
                Format::Text
            };
        }
        let trimmed = body.strip_suffix(b"\n").unwrap_or(body);
        if trimmed.ends_with(b"# EOF") && (trimmed.len() == 5 || trimmed[..trimmed.len() - 5].ends_with(b"\n")) {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// A metric family's declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    StateSet,
    Info,
    Unknown,
}

impl MetricType {
    fn parse(word: &str, format: Format) -> Option<MetricType> {
        Some(match (word, format) {
            ("counter", _) => MetricType::Counter,
            ("gauge", _) => MetricType::Gauge,
            ("histogram", _) => MetricType::Histogram,
            ("summary", _) => MetricType::Summary,
            ("untyped", Format::Text) | ("unknown", Format::OpenMetrics) => MetricType::Unknown,
            ("gaugehistogram", Format::OpenMetrics) => MetricType::GaugeHistogram,
            ("stateset", Format::OpenMetrics) => MetricType::StateSet,
            ("info", Format::OpenMetrics) => MetricType::Info,
            _ => return None,
        })
    }

    /// The sample-name suffixes a family of this type owns besides its bare name.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
            MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
            MetricType::Summary => &["_count", "_sum", "_created"],
            MetricType::Info => &["_info"],
            MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => &[],
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The full sample name, suffix included (`http_request_duration_seconds_bucket`).
    pub name: String,
    /// In the order written; names are unique within a sample.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Unix milliseconds, when the line carries a timestamp.
    pub timestamp_ms: Option<i64>,
    pub exemplar: Option<Exemplar>,
}

impl Sample {
    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// An OpenMetrics exemplar: a sampled trace attached to a counter or bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// A metric family: its metadata and its samples in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: MetricType,
    pub help: Option<String>,
    pub unit: Option<String>,
    pub samples: Vec<Sample>,
}

/// A parsed exposition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition {
    pub families: Vec<Family>,
}

impl Exposition {
    /// Every sample whose full name is `name`, in input order.
    pub fn samples<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.families.iter().flat_map(|f| &f.samples).filter(move |s| s.name == name)
    }

    /// The family called `name`, if any.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// How many samples in all.
    pub fn sample_count(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }
}

/// Why an exposition was refused: the 1-based line and what was wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parse a whole exposition.
pub fn parse(input: &[u8], format: Format) -> Result<Exposition, ParseError> {
    let mut parser = Parser { format, families: Vec::new(), index: HashMap::new(), seen_series: HashSet::new() };
    let mut lines = input.split(|b| *b == b'\n').enumerate().peekable();
    let mut saw_eof = false;
    while let Some((number, raw)) = lines.next() {
        let line_number = number + 1;
        let error = |message: String| ParseError { line: line_number, message };
        // The final newline leaves one empty piece behind; it is not a line.
        if raw.is_empty() && lines.peek().is_none() {
            break;
        }
        if saw_eof {
            return Err(error("nothing may follow `# EOF`".into()));
        }
        let line = std::str::from_utf8(raw).map_err(|e| error(format!("not UTF-8 (byte {})", e.valid_up_to() + 1)))?;
        let line = if format == Format::Text { line.strip_suffix('\r').unwrap_or(line) } else { line };
        if format == Format::OpenMetrics && line == "# EOF" {
            saw_eof = true;
            continue;
        }
        parser.line(line).map_err(error)?;
    }
    if format == Format::OpenMetrics && !saw_eof {
        let last = input.split(|b| *b == b'\n').count().max(1);
        return Err(ParseError { line: last, message: "OpenMetrics must end with `# EOF`".into() });
    }
    Ok(Exposition { families: parser.families })
}

/// A sample's identity: name, sorted labels, timestamp.
type SeriesPoint = (String, Vec<(String, String)>, Option<i64>);

struct Parser {
    format: Format,
    families: Vec<Family>,
    /// Family name to its position in `families`.
    index: HashMap<String, usize>,
    /// Name, sorted labels and timestamp of every sample so far: a repeat is an
    /// error (one series may carry several points with different timestamps).
    seen_series: HashSet<SeriesPoint>,
}

impl Parser {
    fn line(&mut self, line: &str) -> Result<(), String> {
        if line.trim().is_empty() {
            return match self.format {
                Format::Text => Ok(()),
                Format::OpenMetrics => Err("blank lines are not allowed in OpenMetrics".into()),
            };
        }
        if let Some(rest) = line.strip_prefix('#') {
            return self.metadata(rest);
        }
        self.sample(line)
    }

    /// A `#` line: HELP, TYPE, UNIT, or (text format only) a comment.
    fn metadata(&mut self, rest: &str) -> Result<(), String> {
        let format = self.format;
        let om = format == Format::OpenMetrics;
        let rest = if om {
            rest.strip_prefix(' ').ok_or("expected a space after `#`")?
        } else {
            rest.trim_start_matches([' ', '\t'])
        };
        let (keyword, rest) = split_word(rest);
        if !matches!(keyword, "HELP" | "TYPE" | "UNIT") || (keyword == "UNIT" && !om) {
            return if om { Err(format!("unknown metadata line `# {keyword}`")) } else { Ok(()) };
        }
        let rest = if om { rest.strip_prefix(' ').unwrap_or(rest) } else { rest.trim_start_matches([' ', '\t']) };
        let (name, rest) = split_word(rest);
        if !is_metric_name(name) {
            return Err(format!("`# {keyword}` needs a valid metric name, found {:?}", clip(name)));
        }
        let text = if om { rest.strip_prefix(' ').unwrap_or(rest) } else { rest.trim_start_matches([' ', '\t']) };
        let family = self.declared_family(name)?;
        match keyword {
            "HELP" => {
                if family.help.is_some() {
                    return Err(format!("second HELP line for `{name}`"));
                }
                family.help = Some(unescape(text, om)?);
            }
            "UNIT" => {
                if family.unit.is_some() {
                    return Err(format!("second UNIT line for `{name}`"));
                }
                family.unit = Some(text.to_string());
            }
            _ => {
                let kind = MetricType::parse(text.trim_end(), format)
                    .ok_or_else(|| format!("unknown metric type {:?} for `{name}`", clip(text.trim_end())))?;
                if family.kind != MetricType::Unknown || !family.samples.is_empty() {
                    return Err(format!("TYPE for `{name}` must come once, before its samples"));
                }
                family.kind = kind;
            }
        }
        Ok(())
    }

    /// The family `name`, created when first mentioned by metadata.
    fn declared_family(&mut self, name: &str) -> Result<&mut Family, String> {
        let position = match self.index.get(name) {
            Some(position) => *position,
            None => {
                self.families.push(Family {
                    name: name.to_string(),
                    kind: MetricType::Unknown,
                    help: None,
                    unit: None,
                    samples: Vec::new(),
                });
                self.index.insert(name.to_string(), self.families.len() - 1);
                self.families.len() - 1
            }
        };
        Ok(&mut self.families[position])
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let om = self.format == Format::OpenMetrics;
        let mut cursor = Cursor { rest: line };
        let name = cursor.take_while(|c, first| is_name_char(c, first, true));
        if name.is_empty() {
            return Err(format!("expected a metric name, found {:?}", cursor.rest.chars().next().unwrap_or(' ')));
        }
        // The text format tolerates blanks between the name and its labels.
        let after_name = cursor.rest;
        cursor.skip_blanks(om);
        let labels = if cursor.rest.starts_with('{') {
            cursor.labels(om)?
        } else {
            cursor.rest = after_name;
            Vec::new()
        };
        if !cursor.space(om) {
            return Err(format!("expected a space before the value of `{name}`"));
        }
        let value = parse_float(cursor.word()).map_err(|found| format!("bad value {:?} for `{name}`", clip(&found)))?;
        let mut timestamp_ms = None;
        let mut exemplar = None;
        if cursor.space(om) && !cursor.rest.starts_with('#') {
            let word = cursor.word();
            timestamp_ms = Some(parse_timestamp(word, self.format)?);
            cursor.space(om);
        }
        if cursor.rest.starts_with('#') {
            if !om {
                return Err(format!("unexpected `#` after the value of `{name}`"));
            }
            exemplar = Some(cursor.exemplar()?);
        }
        if !cursor.rest.trim_end_matches([' ', '\t']).is_empty() || (om && !cursor.rest.is_empty()) {
            return Err(format!("unexpected {:?} at the end of the sample", clip(cursor.rest)));
        }
        if self.seen_series.len() >= MAX_SAMPLES {
            return Err(format!("more than {MAX_SAMPLES} samples"));
        }
        let mut sorted = labels.clone();
        sorted.sort();
        if !self.seen_series.insert((name.to_string(), sorted, timestamp_ms)) {
            return Err(format!("duplicate sample for `{name}` with the same labels and timestamp"));
        }
        let family = self.owning_family(name);
        if family.kind == MetricType::Counter && om && name == family.name {
            return Err(format!("an OpenMetrics counter's samples are `{name}_total`, not `{name}`"));
        }
        let counter = family.kind == MetricType::Counter && !name.ends_with("_created");
        if om && counter && value < 0.0 {
            return Err(format!("counter `{name}` cannot be negative ({value})"));
        }
        family.samples.push(Sample { name: name.to_string(), labels, value, timestamp_ms, exemplar });
        Ok(())
    }

    /// The family a sample belongs to: a declared family whose name plus an
    /// allowed suffix is the sample's name, or an untyped family of its own.
    fn owning_family(&mut self, sample_name: &str) -> &mut Family {
        let owner = std::iter::once(sample_name)
            .chain(
                ["_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info"]
                    .iter()
                    .filter_map(|suffix| sample_name.strip_suffix(suffix)),
            )
            .find_map(|base| {
                let position = *self.index.get(base)?;
                let family = &self.families[position];
                let bare_allowed =
                    !matches!(family.kind, MetricType::Histogram | MetricType::GaugeHistogram | MetricType::Info);
                let owns = if base == sample_name {
                    bare_allowed
                } else {
                    family
                        .kind
                        .suffixes()
                        .iter()
                        .any(|s| sample_name.len() == base.len() + s.len() && sample_name.ends_with(s))
                };
                owns.then_some(position)
            });
        let position = match owner {
            Some(position) => position,
            None => {
                self.families.push(Family {
                    name: sample_name.to_string(),
                    kind: MetricType::Unknown,
                    help: None,
                    unit: None,
                    samples: Vec::new(),
                });
                self.index.insert(sample_name.to_string(), self.families.len() - 1);
                self.families.len() - 1
            }
        };
        &mut self.families[position]
    }
}

/// A read position inside one line.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn take_while(&mut self, keep: impl Fn(char, bool) -> bool) -> &'a str {
        let end = self.rest.char_indices().find(|(i, c)| !keep(*c, *i == 0)).map_or(self.rest.len(), |(i, _)| i);
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }

    /// Skip the separator before the next token: one space in OpenMetrics,
    /// any run of spaces and tabs in the text format. False when there was none.
    fn space(&mut self, om: bool) -> bool {
        if om {
            match self.rest.strip_prefix(' ') {
                Some(rest) => {
                    self.rest = rest;
                    true
                }
                None => false,
            }
        } else {
            let trimmed = self.rest.trim_start_matches([' ', '\t']);
            let moved = trimmed.len() != self.rest.len();
            self.rest = trimmed;
            moved
        }
    }

    fn word(&mut self) -> &'a str {
        self.take_while(|c, _| c != ' ' && c != '\t')
    }

    fn skip_blanks(&mut self, om: bool) {
        if !om {
            self.rest = self.rest.trim_start_matches([' ', '\t']);
        }
    }

    /// `{name="value",...}` with an optional trailing comma.
    fn labels(&mut self, om: bool) -> Result<Vec<(String, String)>, String> {
        self.rest = &self.rest[1..];
        let mut labels: Vec<(String, String)> = Vec::new();
        loop {
            self.skip_blanks(om);
            if let Some(rest) = self.rest.strip_prefix('}') {
                self.rest = rest;
                if let Some(name) = first_repeat(&labels) {
                    return Err(format!("label `{name}` appears twice"));
                }
                return Ok(labels);
            }
            let name = self.take_while(|c, first| is_name_char(c, first, false));
            if name.is_empty() {
                let found = self.rest.chars().next().map_or("the end of the line".into(), |c| format!("{c:?}"));
                return Err(format!("expected a label name or `}}`, found {found}"));
            }
            self.skip_blanks(om);
            self.rest = self.rest.strip_prefix('=').ok_or_else(|| format!("expected `=` after label name `{name}`"))?;
            self.skip_blanks(om);
            let value = self.quoted().map_err(|e| format!("label `{name}`: {e}"))?;
            labels.push((name.to_string(), value));
            self.skip_blanks(om);
            if let Some(rest) = self.rest.strip_prefix(',') {
                self.rest = rest;
            } else if !self.rest.starts_with('}') {
                return Err(format!("expected `,` or `}}` after label `{name}`"));
            }
        }
    }

    /// A double-quoted label value with `\\`, `\"` and `\n` escapes.
    fn quoted(&mut self) -> Result<String, String> {
        let body = self.rest.strip_prefix('"').ok_or("expected a quoted value")?;
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &body[i + 1..];
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => return Err(format!("unknown escape `\\{other}`")),
                    None => break,
                },
                _ => value.push(c),
            }
        }
        Err("the quoted value is not closed".into())
    }

    /// ` # {labels} value [timestamp]` after a sample (the `#` is next).
    fn exemplar(&mut self) -> Result<Exemplar, String> {
        let rest = self.rest.strip_prefix("# {").ok_or("an exemplar starts with `# {`")?;
        self.rest = &self.rest[self.rest.len() - rest.len() - 1..];
        let labels = self.labels(true).map_err(|e| format!("exemplar: {e}"))?;
        let label_chars: usize = labels.iter().map(|(n, v)| n.chars().count() + v.chars().count()).sum();
        if label_chars > 128 {
            return Err(format!("exemplar labels are {label_chars} characters, over the limit of 128"));
        }
        if !self.space(true) {
            return Err("expected a space before the exemplar's value".into());
        }
        let value = parse_float(self.word()).map_err(|found| format!("bad exemplar value {:?}", clip(&found)))?;
        let timestamp_ms =
            if self.space(true) { Some(parse_timestamp(self.word(), Format::OpenMetrics)?) } else { None };
        Ok(Exemplar { labels, value, timestamp_ms })
    }
}

/// The first label name that repeats an earlier one, in linear time: a
/// hostile line may carry a million labels, and comparing each with all the
/// ones before it would take hours. Short lists (the usual few labels) are
/// compared pairwise, which is faster than hashing them.
fn first_repeat(labels: &[(String, String)]) -> Option<&str> {
    if labels.len() <= 16 {
        return labels
            .iter()
            .enumerate()
            .find(|(i, (name, _))| labels[..*i].iter().any(|(n, _)| n == name))
            .map(|(_, (name, _))| name.as_str());
    }
    let mut seen = HashSet::with_capacity(labels.len());
    labels.iter().map(|(name, _)| name.as_str()).find(|name| !seen.insert(*name))
}

/// At most the first 64 characters of what an error message quotes: the
/// input is hostile, and a message must not carry megabytes of it.
fn clip(text: &str) -> &str {
    text.char_indices().nth(64).map_or(text, |(end, _)| &text[..end])
}

fn split_word(text: &str) -> (&str, &str) {
    let end = text.find([' ', '\t']).unwrap_or(text.len());
    text.split_at(end)
}

fn is_name_char(c: char, first: bool, colon: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || (colon && c == ':') || (!first && c.is_ascii_digit())
}

fn is_metric_name(name: &str) -> bool {
    !name.is_empty() && name.chars().enumerate().all(|(i, c)| is_name_char(c, i == 0, true))
}

/// HELP text: `\\` and `\n` escapes (and `\"` in OpenMetrics).
fn unescape(text: &str, om: bool) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if om => out.push('"'),
            // The text format keeps unknown escapes as written.
            Some(other) if !om => {
                out.push('\\');
                out.push(other);
            }
            Some(other) => return Err(format!("unknown escape `\\{other}` in HELP")),
            None if !om => out.push('\\'),
            None => return Err("HELP ends with a lone `\\`".into()),
        }
    }
    Ok(out)
}

/// A Go `ParseFloat`-style number: decimal or exponent notation, `NaN`,
/// `+Inf`, `-Inf` (any case). Rejects what Rust accepts but Prometheus does
/// not write (an empty string, `infinity` spelt out is accepted by both).
fn parse_float(word: &str) -> Result<f64, String> {
    let plain = word.strip_prefix(['+', '-']).unwrap_or(word);
    let ok_chars =
        !plain.is_empty() && plain.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    let special = matches!(plain.to_ascii_lowercase().as_str(), "inf" | "infinity" | "nan");
    if !(ok_chars || special) {
        return Err(word.to_string());
    }
    word.parse::<f64>().map_err(|_| word.to_string())
}

/// A timestamp as milliseconds: integer ms in the text format, float seconds in OpenMetrics.
fn parse_timestamp(word: &str, format: Format) -> Result<i64, String> {
    match format {
        Format::Text => {
            word.parse::<i64>().map_err(|_| format!("bad timestamp {:?} (integer milliseconds)", clip(word)))
        }
        Format::OpenMetrics => {
            let seconds = parse_float(word)
                .ok()
                .filter(|s| s.is_finite() && s.abs() < 9.2e15)
                .ok_or_else(|| format!("bad timestamp {:?} (seconds)", clip(word)))?;
            Ok((seconds * 1000.0).round() as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_detection() {
        assert_eq!(Format::detect(Some("application/openmetrics-text; version=1.0.0"), b""), Format::OpenMetrics);
        assert_eq!(Format::detect(Some("text/plain; version=0.0.4"), b"# EOF\n"), Format::Text);
        assert_eq!(Format::detect(None, b"a 1\n# EOF\n"), Format::OpenMetrics);
        assert_eq!(Format::detect(None, b"# EOF"), Format::OpenMetrics);
        assert_eq!(Format::detect(None, b"a 1\n"), Format::Text);
        assert_eq!(Format::detect(None, b"x# EOF"), Format::Text);
    }

    #[test]
    fn floats_follow_go() {
        for (word, expected) in [("1", 1.0), ("-2.5e3", -2500.0), ("+Inf", f64::INFINITY), ("-Inf", f64::NEG_INFINITY)]
        {
            assert_eq!(parse_float(word), Ok(expected));
        }
        assert!(parse_float("NaN").unwrap().is_nan());
        for bad in ["", "0x10", "1_0", "one", "1.2.3"] {
            assert!(parse_float(bad).is_err(), "{bad:?}");
        }
    }
}
