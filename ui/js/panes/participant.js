// Participant pane: join a room's waiting room, wait for the host, then watch the composite and hear
// the mix-minus (everyone but you). The engine runs in Rust (src-tauri/src/conference.rs); this pane
// sends commands and renders the "conference" events of the one backend event stream.
import { h, replaceChildren } from '../dom.js';
import { invoke, onBackendEvent } from '../backend.js';
import { toast } from '../toast.js';
import { paneSection } from './common.js';
import { statsCard } from './stats.js';
import { nativeSurface, pullFrames, reportViewSize } from '../video.js';

// ---------------------------------------------------------------------------------------------
// Shared with the Host pane (host.js imports these).

/**
 * Adds CSS rules at run time. The CSP forbids inline <style>, but rules inserted through the CSSOM
 * into the app's own stylesheet are allowed. Each set is added once (keyed by `id`).
 */
const addedRules = new Set();
export function addRules(id, rules) {
  if (addedRules.has(id)) return;
  const sheet = [...document.styleSheets].find((s) => (s.href || '').endsWith('styles.css')) || document.styleSheets[0];
  if (!sheet) return;
  addedRules.add(id);
  for (const r of rules) {
    try {
      sheet.insertRule(r, sheet.cssRules.length);
    } catch (e) {
      console.warn('conference pane: CSS rule rejected', r, e);
    }
  }
}

addRules('conference-common', [
  `.conf-canvas { display: block; width: 100%; height: 100%; object-fit: contain; background: #0a0c0f; border-radius: var(--radius); }`,
  `.stage.conf-stage { position: relative; padding: 0; overflow: hidden; border-style: solid; }`,
  `.stage.conf-stage .stage-placeholder { position: absolute; inset: 0; margin: auto; height: fit-content; padding: 20px; }`,
  `.conf-state { display: inline-flex; align-items: center; gap: 8px; font-weight: 650; font-size: 15px; }`,
  `.conf-state::before { content: ''; width: 9px; height: 9px; border-radius: 50%; background: var(--text-faint); }`,
  `.conf-state[data-state='waiting']::before, .conf-state[data-state='connecting']::before, .conf-state[data-state='joining']::before, .conf-state[data-state='reconnecting']::before, .conf-state[data-state='pending']::before, .conf-state[data-state='inservice']::before { background: var(--warn); }`,
  `.conf-state[data-state='inConference']::before, .conf-state[data-state='connected']::before, .conf-state[data-state='composing']::before { background: var(--ok); }`,
  `.conf-state[data-state='failed']::before, .conf-state[data-state='disconnected']::before { background: var(--danger); }`,
  `.conf-form { display: flex; flex-direction: column; gap: 10px; }`,
  `.conf-dl { margin: 8px 0 0; display: grid; grid-template-columns: auto 1fr; gap: 3px 10px; font-size: 12px; }`,
  `.conf-dl dt { color: var(--text-muted); }`,
  `.conf-dl dd { margin: 0; font-family: ui-monospace, 'DejaVu Sans Mono', monospace; overflow-wrap: anywhere; }`,
  `.conf-mutes { margin-top: 10px; }`,
  `.conf-self { position: absolute; right: 10px; bottom: 10px; width: 24%; aspect-ratio: 16 / 9; background: #000; border: 2px solid var(--border-strong); border-radius: 6px; box-shadow: 0 2px 10px rgba(0,0,0,.5); }`,
  `.conf-self-label { position: absolute; right: 16px; bottom: 14px; font-size: 11px; padding: 1px 6px; border-radius: 4px; background: rgba(0,0,0,.6); color: #fff; }`,
  `#participant-status .volume-row { margin-top: 8px; }`,
  `.conf-live { position: absolute; left: 10px; top: 10px; font-size: 11px; padding: 2px 8px; border-radius: 999px; background: rgba(227, 36, 43, 0.9); color: #fff; font-weight: 700; letter-spacing: 0.04em; }`,
]);

/**
 * Draws the frames of a Rust `tauri::ipc::Channel` on a canvas: the same frame path as the
 * Presenter and Viewer (src-tauri/src/video.rs `FrameSender`). Each message is a 16-byte prefix
 * (hand-over time f64 LE, the stream's width u16, height u16, 4 bytes 0) then the red5-media UI
 * frame: a 16-byte header ("R5F1", format, 0, JPEG width u16, height u16, 0 0, time u32) and a
 * JPEG. The canvas's on-screen size is reported (`video_view_size_channel`), so the JPEG is at
 * most that big. Frames are pulled (`video_pull_channel`, one request at a time: Rust prepares a
 * frame only while a request waits and drops the rest, so a slow webview shows the newest frames
 * instead of building a queue). With RED5_DESK_VIDEO_TRANSPORT=channel they arrive on the channel
 * instead, painted in arrival order and each acked (`video_ack_channel`, at most two in flight).
 * Returns { channel, stop }.
 */
export function canvasSink(canvas, { onFirstFrame } = {}) {
  const { Channel } = window.__TAURI__.core;
  const channel = new Channel();
  const ctx = canvas.getContext('2d', { alpha: false });
  let stopped = false;
  let frames = 0;
  let firstSeen = false;
  let chain = Promise.resolve();
  const PREFIX = 16;
  async function paint(msg, ack = true) {
    try {
      const buf = msg instanceof ArrayBuffer ? msg : msg && msg.buffer instanceof ArrayBuffer ? msg.buffer : null;
      if (stopped || !buf || buf.byteLength <= PREFIX + 16) return;
      const head = new DataView(buf, PREFIX, 16);
      if (head.getUint32(0, false) !== 0x52354631 || head.getUint8(4) !== 0) return; // "R5F1", JPEG
      const jw = head.getUint16(6, true);
      const jh = head.getUint16(8, true);
      const pre = new DataView(buf, 0, PREFIX);
      const width = pre.getUint16(8, true) || jw;
      const height = pre.getUint16(10, true) || jh;
      // <img>.decode() decodes off the main thread in WebKitGTK (measured faster than
      // createImageBitmap; src-tauri/README.md "Video into the UI").
      const url = URL.createObjectURL(new Blob([new Uint8Array(buf, PREFIX + 16)], { type: 'image/jpeg' }));
      const img = new Image();
      try {
        img.src = url;
        await img.decode();
      } finally {
        URL.revokeObjectURL(url);
      }
      if (stopped) return;
      if (canvas.width !== jw || canvas.height !== jh) {
        canvas.width = jw;
        canvas.height = jh;
      }
      ctx.drawImage(img, 0, 0, jw, jh);
      frames += 1;
      canvas.dataset.frames = String(frames);
      canvas.dataset.size = `${width}x${height}`;
      if (frames === 1 && onFirstFrame) onFirstFrame(width, height);
    } catch (e) {
      console.warn('conference pane: a video frame could not be decoded', e);
    } finally {
      if (ack) invoke('video_ack_channel', { channel: channel.id, count: 1 }).catch(() => {});
    }
  }
  channel.onmessage = (msg) => {
    chain = chain.then(() => paint(msg));
  };
  reportViewSize(canvas, (width, height) =>
    invoke('video_view_size_channel', { channel: channel.id, width, height }).catch(() => {}),
  );
  // Pulled like the Presenter and Viewer canvases (video.js pullFrames), unless the backend
  // says the channel is used (RED5_DESK_VIDEO_TRANSPORT=channel) or paints natively over the
  // canvas (RED5_DESK_VIDEO_SURFACE=native; video.js nativeSurface).
  let surface = null;
  invoke('video_transport')
    .then((mode) => {
      if (mode === 'native' && !stopped) {
        canvas.dataset.surface = 'native';
        surface = nativeSurface(canvas, {
          place: (placement) => invoke('video_native_rect_channel', { channel: channel.id, placement }).catch(() => {}),
          stats: () => invoke('video_native_stats_channel', { channel: channel.id }),
          onStats: (s) => {
            canvas.dataset.painted = String(s.framesPainted);
            if (!s.framesReceived || String(s.framesReceived) === canvas.dataset.frames) return;
            frames = s.framesReceived;
            canvas.dataset.frames = String(frames);
            canvas.dataset.size = `${s.width}x${s.height}`;
            if (!firstSeen && onFirstFrame) onFirstFrame(s.width, s.height);
            firstSeen = true;
          },
        });
      }
      if (mode !== 'pull') return;
      pullFrames(
        () => invoke('video_pull_channel', { channel: channel.id }),
        (msg) => paint(msg, false),
        () => stopped,
      );
    })
    .catch(() => {});
  return {
    channel,
    stop() {
      stopped = true;
      if (surface) surface.stop();
    },
  };
}

/** Listens to the conference events of the backend stream: fn(event) for kind === `kind`. */
export function onConferenceEvent(kind, fn) {
  onBackendEvent((ev) => {
    if (ev && ev.type === 'conference' && ev.kind === kind) {
      recent.push(ev);
      if (recent.length > 40) recent.shift();
      fn(ev);
    }
  }).catch((e) => console.warn('conference pane: no backend events', e));
}

// Debug aid for end-to-end tests and devtools (like window.red5Desk): the last conference events.
const recent = [];
if (!('red5DeskConference' in window)) {
  Object.defineProperty(window, 'red5DeskConference', { value: Object.freeze({ events: () => recent.slice() }) });
}

/** A labelled input, matching the Settings form's .field markup. */
export function field(id, label, input, hint) {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('p', { class: 'hint' }, hint) : null,
  );
}

export function errorText(e) {
  return (e && e.message) || String(e);
}

// ---------------------------------------------------------------------------------------------

const STATE_LABELS = {
  idle: 'Not in a room',
  connecting: 'Connecting…',
  waiting: 'Waiting for the host',
  joining: 'Joining the conference…',
  inConference: 'In conference',
  reconnecting: 'Reconnecting…',
  leaving: 'Leaving…',
  left: 'Left the room',
  failed: 'Could not stay in the room',
};

export const pane = {
  id: 'participant',
  title: 'Participant',
  icon: 'participant',
  description: 'Join a conference: wait to be admitted, then see everyone and be heard.',
  mount() {
    const { section, body } = paneSection(this);

    const canvas = h('canvas', { id: 'participant-video', class: 'conf-canvas', width: 1280, height: 720, hidden: true });
    const live = h('span', { class: 'conf-live', hidden: true }, 'LIVE');
    const selfCanvas = h('canvas', { id: 'participant-self', class: 'conf-self', width: 640, height: 360, hidden: true, 'aria-label': 'Your camera' });
    const selfLabel = h('span', { class: 'conf-self-label', hidden: true }, 'You');
    const placeholderText = h('span', {}, 'The composite of all participants appears here once the host admits you.');
    const placeholder = h('div', { class: 'stage-placeholder' }, h('strong', {}, 'Conference video'), placeholderText);
    const stage = h(
      'div',
      { id: 'participant-stage', class: 'stage conf-stage', role: 'img', 'aria-label': 'Conference video' },
      canvas,
      placeholder,
      live,
      selfCanvas,
      selfLabel,
    );

    const room = h('input', { id: 'participant-room', class: 'input', value: 'room1', autocomplete: 'off', spellcheck: 'false' });
    const name = h('input', { id: 'participant-name', class: 'input', value: defaultName(), autocomplete: 'off', spellcheck: 'false' });
    const camera = h('select', { id: 'participant-camera', class: 'input' }, h('option', { value: '' }, 'Loading…'));
    const mic = h('select', { id: 'participant-mic', class: 'input' }, h('option', { value: '' }, 'Loading…'));
    const backend = h('input', { id: 'participant-backend', class: 'input', value: '', placeholder: 'ws://127.0.0.1:5080/', autocomplete: 'off', spellcheck: 'false' });
    const joinBtn = h('button', { id: 'participant-join-btn', class: 'btn btn-primary', type: 'submit' }, 'Join');
    const leaveBtn = h('button', { id: 'participant-leave-btn', class: 'btn btn-danger', type: 'button', disabled: true }, 'Leave');
    const message = h('p', { id: 'participant-message', class: 'form-message', role: 'status', 'aria-live': 'polite' });
    const form = h(
      'form',
      { id: 'participant-form', class: 'conf-form', novalidate: true },
      field('participant-room', 'Room', room, 'You wait in “<room>_wr” until the host lets you in.'),
      field('participant-name', 'Your name', name),
      field('participant-camera', 'Camera', camera),
      field('participant-mic', 'Microphone', mic),
      field('participant-backend', 'Conference backend', backend, 'Where the host runs the room (the built-in server serves it).'),
      h('div', { class: 'actions' }, joinBtn, leaveBtn),
      message,
    );

    const stateEl = h('span', { id: 'participant-state', class: 'conf-state', 'data-state': 'idle' }, STATE_LABELS.idle);
    const detail = h('p', { id: 'participant-detail', class: 'hint' }, 'Pick a room and join; the host admits you.');
    const facts = h('dl', { id: 'participant-facts', class: 'conf-dl' });
    const muteAudio = h('button', { id: 'participant-mute-audio', class: 'btn', type: 'button', 'aria-pressed': 'false', 'aria-keyshortcuts': 'M', disabled: true, title: 'Mute the microphone (M)' }, 'Mute mic');
    const muteVideo = h('button', { id: 'participant-mute-video', class: 'btn', type: 'button', 'aria-pressed': 'false', 'aria-keyshortcuts': 'V', disabled: true, title: 'Turn the camera off (V)' }, 'Camera off');
    const volume = h('input', { id: 'participant-volume', type: 'range', min: 0, max: 100, value: 100, 'aria-label': 'Conference volume' });
    volume.addEventListener('input', () => {
      invoke('participant_set_volume', { volume: Number(volume.value) / 100 }).catch(() => {});
    });
    const stats = statsCard('participant');
    // The shared card exports the Presenter/Viewer sessions; this one exports the conference's.
    const exportBtn = stats.el.querySelector('#participant-stats-export');
    if (exportBtn) {
      const mine = exportBtn.cloneNode(true);
      mine.addEventListener('click', async () => {
        const saved = stats.el.querySelector('#participant-stats-saved');
        try {
          const path = await invoke('participant_export_stats');
          if (saved) {
            saved.textContent = `Saved to ${path}`;
            saved.dataset.path = path;
          }
        } catch (e) {
          toast(errorText(e), 'error', 8000);
        }
      });
      exportBtn.replaceWith(mine);
    }

    body.append(
      h(
        'div',
        { class: 'stage-layout' },
        stage,
        h(
          'div',
          { id: 'participant-side', class: 'side' },
          h(
            'section',
            { class: 'card', id: 'participant-status', 'aria-labelledby': 'participant-status-title', 'aria-live': 'polite' },
            h('h2', { id: 'participant-status-title' }, 'Room status'),
            stateEl,
            detail,
            facts,
            h('div', { class: 'actions conf-mutes' }, muteAudio, muteVideo),
            h('div', { class: 'volume-row' }, h('label', { for: 'participant-volume', class: 'hint' }, 'Volume'), volume),
          ),
          h('section', { class: 'card', id: 'participant-join', 'aria-labelledby': 'participant-join-title' }, h('h2', { id: 'participant-join-title' }, 'Join a room'), form),
          stats.el,
        ),
      ),
    );

    let sink = null;
    let selfSink = null;
    let state = 'idle';
    let info = {};
    const muted = { audio: false, video: false };

    async function toggleMute(media) {
      const want = !muted[media];
      try {
        await invoke('participant_mute', { media, muted: want });
        muted[media] = want;
        render();
      } catch (e) {
        setMessage(errorText(e), 'error');
      }
    }
    muteAudio.addEventListener('click', () => toggleMute('audio'));
    muteVideo.addEventListener('click', () => toggleMute('video'));
    // M mutes the mic, V the camera, while this pane is shown and no text field has focus.
    document.addEventListener('keydown', (e) => {
      if (section.hidden || e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
      const t = e.target;
      if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
      const k = e.key.toLowerCase();
      if ((k === 'm' || k === 'v') && !muteAudio.disabled) {
        e.preventDefault();
        toggleMute(k === 'm' ? 'audio' : 'video');
      }
    });

    function render() {
      stateEl.dataset.state = state;
      stateEl.textContent = STATE_LABELS[state] || state;
      const active = !['idle', 'left', 'failed'].includes(state);
      joinBtn.disabled = active;
      leaveBtn.disabled = !active || state === 'leaving';
      for (const el of [room, name, camera, mic, backend]) el.disabled = active;
      const running = active && state !== 'leaving' && state !== 'connecting';
      if (!active) {
        muted.audio = false;
        muted.video = false;
      }
      muteAudio.disabled = !running || !mic.value;
      muteVideo.disabled = !running || !camera.value;
      muteAudio.setAttribute('aria-pressed', String(muted.audio));
      muteVideo.setAttribute('aria-pressed', String(muted.video));
      muteAudio.textContent = muted.audio ? 'Unmute mic' : 'Mute mic';
      muteVideo.textContent = muted.video ? 'Camera on' : 'Camera off';
      const showSelf = active && Boolean(selfCanvas.dataset.frames);
      selfCanvas.hidden = !showSelf;
      selfLabel.hidden = !showSelf;
      const showVideo = state === 'inConference' && canvas.dataset.frames;
      canvas.hidden = !showVideo;
      live.hidden = !showVideo;
      placeholder.hidden = Boolean(showVideo);
      placeholderText.textContent =
        state === 'waiting'
          ? 'You are in the waiting room. The conference appears here when the host lets you in.'
          : state === 'inConference'
            ? 'Admitted — waiting for the first composite frame…'
            : 'The composite of all participants appears here once the host admits you.';
      const rows = [];
      if (info.room) rows.push(['Room', info.room]);
      if (info.waitingRoom) rows.push(['Waiting room', info.waitingRoom]);
      if (info.composite) rows.push(['Composite', info.composite]);
      const size = info.video || (canvas.dataset.size || '').replace('x', '×');
      if (size && state === 'inConference') rows.push(['Video', size]);
      if (info.audio) rows.push(['Audio', info.audio]);
      replaceChildren(facts, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    }

    function setMessage(text, kind = '') {
      message.textContent = text || '';
      if (kind) message.dataset.kind = kind;
      else delete message.dataset.kind;
    }

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      setMessage('');
      const request = {
        room: room.value.trim(),
        name: name.value.trim(),
        camera: camera.value || null,
        mic: mic.value || null,
        backendWs: backend.value.trim() || null,
      };
      if (!request.room) return setMessage('Enter the room to join.', 'error');
      if (!request.name) return setMessage('Enter your name; the host sees it.', 'error');
      if (sink) sink.stop();
      canvas.hidden = true;
      delete canvas.dataset.frames;
      delete canvas.dataset.size;
      sink = canvasSink(canvas, { onFirstFrame: render });
      if (selfSink) selfSink.stop();
      delete selfCanvas.dataset.frames;
      selfSink = canvasSink(selfCanvas, { onFirstFrame: render });
      state = 'connecting';
      info = {};
      render();
      try {
        // Events may have arrived before the reply: what they said wins.
        info = { ...(await invoke('participant_join', { request, frames: sink.channel, selfView: selfSink.channel })), ...info };
        if (volume.value !== '100') invoke('participant_set_volume', { volume: Number(volume.value) / 100 }).catch(() => {});
        render();
      } catch (err) {
        state = 'failed';
        render();
        setMessage(errorText(err), 'error');
      }
    });

    leaveBtn.addEventListener('click', async () => {
      state = 'leaving';
      render();
      try {
        await invoke('participant_leave');
      } catch (err) {
        setMessage(errorText(err), 'error');
      }
    });

    onConferenceEvent('participantStats', (ev) => stats.update(ev.stats));

    onConferenceEvent('participant', (ev) => {
      if (ev.state) state = ev.state;
      if (ev.detail !== undefined) detail.textContent = ev.detail || '';
      if (ev.info) info = { ...info, ...definedOnly(ev.info) };
      if (ev.error) {
        setMessage(ev.error, 'error');
        if (!section.hidden) return render();
        toast(ev.error, 'error', 8000);
      }
      if (state === 'left' || state === 'failed') {
        if (sink) sink.stop();
        sink = null;
        delete canvas.dataset.frames;
        if (selfSink) selfSink.stop();
        selfSink = null;
        delete selfCanvas.dataset.frames;
      }
      render();
    });

    // Prefill the backend from the active server; follow it while the user has not typed one.
    async function prefill() {
      if (backend.dataset.auto === 'false') return;
      try {
        const d = await invoke('host_defaults');
        backend.value = d.backendWs || '';
        backend.dataset.auto = 'true';
      } catch {
        // the built-in server may still be starting; the next server event tries again
      }
    }
    backend.addEventListener('input', () => (backend.dataset.auto = 'false'));
    onBackendEvent((ev) => {
      if (ev && (ev.type === 'builtInServer' || ev.type === 'profilesChanged')) prefill();
    }).catch(() => {});
    prefill();

    loadDevices(camera, mic);
    render();
    return section;
  },
};

function definedOnly(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
}

function defaultName() {
  return `guest-${Math.floor(1000 + Math.random() * 9000)}`;
}

/** Fills the camera and microphone pickers (real devices first, then the synthetic sources). */
export async function loadDevices(camera, mic, { preferSynthetic = false } = {}) {
  try {
    const d = await invoke('conference_devices');
    const opts = (list, sel) => {
      replaceChildren(
        sel,
        h('option', { value: '' }, 'None'),
        list.map((x) => h('option', { value: x.id }, x.name)),
      );
      const pick =
        (!preferSynthetic && list.find((x) => x.isDefault && !x.id.startsWith('synthetic:'))) ||
        list.find((x) => x.id.startsWith('synthetic:')) ||
        list[0];
      if (pick) sel.value = pick.id;
    };
    opts(d.cameras, camera);
    opts(d.mics, mic);
  } catch (e) {
    replaceChildren(camera, h('option', { value: 'synthetic:pattern:blue' }, 'Test pattern (blue)'));
    replaceChildren(mic, h('option', { value: 'synthetic:tone:440' }, 'Test tone (440 Hz)'));
    console.warn('conference pane: devices unavailable', e);
  }
}
