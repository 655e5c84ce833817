//! The HTTP client of the commands that talk to a node's admin endpoint (`eddy cluster`,
//! `eddy connect create|list|…`, `eddy supervisors`): one request, an answer read up to a
//! limit, and errors that say what to do next when nothing answers.

use std::time::Duration;

use anyhow::{anyhow, Context as _};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::connect::root_cause;

/// How one command talks to admin endpoints: its limits, and what it asks the user when
/// nothing answers. Each command keeps one as a constant.
pub struct AdminClient {
    /// What answers, as the messages name it: "the admin endpoint", "the Connect REST API".
    pub serves: &'static str,
    /// How long the endpoint may take to answer.
    pub request_timeout: Duration,
    /// The largest answer read.
    pub response_bytes_max: usize,
    /// What to ask when nothing answers at the given `--admin` address, e.g. "is a node
    /// running? start one with `eddy start`".
    pub unreachable_hint: fn(admin: &str) -> String,
}

/// What the endpoint answered, whatever its status.
pub struct Answer {
    /// The request as the messages name it: `GET http://127.0.0.1:9644/cluster`.
    pub request: String,
    pub status: StatusCode,
    /// At most `response_bytes_max` bytes.
    pub body: Vec<u8>,
}

impl AdminClient {
    /// Sends `method path` (with `body` as JSON) to `admin` and reads the answer.
    pub async fn send(
        &self,
        admin: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let url = format!("http://{admin}{path}");
        let client = reqwest::Client::builder()
            .timeout(self.request_timeout)
            .build()
            .context("building the HTTP client")?;
        let mut request = client.request(method.clone(), &url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let mut response = request
            .send()
            .await
            .map_err(|err| self.unreachable(&err, admin, &url))?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .with_context(|| format!("reading {url}"))?
        {
            if bytes.len() + chunk.len() > self.response_bytes_max {
                return Err(anyhow!(
                    "{method} {url} sent more than {} bytes",
                    self.response_bytes_max
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Answer {
            request: format!("{method} {url}"),
            status,
            body: bytes,
        })
    }

    /// What to do when the request got no answer.
    fn unreachable(&self, err: &reqwest::Error, admin: &str, url: &str) -> anyhow::Error {
        if err.is_timeout() {
            return anyhow!(
                "{url} did not answer within {} s: is the node overloaded or stuck?",
                self.request_timeout.as_secs()
            );
        }
        anyhow!(
            "could not reach {} at {url}: {} ({})",
            self.serves,
            (self.unreachable_hint)(admin),
            root_cause(err)
        )
    }
}

impl Answer {
    /// The error a non-2xx answer stands for: the node's own message when it sent one,
    /// else the status, followed by `not_found_hint` after a 404.
    pub fn refusal(&self, not_found_hint: &str) -> anyhow::Error {
        let Answer {
            request, status, ..
        } = self;
        match error_message(&self.body) {
            Some(message) => anyhow!("{message}"),
            None if *status == StatusCode::NOT_FOUND => {
                anyhow!("{request} answered 404: {not_found_hint}")
            }
            None => anyhow!("{request} answered {status}"),
        }
    }
}

/// The `error` of a JSON error answer (`message` as the Connect REST API says it).
fn error_message(body: &[u8]) -> Option<String> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    ["error", "message"]
        .iter()
        .find_map(|key| answer.get(key).and_then(Value::as_str))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_give_their_message() {
        assert_eq!(
            error_message(br#"{"error":"node 9 is not a member"}"#).as_deref(),
            Some("node 9 is not a member")
        );
        assert_eq!(error_message(br#"{"message":"x"}"#).as_deref(), Some("x"));
        assert_eq!(error_message(b"not json"), None);
        assert_eq!(error_message(br#"{"code":1}"#), None);
    }

    #[test]
    fn refusals_without_a_message_name_the_request_and_status() {
        let answer = |status, body: &[u8]| Answer {
            request: "GET http://h:1/x".to_owned(),
            status,
            body: body.to_vec(),
        };
        let refusal = |status, body| answer(status, body).refusal("is h:1 a node?").to_string();
        assert_eq!(
            refusal(StatusCode::NOT_FOUND, b""),
            "GET http://h:1/x answered 404: is h:1 a node?"
        );
        assert_eq!(
            refusal(StatusCode::BAD_GATEWAY, b"<html>"),
            "GET http://h:1/x answered 502 Bad Gateway"
        );
        assert_eq!(
            refusal(
                StatusCode::NOT_FOUND,
                br#"{"error_code":404,"message":"no c"}"#
            ),
            "no c"
        );
    }
}
