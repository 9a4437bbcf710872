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

#[test]
fn installing_the_models_again_does_nothing_and_needs_no_network() {
    let models = support::models_dir();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-models.sh");
    let out = Command::new("unshare")
        .args(["--net", "--"])
        .arg(&script)
        .env("ALMANAC_MODELS_DIR", &models)
        .output()
        .expect("unshare runs");
    assert!(
        out.status.success(),
        "second run failed offline: {}",
        stderr(&out)
    );
    assert_eq!(stdout(&out).trim(), models.to_str().unwrap());
    assert!(!stderr(&out).contains("downloading"), "{}", stderr(&out));

    // A damaged model file is noticed by its sha256 (and, offline, the re-download fails loudly).
    let copy = tempfile::tempdir().unwrap();
    for entry in [
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct.LICENSE",
    ] {
        std::fs::copy(models.join(entry), copy.path().join(entry)).unwrap();
    }
    let gguf = copy.path().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let mut bytes = std::fs::read(&gguf).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&gguf, bytes).unwrap();
    let out = Command::new("unshare")
        .args(["--net", "--"])
        .arg(&script)
        .env("ALMANAC_MODELS_DIR", copy.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("does not match its sha256"),
        "{}",
        stderr(&out)
    );
}
