//! Statistics per level epoch against a server whose latency changes at a known time: each stage and each hand-set level gets its own percentiles, and the epochs add up to the run.

mod support;

use std::time::{Duration, Instant};

use rampdeck::engine::{self, Control, EngineEvent};
use rampdeck::run::RunModel;
use rampdeck::stats::epochs::EpochKind;
use support::*;
use tokio::io::AsyncWriteExt;

/// Answers every request after `before` until `switch` has passed since
/// it started, after `after` from then on (keep-alive, HTTP/1.1).
async fn switching_server(
    before: Duration,
    after: Duration,
    switch: Duration,
) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let start = Instant::now();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                while read_head(&mut s).await.is_some() {
                    let d = if start.elapsed() < switch {
                        before
                    } else {
                        after
                    };
                    tokio::time::sleep(d).await;
                    let r = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if s.write_all(r).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn model_of(events: Vec<EngineEvent>) -> RunModel {
    let mut m = RunModel::default();
    for e in events {
        m.apply(e);
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_stage_and_each_set_level_has_its_own_percentiles() {
    let _serial = SERIAL.lock().await;
    // 2 ms for the first stage, 20 ms for the second (the switch is a
    // little after the run's 2 s: the server starts first).
    let addr = switching_server(
        Duration::from_millis(2),
        Duration::from_millis(20),
        Duration::from_millis(2000),
    )
    .await;
    let plan = plan(
        addr,
        "[load]\nmax_connections = 20\n\
         [[load.stages]]\nkind = \"hold\"\ntarget = 100\nduration = \"2s\"\nname = \"calm\"\n\
         [[load.stages]]\nkind = \"hold\"\ntarget = 100\nduration = \"2s\"\nname = \"slow\"\n",
    );
    let mut h = engine::start(plan).await.unwrap();
    // Halfway through the second stage the rate is set to 50 by hand.
    let _ = h.control.send(Control::At(
        Duration::from_secs(3),
        Box::new(Control::SetRate(50.0)),
    ));
    let mut events = Vec::new();
    while let Some(e) = h.events.recv().await {
        events.push(e);
    }
    let result = h.task.await.unwrap();
    let names = vec![Some("calm".to_owned()), Some("slow".to_owned())];
    let model = model_of(events);
    let rows = model.epochs.rows(&names);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let kinds: Vec<_> = rows.iter().map(|r| (r.kind, r.stage)).collect();
    assert_eq!(
        kinds,
        [
            (EpochKind::Stage, 1),
            (EpochKind::Stage, 2),
            (EpochKind::Set, 2)
        ]
    );
    assert_eq!(rows[0].stage_name.as_deref(), Some("calm"));
    // Each epoch's latency is its own level's: 2 ms, then 20 ms.
    assert!(
        (1.5..8.0).contains(&rows[0].latency.p50),
        "first stage p50 {}",
        rows[0].latency.p50
    );
    for r in &rows[1..] {
        assert!(
            (19.0..35.0).contains(&r.latency.p50),
            "epoch {} p50 {}",
            r.index,
            r.latency.p50
        );
    }
    // The windows tile the run: 0-2 s, 2-3 s, 3-4 s.
    let spans: Vec<_> = rows.iter().map(|r| (r.start_s, r.end_s)).collect();
    for (got, want) in spans.iter().zip([(0.0, 2.0), (2.0, 3.0), (3.0, 4.0)]) {
        assert!(
            (got.0 - want.0).abs() < 0.01 && (got.1 - want.1).abs() < 0.01,
            "{spans:?}"
        );
    }
    // Achieved rates per level: 100, 100, then the hand-set 50.
    for (r, want) in rows.iter().zip([100.0, 100.0, 50.0]) {
        assert!(
            (r.achieved - want).abs() <= want * 0.1,
            "epoch {} achieved {} (want {want})",
            r.index,
            r.achieved
        );
    }
    assert_eq!((rows[2].from, rows[2].to), (50.0, 50.0));
    // Every finished request is in exactly one epoch.
    let sent: u64 = rows.iter().map(|r| r.sent).sum();
    let ok: u64 = rows.iter().map(|r| r.latency.count).sum();
    assert_eq!(sent, result.totals.finished);
    assert_eq!(ok, result.totals.ok);
    // The stages hold their epochs together.
    let stages = model.epochs.stages(&names);
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[1].name.as_deref(), Some("slow"));
    assert_eq!(stages[1].epochs, [2, 3]);
    assert_eq!(stages[1].sent, rows[1].sent + rows[2].sent);
    // The whole run's p50 mixes the levels; the first stage's does not.
    assert!(rows[0].latency.p99 < 10.0, "{:?}", rows[0].latency);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_epochs_follow_the_concurrency() {
    let _serial = SERIAL.lock().await;
    let server = demo(vec![fixed("/", 20)]).await;
    let plan = plan(
        server.addrs.gateway,
        "[load]\nmode = \"closed\"\n\
         [[load.stages]]\nkind = \"hold\"\ntarget = 2\nduration = \"1500ms\"\n\
         [[load.stages]]\nkind = \"hold\"\ntarget = 8\nduration = \"1500ms\"\n",
    );
    let (result, events) = engine::run_to_end(plan).await.unwrap();
    let rows = model_of(events).epochs.rows(&[]);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    // c workers each about 1 / 21 ms.
    for (r, c) in rows.iter().zip([2.0, 8.0]) {
        let want = c * 1000.0 / 21.0;
        assert!(
            (r.achieved - want).abs() <= want * 0.2,
            "concurrency {c}: {} req/s, want about {want:.0}",
            r.achieved
        );
    }
    assert_eq!(
        rows.iter().map(|r| r.sent).sum::<u64>(),
        result.totals.finished
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_and_epoch_thresholds_judge_their_own_level_and_a_rebuild_keeps_the_epochs() {
    let _serial = SERIAL.lock().await;
    let addr = switching_server(
        Duration::from_millis(2),
        Duration::from_millis(20),
        Duration::from_millis(1500),
    )
    .await;
    let text = format!(
        "[target]\nurl = \"http://{addr}\"\n\
         [load]\nmax_connections = 20\n\
         [[load.stages]]\nkind = \"hold\"\ntarget = 100\nduration = \"1500ms\"\nname = \"calm\"\n\
         [[load.stages]]\nkind = \"hold\"\ntarget = 100\nduration = \"1500ms\"\nname = \"slow\"\n\
         [thresholds.stage.calm]\np50 = \"< 10ms\"\n\
         [thresholds.stage.slow]\np50 = \"< 10ms\"\n\
         [thresholds.epoch.1]\nrps = \">= 90% of target\"\n\
         [thresholds.epoch.3]\np99 = \"< 1s\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run_headless("levels.toml", &text, dir.path()).await;
    let s = summary(&out);
    let verdict = |name: &str| {
        s["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no verdict {name}: {}", s["thresholds"]))
            .clone()
    };
    // The calm stage holds its 10 ms p50, the slow one (20 ms) does not,
    // though the run's own p50 may pass or fail either way.
    assert_eq!(verdict("stage.calm.p50")["pass"], true, "{}", s["stages"]);
    assert_eq!(verdict("stage.slow.p50")["pass"], false, "{}", s["stages"]);
    assert!(verdict("stage.slow.p50")["actual"].as_f64().unwrap() >= 19.0);
    // Epoch 1's achieved rate against its own level (100/s).
    assert_eq!(verdict("epoch.1.rps")["pass"], true, "{}", s["epochs"]);
    assert_eq!(verdict("epoch.1.rps")["limit"], 90.0);
    // There are two epochs: the third was never reached, so nothing judged it.
    assert!(verdict("epoch.3.p99")["actual"].is_null());
    assert_eq!(verdict("epoch.3.p99")["pass"], false);
    assert_eq!(s["epochs"].as_array().unwrap().len(), 2);
    assert_eq!(s["stages"][1]["name"], "slow");
    // A summary rebuilt from run.jsonl has the same epochs (a mean may
    // differ in its last digit: the histograms are summed in another order).
    let rebuilt = serde_json::to_value(rampdeck::report::rebuild::rebuild(&out).unwrap()).unwrap();
    let no_means = |v: &serde_json::Value| {
        let mut v = v.clone();
        for row in v.as_array_mut().unwrap() {
            for k in ["latency", "service"] {
                row[k].as_object_mut().unwrap().remove("mean");
            }
        }
        v
    };
    assert_eq!(no_means(&rebuilt["epochs"]), no_means(&s["epochs"]));
    assert_eq!(no_means(&rebuilt["stages"]), no_means(&s["stages"]));
}

#[test]
fn a_threshold_on_a_stage_the_plan_lacks_names_the_stages_it_has() {
    let text = "[target]\nurl = \"http://127.0.0.1:1\"\n[load]\n\
        [[load.stages]]\nkind = \"hold\"\ntarget = 10\nduration = \"1s\"\nname = \"warm\"\n\
        [thresholds.stage.peak]\np99 = \"< 1s\"\n";
    let e = rampdeck::profile::parse("p.toml", text)
        .unwrap_err()
        .to_string();
    assert!(e.contains("p.toml:"), "{e}");
    assert!(
        e.contains("thresholds.stage.peak: no stage is named 'peak' (named stages: 'warm'"),
        "{e}"
    );
    let dup = "[target]\nurl = \"http://127.0.0.1:1\"\n[load]\n\
        [[load.stages]]\nkind = \"hold\"\ntarget = 10\nduration = \"1s\"\nname = \"a\"\n\
        [[load.stages]]\nkind = \"hold\"\ntarget = 10\nduration = \"1s\"\nname = \"a\"\n";
    let e = rampdeck::profile::parse("p.toml", dup)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("load.stages[1].name: load.stages[0] is already called 'a'"),
        "{e}"
    );
    let bad = text.replace("name = \"warm\"", "name = \"a.b\"");
    let e = rampdeck::profile::parse("p.toml", &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not a stage name"), "{e}");
    let epoch = text.replace("stage.peak", "epoch.0");
    let e = rampdeck::profile::parse("p.toml", &epoch)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("thresholds.epoch.0: an epoch is named by its number"),
        "{e}"
    );
}

/// Answers in 1 ms, except that a request arriving between `from` and
/// `to` (since it started) waits until `to`: every connection stalls.
async fn stalling_server(from: Duration, to: Duration) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let start = tokio::time::Instant::now();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                while read_head(&mut s).await.is_some() {
                    let t = start.elapsed();
                    if t >= from && t < to {
                        tokio::time::sleep_until(start + to).await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    let r = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if s.write_all(r).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_sent_after_a_level_change_is_charged_to_the_level_that_scheduled_it() {
    let _serial = SERIAL.lock().await;
    // Every connection stalls from 0.8 s to 1.6 s; the first stage's last
    // 0.2 s of slots can only leave after 1.6 s, in the second stage.
    let addr = stalling_server(Duration::from_millis(800), Duration::from_millis(1600)).await;
    let plan = plan(
        addr,
        "[load]\nmax_connections = 20\n\
         [[load.stages]]\nkind = \"hold\"\ntarget = 200\nduration = \"1s\"\n\
         [[load.stages]]\nkind = \"hold\"\ntarget = 100\nduration = \"1500ms\"\n",
    );
    let (result, events) = engine::run_to_end(plan).await.unwrap();
    let rows = model_of(events).epochs.rows(&[]);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    // Exactly the first stage's 200 slots, though a part of them left late.
    assert_eq!(rows[0].sent, 200, "{rows:#?}");
    assert_eq!(rows[1].sent, 150, "{rows:#?}");
    assert_eq!(result.totals.finished, 350);
    // Corrected against their own schedule: the first stage's late slots
    // waited for the stall's end (up to about 0.8 s), and its fast
    // requests before the stall stay fast.
    assert!(rows[0].latency.max >= 550.0, "{:?}", rows[0].latency);
    assert!(rows[0].latency.p50 < 10.0, "{:?}", rows[0].latency);
}
