//! The HTML report as a reader sees it: opened in headless Chromium at 1280x800, it loads with
//! no console errors and its verdict banner is on the first screen, without scrolling.

mod support;

use std::process::Command;

#[test]
#[ignore = "needs chromium (apt-get install chromium)"]
fn the_html_report_shows_its_verdict_without_scrolling() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(support::demo(vec![support::fixed("/", 2)]));
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.toml");
    std::fs::write(
        &profile,
        format!(
            "[target]\nurl = \"http://{}\"\n[load]\nrate = 50\nduration = \"2s\"\n[thresholds]\np99 = \"< 1s\"\nsuccess_rate = \"> 99\"\n",
            server.addrs.gateway
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let bin = env!("CARGO_BIN_EXE_rampdeck");
    let o = Command::new(bin)
        .args([
            "run",
            profile.to_str().unwrap(),
            "--headless",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(bin)
        .args(["report", out.to_str().unwrap(), "--format", "html"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let shot = dir.path().join("report.png");
    let profile_dir = dir.path().join("chromium");
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,800",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", out.join("report.html").display()))
        .output()
        .expect("run chromium");
    let log = String::from_utf8_lossy(&o.stderr);
    // The page's own console (not Chromium's D-Bus chatter) says nothing wrong.
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(
        console
            .iter()
            .all(|l| !l.contains("ERROR") && !l.contains("Uncaught")),
        "{console:?}"
    );

    let decoder = png::Decoder::new(std::fs::File::open(&shot).expect("a screenshot"));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 800));
    let channels = info.color_type.samples();
    // The PASS banner's border (#1e7b34, a green no chart uses) is on the first screen.
    let green = (0..info.height as usize).any(|y| {
        (0..info.width as usize).any(|x| {
            let i = (y * info.width as usize + x) * channels;
            buf[i..i + 3] == [0x1e, 0x7b, 0x34]
        })
    });
    assert!(green, "the verdict banner is not on the first screen");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let verdict = html
        .find("PASS: all 2 thresholds held")
        .expect("the verdict");
    assert!(
        verdict < html.find("<svg").expect("charts"),
        "the verdict comes first"
    );
}
