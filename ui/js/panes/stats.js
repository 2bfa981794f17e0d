// The statistics card both media panes show: updated every second from the session's Stats event,
// with "Export JSON" (every snapshot of the session, written by Rust; the path is shown).
import { h } from '../dom.js';
import { invoke } from '../backend.js';
import { toast } from '../toast.js';

const ROWS = [
  ['bitrateOut', 'Bitrate out', (s) => `${fmt(s.bitrateOutKbps)} kbps`],
  ['bitrateIn', 'Bitrate in', (s) => `${fmt(s.bitrateInKbps)} kbps`],
  ['loss', 'Packet loss', (s) => `${fmt(s.packetLossPercent, 1)} % (${s.packetsLostTotal ?? 0} lost)`],
  ['rtt', 'RTT', (s) => (s.rttMs == null ? '—' : `${fmt(s.rttMs, 1)} ms`)],
  ['jitter', 'Jitter', (s) => (s.jitterMs == null ? '—' : `${fmt(s.jitterMs, 1)} ms`)],
  ['fps', 'Frame rate', (s) => `${fmt(s.fps, 1)} fps`],
  ['resolution', 'Resolution', (s) => (s.width ? `${s.width}×${s.height}` : '—')],
  ['ice', 'ICE', (s) => s.iceState || '—'],
];

function fmt(v, digits = 0) {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—';
}

export function statsCard(role) {
  const id = `${role}-stats`;
  const values = {};
  const dl = h(
    'dl',
    { class: 'stats', id: `${id}-list` },
    ROWS.flatMap(([key, label]) => {
      values[key] = h('dd', { id: `${id}-${key}` }, '—');
      return [h('dt', {}, label), values[key]];
    }),
  );
  const saved = h('p', { id: `${id}-saved`, class: 'hint path' });
  const exportBtn = h(
    'button',
    {
      id: `${id}-export`,
      type: 'button',
      class: 'btn',
      onclick: async () => {
        try {
          const path = await invoke('export_stats', { role });
          saved.textContent = `Saved to ${path}`;
          saved.dataset.path = path;
        } catch (e) {
          toast(e.message, 'error', 8000);
        }
      },
    },
    'Export JSON',
  );
  const el = h(
    'section',
    { class: 'card', id, 'aria-labelledby': `${id}-title` },
    h('div', { class: 'card-head' }, h('h2', { id: `${id}-title` }, 'Statistics'), exportBtn),
    dl,
    saved,
  );
  return {
    el,
    update(s) {
      for (const [key, , f] of ROWS) values[key].textContent = f(s);
      el.dataset.updated = String(s.timestampMs || Date.now());
    },
  };
}

/** "12:03:04.123" for log lines. */
export function clock(ms) {
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** A bounded log list (newest first). */
export function logList(id, emptyText, max = 200) {
  const list = h('ol', { id, class: 'log', 'aria-live': 'polite' });
  const empty = h('p', { class: 'empty', id: `${id}-empty` }, emptyText);
  return {
    el: h('div', { class: 'log-wrap' }, empty, list),
    add(timeMs, ...parts) {
      empty.hidden = true;
      list.prepend(h('li', {}, h('time', {}, clock(timeMs)), ...parts));
      while (list.children.length > max) list.lastElementChild.remove();
    },
    clear() {
      list.replaceChildren();
      empty.hidden = false;
    },
    count: () => list.children.length,
  };
}
