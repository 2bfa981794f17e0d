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
// Page elements that may sit over a video canvas: the siblings after it in its stage (badges,
// messages, a self view; later siblings paint above) and the toast. The native surface leaves
// their rectangles unpainted so they stay visible.
function overlayRects(canvas, r) {
  const els = [document.getElementById('toast')];
  for (let el = canvas.nextElementSibling; el; el = el.nextElementSibling) els.push(el);
  const holes = [];
  for (const el of els) {
    if (!el || el === canvas || el.hidden || el.offsetParent === null) continue;
    const o = el.getBoundingClientRect();
    if (o.width < 1 || o.height < 1 || o.right <= r.left || o.left >= r.right || o.bottom <= r.top || o.top >= r.bottom) continue;
    holes.push({ x: Math.floor(o.left), y: Math.floor(o.top), width: Math.ceil(o.width) + 1, height: Math.ceil(o.height) + 1 });
  }
  return holes;
}

// The part of `r` (the canvas's rectangle) not cut off by a scrolling ancestor or the viewport:
// the native surface paints only there (never over the status bar when the pane scrolls).
function visibleClip(canvas, r) {
  let [left, top, right, bottom] = [r.left, r.top, r.right, r.bottom];
  for (let el = canvas.parentElement; el && el !== document.documentElement; el = el.parentElement) {
    const cs = getComputedStyle(el);
    if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
    const a = el.getBoundingClientRect();
    [left, top, right, bottom] = [Math.max(left, a.left), Math.max(top, a.top), Math.min(right, a.right), Math.min(bottom, a.bottom)];
  }
  [left, top] = [Math.max(left, 0), Math.max(top, 0)];
  [right, bottom] = [Math.min(right, window.innerWidth), Math.min(bottom, window.innerHeight)];
  const width = Math.max(0, right - left);
  const height = Math.max(0, bottom - top);
  return { x: Math.floor(left), y: Math.floor(top), width: Math.ceil(width), height: Math.ceil(height) };
}

// Canvases on the native surface (for `settledSnapshot`).
const live = new Set();

/**
 * A PNG (base64) of the window as the display shows it, native video included, once every
 * native canvas has reported its current place and had a frame painted there (a scroll just
 * before would otherwise catch the picture one report behind).
 */
export async function settledSnapshot() {
  for (const c of live) c.__native.report();
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  await new Promise((r) => setTimeout(r, 100));
  return invoke('window_snapshot');
}

/**
 * Native video surface (RED5_DESK_VIDEO_SURFACE=native; src-tauri/src/surface.rs): the backend
 * paints the frames over `canvas` itself. This reports where the canvas is (CSS pixels), whether
 * it is shown and which page elements lie over it, on every change (`place(placement)`), and
 * polls the painting figures twice a second (`stats()` → `onStats(s)`), which is how the pane
 * learns that video arrived. Layout changes that move the canvas without resizing it (pane
 * switches, scrolling, a toast) are caught by the observers and a 250 ms check.
 * Returns { stop() } (the canvas is then reported hidden).
 */
export function nativeSurface(canvas, { place, stats, onStats }) {
  let last = '';
  let stopped = false;
  const report = (force = false) => {
    const r = canvas.getBoundingClientRect();
    const clip = visibleClip(canvas, r);
    const shown =
      !stopped &&
      document.visibilityState === 'visible' &&
      canvas.isConnected &&
      canvas.offsetParent !== null &&
      r.width > 1 &&
      r.height > 1 &&
      clip.width > 0 &&
      clip.height > 0;
    // The content box: a canvas's border stays the page's.
    const p = {
      x: Math.round(r.left + canvas.clientLeft),
      y: Math.round(r.top + canvas.clientTop),
      width: Math.round(canvas.clientWidth || r.width),
      height: Math.round(canvas.clientHeight || r.height),
      dpr: window.devicePixelRatio || 1,
      visible: shown,
      clip,
      holes: shown ? overlayRects(canvas, r) : [],
    };
    const key = JSON.stringify(p);
    if (key === last && !force) return;
    last = key;
    place(p);
  };
  let queued = false;
  const soon = () => {
    if (queued || stopped) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      report();
    });
  };
  const observers = [];
  if (typeof ResizeObserver === 'function') observers.push(new ResizeObserver(soon));
  if (typeof IntersectionObserver === 'function') observers.push(new IntersectionObserver(soon));
  observers.forEach((o) => o.observe(canvas));
  const mo = new MutationObserver(soon);
  mo.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['hidden', 'class', 'style'] });
  // A scroll moves the canvas now: report at once (not at the next frame), so the picture
  // follows the page as closely as the IPC allows.
  const scrolled = () => report();
  window.addEventListener('resize', soon);
  window.addEventListener('scroll', scrolled, true);
  document.addEventListener('visibilitychange', soon);
  const placeTimer = setInterval(() => {
    // A canvas taken out of the page stops its reports.
    if (!canvas.isConnected) api.stop();
    else report();
  }, 250);
  let polling = false;
  const statsTimer = setInterval(async () => {
    if (polling || stopped) return;
    polling = true;
    try {
      const s = await stats();
      if (s && !stopped) onStats(s);
    } catch (_) {
      /* the sink is gone; the next poll tries again */
    } finally {
      polling = false;
    }
  }, 500);
  report();
  // For probes and snapshots (tests): report now, and read the painting figures.
  canvas.__native = { report: () => report(true), stats };
  live.add(canvas);
  const api = {
    stop() {
      if (stopped) return;
      stopped = true;
      live.delete(canvas);
      clearInterval(placeTimer);
      clearInterval(statsTimer);
      observers.forEach((o) => o.disconnect());
      mo.disconnect();
      window.removeEventListener('resize', soon);
      window.removeEventListener('scroll', scrolled, true);
      document.removeEventListener('visibilitychange', soon);
      report(true);
    },
  };
  return api;
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

/**
 * What a video canvas shows in a region given as fractions of its size: [R, G, B] means, the
 * luma spread and the share of pixels that are not near-black (tests). A native-surface canvas is read back from the display
 * (`window_probe`); a page canvas from its own pixels.
 */
export async function probeCanvas(selector, [fx, fy, fw, fh]) {
  const c = document.querySelector(selector);
  if (!c) return null;
  if (c.dataset.surface === 'native') {
    // Read what the display shows once a frame was painted at the canvas's current place.
    if (c.__native) {
      c.__native.report();
      const painted = async () => ((await c.__native.stats().catch(() => null)) || {}).framesPainted || 0;
      const before = await painted();
      for (let i = 0; i < 40 && (await painted()) <= before; i += 1) await new Promise((r) => setTimeout(r, 50));
    }
    const r = c.getBoundingClientRect();
    const area = {
      x: Math.round(r.left + r.width * fx),
      y: Math.round(r.top + r.height * fy),
      width: Math.max(1, Math.round(r.width * fw)),
      height: Math.max(1, Math.round(r.height * fh)),
    };
    const p = await invoke('window_probe', { area });
    return p ? [...p.meanRgb, p.lumaSpread, p.litShare] : null;
  }
  const ctx = c.getContext('2d');
  const d = ctx.getImageData(
    Math.floor(c.width * fx),
    Math.floor(c.height * fy),
    Math.max(1, Math.floor(c.width * fw)),
    Math.max(1, Math.floor(c.height * fh)),
  ).data;
  let R = 0;
  let G = 0;
  let B = 0;
  let n = 0;
  let lo = 255;
  let hi = 0;
  let lit = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] + d[i + 1] + d[i + 2] > 60) lit += 1;
    R += d[i];
    G += d[i + 1];
    B += d[i + 2];
    n += 1;
    const l = (d[i] + d[i + 1] + d[i + 2]) / 3;
    lo = Math.min(lo, l);
    hi = Math.max(hi, l);
  }
  return n ? [R / n, G / n, B / n, hi - lo, lit / n] : null;
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
  // RED5_DESK_VIDEO_TRANSPORT=channel asks for the pushed channel (measurements) or
  // RED5_DESK_VIDEO_SURFACE=native paints them natively over the canvas.
  let native = false;
  invoke('video_transport')
    .then((mode) => {
      if (mode === 'pull') pullFrames(() => invoke('video_pull', { sink }), (msg) => paint(msg, false));
      if (mode === 'native') {
        native = true;
        canvas.dataset.surface = 'native';
        let seen = 0;
        nativeSurface(canvas, {
          place: (placement) => invoke('video_native_rect', { sink, placement }).catch(() => {}),
          stats: () => invoke('video_native_stats', { sink }),
          onStats: (s) => {
            canvas.dataset.sourceWidth = String(s.width);
            canvas.dataset.sourceHeight = String(s.height);
            canvas.dataset.painted = String(s.framesPainted);
            if (s.framesReceived === seen) return;
            seen = s.framesReceived;
            canvas.dataset.frames = String(seen);
            m.total = seen;
            if (onFrame) onFrame(s.width, s.height, m);
          },
        });
      }
    })
    .catch(() => {});
  reportViewSize(canvas, (width, height) => invoke('video_view_size', { sink, width, height }).catch(() => {}));

  const api = {
    // Native surface: the backend paints and counts; the page's figures come from it.
    stats: () => (native ? invoke('video_native_stats', { sink }) : m.summary()),
    reset: () => (native ? invoke('video_native_stats', { sink, reset: true }) : m.reset()),
    clear() {
      if (native) invoke('video_native_clear', { sink }).catch(() => {});
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
