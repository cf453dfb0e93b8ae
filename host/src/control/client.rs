//! The blocking clients of the CLI verbs: [`ControlClient`] talks about one
//! job (`eddy status / savepoint / stop / swap / cancel`), [`ServerClient`]
//! to a server as a whole (`eddy deploy`, `eddy list --server`). Error
//! answers become messages that name the job or server.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde::de::DeserializeOwned;

use super::api::{
    ErrorBody, JobDetails, JobListing, JobSummary, SavepointAnswer, SavepointBody, SubmitBody,
    SwapAnswer, SwapBody, UploadedModule,
};
use super::registry::RunEntry;
use super::server::SAVEPOINT_WAIT;

/// One control API, its token, and what to call it in messages.
struct Connection {
    base_url: String,
    token: String,
    /// "job `name` (id)" or "the server at URL".
    subject: String,
    agent: ureq::Agent,
}

impl Connection {
    fn new(base_url: String, token: String, subject: String) -> Self {
        let agent = ureq::Agent::config_builder()
            // Error answers carry a JSON body to read, not an `Err`.
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(SAVEPOINT_WAIT + Duration::from_secs(30)))
            .build()
            .into();
        Connection {
            base_url,
            token,
            subject,
            agent,
        }
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = (self.agent.get(format!("{}{path}", self.base_url)))
            .header("Authorization", &self.bearer())
            .call();
        self.answer(response)
    }

    fn post<T: DeserializeOwned>(&self, path: &str, body: &impl serde::Serialize) -> Result<T> {
        let response = (self.agent.post(format!("{}{path}", self.base_url)))
            .header("Authorization", &self.bearer())
            .send_json(body);
        self.answer(response)
    }

    fn post_bytes<T: DeserializeOwned>(&self, path: &str, bytes: &[u8]) -> Result<T> {
        let response = (self.agent.post(format!("{}{path}", self.base_url)))
            .header("Authorization", &self.bearer())
            .content_type("application/wasm")
            .send(bytes);
        self.answer(response)
    }

    fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = (self.agent.post(format!("{}{path}", self.base_url)))
            .header("Authorization", &self.bearer())
            .send_empty();
        self.answer(response)
    }

    fn answer<T: DeserializeOwned>(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T> {
        let subject = &self.subject;
        let mut response =
            response.with_context(|| format!("cannot reach {subject} at {}", self.base_url))?;
        let status = response.status();
        let text = (response.body_mut())
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .with_context(|| format!("{subject}: cannot read the answer"))?;
        if status.is_success() {
            return serde_json::from_str(&text)
                .with_context(|| format!("{subject}: unexpected answer: {text}"));
        }
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|body| body.error)
            .unwrap_or(text);
        Err(anyhow!("{subject}: {message} (HTTP {})", status.as_u16()))
    }
}

/// Talks to the control API about one job.
pub struct ControlClient {
    run: RunEntry,
    connection: Connection,
}

impl ControlClient {
    /// A client of `run`.
    pub fn new(run: RunEntry) -> Self {
        let connection = Connection::new(
            format!("{}/v1/jobs/{}", run.url(), run.id),
            run.token.clone(),
            format!("job `{}` ({})", run.name, run.id),
        );
        ControlClient { run, connection }
    }

    /// The run this client talks to.
    pub fn run(&self) -> &RunEntry {
        &self.run
    }

    /// The job and its live status.
    pub fn details(&self) -> Result<JobDetails> {
        self.connection.get("")
    }

    /// Take a savepoint (`stop`: and stop the job after it).
    pub fn savepoint(&self, body: &SavepointBody, stop: bool) -> Result<SavepointAnswer> {
        (self.connection).post(if stop { "/stop" } else { "/savepoints" }, body)
    }

    /// Swap an operator's guest function.
    pub fn swap(&self, body: &SwapBody) -> Result<SwapAnswer> {
        self.connection.post("/swaps", body)
    }

    /// Cancel the job.
    pub fn cancel(&self) -> Result<()> {
        (self.connection)
            .post_empty::<serde_json::Value>("/cancel")
            .map(|_| ())
    }
}

/// Talks to a server (`eddy serve`) as a whole.
pub struct ServerClient {
    url: String,
    connection: Connection,
}

impl ServerClient {
    /// A client of the server at `url` (`http://host:port`).
    pub fn new(url: &str, token: String) -> Self {
        let url = url.trim_end_matches('/').to_string();
        let connection = Connection::new(url.clone(), token, format!("the server at {url}"));
        ServerClient { url, connection }
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its token.
    pub fn token(&self) -> &str {
        &self.connection.token
    }

    /// Every job it runs or ran since it started.
    pub fn jobs(&self) -> Result<Vec<JobListing>> {
        self.connection.get("/v1/jobs")
    }

    /// Upload a guest component; the server keeps it by its SHA-256.
    pub fn upload_module(&self, bytes: &[u8]) -> Result<UploadedModule> {
        self.connection.post_bytes("/v1/modules", bytes)
    }

    /// Start a job.
    pub fn submit(&self, body: &SubmitBody) -> Result<JobSummary> {
        self.connection.post("/v1/jobs", body)
    }
}
