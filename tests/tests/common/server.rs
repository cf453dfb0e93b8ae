//! An `eddy serve` in the background, for the tests of the session server
//! and its dashboard: started in a scratch folder with the test's own run
//! directory, and a small client of its API.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::Scratch;
use super::background::{Background, run_dir};

/// A running `eddy serve`.
pub struct Server {
    pub process: Background,
    /// `host:port`.
    pub address: String,
    pub token: String,
}

impl Server {
    /// `eddy serve --bind 127.0.0.1:0 --dir DIR ARGS` in `scratch`; waits
    /// until it has registered.
    pub fn start(scratch: &Scratch, dir: &str, args: &[&str]) -> Server {
        let mut command = vec!["serve", "--bind", "127.0.0.1:0", "--dir", dir];
        command.extend_from_slice(args);
        let mut process = Background::eddy(scratch, &command);
        let servers = run_dir(scratch).join("servers");
        let started = Instant::now();
        // Entries of servers killed before may still be there.
        let entry = loop {
            let found = std::fs::read_dir(&servers)
                .into_iter()
                .flatten()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .filter_map(|p| std::fs::read_to_string(p).ok())
                .filter_map(|text| serde_json::from_str::<Value>(&text).ok())
                .find(|entry| entry["pid"].as_u64() == Some(u64::from(process.pid())));
            if let Some(entry) = found {
                break entry;
            }
            assert!(
                process.running(),
                "the server ended before it registered:\n{}",
                process.stderr()
            );
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server did not register within a minute:\n{}",
                process.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        // It registers before it resumes its jobs: wait for that too.
        while !process.stderr().contains("job(s) resumed") {
            assert!(process.running(), "the server ended:\n{}", process.stderr());
            assert!(started.elapsed() < Duration::from_secs(60));
            std::thread::sleep(Duration::from_millis(10));
        }
        Server {
            process,
            address: entry["address"].as_str().unwrap().to_string(),
            token: entry["token"].as_str().unwrap().to_string(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `METHOD PATH` with the server's token and a JSON body; the status
    /// and the answer (JSON, or the text as a JSON string).
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        request(&self.address, method, path, Some(&self.token), body)
    }

    /// `POST PATH` with raw bytes.
    pub fn upload(&self, path: &str, bytes: &[u8]) -> (u16, Value) {
        let agent = agent();
        let response = agent
            .post(format!("{}{path}", self.url()))
            .header("Authorization", &format!("Bearer {}", self.token))
            .content_type("application/wasm")
            .send(bytes)
            .expect("the server answers");
        read(response)
    }

    /// `GET PATH` as text.
    pub fn text(&self, path: &str) -> (u16, String) {
        let mut response = agent()
            .get(format!("{}{path}", self.url()))
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .expect("the server answers");
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    }

    /// The job `id`'s details (`GET /v1/jobs/{id}`).
    pub fn job(&self, id: &str) -> Value {
        let (status, job) = self.request("GET", &format!("/v1/jobs/{id}"), None);
        assert_eq!(status, 200, "{job}");
        job
    }

    /// Wait (up to two minutes) until `done` holds for job `id`'s details.
    pub fn wait_for(&mut self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let job = self.job(id);
            if done(&job) {
                return job;
            }
            assert!(
                self.process.running(),
                "the server ended:\n{}",
                self.process.stderr()
            );
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "job {id}: {what} did not happen within two minutes: {job}\n{}",
                self.process.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn read(mut response: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `METHOD PATH` on the control API at `address` (`host:port`), with
/// `token` if given.
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let url = format!("http://{address}{path}");
    let agent = agent();
    let response = match method {
        "GET" => {
            let mut request = agent.get(&url);
            if let Some(token) = token {
                request = request.header("Authorization", &format!("Bearer {token}"));
            }
            request.call()
        }
        _ => {
            let mut request = agent.post(&url).header("Content-Type", "application/json");
            if let Some(token) = token {
                request = request.header("Authorization", &format!("Bearer {token}"));
            }
            request.send(body.unwrap_or("{}"))
        }
    };
    read(response.expect("the control API answers"))
}
