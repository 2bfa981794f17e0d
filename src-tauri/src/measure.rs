//! Measurement mode for the video-to-UI path, in the real window (issue 5, item 4).
//!
//! `RED5_DESK_MEASURE_UI=<out.json> red5-desk` opens the app, lets the page idle for a baseline,
//! then shows the 720p30 synthetic pattern in the Presenter preview for a while, and writes what
//! the page measured (fps painted, handed-over→painted and capture→painted latency) plus the CPU
//! time of this process and its WebKit helper processes (from /proc) to `<out.json>`, then exits.
//! Not a test: figures go to the README, nothing is asserted.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tauri::{AppHandle, Runtime};

use crate::commands::CommandError;
use crate::state::AppState;
use crate::video::Sink;

/// What the page needs to run a measurement.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeasureConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub warmup_ms: u64,
    pub window_ms: u64,
    /// `img` (<img> + decode() → canvas, the default), `bitmap` (createImageBitmap → canvas) or
    /// `element` (the decoded <img> shown itself).
    pub decoder: String,
    #[serde(skip)]
    pub out: PathBuf,
}

impl MeasureConfig {
    /// From `RED5_DESK_MEASURE_UI` (and optional `RED5_DESK_MEASURE_SECONDS`, `…_SIZE=WxH`).
    pub fn from_env() -> Option<Self> {
        let out = std::env::var_os("RED5_DESK_MEASURE_UI")?;
        let secs = std::env::var("RED5_DESK_MEASURE_SECONDS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(10);
        let (width, height) = std::env::var("RED5_DESK_MEASURE_SIZE")
            .ok()
            .and_then(|v| {
                let (w, h) = v.split_once('x')?;
                Some((w.parse().ok()?, h.parse().ok()?))
            })
            .unwrap_or((1280, 720));
        Some(Self {
            width,
            height,
            fps: 30,
            warmup_ms: 3000,
            window_ms: secs * 1000,
            decoder: std::env::var("RED5_DESK_MEASURE_DECODER").unwrap_or_else(|_| "img".into()),
            out: out.into(),
        })
    }
}

/// CPU seconds used so far by this process and by its descendants (the WebKit web and network
/// processes that decode and paint), from /proc (USER_HZ = 100 on Linux).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSample {
    pub at: Option<Instant>,
    pub app_s: f64,
    pub webkit_s: f64,
}

fn proc_stat(pid: u32) -> Option<(u32, String, f64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid … utime stime" — comm may contain spaces, so split after ')'.
    let close = text.rfind(')')?;
    let comm = text.get(text.find('(')? + 1..close)?.to_owned();
    let rest: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    let ppid = rest.get(1)?.parse().ok()?;
    let utime: f64 = rest.get(11)?.parse().ok()?;
    let stime: f64 = rest.get(12)?.parse().ok()?;
    Some((ppid, comm, (utime + stime) / 100.0))
}

pub fn cpu_sample() -> CpuSample {
    let me = std::process::id();
    let app_s = proc_stat(me).map(|(_, _, s)| s).unwrap_or(0.0);
    let mut all = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) {
                if let Some((ppid, _comm, s)) = proc_stat(pid) {
                    all.push((pid, ppid, s));
                }
            }
        }
    }
    // Descendants of this process, any depth.
    let mut family = vec![me];
    let mut webkit_s = 0.0;
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        for &(pid, ppid, s) in &all {
            if ppid == parent && !family.contains(&pid) {
                family.push(pid);
                webkit_s += s;
            }
        }
        i += 1;
    }
    CpuSample {
        at: Some(Instant::now()),
        app_s,
        webkit_s,
    }
}

/// Marks set by the page: the idle baseline, the source alone (preview running, its canvas on a
/// hidden pane) and the video window, each a start and an end.
#[derive(Default)]
pub struct MeasureState {
    pub config: Option<MeasureConfig>,
    marks: std::sync::Mutex<Vec<(String, CpuSample)>>,
}

impl MeasureState {
    pub fn new(config: Option<MeasureConfig>) -> Self {
        Self {
            config,
            marks: Default::default(),
        }
    }
}

#[tauri::command]
pub fn measure_config(state: tauri::State<'_, AppState>) -> Option<MeasureConfig> {
    state.measure.config.clone()
}

#[tauri::command]
pub fn measure_mark(state: tauri::State<'_, AppState>, name: String) {
    state
        .measure
        .marks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((name, cpu_sample()));
}

fn share(a: &CpuSample, b: &CpuSample) -> (f64, f64, f64) {
    let secs = match (a.at, b.at) {
        (Some(x), Some(y)) => y.duration_since(x).as_secs_f64().max(0.001),
        _ => 1.0,
    };
    (
        (b.app_s - a.app_s) / secs * 100.0,
        (b.webkit_s - a.webkit_s) / secs * 100.0,
        secs,
    )
}

/// Writes the report (the page's figures + CPU shares per window) and closes the app.
#[tauri::command]
pub async fn measure_finish<R: Runtime>(
    app: AppHandle<R>,
    state: tauri::State<'_, AppState>,
    page: Value,
) -> Result<(), CommandError> {
    let Some(cfg) = state.measure.config.clone() else {
        return Err(CommandError::msg("Measurement mode is off."));
    };
    let marks = state
        .measure
        .marks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let get = |n: &str| marks.iter().find(|(m, _)| m == n).map(|(_, s)| *s);
    let window = |a: &str, b: &str| -> Value {
        match (get(a), get(b)) {
            (Some(x), Some(y)) => {
                let (app_pct, webkit_pct, secs) = share(&x, &y);
                serde_json::json!({
                    "seconds": secs,
                    "appProcessPercentOfOneCore": app_pct,
                    "webkitProcessesPercentOfOneCore": webkit_pct,
                    "totalPercentOfOneCore": app_pct + webkit_pct,
                })
            }
            _ => Value::Null,
        }
    };
    let idle = window("idle-start", "idle-end");
    let source = window("source-start", "source-end");
    let video = window("video-start", "video-end");
    let total = |w: &Value| w.get("totalPercentOfOneCore").and_then(Value::as_f64);
    let path_pct = total(&video).zip(total(&idle)).map(|(v, i)| v - i);
    // The source alone (the pattern drawn, the canvas hidden on another pane) against the video
    // window: what showing the frames costs, without what making them costs.
    let display_pct = total(&video).zip(total(&source)).map(|(v, s)| v - s);
    let counters = state.sessions.video.counters(Sink::Preview);
    let report = serde_json::json!({
        "build": if cfg!(debug_assertions) { "debug (dev profile; dependencies at opt-level 2)" } else { "release" },
        "source": format!("synthetic pattern {}x{} @ {} fps", cfg.width, cfg.height, cfg.fps),
        "path": if crate::surface::enabled() {
            "I420 → scale to the canvas → B,G,R,x → GTK main thread → cairo paint over the canvas (native surface)".to_owned()
        } else {
            format!("I420 → JPEG (libjpeg-turbo, q{}) → tauri::ipc::Channel raw → {}", std::env::var("RED5_DESK_VIDEO_JPEG_QUALITY").unwrap_or_else(|_| "80".into()), match cfg.decoder.as_str() { "bitmap" => "createImageBitmap → canvas 2D", "element" => "<img> blob: URL + decode(), the <img> itself shown", _ => "<img> blob: URL + decode() → canvas 2D" })
        },
        "webkitEnv": crate::rendering::webkit_env(),
        "page": page,
        "rust": {
            "framesSent": counters.sent,
            "framesDroppedByFlowControl": counters.dropped,
            "prepareMsMean": if counters.sent > 0 { counters.encode_us_total as f64 / counters.sent as f64 / 1000.0 } else { 0.0 },
        },
        "cpuIdleWindow": idle,
        "cpuSourceOnlyWindow": source,
        "cpuVideoWindow": video,
        "cpuOfThePathPercentOfOneCore": path_pct,
        "cpuOfShowingTheFramesPercentOfOneCore": display_pct,
    });
    let text = serde_json::to_string_pretty(&report)
        .map_err(|e| CommandError::msg(format!("The report could not be written: {e}")))?;
    std::fs::write(&cfg.out, &text).map_err(|e| {
        CommandError::msg(format!(
            "The report could not be written to {}: {e}",
            cfg.out.display()
        ))
    })?;
    println!("{text}");
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        handle.exit(0);
    });
    Ok(())
}
