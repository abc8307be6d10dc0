//! End-to-end tests of the node binaries: spawn the built binary, pipe a transcript to its
//! stdin, and check stdout line by line.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ECHO: &str = env!("CARGO_BIN_EXE_glomers-echo");
const UNIQUE: &str = env!("CARGO_BIN_EXE_glomers-unique-ids");

const INIT: &str = r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2"]}}"#;
const INIT_OK: &str = r#"{"src":"n1","dest":"c0","body":{"type":"init_ok","in_reply_to":1}}"#;

fn spawn(bin: &str, args: &[&str]) -> Child {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node binary")
}

/// Runs `bin` on `input` (all of it, then EOF) and returns (stdout lines, stderr, status).
fn transcript(bin: &str, args: &[&str], input: &[u8]) -> (Vec<String>, String, i32) {
    let mut child = spawn(bin, args);
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("node runs");
    writer.join().unwrap();
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    assert!(stdout.is_empty() || stdout.ends_with('\n'), "stdout ends with a newline");
    (
        stdout.lines().map(str::to_owned).collect(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn lines(ls: &[&str]) -> Vec<u8> {
    let mut v = ls.join("\n").into_bytes();
    v.push(b'\n');
    v
}

/// Every stdout line must be a complete protocol message.
fn assert_protocol(out: &[String]) {
    for l in out {
        let mut b = l.clone().into_bytes();
        let v: simd_json::OwnedValue =
            simd_json::to_owned_value(&mut b).expect("stdout line is JSON");
        use simd_json::prelude::*;
        assert!(v.get("src").and_then(|s| s.as_str()).is_some(), "{l}");
        assert!(v.get("dest").and_then(|s| s.as_str()).is_some(), "{l}");
        assert!(v.get("body").and_then(|b| b.get("type")).is_some(), "{l}");
    }
}

#[test]
fn init_echo_and_generate() {
    let (out, _, code) = transcript(
        ECHO,
        &["unexpected", "--args"],
        &lines(&[
            INIT,
            r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":2,"echo":"Please echo 35"}}"#,
        ]),
    );
    assert_eq!(code, 0);
    assert_eq!(
        out,
        [
            INIT_OK,
            r#"{"src":"n1","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"echo":"Please echo 35"}}"#
        ]
    );
    let generate = r#"{"src":"c1","dest":"n1","body":{"type":"generate","msg_id":2}}"#;
    let (out, _, code) = transcript(UNIQUE, &[], &lines(&[INIT, generate, generate]));
    assert_eq!(code, 0);
    assert_eq!(out[0], INIT_OK);
    assert!(
        out[1].contains(r#""type":"generate_ok""#) && out[1].contains(r#""id":0"#),
        "{}",
        out[1]
    );
    assert!(out[2].contains(r#""id":2"#), "n1 of [n1,n2] hands out 0, 2, 4...: {}", out[2]);
}

#[test]
fn bad_input_gets_clear_errors_and_nothing_else_on_stdout() {
    let deep = format!(
        r#"{{"src":"c1","dest":"n1","body":{{"type":"echo","msg_id":9,"echo":{}1{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let input = [
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":2,"echo":1}}"#, // before init: 11
        INIT,
        "this is not json",
        r#"{"src":"c1","dest":"n1","body":{"type":"frob","msg_id":3}}"#, // unknown type: 10
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":4}}"#, // missing field: 12
        r#"{"src":"c1","dest":"n1","body":{"msg_id":5}}"#,               // missing type: 12
        r#"{"src":"c1","dest":"n1","body":{"type":7,"msg_id":6}}"#,      // ill-typed type: 12
        r#"{"dest":"n1","body":{"type":"echo","msg_id":7}}"#,            // no src: log only
        &deep,                                                           // too deep: log only
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":10,"echo":123456789012345678901234567890}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":11,"echo":1e400}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":12,"echo":-9223372036854775808}}"#,
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":13,"echo":"ok"}}"#,
    ];
    let mut bytes = lines(&input);
    // Invalid UTF-8 inside a string, then a last good request.
    bytes.extend_from_slice(b"{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"echo\",\"msg_id\":14,\"echo\":\"\xff\xfe\"}}\n");
    bytes.extend_from_slice(
        br#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":15,"echo":"still alive"}}"#,
    );
    bytes.push(b'\n');
    let (out, err, code) = transcript(ECHO, &[], &bytes);
    assert_eq!(code, 0, "stderr: {err}");
    assert_protocol(&out);
    let find =
        |irt: u64| out.iter().find(|l| l.contains(&format!("\"in_reply_to\":{irt},"))).cloned();
    assert!(find(2).unwrap().contains(r#""type":"error","in_reply_to":2,"code":11"#), "{out:?}");
    assert!(find(3).unwrap().contains(r#""code":10"#), "{out:?}");
    assert!(find(4).unwrap().contains(r#""code":12"#), "{out:?}");
    assert!(find(5).unwrap().contains(r#""code":12"#), "{out:?}");
    assert!(find(6).unwrap().contains(r#""code":12"#), "{out:?}");
    assert!(find(7).is_none() && find(9).is_none() && find(14).is_none());
    assert!(find(12).unwrap().contains(r#""echo":-9223372036854775808"#), "{out:?}");
    assert!(find(13).unwrap().contains(r#""echo":"ok""#));
    assert!(find(15).unwrap().contains("still alive"));
    // Out-of-range numbers: either echoed faithfully or logged and skipped, never a crash.
    if let Some(l) = find(10) {
        assert!(l.contains("123456789012345678901234567890") || l.contains("e29"), "{l}");
    }
    assert!(err.contains("not valid JSON"), "malformed lines are logged: {err}");
    assert!(err.contains("`src` missing"), "{err}");
}

#[test]
fn a_one_mib_payload_round_trips() {
    let payload: String = (0..(1 << 20)).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let req = format!(
        r#"{{"src":"c1","dest":"n1","body":{{"type":"echo","msg_id":2,"echo":"{payload}"}}}}"#
    );
    let (out, err, code) = transcript(ECHO, &[], &lines(&[INIT, &req]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.len(), 2);
    assert!(out[1].contains(&payload));
}

#[test]
fn input_split_mid_line_is_framed() {
    let mut child = spawn(ECHO, &[]);
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let req = format!(
        "{INIT}\n{}\n",
        r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":2,"echo":"split"}}"#
    );
    let bytes = req.as_bytes();
    for chunk in bytes.chunks(7) {
        stdin.write_all(chunk).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim_end(), INIT_OK);
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains(r#""echo":"split""#), "{line}");
    // EOF in the middle of a line: the fragment is handled as a final line (here: logged).
    stdin.write_all(br#"{"src":"c1","dest":"n1","body":{"type":"ec"#).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn a_burst_of_100k_requests_with_a_slow_reader_loses_nothing() {
    let n = 100_000;
    let mut child = spawn(ECHO, &[]);
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut buf = Vec::with_capacity(n * 90);
        buf.extend_from_slice(INIT.as_bytes());
        buf.push(b'\n');
        for i in 0..n {
            buf.extend_from_slice(
                format!(
                    r#"{{"src":"c1","dest":"n1","body":{{"type":"echo","msg_id":{i},"echo":{i}}}}}"#
                )
                .as_bytes(),
            );
            buf.push(b'\n');
        }
        stdin.write_all(&buf).unwrap();
    });
    let mut reader = BufReader::with_capacity(4096, stdout);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line.trim_end(), INIT_OK);
    let started = Instant::now();
    for i in 0..n {
        if i % 20_000 == 0 {
            // Stall: the node must keep the replies, not drop them.
            std::thread::sleep(Duration::from_millis(150));
        }
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains(&format!(r#""in_reply_to":{i},"echo":{i}}}"#)), "reply {i}: {line}");
    }
    writer.join().unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(rest.is_empty(), "nothing extra: {rest}");
    assert!(child.wait().unwrap().success());
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[test]
fn stdin_from_a_regular_file_works() {
    let dir = std::env::temp_dir().join(format!("glomers-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("transcript.jsonl");
    let req = r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":2,"echo":[1,{"a":null}]}}"#;
    std::fs::write(&path, lines(&[INIT, req])).unwrap();
    let out = Command::new(ECHO)
        .stdin(std::fs::File::open(&path).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let got: Vec<&str> = stdout.lines().collect();
    assert_eq!(got[0], INIT_OK);
    assert!(got[1].ends_with(r#""echo":[1,{"a":null}]}}"#), "{}", got[1]);
    // And stdout to a regular file too.
    let out_path = dir.join("out.jsonl");
    let status = Command::new(ECHO)
        .stdin(std::fs::File::open(&path).unwrap())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_closed_stdout_ends_the_node_cleanly() {
    let mut child = spawn(ECHO, &[]);
    let mut stdin = child.stdin.take().unwrap();
    drop(child.stdout.take());
    let req = r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":2,"echo":"x"}}"#;
    let _ = stdin.write_all(format!("{INIT}\n").as_bytes());
    for _ in 0..10_000 {
        if stdin.write_all(format!("{req}\n").as_bytes()).is_err() {
            break;
        }
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
#[cfg(target_os = "linux")]
fn the_node_grows_its_stdin_and_stdout_pipes() {
    use std::os::fd::AsRawFd;
    let mut child = spawn(ECHO, &[]);
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let size = |fd: i32| {
        // SAFETY: F_GETPIPE_SZ takes no argument and touches no memory of ours.
        unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) }
    };
    // Before the node has run, our ends show the kernel's default.
    let default = size(stdin.as_raw_fd());
    stdin
        .write_all(b"{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\"]}}\n")
        .expect("write");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).expect("init_ok");
    assert!(line.contains("init_ok"), "{line}");
    // The driver grew both pipes before its first read (a pipe already larger is left as
    // it is); we see the same pipes from our ends.
    let want = (glomers::driver::PIPE_CAPACITY as i32).max(default);
    assert_eq!(size(stdin.as_raw_fd()), want, "stdin pipe");
    assert_eq!(size(reader.get_ref().as_raw_fd()), want, "stdout pipe");
    drop(stdin);
    assert!(child.wait().expect("wait").success());
}
