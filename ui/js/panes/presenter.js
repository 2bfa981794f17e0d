// Presenter: publish a camera (or the test pattern) and a microphone (or a tone) with a red5-session
// Publisher; local preview; mute (M / V); mic meter; metadata (text or validated JSON); status log;
// statistics with export.
import { h, $ } from '../dom.js';
import { invoke } from '../backend.js';
import { on } from '../bus.js';
import { toast } from '../toast.js';
import { attachVideo } from '../video.js';
import { paneSection } from './common.js';
import { statsCard, logList } from './stats.js';

const RESOLUTIONS = [
  ['1280x720', '1280 × 720 (720p)'],
  ['1920x1080', '1920 × 1080 (1080p)'],
  ['960x540', '960 × 540'],
  ['640x360', '640 × 360'],
];
const STATE_TEXT = {
  idle: 'Not publishing',
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  stopped: 'Stopped',
  failed: 'Failed',
};

function field(id, label, control, hint) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint ? h('p', { class: 'hint' }, hint) : null);
}

function select(id, options, value) {
  return h(
    'select',
    { id, class: 'input' },
    options.map(([v, l]) => h('option', { value: v, selected: v === value ? true : false }, l)),
  );
}

export const pane = {
  id: 'presenter',
  title: 'Presenter',
  icon: 'presenter',
  description: 'Publish your camera and microphone as a live stream and send metadata to viewers.',
  mount(store) {
    const { section, body } = paneSection(this);
    const st = { state: 'idle', muteAudio: false, muteVideo: false, previewing: false, streamName: '' };

    // --- stage ---------------------------------------------------------------------------------
    const canvas = h('canvas', { id: 'presenter-canvas', class: 'video', width: 1280, height: 720, 'aria-label': 'Local preview' });
    const badge = h('span', { id: 'presenter-badge', class: 'live-badge', hidden: true }, 'LIVE');
    const muteBadges = h('span', { id: 'presenter-mute-badges', class: 'mute-badges' });
    const stageMsg = h('div', { id: 'presenter-stage-msg', class: 'stage-msg' }, 'Choose a camera and press Preview or Publish.');
    const stage = h('div', { id: 'presenter-stage', class: 'stage stage-video' }, canvas, stageMsg, badge, muteBadges);
    const video = attachVideo('preview', canvas, {
      onFrame: () => {
        stageMsg.hidden = true;
      },
    });

    // --- source and publish controls ---------------------------------------------------------
    const camera = h('select', { id: 'presenter-camera', class: 'input' });
    const mic = h('select', { id: 'presenter-mic', class: 'input' });
    const resolution = select('presenter-resolution', RESOLUTIONS, '1280x720');
    const fps = select('presenter-fps', [['30', '30'], ['25', '25'], ['24', '24'], ['15', '15'], ['60', '60']], '30');
    const codec = select('presenter-codec', [['h264', 'H.264'], ['vp8', 'VP8']], 'h264');
    const bitrate = h('input', { id: 'presenter-bitrate', class: 'input', type: 'number', min: 100, max: 20000, step: 100, value: '1500' });
    const transport = select(
      'presenter-transport',
      [['profile', 'As in the profile'], ['whip', 'WHIP'], ['ws', 'WebSocket proxy']],
      'profile',
    );
    const stream = h('input', { id: 'presenter-stream', class: 'input', value: 'stream1', autocomplete: 'off', spellcheck: 'false' });
    const previewBtn = h('button', { id: 'presenter-preview', type: 'button', class: 'btn' }, 'Preview');
    const publishBtn = h('button', { id: 'presenter-publish', type: 'button', class: 'btn btn-primary' }, 'Publish');
    const muteA = h('button', { id: 'presenter-mute-audio', type: 'button', class: 'btn', 'aria-pressed': 'false', 'aria-keyshortcuts': 'M', title: 'Mute the microphone (M)' }, 'Mute mic');
    const muteV = h('button', { id: 'presenter-mute-video', type: 'button', class: 'btn', 'aria-pressed': 'false', 'aria-keyshortcuts': 'V', title: 'Turn the camera off (V)' }, 'Camera off');
    const meterBar = h('span', { class: 'meter-bar', id: 'presenter-meter-bar' });
    const meter = h('div', { id: 'presenter-meter', class: 'meter', role: 'meter', 'aria-label': 'Microphone level', 'aria-valuemin': '-60', 'aria-valuemax': '0', 'aria-valuenow': '-60' }, meterBar);
    const stateText = h('strong', { id: 'presenter-state', 'data-state': 'idle' }, STATE_TEXT.idle);
    const deviceNote = h('p', { id: 'presenter-device-note', class: 'hint' });
    const refreshBtn = h('button', { id: 'presenter-refresh-devices', type: 'button', class: 'btn btn-ghost btn-small', title: 'Look for cameras and microphones again' }, 'Refresh devices');

    const controls = h(
      'section',
      { class: 'card', id: 'presenter-publish-card', 'aria-labelledby': 'presenter-publish-title' },
      h('h2', { id: 'presenter-publish-title' }, 'Publish'),
      h('div', { class: 'form' },
        field('presenter-stream', 'Stream name', stream),
        field('presenter-camera', 'Camera', camera),
        field('presenter-mic', 'Microphone', mic),
        h('div', { class: 'actions' }, deviceNote, h('span', { class: 'spacer' }), refreshBtn),
        h('div', { class: 'grid-2' }, field('presenter-resolution', 'Resolution', resolution), field('presenter-fps', 'Frame rate', fps)),
        h('div', { class: 'grid-2' }, field('presenter-codec', 'Codec', codec), field('presenter-bitrate', 'Bitrate (kbps)', bitrate)),
        field('presenter-transport', 'Signalling', transport),
        h('div', { class: 'actions' }, previewBtn, h('span', { class: 'spacer' }), publishBtn),
        h('div', { class: 'actions' }, muteA, muteV),
        h('div', { class: 'meter-row' }, h('span', { class: 'hint' }, 'Mic'), meter),
        h('p', { class: 'state-line' }, 'Status: ', stateText),
      ),
    );

    // --- metadata --------------------------------------------------------------------------------
    const metaText = h('textarea', { id: 'presenter-metadata', class: 'input', rows: 3, spellcheck: 'false', placeholder: 'e.g. Now: opening keynote' });
    const jsonMode = h('input', { id: 'presenter-json-mode', type: 'checkbox' });
    const metaError = h('p', { id: 'presenter-metadata-error', class: 'field-error', role: 'alert' });
    const sendBtn = h('button', { id: 'presenter-send', type: 'button', class: 'btn btn-primary', disabled: true }, 'Send');
    const sentLog = logList('presenter-sent-log', 'Nothing sent yet.');
    const metaCard = h(
      'section',
      { class: 'card', id: 'presenter-metadata-card', 'aria-labelledby': 'presenter-metadata-title' },
      h('h2', { id: 'presenter-metadata-title' }, 'Metadata'),
      h('p', { class: 'hint' }, "Sent to every viewer as onMetaData. Text goes as {metadata: text}; in JSON mode the object is sent as typed."),
      metaText,
      metaError,
      h('div', { class: 'actions' }, h('label', { class: 'check' }, jsonMode, 'JSON mode'), h('span', { class: 'spacer' }), sendBtn),
      h('h3', { class: 'sub' }, 'Sent'),
      sentLog.el,
    );

    // --- status log + stats ----------------------------------------------------------------------
    const statusLog = logList('presenter-status-log', 'No server messages yet.');
    const stats = statsCard('presenter');
    const statusCard = h(
      'section',
      { class: 'card', id: 'presenter-status-card', 'aria-labelledby': 'presenter-status-title' },
      h('h2', { id: 'presenter-status-title' }, 'Server status'),
      statusLog.el,
    );

    body.append(
      h('div', { class: 'stage-layout' },
        h('div', { class: 'stage-col' }, stage, h('div', { class: 'under-stage' }, metaCard, stats.el), statusCard),
        h('div', { class: 'side' }, controls),
      ),
    );

    // --- behaviour ---------------------------------------------------------------------------------
    function options() {
      const [w, hh] = resolution.value.split('x').map(Number);
      return {
        streamName: stream.value,
        camera: camera.value || null,
        microphone: mic.value || null,
        width: w,
        height: hh,
        fps: Number(fps.value),
        codec: codec.value,
        bitrateKbps: Number(bitrate.value) || 1500,
        transport: transport.value,
      };
    }

    function render() {
      const active = ['connecting', 'live', 'reconnecting'].includes(st.state);
      stateText.textContent = STATE_TEXT[st.state] || st.state;
      stateText.dataset.state = st.state;
      section.dataset.state = st.state;
      publishBtn.textContent = active ? 'Stop' : 'Publish';
      publishBtn.classList.toggle('btn-danger', active);
      publishBtn.classList.toggle('btn-primary', !active);
      for (const el of [camera, mic, resolution, fps, codec, transport, stream, refreshBtn]) el.disabled = active;
      previewBtn.disabled = active;
      previewBtn.textContent = st.previewing ? 'Stop preview' : 'Preview';
      muteA.disabled = !active;
      muteV.disabled = !active;
      muteA.setAttribute('aria-pressed', String(st.muteAudio));
      muteV.setAttribute('aria-pressed', String(st.muteVideo));
      muteA.textContent = st.muteAudio ? 'Unmute mic' : 'Mute mic';
      muteV.textContent = st.muteVideo ? 'Camera on' : 'Camera off';
      badge.hidden = st.state !== 'live';
      muteBadges.textContent = [st.muteAudio ? 'Mic muted' : '', st.muteVideo ? 'Camera off' : ''].filter(Boolean).join(' · ');
      sendBtn.disabled = !active || Boolean(metaError.textContent);
    }

    async function loadDevices() {
      const d = await invoke('list_devices');
      const fill = (sel, list, none) => {
        const cur = sel.value;
        sel.replaceChildren(h('option', { value: '' }, none), ...list.map((x) => h('option', { value: x.id }, x.name)));
        const pick = list.some((x) => x.id === cur) ? cur : (list.find((x) => x.isDefault && !x.id.startsWith('synthetic')) || list[0] || {}).id;
        sel.value = pick || '';
      };
      fill(camera, d.cameras, 'No video');
      fill(mic, d.microphones, 'No audio');
      deviceNote.textContent = d.notes.join(' ');
    }

    async function togglePreview() {
      try {
        if (st.previewing) {
          await invoke('presenter_preview', { on: false });
          st.previewing = false;
        } else {
          const o = options();
          if (!o.camera) throw { message: 'Choose a camera to preview.' };
          await invoke('presenter_preview', { on: true, options: { camera: o.camera, width: o.width, height: o.height, fps: o.fps } });
          st.previewing = true;
          stageMsg.textContent = 'Starting the preview…';
        }
      } catch (e) {
        toast(e.message, 'error', 8000);
      }
      render();
    }

    async function togglePublish() {
      const active = ['connecting', 'live', 'reconnecting'].includes(st.state);
      publishBtn.disabled = true;
      try {
        if (active) {
          await invoke('presenter_stop');
          st.state = 'stopped';
          if (st.previewing) {
            st.previewing = false;
            await togglePreview();
          }
        } else {
          st.muteAudio = false;
          st.muteVideo = false;
          st.state = 'connecting';
          st.streamName = stream.value.trim();
          render();
          video.reset();
          await invoke('presenter_start', { options: options() });
        }
      } catch (e) {
        st.state = 'idle';
        toast(e.message, 'error', 10000);
        statusLog.add(Date.now(), h('span', { class: 'err' }, e.message));
      } finally {
        publishBtn.disabled = false;
        render();
      }
    }

    async function setMute(kind) {
      const next = kind === 'audio' ? !st.muteAudio : !st.muteVideo;
      try {
        await invoke('presenter_mute', kind === 'audio' ? { audio: next } : { video: next });
        if (kind === 'audio') st.muteAudio = next;
        else st.muteVideo = next;
      } catch (e) {
        toast(e.message, 'error');
      }
      render();
    }

    let validateTimer = null;
    function validate() {
      clearTimeout(validateTimer);
      validateTimer = setTimeout(async () => {
        const text = metaText.value;
        let err = null;
        if (jsonMode.checked || text.trim()) err = await invoke('validate_metadata', { text, jsonMode: jsonMode.checked });
        metaError.textContent = text.trim() || jsonMode.checked ? err || '' : '';
        metaText.closest('.card').classList.toggle('invalid', Boolean(metaError.textContent));
        render();
      }, 120);
    }

    async function sendMetadata() {
      try {
        const entry = await invoke('presenter_send_metadata', { text: metaText.value, jsonMode: jsonMode.checked });
        sentLog.add(entry.timeMs, h('code', { class: 'json' }, `${entry.method} ${JSON.stringify(entry.data)}`));
      } catch (e) {
        metaError.textContent = e.message;
      }
      render();
    }

    // Devices come and go (USB cameras, headsets).
    refreshBtn.addEventListener('click', () => {
      loadDevices().catch((e) => toast(`Devices could not be listed: ${e.message}`, 'error'));
    });
    previewBtn.addEventListener('click', togglePreview);
    publishBtn.addEventListener('click', togglePublish);
    muteA.addEventListener('click', () => setMute('audio'));
    muteV.addEventListener('click', () => setMute('video'));
    metaText.addEventListener('input', validate);
    jsonMode.addEventListener('change', validate);
    sendBtn.addEventListener('click', sendMetadata);
    metaText.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        if (!sendBtn.disabled) sendMetadata();
      }
    });

    // M mutes the mic, V the camera, while this pane is shown and no text field has focus.
    document.addEventListener('keydown', (e) => {
      if (section.hidden || e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
      const t = e.target;
      if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
      const k = e.key.toLowerCase();
      if ((k === 'm' || k === 'v') && !muteA.disabled) {
        e.preventDefault();
        setMute(k === 'm' ? 'audio' : 'video');
      }
    });

    const bwText = { insufficient: 'Insufficient bandwidth (NetStream.Publish.InsufficientBW)', sufficient: 'Bandwidth sufficient again (NetStream.Publish.SufficientBW)', recovering: 'Bandwidth recovering (NetStream.Publish.RecoveringBW)' };
    on('presenter', ({ event: ev, text }) => {
      const now = Date.now();
      switch (ev.type) {
        case 'state':
          st.state = ev.state;
          if (ev.state === 'stopped' || ev.state === 'failed') {
            st.muteAudio = false;
            st.muteVideo = false;
          }
          break;
        case 'started':
          statusLog.add(now, `Publish.Start — ${st.streamName} is live`);
          break;
        case 'transportSwitched':
          statusLog.add(now, 'Messages now use the data channel (MessageTransport.Change)');
          break;
        case 'bandwidth':
          statusLog.add(now, h('span', { class: ev.bandwidth === 'insufficient' ? 'warn' : '' }, bwText[ev.bandwidth] || ev.bandwidth));
          break;
        case 'serverStatus':
          statusLog.add(now, ev.status);
          break;
        case 'message':
          statusLog.add(now, h('code', { class: 'json' }, `${ev.method} ${JSON.stringify(ev.data)}`));
          break;
        case 'reconnecting':
          st.state = 'reconnecting';
          statusLog.add(now, h('span', { class: 'warn' }, `Connection lost. ${text || ev.reason} Reconnecting: attempt ${ev.attempt} of ${ev.of}…`));
          break;
        case 'reconnected':
          statusLog.add(now, 'Reconnected; publishing again');
          break;
        case 'deviceLost':
        case 'warning':
          statusLog.add(now, h('span', { class: 'warn' }, text || ev.message));
          toast(text || ev.message, 'error', 8000);
          break;
        case 'stats':
          stats.update(ev.stats);
          break;
        case 'unpublished':
          statusLog.add(now, 'Unpublished');
          break;
        case 'failed':
          st.state = 'failed';
          statusLog.add(now, h('span', { class: 'err' }, text || ev.error));
          toast(text || ev.error, 'error', 12000);
          break;
        default:
          break;
      }
      render();
    });
    on('micLevel', (ev) => {
      const db = Math.max(-60, Math.min(0, st.muteAudio ? -60 : ev.rmsDb));
      meterBar.style.width = `${((db + 60) / 60) * 100}%`;
      meter.setAttribute('aria-valuenow', String(Math.round(db)));
      meter.dataset.peak = String(Math.round(ev.peakDb));
    });

    let devicesLoaded = false;
    store.subscribe((s) => {
      if (s.ready && !devicesLoaded) {
        devicesLoaded = true;
        loadDevices().catch((e) => toast(`Devices could not be listed: ${e.message}`, 'error'));
      }
    });
    render();
    return section;
  },
};
