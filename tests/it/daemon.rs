//! `qbsync daemon` as systemd runs it: READY once it can work, the status page while it runs,
//! STOPPING and exit status 0 on SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::World;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_notifies_systemd_serves_its_status_and_stops_cleanly_on_sigterm() {
    let world = World::demo().await;
    world.migrate(false).await;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let port = free_port();

    let mut child = Command::new(env!("CARGO_BIN_EXE_qbsync"))
        .args(["daemon", "--interval", "1"])
        .env_clear()
        .envs(world.env.iter().cloned())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NOTIFY_SOCKET", &socket_path)
        .env("QBSYNC_STATUS_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut messages = String::new();
    let read = |messages: &mut String| {
        let mut buf = [0u8; 4096];
        if let Ok(n) = socket.recv(&mut buf) {
            messages.push_str(&String::from_utf8_lossy(&buf[..n]));
            messages.push('\n');
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !messages.contains("READY=1") {
        assert!(Instant::now() < deadline, "no READY=1: {messages}");
        read(&mut messages);
    }

    let url = format!("http://127.0.0.1:{port}/status.json");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(response) = client.get(&url).send().await {
            let json: serde_json::Value = response.json().await.unwrap();
            if json["invoices"]["synced"] == 13 {
                break json;
            }
        }
        assert!(Instant::now() < deadline, "the status page never showed 13 synced invoices");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status["invoices"]["failed"], 7);
    assert_eq!(status["quickbooks"]["connected"], true);
    assert!(status["last_success"].is_string(), "{status}");
    let page = client.get(format!("http://127.0.0.1:{port}/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Wayne Enterprises"), "the card lists recent failures");
    let metrics = client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("qbsync_"), "{metrics}");

    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let mut exited = None;
    wait_for("the daemon to exit", Duration::from_secs(30), || {
        exited = child.try_wait().unwrap();
        exited.is_some()
    });
    assert!(exited.unwrap().success(), "exit status 0 on SIGTERM");
    for _ in 0..10 {
        read(&mut messages);
    }
    assert!(messages.contains("STOPPING=1"), "{messages}");
    assert_eq!(world.sandbox.qbo.invoices().len(), 13);
}
