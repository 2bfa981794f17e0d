// Video from Rust onto a <canvas>: JPEG frames over a tauri::ipc::Channel (see src-tauri/src/video.rs).
// Decoding: see `decoder` below. Message: 16-byte prefix [f64 LE handed-over time, ms][u16 LE source
// width][u16 LE source height][4 bytes 0] + [16-byte R5F1 header: format, JPEG width, JPEG height,
// capture ms] + JPEG. Each painted frame is acked so Rust keeps at most two frames in flight.
// Rust sends frames at most at the canvas's on-screen size in device pixels (reportViewSize), so
// the JPEG may be smaller than the stream; the source size is what the page shows as resolution.
import { invoke } from './backend.js';

const PREFIX = 16;

/**
 * Pulls frames with `pull()` (an invoke answered with the next frame's bytes, or an empty body
 * after a second without one) and paints each with `paint(buf)`, one request at a time, until
 * `stopped()`. One request per frame is the flow control (the backend prepares a frame only
 * while a request waits) and costs WebKit and the GTK main thread less than a channel message
 * (an eval, then a fetch) plus an ack (src-tauri/README.md "Video into the UI").
 */
export async function pullFrames(pull, paint, stopped = () => false) {
  let idle = 0;
  while (!stopped()) {
    const t0 = performance.now();
    let msg = null;
    try {
      msg = await pull();
    } catch (_) {
      msg = null;
    }
    if (stopped()) return;
    if (msg && msg.byteLength) {
      idle = 0;
      await paint(msg);
      continue;
    }
    // No sender (not attached yet, or its video ended): back off instead of spinning.
    if (performance.now() - t0 < 100) {
      idle = Math.min(idle + 1, 8);
      await new Promise((r) => setTimeout(r, 125 * idle));
    }
  }
}

/**
 * Reports `canvas`'s on-screen size in device pixels on start and on every resize: `send(w, h)`.
 * A hidden canvas reports 0×0, which the backend ignores (it keeps the last size).
 */
export function reportViewSize(canvas, send) {
  let last = '';
  const report = (cssW, cssH) => {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.ceil(cssW * dpr);
    const h = Math.ceil(cssH * dpr);
    const key = `${w}x${h}`;
    if (key === last) return;
    last = key;
    send(w, h);
  };
  if (typeof ResizeObserver === 'function') {
    new ResizeObserver((entries) => {
      const r = entries[entries.length - 1].contentRect;
      report(r.width, r.height);
    }).observe(canvas);
  }
  // A moved window can change devicePixelRatio without resizing the canvas.
  window.addEventListener('resize', () => report(canvas.clientWidth, canvas.clientHeight));
}
const attached = new Map();
// 'img' (default, measured faster in WebKitGTK): an <img> from a blob: URL, decode() off the main
// thread, drawImage. 'bitmap': createImageBitmap(Blob).
let decoder = 'img';

// 'element' (measurement only): the decoded <img> itself is shown in place of the canvas, no
// drawImage copy.
/** Chooses how JPEG frames are decoded and shown (measurement mode compares them). */
export function setDecoder(d) {
  decoder = d === 'bitmap' || d === 'element' ? d : 'img';
}

// Decodes without drawing and keeps the blob: URL alive while the element shows it.
async function decodeToElement(bytes) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'image/jpeg' }));
  const img = new Image();
  img.src = url;
  try {
    await img.decode();
  } catch (e) {
    URL.revokeObjectURL(url);
    throw e;
  }
  return { img, url };
}

async function decodeJpeg(bytes) {
  const blob = new Blob([bytes], { type: 'image/jpeg' });
  if (decoder === 'img') {
    const url = URL.createObjectURL(blob);
    try {
      const img = new Image();
      img.src = url;
      await img.decode();
      return { image: img, close() {} };
    } finally {
      URL.revokeObjectURL(url);
    }
  }
  const bmp = await createImageBitmap(blob);
  return { image: bmp, close: () => bmp.close && bmp.close() };
}

/** The painting statistics of a sink's canvas (measurement mode, tests). */
export function videoStats(sink) {
  const v = attached.get(sink);
  return v ? v.stats() : null;
}

/** Restarts the latency samples of a sink's canvas. */
export function resetVideoStats(sink) {
  const v = attached.get(sink);
  if (v) v.reset();
}
const HEADER = 16;

/**
 * Attaches `canvas` to the backend video sink `sink` ('preview' | 'viewer').
 * Returns { stats(), reset(), clear() }; onFirstFrame(w, h) runs after a (re)start's first paint.
 */
export function attachVideo(sink, canvas, { onFrame } = {}) {
  const ctx = canvas.getContext('2d', { alpha: false });
  const t = window.__TAURI__;
  let chain = Promise.resolve();
  const m = newStats();
  let shown = null; // 'element' mode: the <img> on screen and its blob: URL

  const channel = new t.core.Channel();
  channel.onmessage = (msg) => {
    // Paint in arrival order; decoding is asynchronous.
    chain = chain.then(() => paint(msg)).catch(() => {});
  };

  async function paint(msg, ack = true) {
    const buf = msg instanceof ArrayBuffer ? msg : msg.buffer || new Uint8Array(msg).buffer;
    try {
      const dv = new DataView(buf);
      if (buf.byteLength < PREFIX + HEADER) return;
      const handed = dv.getFloat64(0, true);
      const format = dv.getUint8(PREFIX + 4);
      const jw = dv.getUint16(PREFIX + 6, true); // the JPEG's size
      const jh = dv.getUint16(PREFIX + 8, true);
      const w = dv.getUint16(8, true) || jw; // the stream's size
      const h = dv.getUint16(10, true) || jh;
      const capture = dv.getUint32(PREFIX + 12, true);
      if (format !== 0) return; // only JPEG is sent
      if (decoder === 'element') {
        const next = await decodeToElement(new Uint8Array(buf, PREFIX + HEADER));
        next.img.className = canvas.className;
        if (shown) {
          shown.img.replaceWith(next.img);
          URL.revokeObjectURL(shown.url);
        } else {
          canvas.after(next.img);
          canvas.hidden = true;
        }
        shown = next;
        const now = Date.now();
        m.record(now, now - handed, (now % 2 ** 32) - capture, w, h, jw, jh);
        canvas.dataset.frames = String(m.total);
        if (onFrame) onFrame(w, h, m);
        return;
      }
      const pic = await decodeJpeg(new Uint8Array(buf, PREFIX + HEADER));
      // Paint at the size shown (never above the source): a smaller canvas is cheaper for the
      // software compositor than scaling a full-size one on every frame.
      const scale = Math.min(1, ((canvas.clientWidth || jw) * (window.devicePixelRatio || 1)) / jw);
      const cw = Math.max(1, Math.round(jw * scale));
      const ch = Math.max(1, Math.round(jh * scale));
      if (canvas.width !== cw || canvas.height !== ch) {
        canvas.width = cw;
        canvas.height = ch;
      }
      canvas.dataset.sourceWidth = String(w);
      canvas.dataset.sourceHeight = String(h);
      ctx.drawImage(pic.image, 0, 0, cw, ch);
      pic.close();
      const now = Date.now();
      m.record(now, now - handed, (now % 2 ** 32) - capture, w, h, jw, jh);
      canvas.dataset.frames = String(m.total);
      if (onFrame) onFrame(w, h, m);
    } finally {
      if (ack) invoke('video_ack', { sink, count: 1 }).catch(() => {});
    }
  }

  invoke('video_attach', { sink, channel }).catch(() => {});
  // Frames are pulled (one `video_pull` request per frame; see pullFrames) unless
  // RED5_DESK_VIDEO_TRANSPORT=channel asks for the pushed channel (measurements).
  invoke('video_transport')
    .then((mode) => {
      if (mode === 'pull') pullFrames(() => invoke('video_pull', { sink }), (msg) => paint(msg, false));
    })
    .catch(() => {});
  reportViewSize(canvas, (width, height) => invoke('video_view_size', { sink, width, height }).catch(() => {}));

  const api = {
    stats: () => m.summary(),
    reset: () => m.reset(),
    clear() {
      ctx.fillStyle = '#0a0c0f';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      canvas.dataset.frames = '0';
      m.total = 0;
    },
  };
  attached.set(sink, api);
  return api;
}

function newStats() {
  return {
    total: 0,
    window: [],
    pathMs: [],
    captureMs: [],
    width: 0,
    height: 0,
    sentWidth: 0,
    sentHeight: 0,
    record(now, pathMs, captureMs, w, h, jw, jh) {
      this.total += 1;
      this.width = w;
      this.height = h;
      this.sentWidth = jw;
      this.sentHeight = jh;
      this.window.push(now);
      while (this.window.length && now - this.window[0] > 1000) this.window.shift();
      if (this.pathMs.length < 20000) {
        this.pathMs.push(pathMs);
        this.captureMs.push(captureMs);
      }
    },
    reset() {
      this.pathMs = [];
      this.captureMs = [];
    },
    summary() {
      const pct = (arr, p) => {
        if (!arr.length) return null;
        const s = [...arr].sort((a, b) => a - b);
        return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
      };
      return {
        framesPainted: this.total,
        fpsLastSecond: this.window.length,
        width: this.width,
        height: this.height,
        // The size the frames arrived at (scaled to the canvas by the backend).
        sentWidth: this.sentWidth,
        sentHeight: this.sentHeight,
        samples: this.pathMs.length,
        pathLatencyMsP50: pct(this.pathMs, 50),
        pathLatencyMsP95: pct(this.pathMs, 95),
        captureToPaintMsP50: pct(this.captureMs, 50),
        captureToPaintMsP95: pct(this.captureMs, 95),
      };
    },
  };
}
