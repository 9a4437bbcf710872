//! After set-up, ingest and ask work with no network at all: they run in a network namespace with no
//! interfaces (`unshare -n`, as root) under strace, and must not attempt a single network connection.

mod support;

use std::process::Command;

use support::{fixtures, stderr, stdout, Library};

fn offline(library: &Library, trace: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-qq",
        "-e",
        "trace=connect,sendto,sendmsg,socket",
        "-o",
    ])
    .arg(trace);
    cmd.args(["unshare", "--net", "--"])
        .arg(env!("CARGO_BIN_EXE_almanac"))
        .args(args);
    library.configure(&mut cmd);
    cmd.output()
        .expect("strace and unshare are installed (scripts/install-system-packages.sh)")
}

/// Sockets other than local (AF_UNIX) ones, from an strace log.
fn network_calls(trace: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(trace)
        .unwrap()
        .lines()
        .filter(|l| {
            l.contains("AF_INET")
                || l.contains("AF_INET6")
                || l.contains("AF_NETLINK")
                || l.contains("AF_PACKET")
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn ingest_and_ask_work_without_a_network() {
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    assert_eq!(
        uid.trim(),
        "0",
        "this test needs root for unshare --net (CI and the test script run as root)"
    );
    let library = Library::new();
    let trace = library.path().join("strace.log");

    let out = offline(
        &library,
        &trace,
        &["ingest", fixtures().join("facts").to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "offline ingest failed: {}",
        stderr(&out)
    );
    assert_eq!(
        network_calls(&trace),
        Vec::<String>::new(),
        "ingest touched the network"
    );

    let out = offline(
        &library,
        &trace,
        &["ask", "--json", "Who won the 2024 Fennick Prize?"],
    );
    assert!(out.status.success(), "offline ask failed: {}", stderr(&out));
    let answer: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        answer["answer"]
            .as_str()
            .unwrap()
            .contains("Adaeze Orlunwe"),
        "{answer}"
    );
    assert_eq!(
        network_calls(&trace),
        Vec::<String>::new(),
        "ask touched the network"
    );
}
