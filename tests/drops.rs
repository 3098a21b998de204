//! Route actions' drops are charged to their real cause: the changed route's own requests, not another route's failures, not an outage already under way, and the requests a stalled target kept from leaving.

mod support;

use std::time::Duration;

use rampdeck_demo::config::{DemoConfig, SeedRoute};
use serde_json::Value;

/// Runs `profile_tail` (requests, load, route actions) against a demo
/// whose cluster starts with the shop route on echo-v1.
async fn run_against_demo(mut config: DemoConfig, profile_tail: &str) -> Value {
    let _serial = support::SERIAL.lock().await;
    config.kube.propagation = Duration::from_millis(100);
    config.kube.routes = vec![SeedRoute {
        name: "shop".into(),
        hostnames: vec!["shop.example.com".into()],
        path_prefix: "/shop".into(),
        backend: "echo-v1".into(),
    }];
    let (demo, dir, kubeconfig) = support::demo_with_kube(&config).await;
    let profile = format!(
        "[target]\nurl = \"http://{gw}\"\ntimeout = \"1s\"\n[kube]\nkubeconfig = \"{kc}\"\n{profile_tail}",
        gw = demo.addrs.gateway,
        kc = kubeconfig.display()
    );
    let out = support::run_headless("drops.toml", &profile, dir.path()).await;
    support::summary(&out)
}

const SHOP_AND_CHECKOUT: &str = r#"
[[request]]
name = "shop"
path = "/shop/cart"
headers = { host = "shop.example.com" }
[[request]]
name = "checkout"
method = "POST"
path = "/api/checkout"
[load]
rate = 300
duration = "8s"
[[route_action]]
name = "shop flip"
kind = "kube"
at = "1500ms"
watch = true
[route_action.object]
apiVersion = "gateway.networking.k8s.io/v1"
kind = "HTTPRoute"
metadata = { name = "shop", namespace = "rampdeck" }
spec = { parentRefs = [{ name = "rampdeck" }], hostnames = ["shop.example.com"], rules = [{ matches = [{ path = { type = "PathPrefix", value = "/shop" } }], backendRefs = [{ name = "echo-v2", port = 8080 }] }] }
"#;

fn flaky_checkout(swap_drop: Option<Duration>) -> DemoConfig {
    let mut c = DemoConfig {
        routes: vec![rampdeck_demo::config::DemoRoute {
            error_rate: 0.3,
            error_status: 503,
            ..support::route("/api/checkout")
        }],
        ..DemoConfig::default()
    };
    c.kube.swap_drop = swap_drop;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_flip_is_not_charged_with_the_checkouts_failures() {
    let s = run_against_demo(flaky_checkout(None), SHOP_AND_CHECKOUT).await;
    let flip = &s["route_actions"][0];
    assert_eq!(flip["phase"], "propagated", "{flip}");
    assert_eq!(flip["affects"]["requests"], serde_json::json!(["shop"]));
    assert_eq!(flip["affects"]["from"], "HTTPRoute rampdeck/shop");
    let d = &flip["drops"];
    // The route existed before the load: a flip between two live backends drops nothing.
    assert_eq!(d["drops"], 0, "{d}");
    assert_eq!(d["before"], 0, "{d}");
    // 30% of ~150 checkouts/s over 6 s fail on their own: listed as unrelated.
    let unrelated = d["unrelated"].as_u64().unwrap();
    assert!(unrelated > 100, "{d}");
    for x in d["listed"].as_array().unwrap() {
        assert_eq!(x["class"], "unrelated", "{x}");
        assert_eq!(x["request"], "checkout", "{x}");
    }
    assert_eq!(s["not_sent"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_fault_is_charged_to_the_shop_route_only() {
    let s = run_against_demo(
        flaky_checkout(Some(Duration::from_millis(200))),
        SHOP_AND_CHECKOUT,
    )
    .await;
    let d = &s["route_actions"][0]["drops"];
    // ~150 shop requests/s for 200 ms get the fault's 503.
    let drops = d["drops"].as_u64().unwrap();
    assert!((10..=60).contains(&drops), "{d}");
    assert_eq!(d["by_request"], serde_json::json!({"shop": drops}), "{d}");
    assert!(d["unrelated"].as_u64().unwrap() > 100, "{d}");
    for x in d["listed"].as_array().unwrap() {
        let expected = if x["request"] == "shop" {
            "drop"
        } else {
            "unrelated"
        };
        assert_eq!(x["class"], expected, "{x}");
        if x["class"] == "drop" {
            assert_eq!(x["outcome"], "http 503", "{x}");
            let off = x["offset_ms"].as_f64().unwrap();
            assert!((0.0..600.0).contains(&off), "{x}");
        }
    }
}

/// The slow route stalls from 3.0 s to 4.5 s of the demo's clock.
fn stalls_at_3s() -> DemoConfig {
    DemoConfig {
        routes: vec![support::stalling(
            "/slow",
            Duration::from_secs(3),
            Duration::from_millis(1500),
        )],
        ..DemoConfig::default()
    }
}

/// 200 slow requests a second on four connections: everything scheduled
/// during the stall waits to be sent.
const SLOW_LOAD: &str = r#"
[[request]]
name = "slow"
path = "/slow"
[load]
rate = 200
duration = "8s"
max_connections = 4
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_a_stalled_target_kept_from_leaving_count_in_the_window() {
    let s = run_against_demo(
        stalls_at_3s(),
        &format!(
            r#"{SLOW_LOAD}
[[route_action]]
name = "break it"
kind = "command"
command = ["true"]
at = "2900ms"
affects = ["slow"]
"#
        ),
    )
    .await;
    let a = &s["route_actions"][0];
    assert_eq!(a["affects"]["from"], "affects", "{a}");
    let d = &a["drops"];
    // 200/s for 1.5 s is 300 scheduled requests; some leave before the
    // connections fill, and the window's samples are 1 s apart.
    let not_sent = d["not_sent"].as_u64().unwrap();
    assert!((100..=320).contains(&not_sent), "{d}");
    assert_eq!(
        d["not_sent_cause"], "connections waiting on the target",
        "{d}"
    );
    // They all leave once the stall ends: none is missing from the run.
    assert_eq!(s["not_sent"], 0, "{s}");
    let events: Vec<&Value> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "connections_busy")
        .collect();
    assert!(!events.is_empty(), "the console and log say why: {s}");
    assert_eq!(s["generator_limited_s"], 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_firings_charge_the_outage_once_to_the_one_sent_before_it() {
    // Two firings 1.4 s apart, windows overlapping; the stall (3.0 s to
    // 4.5 s) begins after the second was sent, so it is the second's alone.
    let s = run_against_demo(
        stalls_at_3s(),
        &format!(
            r#"{SLOW_LOAD}
[[route_action]]
name = "harmless"
kind = "command"
command = ["true"]
at = "1500ms"
affects = ["slow"]
[[route_action]]
name = "break it"
kind = "command"
command = ["true"]
at = "2900ms"
affects = ["slow"]
"#
        ),
    )
    .await;
    let first = &s["route_actions"][0]["drops"];
    let second = &s["route_actions"][1]["drops"];
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    assert_eq!(n(first, "drops"), 0, "{first}");
    assert_eq!(n(first, "not_sent"), 0, "{first}");
    assert!(n(second, "drops") + n(second, "not_sent") > 50, "{second}");
    if n(second, "drops") > 0 {
        assert_eq!(n(first, "later"), n(second, "drops"), "{first} {second}");
    }
    // What the firings were charged with is part of what the run lost.
    let charged = n(first, "drops") + n(second, "drops");
    assert!(charged <= n(&s, "failed"), "{s}");
}

/// A target whose requests take 400 ms, and an admin port whose `POST`
/// ("a reload") cuts every request in flight at once, as a restart does.
async fn reloading_server() -> (std::net::SocketAddr, std::net::SocketAddr) {
    use tokio::io::AsyncWriteExt;
    let cut = std::sync::Arc::new(tokio::sync::Notify::new());
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addrs = (target.local_addr().unwrap(), admin.local_addr().unwrap());
    let c = cut.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = target.accept().await {
            let c = c.clone();
            tokio::spawn(async move {
                while support::read_head(&mut s).await.is_some() {
                    tokio::select! {
                        _ = c.notified() => {
                            // Closed with a reset: the request was lost.
                            let _ = s.set_zero_linger();
                            return;
                        }
                        _ = tokio::time::sleep(Duration::from_millis(400)) => {}
                    }
                    let r = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if s.write_all(r).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    tokio::spawn(async move {
        while let Ok((mut s, _)) = admin.accept().await {
            if support::read_head(&mut s).await.is_some() {
                cut.notify_waiters();
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        }
    });
    addrs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_cut_by_a_reload_are_charged_to_it_as_in_flight_at_the_change() {
    let _serial = support::SERIAL.lock().await;
    let (target, admin) = reloading_server().await;
    let profile = format!(
        "[target]\nurl = \"http://{target}\"\ntimeout = \"2s\"\n\
         [[request]]\nname = \"order\"\nmethod = \"POST\"\npath = \"/\"\n\
         [load]\nrate = 50\nduration = \"4s\"\nmax_connections = 60\n\
         [[route_action]]\nname = \"reload\"\nkind = \"http\"\nmethod = \"POST\"\n\
         url = \"http://{admin}/reload\"\nat = \"1500ms\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = support::run_headless("reload.toml", &profile, dir.path()).await;
    let s = support::summary(&out);
    let d = &s["route_actions"][0]["drops"];
    // About 50/s x 0.4 s were in flight when the reload went out; every
    // one was cut, none failed on its own before it, none after it.
    let in_flight = d["in_flight"].as_u64().unwrap_or(0);
    assert!((14..=26).contains(&in_flight), "{d}");
    assert_eq!(d["drops"], 0, "{d}");
    assert_eq!(d["before"], 0, "{d}");
    // They are the run's only failures, and charged once (a POST cut
    // mid-request is not sent again).
    assert_eq!(s["failed"].as_u64().unwrap(), in_flight, "{s:#}");
    assert_eq!(s["resent"], 0);
    let listed: Vec<&Value> = d["listed"].as_array().unwrap().iter().collect();
    assert!(listed.iter().all(|x| x["class"] == "in_flight"), "{d}");
    // Each was sent before the action and within a request's time of it.
    assert!(listed
        .iter()
        .all(|x| (-450.0..0.0).contains(&x["offset_ms"].as_f64().unwrap())));
}
