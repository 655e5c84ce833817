//! Interactive queries against a real node (in process): a word count over three
//! partitions serves its `counts` store (key-value) and its `per-minute` store (windows)
//! in-process, over HTTP on its `application.server`, and through `eddy topology query`,
//! with the exact counts; unknown keys and stores are 404s, a bad request a 400, and an
//! application without `application.server` is refused with a clear message.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eddy::client::{Admin, Producer, ProducerConfig, ProducerRecord};
use eddy::streams::{KafkaStreams, StreamsSettings};
use eddy::topologies::{StreamsBuilder, TimeWindows, Topology, WindowedValue};
use serde_json::{json, Value};

const INPUT: &str = "q-lines";
const APP: &str = "q-wordcount";
/// How long any one condition may take to come true.
const WAIT: Duration = Duration::from_secs(60);

/// Lines split into words, counted per word in total and per minute.
fn word_count() -> Topology {
    let builder = StreamsBuilder::new();
    let words = builder
        .stream::<String, String>(INPUT)
        .flat_map_values(|line| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .group_by(|_, word| word.clone());
    words.count().named("counts");
    words
        .windowed_by(TimeWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(3600)))
        .count()
        .named("per-minute");
    builder.build().expect("topology builds")
}

/// Writes each line with the timestamp `at_ms`.
async fn produce(bootstrap: &str, lines: &[&str], at_ms: i64) {
    let mut producer = Producer::connect(bootstrap, ProducerConfig::default())
        .await
        .expect("producer");
    for line in lines {
        let mut record = ProducerRecord::new(INPUT, line.to_string());
        record.timestamp_ms = Some(at_ms);
        producer.send(record).await.expect("send");
    }
    producer.flush().await.expect("flush");
}

/// GETs `url`: the status and the JSON body.
async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("GET");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text }));
    (status, body)
}

/// Runs `eddy ARGS` on the blocking pool: the query server it calls runs on this thread.
async fn eddy(args: &[&str]) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_eddy"))
            .args(&args)
            .output()
            .expect("run eddy")
    })
    .await
    .expect("join");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// This minute's start, so the windows of the test's records are still open.
fn this_minute_ms() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    now - now % 60_000
}

#[test]
fn stores_answer_in_process_over_http_and_through_the_cli() {
    let (dir, node) = common::embedded_node();
    let bootstrap = node.kafka_addr.to_string();
    let state_dir = dir.path().join("streams-state");
    let node_admin = node.admin_addr;
    actix_rt::System::new().block_on(async move {
        let mut admin = Admin::connect(&bootstrap).await.expect("admin");
        admin
            .create_topic(INPUT, 3, 1, &[])
            .await
            .expect("input topic");
        let mut settings = StreamsSettings::new(APP, &bootstrap);
        settings.commit_interval = Duration::from_millis(200);
        settings.state_dir = state_dir.clone();
        // Port 0: the system picks a free loopback port, reported to the registry.
        settings.application_server = Some("127.0.0.1:0".into());
        let streams = KafkaStreams::start(word_count(), settings)
            .await
            .expect("streams start");
        // Three input partitions: three tasks per sub-topology, so keys are spread.
        let tasks = streams.tasks();
        assert!(tasks.len() >= 6 && tasks.iter().all(|t| (0..3).contains(&t.partition)));
        assert_eq!(tasks.iter().filter(|t| t.partition == 2).count() * 3, tasks.len());
        let server = streams.application_server().expect("serves queries");
        let minute = this_minute_ms();
        produce(
            &bootstrap,
            &["kafka streams", "kafka eddy kafka", "streams", "héllo wörld"],
            minute + 1_000,
        )
        .await;
        let expected: BTreeMap<&str, u64> = [
            ("kafka", 3),
            ("streams", 2),
            ("eddy", 1),
            ("héllo", 1),
            ("wörld", 1),
        ]
        .into();

        // In process: raw bytes, typed, and windows.
        let deadline = Instant::now() + WAIT;
        loop {
            let mut counts = BTreeMap::new();
            for word in expected.keys() {
                if let Ok(Some(n)) = streams
                    .query_typed::<String, u64>("counts", &word.to_string())
                    .await
                {
                    counts.insert(*word, n);
                }
            }
            if counts == expected {
                break;
            }
            assert!(Instant::now() < deadline, "counts never matched: {counts:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            streams.query("counts", b"kafka").await.expect("query"),
            Some(3u64.to_be_bytes().to_vec())
        );
        assert_eq!(streams.query("counts", b"nope").await.expect("query"), None);
        assert_eq!(
            streams
                .query_windows("per-minute", b"kafka")
                .await
                .expect("window query"),
            vec![WindowedValue {
                start: minute,
                end: minute + 60_000,
                value: 3u64.to_be_bytes().to_vec(),
            }]
        );
        assert!(streams.query("per-minute", b"kafka").await.is_err());
        assert!(streams.query("no-such-store", b"kafka").await.is_err());

        // Over HTTP.
        let base = format!("http://{server}/topologies/{APP}/stores");
        for (word, count) in &expected {
            let (status, body) = get(&format!("{base}/counts?key={word}")).await;
            assert_eq!(status, 200, "{word}: {body}");
            assert_eq!(
                body,
                json!({ "key": word, "value": count, "value_hex": format!("{count:016x}") })
            );
        }
        let (status, body) = get(&format!("{base}/counts?key_hex=6b61666b61")).await;
        assert_eq!((status, &body["key"], &body["value"]), (200, &json!("kafka"), &json!(3)));
        let (status, body) = get(&format!("{base}/counts?key=h%C3%A9llo")).await;
        assert_eq!((status, &body["value"]), (200, &json!(1)), "{body}");
        let (status, body) = get(&format!("{base}/per-minute?key=kafka")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["windows"],
            json!([{ "start": minute, "end": minute + 60_000, "value": 3, "value_hex": "0000000000000003" }])
        );
        let (status, body) = get(&format!("{base}/counts?key=zzz")).await;
        assert_eq!(status, 404, "{body}");
        assert!(body["message"].as_str().is_some_and(|e| e.contains("'zzz'")), "{body}");
        assert_eq!(body["error_code"], 404, "{body}");
        let (status, body) = get(&format!("{base}/per-minute?key=zzz")).await;
        assert_eq!(status, 404, "{body}");
        let (status, body) = get(&format!("{base}/no-such-store?key=kafka")).await;
        assert_eq!(status, 404, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|e| e.contains("no state store 'no-such-store'")),
            "{body}"
        );
        let (status, _) = get(&format!("http://{server}/topologies/other-app/stores/counts?key=a")).await;
        assert_eq!(status, 404);
        for bad in ["", "?key_hex=6", "?key=a&key_hex=61"] {
            let (status, body) = get(&format!("{base}/counts{bad}")).await;
            assert_eq!(status, 400, "{bad}: {body}");
        }

        // Through the CLI, which finds the server in the registry.
        let deadline = Instant::now() + WAIT;
        let printed = loop {
            let (ok, out, err) = eddy(&["topology", "query", APP, "counts", "kafka", "-b", &bootstrap]).await;
            if ok {
                break out;
            }
            assert!(Instant::now() < deadline, "eddy topology query failed: {err}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert_eq!(printed, "3\n");
        let (ok, out, err) =
            eddy(&["topology", "query", APP, "counts", "wörld", "--json", "-b", &bootstrap]).await;
        assert!(ok, "{err}");
        let answer: Value = serde_json::from_str(&out).expect("--json prints JSON");
        assert_eq!(answer["value"], 1);
        let (ok, out, err) = eddy(&[
            "topology", "query", APP, "counts", "73747265616d73", "--key-hex", "-b", &bootstrap,
        ])
        .await;
        assert!(ok, "{err}");
        assert_eq!(out, "2\n");
        let (ok, out, _) =
            eddy(&["topology", "query", APP, "per-minute", "kafka", "-b", &bootstrap]).await;
        assert!(ok && out.contains(&minute.to_string()) && out.contains('3'), "{out}");
        let (ok, _, err) = eddy(&["topology", "query", APP, "counts", "zzz", "-b", &bootstrap]).await;
        assert!(!ok && err.contains("'zzz' is not in store 'counts'"), "{err}");
        let (ok, _, err) =
            eddy(&["topology", "query", APP, "no-such-store", "kafka", "-b", &bootstrap]).await;
        assert!(!ok && err.contains("no state store 'no-such-store'"), "{err}");
        let (ok, _, err) =
            eddy(&["topology", "query", "never-ran", "counts", "kafka", "-b", &bootstrap]).await;
        assert!(!ok && err.contains("no streams application 'never-ran'"), "{err}");

        // An application without application.server is refused with what to do.
        let silent = {
            let builder = StreamsBuilder::new();
            builder.stream::<String, String>(INPUT).group_by_key().count().named("silent-counts");
            builder.build().expect("topology builds")
        };
        let mut silent_settings = StreamsSettings::new("q-silent", &bootstrap);
        silent_settings.state_dir = state_dir;
        let silent = KafkaStreams::start(silent, silent_settings)
            .await
            .expect("second application starts");
        let deadline = Instant::now() + WAIT;
        loop {
            let (ok, _, err) =
                eddy(&["topology", "query", "q-silent", "silent-counts", "k", "-b", &bootstrap]).await;
            assert!(!ok);
            if err.contains("does not serve interactive queries") {
                assert!(err.contains("application.server"), "{err}");
                break;
            }
            assert!(Instant::now() < deadline, "never refused clearly: {err}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        // Through the node's admin HTTP, which redirects to the application's server.
        let (status, body) =
            get(&format!("http://{node_admin}/topologies/{APP}/stores/counts?key=kafka")).await;
        assert_eq!((status, &body["value"]), (200, &json!(3)), "{body}");
        let (status, body) = get(&format!("http://{node_admin}/topologies")).await;
        assert_eq!(status, 200, "{body}");
        let app = body.as_array().and_then(|apps| apps.iter().find(|a| a["application_id"] == APP));
        assert!(app.is_some_and(|a| a["tasks"].as_array().is_some_and(|t| !t.is_empty())), "{body}");
        let (status, body) = get(&format!("http://{node_admin}/topologies/{APP}")).await;
        assert_eq!((status, &body["application_id"]), (200, &json!(APP)), "{body}");
        let (status, body) =
            get(&format!("http://{node_admin}/topologies/never-ran/stores/counts?key=a")).await;
        assert_eq!(status, 404, "{body}");
        let (status, body) =
            get(&format!("http://{node_admin}/topologies/q-silent/stores/silent-counts?key=k")).await;
        assert_eq!(status, 503, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|e| e.contains("application.server")),
            "{body}"
        );

        // `eddy supervisors` shows the application's tasks in the node's tree, as reported.
        let admin_arg = node_admin.to_string();
        let (ok, out, err) = eddy(&["supervisors", "--json", "--admin", &admin_arg]).await;
        assert!(ok, "{err}");
        let tree: Value = serde_json::from_str(&out).expect("--json prints JSON");
        let topologies = tree["root"]["children"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == "topologies (as reported)"))
            .unwrap_or_else(|| panic!("no topologies child: {out}"));
        let app = topologies["children"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == format!("topology {APP}")))
            .unwrap_or_else(|| panic!("no {APP}: {topologies}"));
        let tasks = app["children"].as_array().expect("tasks");
        assert_eq!(tasks.len(), streams.tasks().len(), "{app}");
        assert!(tasks.iter().all(|t| t["state"] == "running"), "{app}");
        let (ok, out, _) = eddy(&["supervisors", "--admin", &admin_arg]).await;
        assert!(ok && out.contains(&format!("topology {APP}")) && out.contains("task 1_0 on"), "{out}");
        drop(silent);
        drop(streams);
    });
    node.shutdown();
}
