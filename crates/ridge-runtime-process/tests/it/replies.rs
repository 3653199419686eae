//! Replies and output larger than the server's read buffers: a worker's reply pipe is read
//! through an 8 KiB buffer, and its output through one 64 KiB chunk per thread, shared by every
//! worker whose pipe that thread reads.

use serde_json::json;

use crate::python::{invoke, object, start};

/// Returns a string of `n` characters and prints `lines` lines of 100 characters.
const BIG: &str = r#"
def main(n, lines, mark, **kwargs):
    for i in range(lines):
        print(mark * 99)
    return mark * n
"#;

#[tokio::test]
async fn replies_and_output_past_the_buffers_arrive_whole_for_each_worker() {
    let (_a_dir, mut a) = start(BIG).await;
    let (_b_dir, mut b) = start(BIG).await;
    // Twice each, alternating: a reply 60 times the reply buffer, output 4 times a chunk.
    for round in 0..2 {
        for (worker, mark, other) in [(&mut a, "a", "b"), (&mut b, "b", "a")] {
            let n = 500_000 + round;
            let done = invoke(
                worker,
                object(json!({"n": n, "lines": 2_600, "mark": mark})),
            )
            .await;
            let output = done.output.expect("returns");
            assert_eq!(
                output.as_str().map(str::len),
                Some(n),
                "round {round}, {mark}"
            );
            assert!(
                output
                    .as_str()
                    .is_some_and(|s| s.bytes().all(|c| c == mark.as_bytes()[0]))
            );
            let line = format!("{}\n", mark.repeat(99));
            assert_eq!(
                done.logs.matches(line.as_str()).count(),
                2_600,
                "round {round}, {mark}: every line of its own worker"
            );
            assert!(
                !done.logs.contains(&other.repeat(99)),
                "round {round}, {mark}: a line of the other worker's"
            );
        }
    }
}
