//! The blocking client of the CLI verbs (`eddy status / savepoint / stop /
//! cancel`): one request to a run found in the run directory, its error
//! answers turned into messages that name the job.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde::de::DeserializeOwned;

use super::api::{ErrorBody, JobDetails, SavepointAnswer, SavepointBody, SwapAnswer, SwapBody};
use super::registry::RunEntry;
use super::server::SAVEPOINT_WAIT;

/// Talks to one run's control API.
pub struct ControlClient {
    run: RunEntry,
    agent: ureq::Agent,
}

impl ControlClient {
    /// A client of `run`.
    pub fn new(run: RunEntry) -> Self {
        let agent = ureq::Agent::config_builder()
            // Error answers carry a JSON body to read, not an `Err`.
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(SAVEPOINT_WAIT + Duration::from_secs(30)))
            .build()
            .into();
        ControlClient { run, agent }
    }

    /// The run this client talks to.
    pub fn run(&self) -> &RunEntry {
        &self.run
    }

    /// The job and its live status.
    pub fn details(&self) -> Result<JobDetails> {
        let url = self.url("");
        let response = self
            .agent
            .get(&url)
            .header("Authorization", &self.bearer())
            .call();
        self.answer(response)
    }

    /// Take a savepoint (`stop`: and stop the job after it).
    pub fn savepoint(&self, body: &SavepointBody, stop: bool) -> Result<SavepointAnswer> {
        self.post(if stop { "/stop" } else { "/savepoints" }, body)
    }

    /// Swap an operator's guest function.
    pub fn swap(&self, body: &SwapBody) -> Result<SwapAnswer> {
        self.post("/swaps", body)
    }

    /// POST `body` as JSON to the job's path `tail`; the answer.
    fn post<T: DeserializeOwned>(&self, tail: &str, body: &impl serde::Serialize) -> Result<T> {
        let response = self
            .agent
            .post(&self.url(tail))
            .header("Authorization", &self.bearer())
            .send_json(body);
        self.answer(response)
    }

    /// Cancel the job.
    pub fn cancel(&self) -> Result<()> {
        let url = self.url("/cancel");
        let response = self
            .agent
            .post(&url)
            .header("Authorization", &self.bearer())
            .send_empty();
        self.answer::<serde_json::Value>(response).map(|_| ())
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v1/jobs/{}{tail}", self.run.url(), self.run.id)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.run.token)
    }

    fn answer<T: DeserializeOwned>(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T> {
        let job = format!("job `{}` ({})", self.run.name, self.run.id);
        let mut response =
            response.with_context(|| format!("cannot reach {job} at {}", self.run.url()))?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("{job}: cannot read the answer"))?;
        if status.is_success() {
            return serde_json::from_str(&text)
                .with_context(|| format!("{job}: unexpected answer: {text}"));
        }
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|body| body.error)
            .unwrap_or(text);
        Err(anyhow!("{job}: {message} (HTTP {})", status.as_u16()))
    }
}
