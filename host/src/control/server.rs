//! The control API's HTTP server: a small axum router on its own thread
//! (a current-thread tokio runtime), in front of
//! [`JobHandle`](crate::runtime::JobHandle)s. Every API request needs
//! `Authorization: Bearer <token>` (or a dashboard session); the errors of
//! its handlers are JSON ([`ErrorBody`]) saying what went wrong (axum's own
//! refusals, such as an upload over the size limit, are plain text).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};

use super::api::{
    ErrorBody, JobDetails, JobListing, SavepointBody, SubmitBody, SwapBody, Throughput,
    relative_path_problem,
};
use super::dashboard::{self, Sessions};
use super::jobs::{ControlledJob, JobSubmitter, JobTable, Refusal};
use crate::checkpoint::AfterSavepoint;
use crate::runtime::SwapOrder;
use crate::runtime::handle::CommandError;
use crate::runtime::handle::JobPhase;
use crate::wasm::versions::DroppedState;

/// How long a savepoint or swap request waits for its barrier.
pub const SAVEPOINT_WAIT: Duration = Duration::from_secs(600);

/// What every handler sees.
#[derive(Debug)]
struct ServerState {
    token: String,
    jobs: Arc<JobTable>,
    /// `eddy serve`'s: takes new jobs and modules (`None` for `eddy run`).
    submitter: Option<Arc<dyn JobSubmitter>>,
    /// The dashboard's logged-in sessions.
    sessions: Sessions,
}

/// A running control server; it stops when dropped.
#[derive(Debug)]
pub struct ControlServer {
    address: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    /// Listen on `bind` (port 0: any free port) for requests about the
    /// jobs of `jobs`, authenticated with `token`; with a `submitter`, it
    /// also takes new jobs and modules.
    pub fn start(
        bind: SocketAddr,
        token: String,
        jobs: Arc<JobTable>,
        submitter: Option<Arc<dyn JobSubmitter>>,
    ) -> Result<Self> {
        let listener = std::net::TcpListener::bind(bind)
            .with_context(|| format!("cannot listen on {bind} for the control API"))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let router = router(Arc::new(ServerState {
            token,
            jobs,
            submitter,
            sessions: Sessions::for_port(address.port()),
        }));
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("cannot start the control API's runtime")?;
        let thread = std::thread::Builder::new()
            .name("control api".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            tracing::error!("control API: {error}");
                            return;
                        }
                    };
                    let served = axum::serve(listener, router)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(error) = served {
                        tracing::error!("control API stopped: {error}");
                    }
                });
            })
            .context("cannot start the control API's thread")?;
        Ok(ControlServer {
            address,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The largest module upload when the submitter sets none (for the route's
/// body limit, which is fixed when the router is built).
const DEFAULT_MAX_MODULE_BYTES: usize = 64 * 1024 * 1024;

/// The routes, all behind the token check but the dashboard's login and assets.
fn router(state: Arc<ServerState>) -> Router {
    let module_limit =
        (state.submitter.as_ref()).map_or(DEFAULT_MAX_MODULE_BYTES, |s| s.max_module_bytes());
    Router::new()
        .route("/v1/jobs", get(list_jobs).post(submit))
        .route("/v1/jobs/{id}", get(job_details))
        .route("/v1/jobs/{id}/checkpoints", get(checkpoint_history))
        .route("/v1/jobs/{id}/failures", get(failure_history))
        .route("/v1/jobs/{id}/throughput", get(throughput))
        .route("/v1/jobs/{id}/savepoints", post(savepoint))
        .route("/v1/jobs/{id}/stop", post(stop))
        .route("/v1/jobs/{id}/swaps", post(swap))
        .route("/v1/jobs/{id}/cancel", post(cancel))
        .route(
            "/v1/modules",
            post(upload_module).layer(DefaultBodyLimit::max(module_limit)),
        )
        .route("/v1/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/", get(dashboard_page))
        .route("/login", post(login))
        .route("/logout", get(logout))
        .route("/assets/{name}", get(asset))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

/// An error answer.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

/// Let through requests with the bearer token (compared in constant time),
/// and those of a dashboard session (with its CSRF token if they change
/// something); refuse the rest. The dashboard's login and assets are open.
async fn authenticate(
    State(state): State<Arc<ServerState>>,
    request: Request,
    next: Next,
) -> Response {
    if dashboard::is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if let Some(token) = presented
        && same_secret(token.as_bytes(), state.token.as_bytes())
    {
        return next.run(request).await;
    }
    if presented.is_none()
        && let Some(csrf) = state.sessions.csrf_of(headers)
    {
        let safe = matches!(request.method().as_str(), "GET" | "HEAD");
        let csrf_presented = (headers.get(dashboard::CSRF_HEADER)).and_then(|v| v.to_str().ok());
        if safe || csrf_presented.is_some_and(|t| same_secret(t.as_bytes(), csrf.as_bytes())) {
            return next.run(request).await;
        }
        return error(
            StatusCode::FORBIDDEN,
            "this change came without the dashboard's CSRF token (`X-CSRF-Token`): only the dashboard page may send it",
        );
    }
    let message = match presented {
        None => {
            "this request has no `Authorization: Bearer <token>` header; the token is in the run's entry (`eddy list` finds it), or the server's `<dir>/token`"
        }
        Some(_) => "wrong bearer token",
    };
    let mut response = error(StatusCode::UNAUTHORIZED, message);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Equality that takes as long for every mismatch of equal-length inputs.
pub(super) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn find(state: &ServerState, id: &str) -> Option<ControlledJob> {
    state.jobs.find(id)
}

fn no_such_job(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("no job with id `{id}` here"))
}

async fn list_jobs(State(state): State<Arc<ServerState>>) -> Json<Vec<JobListing>> {
    Json(
        (state.jobs.list().into_iter())
            .map(|job| JobListing {
                phase: job.handle.status().phase,
                summary: job.summary,
            })
            .collect(),
    )
}

async fn checkpoint_history(State(state): State<Arc<ServerState>>, JobId(id): JobId) -> Response {
    match find(&state, &id) {
        Some(job) => Json(job.handle.checkpoint_history()).into_response(),
        None => no_such_job(&id),
    }
}

async fn failure_history(State(state): State<Arc<ServerState>>, JobId(id): JobId) -> Response {
    match find(&state, &id) {
        Some(job) => Json(job.handle.failures()).into_response(),
        None => no_such_job(&id),
    }
}

async fn throughput(State(state): State<Arc<ServerState>>, JobId(id): JobId) -> Response {
    let Some(job) = find(&state, &id) else {
        return no_such_job(&id);
    };
    let (nodes, samples) = job.handle.throughput();
    Json(Throughput { nodes, samples }).into_response()
}

async fn dashboard_page(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    query: Query<dashboard::TokenQuery>,
) -> Response {
    dashboard::page(&state.sessions, &state.token, &headers, query)
}

async fn login(
    State(state): State<Arc<ServerState>>,
    form: Form<dashboard::LoginForm>,
) -> Response {
    dashboard::login_form(&state.sessions, &state.token, form)
}

async fn logout(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    dashboard::logout(&state.sessions, &headers)
}

async fn asset(Path(name): Path<String>) -> Response {
    dashboard::asset(&name)
}

async fn metrics(State(state): State<Arc<ServerState>>) -> Response {
    let jobs = state.jobs.list();
    match tokio::task::spawn_blocking(move || super::metrics::render(jobs)).await {
        Ok(text) => ([(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)], text).into_response(),
        Err(panic) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: {panic}"),
        ),
    }
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../../docs/control-api.openapi.json"),
    )
        .into_response()
}

/// The refusal of a server without a submitter (`eddy run`'s).
struct TakesNoJobs;

impl IntoResponse for TakesNoJobs {
    fn into_response(self) -> Response {
        error(
            StatusCode::METHOD_NOT_ALLOWED,
            "this is the control API of a single `eddy run`: it runs one job; submit jobs and modules to `eddy serve`",
        )
    }
}

/// The server's submitter, if it takes jobs.
fn submitter(state: &ServerState) -> Result<Arc<dyn JobSubmitter>, TakesNoJobs> {
    state.submitter.clone().ok_or(TakesNoJobs)
}

async fn submit(
    State(state): State<Arc<ServerState>>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let submitter = match submitter(&state) {
        Ok(submitter) => submitter,
        Err(refusal) => return refusal.into_response(),
    };
    let body: SubmitBody = match request_body(body) {
        Ok(body) => body,
        Err(bad) => return bad.into_response(),
    };
    off_thread(move || submitter.submit(body), StatusCode::CREATED, refused).await
}

async fn upload_module(State(state): State<Arc<ServerState>>, body: Bytes) -> Response {
    let submitter = match submitter(&state) {
        Ok(submitter) => submitter,
        Err(refusal) => return refusal.into_response(),
    };
    let upload = move || submitter.upload_module(&body);
    off_thread(upload, StatusCode::CREATED, refused).await
}

fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Invalid(message) => error(StatusCode::BAD_REQUEST, message),
        Refusal::Failed(failure) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, format!("{failure:#}"))
        }
    }
}

async fn job_details(State(state): State<Arc<ServerState>>, JobId(id): JobId) -> Response {
    let Some(job) = find(&state, &id) else {
        return no_such_job(&id);
    };
    Json(JobDetails {
        summary: job.summary.clone(),
        graph: serde_json::to_value(job.handle.graph()).unwrap_or_default(),
        status: job.handle.status(),
    })
    .into_response()
}

async fn savepoint(
    State(state): State<Arc<ServerState>>,
    JobId(id): JobId,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    take_savepoint(&state, &id, body, AfterSavepoint::Continue).await
}

async fn stop(
    State(state): State<Arc<ServerState>>,
    JobId(id): JobId,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    take_savepoint(&state, &id, body, AfterSavepoint::Stop).await
}

async fn take_savepoint(
    state: &ServerState,
    id: &str,
    body: Result<Json<serde_json::Value>, JsonRejection>,
    after: AfterSavepoint,
) -> Response {
    let Some(job) = find(state, id) else {
        return no_such_job(id);
    };
    let dir = request_body::<SavepointBody>(body);
    let dir = match dir.and_then(|body| body.dir.map(absolute("dir")).transpose()) {
        Ok(dir) => dir.unwrap_or_else(|| job.savepoint_dir.clone()),
        Err(bad) => return bad.into_response(),
    };
    let handle = job.handle.clone();
    let (submitter, id) = (state.submitter.clone(), id.to_string());
    answer_when_done(move || {
        let report = handle.savepoint(dir, after, SAVEPOINT_WAIT)?;
        if after == AfterSavepoint::Stop
            && let Some(submitter) = submitter
        {
            submitter.ending(&id, JobPhase::Stopped);
        }
        Ok(report)
    })
    .await
}

async fn swap(
    State(state): State<Arc<ServerState>>,
    JobId(id): JobId,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let Some(job) = find(&state, &id) else {
        return no_such_job(&id);
    };
    let body: SwapBody = match request_body(body) {
        Ok(body) => body,
        Err(bad) => return bad.into_response(),
    };
    let module = match (body.module, body.module_sha256) {
        (Some(path), None) => match absolute("module")(path) {
            Ok(module) => module,
            Err(bad) => return bad.into_response(),
        },
        (None, Some(sha256)) => {
            let submitter = match submitter(&state) {
                Ok(submitter) => submitter,
                Err(refusal) => return refusal.into_response(),
            };
            match submitter.uploaded_module(&sha256) {
                Some(path) => path,
                None => {
                    return BadRequest(format!(
                        "no module with SHA-256 `{sha256}` was uploaded (POST /v1/modules)"
                    ))
                    .into_response();
                }
            }
        }
        _ => {
            return BadRequest(
                "give the new module as exactly one of `module` (a path on the server) and `module_sha256` (an upload)".into(),
            )
            .into_response();
        }
    };
    let order = SwapOrder {
        operator: body.operator,
        module,
        config: body.config,
        dropped: if body.allow_dropped_state {
            DroppedState::Allow
        } else {
            DroppedState::Refuse
        },
    };
    let handle = job.handle.clone();
    answer_when_done(move || handle.swap(order, SAVEPOINT_WAIT)).await
}

/// The `{id}` of a job's path; a path that cannot be read is answered
/// with a JSON 400, as every other error.
struct JobId(String);

impl<S: Send + Sync> FromRequestParts<S> for JobId {
    type Rejection = BadRequest;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| JobId(id))
            .map_err(|rejection| BadRequest(format!("bad job id: {}", rejection.body_text())))
    }
}

/// What is wrong with a request, answered with 400.
struct BadRequest(String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.0)
    }
}

/// The request's JSON body, or what is wrong with it. Read as a value
/// first: serde would also build a request from an array, by position.
fn request_body<T: serde::de::DeserializeOwned>(
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<T, BadRequest> {
    let Json(value) = body
        .map_err(|rejection| BadRequest(format!("bad request body: {}", rejection.body_text())))?;
    if !value.is_object() {
        return Err(BadRequest(
            "bad request body: expected a JSON object".to_string(),
        ));
    }
    serde_json::from_value(value).map_err(|error| BadRequest(format!("bad request body: {error}")))
}

/// A check that the path in body field `field` is absolute: the server
/// does not share the client's working directory.
fn absolute(field: &'static str) -> impl Fn(PathBuf) -> Result<PathBuf, BadRequest> {
    move |path| match relative_path_problem(field, &path) {
        Some(problem) => Err(BadRequest(problem)),
        None => Ok(path),
    }
}

/// Run a command that waits for the job (a savepoint, a swap) off the
/// server's thread, and answer with its report or its error.
async fn answer_when_done<T: serde::Serialize + Send + 'static>(
    command: impl FnOnce() -> Result<T, CommandError> + Send + 'static,
) -> Response {
    off_thread(command, StatusCode::OK, command_error).await
}

/// Run `work` (which blocks: it waits for the job, or loads modules) off
/// the server's thread; answer `success` with its result, or its error as
/// `failed` says.
async fn off_thread<T: serde::Serialize + Send + 'static, E: Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
    success: StatusCode,
    failed: fn(E) -> Response,
) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(answer)) => (success, Json(answer)).into_response(),
        Ok(Err(failure)) => failed(failure),
        Err(panic) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: {panic}"),
        ),
    }
}

async fn cancel(State(state): State<Arc<ServerState>>, JobId(id): JobId) -> Response {
    let Some(job) = find(&state, &id) else {
        return no_such_job(&id);
    };
    if let Some(submitter) = &state.submitter
        && !job.handle.status().phase.is_final()
    {
        submitter.ending(&id, JobPhase::Cancelled);
    }
    match job.handle.cancel() {
        Ok(()) => (StatusCode::ACCEPTED, Json(serde_json::json!({}))).into_response(),
        Err(failure) => command_error(failure),
    }
}

fn command_error(failure: CommandError) -> Response {
    let status = match failure {
        CommandError::JobEnded => StatusCode::GONE,
        CommandError::Refused(_) => StatusCode::CONFLICT,
        CommandError::TimedOut(_) => StatusCode::GATEWAY_TIMEOUT,
    };
    error(status, failure.to_string())
}
