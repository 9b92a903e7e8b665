//! A small OpenAI-compatible chat server on loopback, for running a real
//! agent CLI (aider) through Roam without a model: each request gets an
//! answer in aider's "whole" edit format that rewrites README.md with what
//! the last user message asks it to "say", or a one-line commit message
//! when that is what is asked.
//! Every request body is kept, so a test can see what the agent sent
//! (its restored history, say).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct FakeLlm {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
}

/// How long an edit takes to "think": long enough for the agent's status
/// to show it working.
const THINK: Duration = Duration::from_secs(2);

impl FakeLlm {
    pub fn start() -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let Some(body) = read_request(&stream) else {
                    continue;
                };
                seen.lock().unwrap().push(body.clone());
                let content = if body.to_lowercase().contains("commit message") {
                    "Change the readme as asked".to_string()
                } else {
                    std::thread::sleep(THINK);
                    format!("README.md\n```\n{}\n```\n", what_to_say(&body))
                };
                answer(stream, &content);
            }
        });
        FakeLlm { port, requests }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// The words after the first "say " in the last user message, to the end
/// of its line.
fn what_to_say(body: &str) -> String {
    let request: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let last = request["messages"]
        .as_array()
        .and_then(|m| m.iter().rfind(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    last.split_once("say ")
        .map(|(_, words)| words.lines().next().unwrap_or("").trim().to_string())
        .unwrap_or_else(|| "nothing asked".into())
}

/// The body of one HTTP/1.1 request (headers up to the blank line, then
/// `Content-Length` bytes).
fn read_request(stream: &TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length.min(64 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some(String::from_utf8_lossy(&body).into_owned())
}

fn answer(mut stream: TcpStream, content: &str) {
    let body = serde_json::json!({
        "id": "roam-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "roam-fake",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
    .to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
