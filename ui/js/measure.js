// Measurement mode (RED5_DESK_MEASURE_UI): idle baseline, the synthetic pattern with its pane
// hidden (the source alone), then the pattern in the Presenter preview; the page's painting
// figures and the backend's CPU marks go to a JSON report (src-tauri/src/measure.rs), then the
// app exits.
import { invoke } from './backend.js';
import { videoStats, resetVideoStats, setDecoder } from './video.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function run(cfg, store) {
  setDecoder(cfg.decoder);
  store.update({ pane: 'presenter' });
  // Let start-up work (first paints, JIT, font caches) finish before the idle baseline.
  await sleep(6000);
  await invoke('measure_mark', { name: 'idle-start' });
  await sleep(cfg.windowMs / 2);
  await invoke('measure_mark', { name: 'idle-end' });
  await invoke('presenter_preview', {
    on: true,
    options: { camera: 'synthetic:pattern:blue', width: cfg.width, height: cfg.height, fps: cfg.fps },
  });
  // The source alone: the pattern is drawn but its canvas is on a hidden pane (the native
  // surface then drops each frame before scaling it; the page canvas keeps pulling frames).
  store.update({ pane: 'settings' });
  await sleep(cfg.warmupMs);
  await invoke('measure_mark', { name: 'source-start' });
  await sleep(cfg.windowMs / 2);
  await invoke('measure_mark', { name: 'source-end' });
  store.update({ pane: 'presenter' });
  await sleep(cfg.warmupMs);
  await resetVideoStats('preview');
  const before = await videoStats('preview');
  await invoke('measure_mark', { name: 'video-start' });
  const t0 = performance.now();
  await sleep(cfg.windowMs);
  await invoke('measure_mark', { name: 'video-end' });
  const after = await videoStats('preview');
  const secs = (performance.now() - t0) / 1000;
  const page = {
    ...after,
    framesInWindow: after.framesPainted - before.framesPainted,
    fpsPaintedMean: (after.framesPainted - before.framesPainted) / secs,
    windowSeconds: secs,
    devicePixelRatio: window.devicePixelRatio,
    decoder: cfg.decoder,
    userAgent: navigator.userAgent,
  };
  await invoke('presenter_preview', { on: false });
  await invoke('measure_finish', { page });
}
