//! The exposition parser (Prometheus text format and OpenMetrics), data-driven:
//!
//! - every `tests/fixtures/exposition/*.prom` (text) and `*.om` (OpenMetrics)
//!   parses to the families in the `.json` beside it;
//! - every case of `malformed.toml` is refused with its line and message;
//! - property tests: no input (arbitrary bytes, or text made of the format's
//!   own characters) makes the parser panic, and a generated valid exposition
//!   rendered to text parses back to what was generated, in both formats.

use perfsage_sources::prometheus::exposition::{self, Exposition, Format, MetricType};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Floats as text, so NaN and infinities survive JSON.
fn number(v: f64) -> Value {
    Value::String(if v.is_nan() { "NaN".into() } else { format!("{v}") })
}

fn labels(labels: &[(String, String)]) -> Value {
    Value::Array(labels.iter().map(|(n, v)| json!([n, v])).collect())
}

/// The parsed exposition as the fixtures' JSON.
fn to_json(exposition: &Exposition) -> Value {
    Value::Array(
        exposition
            .families
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "type": format!("{:?}", f.kind).to_lowercase(),
                    "help": f.help,
                    "unit": f.unit,
                    "samples": f.samples.iter().map(|s| json!({
                        "name": s.name,
                        "labels": labels(&s.labels),
                        "value": number(s.value),
                        "timestamp_ms": s.timestamp_ms,
                        "exemplar": s.exemplar.as_ref().map(|e| json!({
                            "labels": labels(&e.labels),
                            "value": number(e.value),
                            "timestamp_ms": e.timestamp_ms,
                        })),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

#[test]
fn fixtures_parse_to_the_expected_families() {
    let dir = crate::support::fixture("exposition");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("prom") => Format::Text,
            Some("om") => Format::OpenMetrics,
            _ => continue,
        };
        let input = std::fs::read(&path).unwrap();
        assert_eq!(Format::detect(None, &input), format, "{} is detected as its format", path.display());
        let parsed = exposition::parse(&input, format).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let actual = to_json(&parsed);
        let expected_path = path.with_extension("json");
        if std::env::var_os("PERFSAGE_BLESS").is_some() {
            std::fs::write(&expected_path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
        }
        let expected: Value = serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
        assert_eq!(actual, expected, "{} (PERFSAGE_BLESS=1 rewrites the expectation)", path.display());
        checked += 1;
    }
    assert!(checked >= 2, "the fixtures are there");
}

#[derive(serde::Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    format: String,
    input: Option<String>,
    input_hex: Option<String>,
    line: usize,
    message: String,
}

#[test]
fn malformed_input_is_refused_with_its_line() {
    let text = std::fs::read_to_string(crate::support::fixture("exposition/malformed.toml")).unwrap();
    let cases: Cases = toml::from_str(&text).unwrap();
    assert!(cases.case.len() >= 20);
    for case in cases.case {
        let input = match (&case.input, &case.input_hex) {
            (Some(text), None) => text.clone().into_bytes(),
            (None, Some(hex)) => {
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
            }
            _ => panic!("{}: give input or input_hex", case.name),
        };
        let format = if case.format == "openmetrics" { Format::OpenMetrics } else { Format::Text };
        let error = exposition::parse(&input, format).expect_err(&case.name);
        assert_eq!(error.line, case.line, "{}: {error}", case.name);
        assert!(error.message.contains(&case.message), "{}: {:?} lacks {:?}", case.name, error.message, case.message);
        assert!(error.to_string().starts_with(&format!("line {}: ", case.line)));
    }
}

#[test]
fn the_fleet_generator_writes_valid_openmetrics() {
    // What promtool backfills in tests/prometheus.rs and bench/fleet.sh; node_exporter's
    // own page is parsed there too, against the running exporter.
    let mut out = Vec::new();
    crate::support::fleet_gen::write_fleet(&mut out, 3, 0, 60, 30).unwrap();
    let parsed = exposition::parse(&out, Format::detect(None, &out)).unwrap();
    assert_eq!(parsed.family("node_cpu_seconds").unwrap().kind, MetricType::Counter);
    // 3 instances × 2 cores × 5 modes × 3 points.
    assert_eq!(parsed.family("node_cpu_seconds").unwrap().samples.len(), 90);
}

// ---------------------------------------------------------------------------
// Properties.

/// A generated family: what the parser must give back.
#[derive(Debug, Clone)]
struct GenFamily {
    name: String,
    kind: MetricType,
    help: Option<String>,
    samples: Vec<GenSample>,
}

/// Full name (filled in when rendered), labels, value, timestamp.
type GenSample = (String, Vec<(String, String)>, f64, Option<i64>);

fn metric_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}".prop_map(|s| format!("m_{s}"))
}

fn label_value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just('"'),
            Just('\\'),
            Just('\n'),
            Just('é'),
            Just(' '),
            Just('{'),
            Just('}'),
            Just(','),
            Just('#'),
            prop::char::range('a', 'z')
        ],
        0..12,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn sample_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (0.0f64..1e12),
        (-1e6f64..0.0),
        any::<i32>().prop_map(f64::from),
    ]
}

fn family() -> impl Strategy<Value = GenFamily> {
    (
        metric_name(),
        prop_oneof![Just(MetricType::Gauge), Just(MetricType::Unknown), Just(MetricType::Counter)],
        prop::option::of("[a-z\\\\][a-z0-9 \\\\]{0,18}[a-z]"),
        prop::collection::vec(
            (
                prop::collection::btree_map("[a-z_][a-z0-9_]{0,6}", label_value(), 0..4),
                sample_value(),
                prop::option::of(0i64..4_000_000_000_000),
            ),
            1..4,
        ),
    )
        .prop_map(|(name, kind, help, samples)| {
            let mut seen = std::collections::HashSet::new();
            let samples = samples
                .into_iter()
                .filter(|(labels, _, _)| seen.insert(labels.clone()))
                .map(|(labels, value, ts)| {
                    // Counters never go below zero.
                    let value = if kind == MetricType::Counter { value.abs() } else { value };
                    (String::new(), labels.into_iter().collect(), value, ts)
                })
                .collect();
            GenFamily { name, kind, help, samples }
        })
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn render_value(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:?}")
    }
}

/// Render generated families in `format`, filling in each sample's full name.
fn render(families: &mut [GenFamily], format: Format) -> String {
    let om = format == Format::OpenMetrics;
    let mut out = String::new();
    for f in families.iter_mut() {
        let type_word = match (f.kind, om) {
            (MetricType::Counter, _) => "counter",
            (MetricType::Gauge, _) => "gauge",
            (_, true) => "unknown",
            (_, false) => "untyped",
        };
        out.push_str(&format!("# TYPE {} {type_word}\n", f.name));
        if let Some(help) = &f.help {
            out.push_str(&format!("# HELP {} {}\n", f.name, escape_help(help)));
        }
        for (name, labels, value, ts) in &mut f.samples {
            *name = if f.kind == MetricType::Counter && om { format!("{}_total", f.name) } else { f.name.clone() };
            let labels_text = labels.iter().map(|(n, v)| format!("{n}=\"{}\"", escape_label(v))).collect::<Vec<_>>();
            let braces = if labels.is_empty() { String::new() } else { format!("{{{}}}", labels_text.join(",")) };
            let ts_text = match ts {
                Some(ms) if om => {
                    // Whole milliseconds as seconds with three decimals.
                    format!(" {}.{:03}", *ms / 1000, *ms % 1000)
                }
                Some(ms) => format!(" {ms}"),
                None => String::new(),
            };
            out.push_str(&format!("{name}{braces} {}{ts_text}\n", render_value(*value)));
        }
    }
    if om {
        out.push_str("# EOF\n");
    }
    out
}

fn families() -> impl Strategy<Value = Vec<GenFamily>> {
    prop::collection::vec(family(), 1..5).prop_map(|families| {
        // Names must not collide, nor be one another's name plus a suffix.
        let mut seen: Vec<String> = Vec::new();
        families
            .into_iter()
            .filter(|f| {
                let clash = seen.iter().any(|s| s.starts_with(&f.name) || f.name.starts_with(s.as_str()));
                seen.push(f.name.clone());
                !clash
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = exposition::parse(&input, Format::Text);
        let _ = exposition::parse(&input, Format::OpenMetrics);
        let _ = Format::detect(None, &input);
    }

    #[test]
    fn format_shaped_text_never_panics(
        input in prop::collection::vec(
            prop_oneof![
                Just("# TYPE ".to_string()), Just("# HELP ".to_string()), Just("# UNIT ".to_string()), Just("# EOF".to_string()),
                Just("{".to_string()), Just("}".to_string()), Just("=".to_string()), Just("\"".to_string()),
                Just("\\".to_string()), Just(",".to_string()), Just(" ".to_string()), Just("\t".to_string()),
                Just("\n".to_string()), Just("# {".to_string()), Just("_total".to_string()), Just("_bucket".to_string()),
                Just("+Inf".to_string()), Just("NaN".to_string()), Just("1.5e3".to_string()), Just("counter".to_string()),
                Just("histogram".to_string()), Just("é".to_string()), "[a-z0-9_:.]{1,4}",
            ],
            0..60,
        )
    ) {
        let text = input.concat();
        let _ = exposition::parse(text.as_bytes(), Format::Text);
        let _ = exposition::parse(text.as_bytes(), Format::OpenMetrics);
    }

    #[test]
    fn generated_expositions_round_trip(mut generated in families(), om in any::<bool>()) {
        let format = if om { Format::OpenMetrics } else { Format::Text };
        let text = render(&mut generated, format);
        let parsed = exposition::parse(text.as_bytes(), format).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed.families.len(), generated.len(), "{}", text);
        for (got, want) in parsed.families.iter().zip(&generated) {
            prop_assert_eq!(&got.name, &want.name);
            prop_assert_eq!(got.kind, want.kind);
            prop_assert_eq!(&got.help, &want.help);
            prop_assert_eq!(got.samples.len(), want.samples.len());
            for (s, (name, labels, value, ts)) in got.samples.iter().zip(&want.samples) {
                prop_assert_eq!(&s.name, name);
                prop_assert_eq!(&s.labels, labels);
                prop_assert!(s.value == *value || (s.value.is_nan() && value.is_nan()), "{} != {}", s.value, value);
                prop_assert_eq!(s.timestamp_ms, *ts);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Extreme numbers in values, timestamps and exemplars, in both formats:
    /// parsed (NaN and ±Inf kept as floats) or refused with a line, never a panic.
    #[test]
    fn extreme_numbers_never_panic(
        value in prop::sample::select(vec!["0", "-0", "-1", "1e308", "-1e308", "1e309", "NaN", "+Inf", "-Inf",
            "18446744073709551615", "18446744073709551616", "9223372036854775808", "-9223372036854775809", "", "1.2.3"]),
        stamp in prop::sample::select(vec!["", " 0", " -1", " 9223372036854775807", " 9223372036854775808",
            " -9223372036854775809", " 1e308", " NaN", " 9.2e15", " 1.5"]),
        long in 0usize..5000,
    ) {
        let name = format!("m{}", "a".repeat(long));
        for (format, text) in [
            (Format::Text, format!("# TYPE {name} counter\n{name}{{l=\"{}\"}} {value}{stamp}\n", "v".repeat(long))),
            (Format::OpenMetrics, format!("# TYPE {name} counter\n{name}_total {value}{stamp} # {{a=\"b\"}} {value}{stamp}\n# EOF\n")),
        ] {
            let _ = exposition::parse(text.as_bytes(), format);
        }
    }
}

#[test]
fn duplicate_labels_are_found_in_linear_time() {
    // 200,000 labels on one line, the repeat at the end: pairwise comparison
    // would take 2·10^10 steps (minutes); a set takes milliseconds.
    let labels: Vec<String> = (0..200_000).map(|i| format!("l{i}=\"v\"")).collect();
    let line = format!("m{{{},l5=\"again\"}} 1\n", labels.join(","));
    let error = exposition::parse(line.as_bytes(), Format::Text).unwrap_err();
    assert_eq!((error.line, error.message.as_str()), (1, "label `l5` appears twice"));
    let error = exposition::parse(b"m{a=\"1\",b=\"2\",a=\"3\"} 1\n", Format::Text).unwrap_err();
    assert_eq!(error.message, "label `a` appears twice", "short lists too");
    let fine = exposition::parse(format!("m{{{}}} 1\n", labels.join(",")).as_bytes(), Format::Text).unwrap();
    assert_eq!(fine.families[0].samples[0].labels.len(), 200_000);
}

#[test]
fn more_samples_than_the_cap_are_refused_with_their_line() {
    let text: String = (0..=exposition::MAX_SAMPLES).map(|i| format!("m{{i=\"{i}\"}} 1\n")).collect();
    let error = exposition::parse(text.as_bytes(), Format::Text).unwrap_err();
    assert_eq!(error.line, exposition::MAX_SAMPLES + 1);
    assert!(error.message.contains("more than 500000 samples"));
}
