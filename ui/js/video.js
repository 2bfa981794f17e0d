// Video from Rust onto a <canvas>: JPEG frames over a tauri::ipc::Channel (see src-tauri/src/video.rs).
// Decoding: see `decoder` below. Message: [f64 LE handed-over time, ms] + [16-byte R5F1 header: format, width, height, capture ms]
// + JPEG. Each painted frame is acked so Rust keeps at most two frames in flight.
import { invoke } from './backend.js';

const PREFIX = 8;
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

  async function paint(msg) {
    const buf = msg instanceof ArrayBuffer ? msg : msg.buffer || new Uint8Array(msg).buffer;
    try {
      const dv = new DataView(buf);
      if (buf.byteLength < PREFIX + HEADER) return;
      const handed = dv.getFloat64(0, true);
      const format = dv.getUint8(PREFIX + 4);
      const w = dv.getUint16(PREFIX + 6, true);
      const h = dv.getUint16(PREFIX + 8, true);
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
        m.record(now, now - handed, (now % 2 ** 32) - capture, w, h);
        canvas.dataset.frames = String(m.total);
        if (onFrame) onFrame(w, h, m);
        return;
      }
      const pic = await decodeJpeg(new Uint8Array(buf, PREFIX + HEADER));
      // Paint at the size shown (never above the source): a smaller canvas is cheaper for the
      // software compositor than scaling a full-size one on every frame.
      const scale = Math.min(1, ((canvas.clientWidth || w) * (window.devicePixelRatio || 1)) / w);
      const cw = Math.max(1, Math.round(w * scale));
      const ch = Math.max(1, Math.round(h * scale));
      if (canvas.width !== cw || canvas.height !== ch) {
        canvas.width = cw;
        canvas.height = ch;
      }
      canvas.dataset.sourceWidth = String(w);
      canvas.dataset.sourceHeight = String(h);
      ctx.drawImage(pic.image, 0, 0, cw, ch);
      pic.close();
      const now = Date.now();
      m.record(now, now - handed, (now % 2 ** 32) - capture, w, h);
      canvas.dataset.frames = String(m.total);
      if (onFrame) onFrame(w, h, m);
    } finally {
      invoke('video_ack', { sink, count: 1 }).catch(() => {});
    }
  }

  invoke('video_attach', { sink, channel }).catch(() => {});

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
    record(now, pathMs, captureMs, w, h) {
      this.total += 1;
      this.width = w;
      this.height = h;
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
        samples: this.pathMs.length,
        pathLatencyMsP50: pct(this.pathMs, 50),
        pathLatencyMsP95: pct(this.pathMs, 95),
        captureToPaintMsP50: pct(this.captureMs, 50),
        captureToPaintMsP95: pct(this.captureMs, 95),
      };
    },
  };
}
