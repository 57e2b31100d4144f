//! A client for the Prometheus HTTP API: instant queries (`/api/v1/query`)
//! and range queries (`/api/v1/query_range`), sent as form POSTs (long
//! PromQL does not fit every URL length limit) and read with serde. Thanos
//! and Mimir speak the same API.
//!
//! An answer is read up to [`MAX_BODY_BYTES`] (64 MiB) and may hold at most
//! [`MAX_SERIES`] series, counted while it is deserialized (a longer
//! answer is refused before the rest of it is built): fleet queries
//! aggregate by instance, so a real answer has one series per instance.
//! Values are kept as the server wrote them, NaN and ±Inf included.
//!
//! Errors keep what the server said: Prometheus answers a bad query with
//! HTTP 400 and `{"status":"error","errorType":"bad_data","error":"..."}`, and
//! that message is what the user needs to fix the rule pack.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::http::{self, HttpError, HttpUrl};

/// The largest answer read: 64 MiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// The most series (vector elements or matrix series) one answer may hold.
pub const MAX_SERIES: usize = 100_000;

/// A Prometheus server (or anything speaking its API).
#[derive(Debug, Clone)]
pub struct Client {
    pub base: HttpUrl,
    pub timeout: Duration,
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One series of a range result.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: BTreeMap<String, String>,
    /// (unix ms, value), oldest first.
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("Prometheus answered HTTP {status}: {error_type}: {message}")]
    Server { status: u16, error_type: String, message: String },
    #[error("HTTP {status} from {url} is not a Prometheus API answer ({reason}): {snippet}")]
    NotApi { status: u16, url: String, reason: String, snippet: String },
    #[error("the query returned a {found}, not {expected}")]
    ResultType { expected: &'static str, found: String },
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(#[serde(deserialize_with = "capped")] Vec<VectorItem>),
    Matrix(#[serde(deserialize_with = "capped")] Vec<MatrixItem>),
    Scalar((f64, String)),
    String(serde::de::IgnoredAny),
}

impl Data {
    fn kind(&self) -> &'static str {
        match self {
            Data::Vector(_) => "vector",
            Data::Matrix(_) => "matrix",
            Data::Scalar(_) => "scalar",
            Data::String(_) => "string",
        }
    }
}

#[derive(Deserialize)]
struct VectorItem {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatrixItem {
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

/// A sequence of at most [`MAX_SERIES`] items, refused as soon as it has one more.
fn capped<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Capped<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Capped<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a list of at most {MAX_SERIES} series")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                if items.len() == MAX_SERIES {
                    return Err(serde::de::Error::custom(format!("more than {MAX_SERIES} series")));
                }
                items.push(item);
            }
            Ok(items)
        }
    }
    deserializer.deserialize_seq(Capped(std::marker::PhantomData))
}

/// Prometheus writes sample values as strings: "1.5", "NaN", "+Inf".
fn number(text: &str) -> f64 {
    text.parse().unwrap_or(f64::NAN)
}

impl Client {
    pub fn new(url: &str, timeout: Duration) -> Result<Client, HttpError> {
        Ok(Client { base: HttpUrl::parse(url)?, timeout })
    }

    /// An instant query evaluated at `time` (unix seconds; the server's now when `None`).
    /// Returns the vector and the server's warnings.
    pub async fn query(&self, promql: &str, time: Option<f64>) -> Result<(Vec<VectorSample>, Vec<String>), ApiError> {
        let mut form = vec![("query", promql.to_string())];
        if let Some(time) = time {
            form.push(("time", format!("{time:.3}")));
        }
        let (data, warnings) = self.call("/api/v1/query", &form).await?;
        match data {
            Data::Vector(items) => Ok((
                items.into_iter().map(|i| VectorSample { labels: i.metric, value: number(&i.value.1) }).collect(),
                warnings,
            )),
            Data::Scalar((_, value)) => {
                Ok((vec![VectorSample { labels: BTreeMap::new(), value: number(&value) }], warnings))
            }
            other => Err(ApiError::ResultType { expected: "an instant vector", found: other.kind().into() }),
        }
    }

    /// A range query from `start` to `end` (unix seconds) every `step`.
    pub async fn query_range(
        &self,
        promql: &str,
        start: f64,
        end: f64,
        step: Duration,
    ) -> Result<(Vec<RangeSeries>, Vec<String>), ApiError> {
        let form = [
            ("query", promql.to_string()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", format!("{:.3}", step.as_secs_f64().max(0.001))),
        ];
        let (data, warnings) = self.call("/api/v1/query_range", &form).await?;
        match data {
            Data::Matrix(items) => Ok((
                items
                    .into_iter()
                    .map(|i| RangeSeries {
                        labels: i.metric,
                        points: i.values.into_iter().map(|(t, v)| ((t * 1000.0).round() as i64, number(&v))).collect(),
                    })
                    .collect(),
                warnings,
            )),
            other => Err(ApiError::ResultType { expected: "a range vector", found: other.kind().into() }),
        }
    }

    async fn call(&self, path: &str, form: &[(&str, String)]) -> Result<(Data, Vec<String>), ApiError> {
        let url = self.base.with_path(path);
        let body = form.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let response = http::request(&url, "application/json", Some(body), self.timeout, MAX_BODY_BYTES).await?;
        let not_api = |reason: String| ApiError::NotApi {
            status: response.status,
            url: url.url.clone(),
            reason,
            snippet: String::from_utf8_lossy(&response.body[..response.body.len().min(200)]).trim().to_string(),
        };
        let envelope: Envelope = serde_json::from_slice(&response.body).map_err(|e| not_api(e.to_string()))?;
        if envelope.status != "success" {
            return Err(ApiError::Server {
                status: response.status,
                error_type: envelope.error_type.unwrap_or_else(|| "error".into()),
                message: envelope.error.unwrap_or_default(),
            });
        }
        let data = envelope.data.ok_or_else(|| not_api("no data".into()))?;
        Ok((data, envelope.warnings))
    }
}

/// `application/x-www-form-urlencoded` encoding of one key or value.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(encode(r#"up{job="a b"}"#), "up%7Bjob%3D%22a+b%22%7D");
        assert_eq!(encode("é"), "%C3%A9");
    }

    proptest::proptest! {
        /// Answers with extreme numbers wherever a number goes: deserialized
        /// or refused, never a panic; values read as the server wrote them.
        #[test]
        fn extreme_numbers_never_panic(
            t in proptest::sample::select(vec!["0", "-1", "1e308", "-1e308", "1.7976931348623157e308", "18446744073709551616", "\"x\"", "null"]),
            v in proptest::sample::select(vec!["0", "-1", "1e308", "1e309", "NaN", "+Inf", "-Inf", "", "x", "18446744073709551616"]),
            series in 0usize..4,
        ) {
            let item = format!(r#"{{"metric":{{"instance":"a"}},"value":[{t},"{v}"],"values":[[{t},"{v}"],[{t},"{v}"]]}}"#);
            let items = vec![item; series].join(",");
            for kind in ["vector", "matrix", "scalar"] {
                let result = if kind == "scalar" { format!(r#"[{t},"{v}"]"#) } else { format!("[{items}]") };
                let text = format!(r#"{{"status":"success","data":{{"resultType":"{kind}","result":{result}}}}}"#);
                if let Ok(Envelope { data: Some(Data::Matrix(m)), .. }) = serde_json::from_str::<Envelope>(&text) {
                    for i in m {
                        for (t, v) in i.values {
                            let _ = ((t * 1000.0).round() as i64, number(&v));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn more_series_than_the_cap_are_refused_while_reading() {
        let item = r#"{"metric":{},"value":[1,"1"]}"#;
        let answer = |n: usize| {
            format!(r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#, vec![item; n].join(","))
        };
        let at_cap: Envelope = serde_json::from_str(&answer(MAX_SERIES)).unwrap();
        assert!(matches!(at_cap.data, Some(Data::Vector(v)) if v.len() == MAX_SERIES));
        let over = serde_json::from_str::<Envelope>(&answer(MAX_SERIES + 1)).err().unwrap();
        assert!(over.to_string().contains("more than 100000 series"), "{over}");
    }

    #[test]
    fn answers_deserialize() {
        let vector: Envelope = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a"},"value":[1.5,"NaN"]}]}}"#,
        )
        .unwrap();
        assert!(matches!(vector.data, Some(Data::Vector(ref v)) if v.len() == 1 && number(&v[0].value.1).is_nan()));
        let error: Envelope =
            serde_json::from_str(r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#).unwrap();
        assert_eq!(error.error.as_deref(), Some("parse error"));
    }
}
