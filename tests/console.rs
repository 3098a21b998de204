//! The console rendered into ratatui's TestBackend from a synthetic run, compared with insta
//! snapshots (tests/snapshots). Every value comes from fixed inputs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rampdeck::engine::event::{Event, EventKind};
use rampdeck::probes::{ProbeEvent, ProbeKind, RunOutcome};
use rampdeck::run::RunModel;
use rampdeck::spec::thresholds::Verdict;
use rampdeck::stats::summary::RunState;
use rampdeck::stats::{ErrorKind, IntervalStats, Percentiles, TotalsSummary};
use rampdeck::ui::app::{Action, App, LatencyView, RunView};
use rampdeck::ui::draw::{draw, DrawContext};
use rampdeck::ui::panes;
use rampdeck::ui::theme::Theme;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn plan() -> Arc<rampdeck::spec::plan::Plan> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/demo.toml"))
        .unwrap();
    let mut plan = rampdeck::profile::parse("profiles/demo.toml", &text).unwrap();
    plan.with_demo_address("127.0.0.1:8080".parse().unwrap());
    Arc::new(plan)
}

fn pct(p50: f64, p99: f64) -> Percentiles {
    Percentiles {
        p50,
        p90: p50 * 2.5,
        p95: p50 * 4.0,
        p99,
        p999: p99 * 1.5,
        max: p99 * 1.8,
        mean: p50 * 1.4,
        count: 100,
    }
}

fn event(at: f64, kind: EventKind, message: &str) -> Event {
    Event {
        at: Duration::from_secs_f64(at),
        wall: None,
        kind,
        message: message.into(),
    }
}

/// 60 s of a run: a ramp to 400 req/s, a latency spike at 30 s, 503s from 40 to
/// 45 s, a pause from 50 to 52 s, events for each.
fn model(state: RunState) -> RunModel {
    let mut m = RunModel::default();
    for i in 0..240u64 {
        let t = (i + 1) as f64 * 0.25;
        let target = if t < 20.0 { 50.0 + 17.5 * t } else { 400.0 };
        let paused = (50.0..52.0).contains(&t);
        let sent = if paused {
            0
        } else {
            (target * 0.25).round() as u64
        };
        let failed = if (40.0..45.0).contains(&t) {
            sent / 20
        } else {
            0
        };
        let spike = (30.0..31.0).contains(&t);
        let lat = pct(
            4.0 + (i % 7) as f64 * 0.1,
            if spike { 700.0 } else { 25.0 + (i % 5) as f64 },
        );
        m.series.push(IntervalStats {
            delivery: None,
            connections: None,
            by_request: Vec::new(),
            epochs_begun: Vec::new(),
            index: i,
            elapsed: Duration::from_secs_f64(t),
            run_clock: Duration::from_secs_f64(t.min(50.0) + (t - 52.0).max(0.0)),
            len: Duration::from_millis(250),
            warmup: t <= 5.0,
            measured: if t <= 5.0 || paused {
                Duration::ZERO
            } else {
                Duration::from_millis(250)
            },
            state: if paused {
                RunState::Paused
            } else {
                RunState::Running
            },
            stage: if t < 20.0 { 0 } else { 1 },
            target,
            manual: t >= 45.0,
            sent,
            finished: sent,
            ok: sent - failed,
            in_flight: if paused { 0 } else { 3 },
            behind: 0,
            due: None,
            under_supplied: false,
            cpu_percent: Some(12.0),
            generator_limited: false,
            latency: if paused { Percentiles::default() } else { lat },
            service: if paused {
                Percentiles::default()
            } else {
                pct(lat.p50 * 0.9, 24.0)
            },
            failed_latency: Percentiles::default(),
            error_latency: Percentiles::default(),
            status: vec![(200, sent - failed), (503, failed)],
            errors: vec![],
            checks: vec![],
        });
    }
    for e in [
        event(
            0.0,
            EventKind::Started,
            "started: demo against http://127.0.0.1:8080",
        ),
        event(
            0.3,
            EventKind::Stage { index: 0 },
            "stage 1/5: ramp 50 -> 400 req/s over 20s",
        ),
        event(
            5.0,
            EventKind::WarmupEnded,
            "warmup over: statistics start now",
        ),
        event(
            20.0,
            EventKind::Stage { index: 1 },
            "stage 2/5: hold 400 req/s for 2m",
        ),
        event(
            35.0,
            EventKind::Marker {
                name: "deploy v2".into(),
            },
            "marker: deploy v2",
        ),
        event(
            40.1,
            EventKind::FirstStatus { code: 503 },
            "first HTTP 503 response",
        ),
        event(
            45.0,
            EventKind::LevelSet {
                from: 400.0,
                to: 440.0,
            },
            "rate set to 440 (was 400) until stage 2 ends",
        ),
        event(
            50.0,
            EventKind::Paused,
            "paused: nothing is sent until resumed",
        ),
        event(52.0, EventKind::Resumed, "resumed after 2.0s paused"),
    ] {
        m.push_event(e);
    }
    // The level in force, as folding the intervals would have set it.
    m.level = m.last().map_or(0.0, |i| i.target);
    m.totals = TotalsSummary {
        requests: 17_230,
        ok: 17_180,
        latency: pct(4.2, 31.0),
        service: pct(3.9, 24.0),
        failed_latency: pct(1.1, 3.0),
        error_latency: pct(0.2, 0.9),
        failures: pct(0.9, 2.8),
        status: vec![(200, 17_180), (503, 38)],
        errors: vec![(ErrorKind::Reset, 12)],
    };
    m.last_errors = vec![(
        ErrorKind::Reset,
        "connection reset by peer (os error 104)".into(),
    )];
    // Probes: a control-plane component sampled every 2 s, a stat command
    // that slows down under load, and an HTTP probe that starts failing.
    for k in 0..30u64 {
        let at = Duration::from_secs(2 * k + 1);
        m.apply_probe(ProbeEvent::Resource {
            component: "demo control plane".into(),
            at,
            cpu_cores: (k > 0).then_some(0.05 + 0.01 * (k % 10) as f64),
            memory_bytes: Some(117.0 * 1024.0 * 1024.0 + (k * 200_000) as f64),
            took: Duration::from_micros(1_170),
            note: None,
        });
        m.apply_probe(ProbeEvent::Run {
            name: "linkerd viz stat".into(),
            kind: ProbeKind::Stat,
            at,
            took: Duration::from_millis(300 + 20 * k),
            outcome: RunOutcome::Ok,
            output: vec![
                "NAME        MESHED   SUCCESS      RPS   LATENCY_P50".into(),
                format!(
                    "web            1/1   100.00%   {}.0rps           4ms",
                    400 + k
                ),
            ],
        });
        m.apply_probe(ProbeEvent::Run {
            name: "dashboard".into(),
            kind: ProbeKind::Http,
            at,
            took: Duration::from_millis(40),
            outcome: if k < 25 {
                RunOutcome::Ok
            } else {
                RunOutcome::Failed("HTTP 502, expected 200".into())
            },
            output: vec![],
        });
    }
    m.apply_probe(ProbeEvent::State {
        name: "dashboard".into(),
        at: Duration::from_secs(51),
        problem: Some("HTTP 502, expected 200".into()),
    });
    m.state = state;
    m
}

fn ctx() -> DrawContext {
    DrawContext {
        now: Instant::now(),
        theme: Theme { color: true },
        live_log: false,
    }
}

fn screen(app: &App, model: &RunModel, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, app, model, &ctx())).unwrap();
    t
}

#[test]
fn whole_screen_80x24() {
    let app = App::new(plan());
    insta::assert_snapshot!(screen(&app, &model(RunState::Running), 80, 24).backend());
}

#[test]
fn whole_screen_120x40() {
    let app = App::new(plan());
    insta::assert_snapshot!(screen(&app, &model(RunState::Running), 120, 40).backend());
}

/// The text of `area` in a rendered buffer, one line per row.
fn text_of(t: &Terminal<TestBackend>, area: ratatui::layout::Rect) -> String {
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// At every documented size, down to the narrowest layout, each pane shows
/// the model's numbers whole: a pane drops labels and fields to fit, and
/// never cuts a number at its border.
#[test]
fn no_number_is_cut_at_any_documented_size() {
    use rampdeck::ui::app::Pane;
    use rampdeck::ui::view::fmt_ms;
    use rampdeck_base::fmt::bytes;
    let m = model(RunState::Running);
    let app = App::new(plan());
    let c = &m.components[0];
    let cpu = format!("{:.3}", c.cpu.last().unwrap().1);
    let mem = bytes(c.memory.last().unwrap().1);
    let stat = &m.probes[0];
    let p99 = fmt_ms(stat.durations.value_at_quantile(0.99) as f64 / 1000.0);
    let last_ms = format!(
        "{}ms",
        fmt_ms(stat.last.as_ref().unwrap().0.as_secs_f64() * 1000.0)
    );
    let lat = &m.last().unwrap().latency;
    for (w, h) in [(70, 20), (80, 24), (100, 30), (120, 40), (160, 50)] {
        let t = screen(&app, &m, w, h);
        let area = ratatui::layout::Rect::new(0, 0, w, h);
        let panes = rampdeck::ui::draw::panes(rampdeck::ui::draw::body(area));
        let pane = |p: Pane| text_of(&t, panes.iter().find(|(q, _)| *q == p).unwrap().1);
        let cp = pane(Pane::ControlPlane);
        for v in [&cpu, &mem] {
            assert!(
                cp.contains(v.as_str()),
                "{w}x{h}: control plane lost '{v}':\n{cp}"
            );
        }
        let st = pane(Pane::Stat);
        for v in [&p99, &last_ms] {
            assert!(st.contains(v.as_str()), "{w}x{h}: stat lost '{v}':\n{st}");
        }
        let latency = pane(Pane::Latency);
        for v in [fmt_ms(lat.p50), fmt_ms(lat.p99)] {
            assert!(
                latency.contains(&v),
                "{w}x{h}: latency lost '{v}':\n{latency}"
            );
        }
        let header = text_of(&t, ratatui::layout::Rect::new(0, 0, w, 3));
        assert!(
            header.contains("400/s"),
            "{w}x{h}: header lost the rate:\n{header}"
        );
        let success = pane(Pane::Success);
        // The status line needs a fourth row; the totals always show.
        let rows = success.lines().count() - 2;
        let want: &[&str] = if rows >= 4 {
            &["99.710%", "17,230", "17,180"]
        } else {
            &["99.710%", "17,230"]
        };
        for v in want {
            assert!(
                success.contains(v),
                "{w}x{h}: success lost '{v}':\n{success}"
            );
        }
    }
}

#[test]
fn whole_screen_160x50() {
    let app = App::new(plan());
    insta::assert_snapshot!(screen(&app, &model(RunState::Running), 160, 50).backend());
}

#[test]
fn help_overlay_at_80x24() {
    let mut app = App::new(plan());
    let run = RunView {
        now: Instant::now(),
        level: 400.0,
        finished: false,
        paused: false,
    };
    app.update(Action::ToggleHelp, &run);
    insta::assert_snapshot!(screen(&app, &model(RunState::Running), 80, 24).backend());
}

#[test]
fn paused_header_and_zoomed_latency_in_service_time() {
    let mut app = App::new(plan());
    let run = RunView {
        now: Instant::now(),
        level: 400.0,
        finished: false,
        paused: true,
    };
    app.update(Action::FocusNext, &run);
    app.update(Action::ToggleZoom, &run);
    app.update(Action::ToggleLatencyView, &run);
    assert_eq!(app.latency_view, LatencyView::Service);
    insta::assert_snapshot!(screen(&app, &model(RunState::Paused), 100, 30).backend());
}

#[test]
fn too_small_shows_a_message() {
    let app = App::new(plan());
    let t = screen(&app, &model(RunState::Running), 60, 15);
    let text = t.backend().to_string();
    assert!(
        text.contains("Terminal too small") && text.contains("60x15"),
        "{text}"
    );
    insta::assert_snapshot!(t.backend());
}

/// Each pane on its own, at the size it gets in a 160x50 layout.
fn pane(
    name: &str,
    w: u16,
    h: u16,
    f: impl Fn(&mut ratatui::Frame, &App, &RunModel),
    model: &RunModel,
) {
    let app = App::new(plan());
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|frame| f(frame, &app, model)).unwrap();
    insta::assert_snapshot!(name, t.backend());
}

#[test]
fn each_pane() {
    let th = Theme { color: true };
    let m = model(RunState::Running);
    pane(
        "pane_header",
        160,
        3,
        |f, a, m| panes::header::draw(f, f.area(), a, m, th),
        &m,
    );
    pane(
        "pane_throughput",
        80,
        18,
        |f, a, m| panes::throughput::draw(f, f.area(), a, m, true, th),
        &m,
    );
    pane(
        "pane_latency",
        80,
        18,
        |f, a, m| panes::latency::draw(f, f.area(), a, m, false, th),
        &m,
    );
    pane(
        "pane_success",
        64,
        13,
        |f, _, m| panes::success::draw(f, f.area(), m, false, th),
        &m,
    );
    pane(
        "pane_control_plane",
        64,
        13,
        |f, a, m| panes::control_plane::draw(f, f.area(), a, m, false, th),
        &m,
    );
    let empty = RunModel::default();
    pane(
        "pane_control_plane_unconfigured",
        48,
        9,
        |f, a, m| panes::control_plane::draw(f, f.area(), a, m, false, th),
        &empty,
    );
    pane(
        "pane_stat_unconfigured",
        48,
        9,
        |f, _, m| panes::stat::draw(f, f.area(), m, false, th),
        &empty,
    );
    pane(
        "pane_stat",
        64,
        13,
        |f, _, m| panes::stat::draw(f, f.area(), m, false, th),
        &m,
    );
    pane(
        "pane_events",
        160,
        12,
        |f, a, m| panes::events::draw(f, f.area(), a, m, false, false, th),
        &m,
    );
    pane(
        "pane_footer",
        160,
        1,
        |f, a, _| panes::footer::draw(f, f.area(), a, RunState::Running, Instant::now(), th),
        &m,
    );
}

#[test]
fn a_breached_threshold_turns_the_header_red() {
    let mut m = model(RunState::Running);
    m.thresholds = vec![
        Verdict {
            name: "p99".into(),
            expr: "< 250ms".into(),
            unit: "ms",
            actual: Some(312.0),
            limit: Some(250.0),
            pass: false,
        },
        Verdict {
            name: "success_rate".into(),
            expr: "> 99".into(),
            unit: "%",
            actual: Some(99.7),
            limit: Some(99.0),
            pass: true,
        },
    ];
    let app = App::new(plan());
    let mut t = Terminal::new(TestBackend::new(120, 3)).unwrap();
    t.draw(|f| panes::header::draw(f, f.area(), &app, &m, Theme { color: true }))
        .unwrap();
    let text = t.backend().to_string();
    assert!(text.contains("✗ 1 threshold breached"), "{text}");
    let buf = t.backend().buffer();
    let x = text
        .lines()
        .next()
        .unwrap()
        .chars()
        .position(|c| c == '✗')
        .unwrap() as u16;
    assert_eq!(buf[(x, 0)].bg, ratatui::style::Color::Red);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn a_target_that_went_down_turns_success_red_and_says_why() {
    let mut m = model(RunState::Running);
    // The last 5 s: every request refused.
    for i in m.series.len() - 20..m.series.len() {
        let mut iv = m.series.iter().nth(i).unwrap().clone();
        iv.index += 1000;
        iv.elapsed += Duration::from_secs(5);
        iv.ok = 0;
        iv.status.clear();
        iv.errors = vec![(ErrorKind::ConnectRefused, iv.finished)];
        m.series.push(iv);
    }
    m.totals.errors.push((ErrorKind::ConnectRefused, 2_000));
    m.last_errors.push((
        ErrorKind::ConnectRefused,
        "connect to 127.0.0.1:8080: Connection refused (os error 111)".into(),
    ));
    let th = Theme { color: true };
    let mut t = Terminal::new(TestBackend::new(64, 13)).unwrap();
    t.draw(|f| panes::success::draw(f, f.area(), &m, false, th))
        .unwrap();
    let buf = t.backend().buffer();
    // The big number is drawn in red.
    let cell = &buf[(1, 1)];
    assert_eq!(cell.fg, ratatui::style::Color::Red, "{cell:?}");
    insta::assert_snapshot!(t.backend());
}

/// A capacity search under way: its pane beside the events, its status in the header.
fn searching() -> RunModel {
    use rampdeck::run::search::{SearchPoint, SearchProgress, StepMark};
    let mut m = model(RunState::Running);
    let point = |level: f64, p99: f64, mark| SearchPoint {
        level,
        p50_ms: p99 / 2.0,
        p99_ms: p99,
        cpu: Some(0.1),
        mark,
    };
    m.search = Some(SearchProgress {
        points: vec![
            point(200.0, 15.0, StepMark::Pass),
            point(400.0, 9.0, StepMark::Pass),
            point(800.0, 8.0, StepMark::Pass),
            point(1600.0, 14.0, StepMark::Pass),
            point(3200.0, 1495.0, StepMark::Fail),
            point(2400.0, 997.0, StepMark::Fail),
        ],
        status: "step 7 of at most 16: 2000/s (measuring)".into(),
        short: "step 7/16 2000/s".into(),
        last_failure: Some("step 6 at 2400/s failed: p99 < 25ms (actual 997 ms)".into()),
        bounds: (Some(1600.0), Some(2400.0)),
        slo_ms: Some(("p99".into(), 25.0)),
        unit: "req/s",
        done: false,
    });
    m
}

#[test]
fn capacity_view_at_80x24() {
    let mut app = App::new(plan());
    app.capacity = true;
    insta::assert_snapshot!(screen(&app, &searching(), 80, 24).backend());
}

#[test]
fn capacity_view_at_160x50() {
    let mut app = App::new(plan());
    app.capacity = true;
    let t = screen(&app, &searching(), 160, 50);
    let text = t.backend().to_string();
    for want in [
        "Capacity",
        "step 7 of at most 16: 2000/s",
        "passed 1600",
        "failed 2400",
        "p99 25ms",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
    insta::assert_snapshot!(t.backend());
}

fn distributed() -> RunModel {
    use rampdeck::stats::agents::{AgentRow, AgentState, AgentsStatus};
    let mut m = model(RunState::Running);
    let row = |i: usize, state: AgentState, share: Option<(u32, u32)>| AgentRow {
        name: format!("agent-{i}"),
        address: format!("127.0.0.1:{}", 40000 + i),
        state,
        share,
        sent: 10_000 + i as u64,
        ok: 9_990,
        failed: i as u64 * 3,
        sent_rate: if state == AgentState::Lost {
            0.0
        } else {
            1500.0
        },
        p99_ms: (state != AgentState::Lost).then_some(12.5 + i as f64),
        total_p99_ms: Some(12.0),
        clock_offset_ms: 0.25 * i as f64 - 0.3,
        clock_uncertainty_ms: 0.05,
        last_report_s: Some(if state == AgentState::Lost { 7.5 } else { 0.4 }),
        joined_at_s: 0.0,
        lost_at_s: (state == AgentState::Lost).then_some(30.0),
        intervals: 60,
        pid: None,
        hdr: None,
    };
    m.agents = Some(AgentsStatus {
        kind: "local".into(),
        agents: vec![
            row(0, AgentState::Running, Some((1, 2))),
            row(1, AgentState::Lost, None),
            row(2, AgentState::Running, Some((2, 2))),
        ],
        under_supplied_s: 1.0,
        late_reports: 0,
    });
    m
}

#[test]
fn agents_pane_at_120x40_and_80x24() {
    let mut app = App::new(plan());
    app.agents = true;
    let t = screen(&app, &distributed(), 120, 40);
    let text = t.backend().to_string();
    for want in [
        "Agents 2/3 local",
        "agent-1",
        "LOST",
        "1/2",
        "under-supplied",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
    insta::assert_snapshot!(t.backend());
    insta::assert_snapshot!(screen(&app, &distributed(), 80, 24).backend());
}

/// 30 s of a connections run: a ramp to 2,000 held, resets from 20 s on.
fn held() -> (Arc<rampdeck::spec::plan::Plan>, RunModel) {
    use rampdeck::stats::connections::{ConnInterval, ConnReport};
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/profiles/connections.toml"
    ))
    .unwrap();
    let mut plan = rampdeck::profile::parse("profiles/connections.toml", &text).unwrap();
    let addrs = rampdeck_demo::DemoAddrs {
        gateway: "127.0.0.1:8080".parse().unwrap(),
        control: "127.0.0.1:8081".parse().unwrap(),
        echo: "127.0.0.1:9000".parse().unwrap(),
        admin_token: String::new(),
    };
    plan.with_demo(&addrs);
    let plan = Arc::new(plan);
    let mut m = RunModel::for_plan(&plan);
    let mut run = ConnInterval::default();
    for i in 0..120u64 {
        let t = (i + 1) as f64 * 0.25;
        let target = (t * 400.0).min(2000.0);
        let resets = if t >= 20.0 { 100 } else { 0 };
        let now = ConnInterval {
            established: target as u64,
            peak: target as u64,
            opened: if t <= 5.0 { 100 } else { resets },
            resets,
            tcp_ms: pct(0.12, 0.45),
            rtt_ms: (t > 1.0).then(|| pct(2.5, 4.1)),
            messages: target as u64 / 4,
            reset_age_ms: (resets > 0).then(|| pct(12_000.0, 12_010.0)),
            ..ConnInterval::default()
        };
        run.opened += now.opened;
        run.resets += now.resets;
        run.messages += now.messages;
        run.peak = run.peak.max(now.peak);
        run.tcp_ms = now.tcp_ms;
        run.rtt_ms = now.rtt_ms;
        run.reset_age_ms = now.reset_age_ms;
        if resets > 0 {
            run.first.insert(
                "reset".into(),
                "the connection broke: Connection reset by peer (os error 104) at age 12.00s"
                    .into(),
            );
        }
        m.series.push(IntervalStats {
            delivery: None,
            by_request: Vec::new(),
            epochs_begun: Vec::new(),
            connections: Some(ConnReport {
                now,
                run: run.clone(),
            }),
            index: i,
            elapsed: Duration::from_secs_f64(t),
            run_clock: Duration::from_secs_f64(t),
            len: Duration::from_millis(250),
            warmup: false,
            measured: Duration::from_millis(250),
            state: RunState::Running,
            stage: usize::from(t > 5.0),
            target,
            manual: false,
            sent: 0,
            finished: 0,
            ok: 0,
            in_flight: 0,
            behind: 0,
            due: None,
            under_supplied: false,
            cpu_percent: Some(20.0),
            generator_limited: false,
            latency: Percentiles::default(),
            service: Percentiles::default(),
            failed_latency: Percentiles::default(),
            error_latency: Percentiles::default(),
            status: Vec::new(),
            errors: Vec::new(),
            checks: Vec::new(),
        });
    }
    m.connections = Some(run);
    m.level = 2000.0;
    (plan, m)
}

#[test]
fn connections_pane_replaces_the_request_panes() {
    let (plan, m) = held();
    let app = App::new(plan);
    let t = screen(&app, &m, 120, 40);
    let text = t.backend().to_string();
    for want in [
        "Connections 2000 of 2000 held",
        "2000 connections",
        "2000 established",
        "reset 4100",
        "at age p50 12.0s",
        "echo p50/p99 2.50/4.10ms",
        "reset by peer (os error 104) at age 12.00s",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
    for gone in ["Throughput", "Latency", "Success", "in flight"] {
        assert!(!text.contains(gone), "{gone}:\n{text}");
    }
    insta::assert_snapshot!(t.backend());
    insta::assert_snapshot!(screen(&app, &m, 80, 24).backend());
}

#[test]
fn the_latency_legend_shows_the_level_in_force_or_the_run() {
    use rampdeck::stats::epochs::{EpochKind, EpochMeta, EpochParts};
    let mut m = model(RunState::Running);
    let last = m.last().unwrap().clone();
    // Two epochs: the second (a hand-set level) answered in 40 ms.
    let mut parts = EpochParts::default();
    for _ in 0..100 {
        parts.record(0, Some((4_000, 3_900)));
        parts.record(1, Some((40_000, 39_000)));
    }
    let meta = |id: u32, start: u64, kind| EpochMeta {
        id,
        start: Duration::from_secs(start),
        until: Duration::from_secs(240),
        stage: 1,
        kind,
        from: 400.0,
        to: 400.0,
    };
    let iv = IntervalStats {
        epochs_begun: vec![meta(0, 0, EpochKind::Stage), meta(1, 45, EpochKind::Set)],
        ..last
    };
    m.epochs.add_interval(&iv, &parts);
    let mut app = App::new(plan());
    let run = RunView {
        now: Instant::now(),
        level: 400.0,
        finished: false,
        paused: false,
    };
    let legend = |app: &App| {
        let mut t = Terminal::new(TestBackend::new(80, 8)).unwrap();
        t.draw(|f| {
            rampdeck::ui::panes::latency::draw(f, f.area(), app, &m, false, Theme { color: false })
        })
        .unwrap();
        text_of(&t, ratatui::layout::Rect::new(0, 6, 80, 1))
    };
    assert!(!legend(&app).contains("level"), "{}", legend(&app));
    app.update(Action::CycleLatencyScope, &run);
    let l = legend(&app);
    assert!(l.contains("level 2") && l.contains("p50 40.0"), "{l}");
    app.update(Action::CycleLatencyScope, &run);
    assert!(legend(&app).contains("run "), "{}", legend(&app));
    app.update(Action::CycleLatencyScope, &run);
    assert!(!legend(&app).contains("run "));
}

/// The rows of the latency chart (80x18) where `color` is drawn, left of the
/// 30 s stall (columns 1-20) so the spike's own line is not counted.
fn rows_of(app: &App, m: &RunModel, color: ratatui::style::Color) -> Vec<u16> {
    let mut t = Terminal::new(TestBackend::new(80, 18)).unwrap();
    let th = Theme { color: true };
    t.draw(|f| panes::latency::draw(f, f.area(), app, m, false, th))
        .unwrap();
    let buf = t.backend().buffer();
    (1..15)
        .filter(|&y| (1..20).any(|x| buf[(x, y)].fg == color && buf[(x, y)].symbol() != " "))
        .collect()
}

#[test]
fn after_a_stall_the_log_scale_keeps_p50_and_p99_apart() {
    let m = model(RunState::Running);
    let mut app = App::new(plan());
    let (p50, p99) = (Theme::SERIES[0], Theme::SERIES[2]);
    // Linear up to the 1 s stall: 4 ms and 25 ms share the bottom row (the
    // p99 drawn over the p50).
    let (a, b) = (rows_of(&app, &m, p50), rows_of(&app, &m, p99));
    assert!(
        a.iter().all(|r| *r == 14) && b == [14],
        "linear: {a:?} vs {b:?}"
    );
    let run = RunView {
        now: Instant::now(),
        level: 400.0,
        finished: false,
        paused: false,
    };
    app.update(Action::ToggleLatencyScale, &run);
    let (a, b) = (rows_of(&app, &m, p50), rows_of(&app, &m, p99));
    assert!(
        a.iter().all(|r| !b.contains(r)) && b.iter().all(|r| r < a.iter().min().unwrap()),
        "log: p50 on rows {a:?}, p99 above on {b:?}"
    );
    let mut t = Terminal::new(TestBackend::new(80, 18)).unwrap();
    t.draw(|f| panes::latency::draw(f, f.area(), &app, &m, false, Theme { color: false }))
        .unwrap();
    insta::assert_snapshot!("pane_latency_log_scale", t.backend());
}

#[test]
fn a_chart_has_y_labels_top_middle_and_bottom_and_a_time_axis() {
    let m = model(RunState::Running);
    let app = App::new(plan());
    let mut t = Terminal::new(TestBackend::new(80, 18)).unwrap();
    t.draw(|f| panes::throughput::draw(f, f.area(), &app, &m, false, Theme { color: false }))
        .unwrap();
    let rows: Vec<String> = (0..18)
        .map(|y| {
            (0..80)
                .map(|x| t.backend().buffer()[(x, y)].symbol().to_owned())
                .collect()
        })
        .collect();
    assert!(rows[1].starts_with("│500 req/s"), "{}", rows[1]);
    assert!(
        rows.iter().any(|r| r.starts_with("│250 req/s")),
        "{rows:#?}"
    );
    // The baseline row says 0; under it, run-clock times from 0 s to now (58 s).
    assert!(rows[14].starts_with("│0"), "{}", rows[14]);
    assert!(rows[15].starts_with("│0m00s "), "{}", rows[15]);
    assert!(
        rows[15].trim_end_matches('│').trim_end().ends_with("0m58s"),
        "{}",
        rows[15]
    );
    // The newest labelled marker (resume, at 52 s) keeps its label.
    assert!(rows.iter().any(|r| r.contains("resume")), "{rows:#?}");
}

#[test]
fn a_finished_run_shows_its_verdict_and_how_to_quit_and_no_steering_keys() {
    let m = model(RunState::Finished);
    let app = App::new(plan());
    let t = screen(&app, &m, 80, 24);
    let row = |y: u16| -> String {
        (0..80)
            .map(|x| t.backend().buffer()[(x, y)].symbol().to_owned())
            .collect()
    };
    let (head, foot) = (row(1), row(23));
    assert!(
        head.contains("FINISHED") && head.contains("q to quit"),
        "{head}"
    );
    // No thresholds in this run: it is done, not passed.
    assert!(
        head.contains("FINISHED  done · 17,230 requests · 99.71% ok"),
        "{head}"
    );
    for gone in ["pause", "rate", "set", "routes", "mark"] {
        assert!(!foot.contains(gone), "{foot}");
    }
    assert!(foot.contains("q quit") && foot.contains("? help"), "{foot}");
    insta::assert_snapshot!(t.backend());
    // A breached threshold is the verdict.
    let mut m = m;
    m.thresholds = vec![Verdict {
        name: "p99".into(),
        expr: "p99 < 20ms".into(),
        unit: "ms",
        actual: Some(31.0),
        limit: Some(20.0),
        pass: false,
    }];
    let t = screen(&app, &m, 80, 24);
    let head: String = (0..80)
        .map(|x| t.backend().buffer()[(x, 1)].symbol().to_owned())
        .collect();
    assert!(
        head.contains("FINISHED  FAIL: 1 threshold breached"),
        "{head}"
    );
    assert!(head.contains("q to quit"), "{head}");
}

#[test]
fn a_paused_run_says_so_in_the_header_throughput_and_footer() {
    let m = model(RunState::Paused);
    let app = App::new(plan());
    let t = screen(&app, &m, 80, 24);
    let text = text_of(&t, ratatui::layout::Rect::new(0, 0, 80, 24));
    assert!(text.contains("PAUSED: nothing is sent"), "{text}");
    assert!(text.contains("Throughput paused"), "{text}");
    assert!(
        text.contains("paused · nothing sent · space resumes"),
        "{text}"
    );
    assert!(text.contains(" space resume "), "{text}");
    assert!(!text.contains("achieved"), "{text}");
}

#[test]
fn at_80x24_events_keep_five_lines_stat_p95_shows_and_the_key_bar_is_whole() {
    let m = model(RunState::Running);
    let app = App::new(plan());
    let t = screen(&app, &m, 80, 24);
    let text = text_of(&t, ratatui::layout::Rect::new(0, 0, 80, 24));
    let rows: Vec<&str> = text.lines().collect();
    let events = rows.iter().position(|r| r.contains("┌ Events")).unwrap();
    let stamped = rows[events + 1..]
        .iter()
        .take_while(|r| !r.starts_with('└'))
        .filter(|r| r.contains("s "))
        .count();
    assert!(stamped >= 5, "{text}");
    assert!(text.contains("p50 580 p95 860 p99 880"), "{text}");
    let foot = rows[23];
    assert!(foot.trim_end().ends_with("q quit"), "{foot}");
    assert!(
        foot.contains("? help") && foot.contains("space pause"),
        "{foot}"
    );
}

#[test]
fn route_names_of_32_characters_fit_the_route_menu_at_120_columns() {
    let mut plan = (*plan()).clone();
    plan.routes.actions[0].name = "canary-split-checkout-v2-to-90pc".into();
    assert_eq!(plan.routes.actions[0].name.len(), 32);
    let mut app = App::new(Arc::new(plan));
    let run = RunView {
        now: Instant::now(),
        level: 400.0,
        finished: false,
        paused: false,
    };
    app.update(Action::RouteMenu, &run);
    let t = screen(&app, &model(RunState::Running), 120, 40);
    let text = text_of(&t, ratatui::layout::Rect::new(0, 0, 120, 40));
    assert!(
        text.contains(" 1 canary-split-checkout-v2-to-90pc kube apply"),
        "{text}"
    );
}

#[test]
fn a_search_keeps_its_step_in_the_header_at_80_columns_and_gives_it_back_when_it_stops() {
    let app = App::new(plan());
    let mut m = searching();
    let head = |m: &RunModel| -> String {
        let t = screen(&app, m, 80, 24);
        (0..80)
            .map(|x| t.backend().buffer()[(x, 1)].symbol().to_owned())
            .collect()
    };
    assert!(
        head(&m).starts_with(" step 7/16 2000/s · target"),
        "{}",
        head(&m)
    );
    if let Some(s) = m.search.as_mut() {
        s.status = "search stopped by hand: the plan decides the level again".into();
        s.short = "search stopped".into();
        s.done = true;
    }
    assert!(
        head(&m).starts_with(" stage 2/5 hold · target"),
        "{}",
        head(&m)
    );
}
