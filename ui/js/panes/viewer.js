// Viewer: subscribe to a stream with a red5-session Subscriber; video on a canvas, audio on the
// speakers with volume; a log of every onMetaData (time + JSON, including the latest one the server
// replays at join); the unpublish notice; statistics with export.
import { h } from '../dom.js';
import { invoke } from '../backend.js';
import { on } from '../bus.js';
import { toast } from '../toast.js';
import { attachVideo } from '../video.js';
import { paneSection } from './common.js';
import { statsCard, logList } from './stats.js';

const STATE_TEXT = {
  idle: 'Not watching',
  connecting: 'Connecting…',
  live: 'Playing',
  reconnecting: 'Reconnecting…',
  stopped: 'Stopped',
  failed: 'Failed',
};

export const pane = {
  id: 'viewer',
  title: 'Viewer',
  icon: 'viewer',
  description: 'Watch a live stream and follow the metadata its presenter sends.',
  mount() {
    const { section, body } = paneSection(this);
    const st = { state: 'idle', muted: false };

    const canvas = h('canvas', { id: 'viewer-canvas', class: 'video', width: 1280, height: 720, 'aria-label': 'Stream playback' });
    const stageMsg = h('div', { id: 'viewer-stage-msg', class: 'stage-msg' }, 'Enter a stream name and press Subscribe.');
    const badge = h('span', { id: 'viewer-badge', class: 'live-badge', hidden: true }, 'LIVE');
    const stage = h('div', { id: 'viewer-stage', class: 'stage stage-video' }, canvas, stageMsg, badge);
    const video = attachVideo('viewer', canvas, {
      onFrame: () => {
        stageMsg.hidden = true;
      },
    });

    const stream = h('input', { id: 'viewer-stream', class: 'input', value: 'stream1', autocomplete: 'off', spellcheck: 'false' });
    const transport = h(
      'select',
      { id: 'viewer-transport', class: 'input' },
      h('option', { value: 'profile' }, 'As in the profile'),
      h('option', { value: 'whip' }, 'WHEP'),
      h('option', { value: 'ws' }, 'WebSocket proxy'),
    );
    const subBtn = h('button', { id: 'viewer-subscribe', type: 'button', class: 'btn btn-primary' }, 'Subscribe');
    const volume = h('input', { id: 'viewer-volume', type: 'range', min: 0, max: 100, value: 80, 'aria-label': 'Volume' });
    const muteBtn = h('button', { id: 'viewer-mute', type: 'button', class: 'btn', 'aria-pressed': 'false' }, 'Mute');
    const stateText = h('strong', { id: 'viewer-state', 'data-state': 'idle' }, STATE_TEXT.idle);
    const notice = h('p', { id: 'viewer-notice', class: 'note', hidden: true });

    const controls = h(
      'section',
      { class: 'card', id: 'viewer-subscribe-card', 'aria-labelledby': 'viewer-subscribe-title' },
      h('h2', { id: 'viewer-subscribe-title' }, 'Subscribe'),
      h('div', { class: 'form' },
        h('div', { class: 'field' }, h('label', { for: 'viewer-stream' }, 'Stream name'), stream),
        h('div', { class: 'field' }, h('label', { for: 'viewer-transport' }, 'Signalling'), transport),
        h('div', { class: 'actions' }, h('span', { class: 'spacer' }), subBtn),
        h('div', { class: 'volume-row' }, h('label', { for: 'viewer-volume', class: 'hint' }, 'Volume'), volume, muteBtn),
        h('p', { class: 'state-line' }, 'Status: ', stateText),
        notice,
      ),
    );

    const metaLog = logList('viewer-metadata-log', 'No metadata received yet.');
    const metaCard = h(
      'section',
      { class: 'card', id: 'viewer-metadata', 'aria-labelledby': 'viewer-metadata-title' },
      h('h2', { id: 'viewer-metadata-title' }, 'Metadata log'),
      metaLog.el,
    );
    const eventsLog = logList('viewer-events-log', 'No events yet.');
    const stats = statsCard('viewer');
    const eventsCard = h(
      'section',
      { class: 'card', id: 'viewer-events', 'aria-labelledby': 'viewer-events-title' },
      h('h2', { id: 'viewer-events-title' }, 'Events'),
      eventsLog.el,
    );

    body.append(
      h('div', { class: 'stage-layout' },
        h('div', { class: 'stage-col' }, stage, h('div', { class: 'under-stage' }, stats.el, eventsCard)),
        h('div', { class: 'side' }, controls, metaCard),
      ),
    );

    function render() {
      const active = ['connecting', 'live', 'reconnecting'].includes(st.state);
      stateText.textContent = STATE_TEXT[st.state] || st.state;
      stateText.dataset.state = st.state;
      section.dataset.state = st.state;
      subBtn.textContent = active ? 'Stop' : 'Subscribe';
      subBtn.classList.toggle('btn-danger', active);
      subBtn.classList.toggle('btn-primary', !active);
      stream.disabled = active;
      transport.disabled = active;
      badge.hidden = st.state !== 'live';
      muteBtn.setAttribute('aria-pressed', String(st.muted));
      muteBtn.textContent = st.muted ? 'Unmute' : 'Mute';
    }

    function showNotice(text) {
      notice.textContent = text || '';
      notice.hidden = !text;
    }

    async function toggle() {
      const active = ['connecting', 'live', 'reconnecting'].includes(st.state);
      subBtn.disabled = true;
      try {
        if (active) {
          await invoke('viewer_stop');
          st.state = 'stopped';
          stageMsg.textContent = 'Stopped.';
          stageMsg.hidden = false;
        } else {
          showNotice('');
          metaLog.clear();
          video.clear();
          video.reset();
          st.state = 'connecting';
          stageMsg.textContent = 'Connecting…';
          stageMsg.hidden = false;
          render();
          await invoke('viewer_start', {
            options: { streamName: stream.value, volume: Number(volume.value) / 100, transport: transport.value },
          });
        }
      } catch (e) {
        st.state = 'idle';
        stageMsg.textContent = e.message;
        stageMsg.hidden = false;
        toast(e.message, 'error', 10000);
      } finally {
        subBtn.disabled = false;
        render();
      }
    }

    async function applyVolume() {
      try {
        await invoke('viewer_volume', { volume: Number(volume.value) / 100, muted: st.muted });
      } catch (e) {
        toast(e.message, 'error');
      }
    }

    subBtn.addEventListener('click', toggle);
    stream.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') toggle();
    });
    volume.addEventListener('input', applyVolume);
    muteBtn.addEventListener('click', () => {
      st.muted = !st.muted;
      applyVolume();
      render();
    });

    on('viewer', ({ event: ev, text }) => {
      const now = Date.now();
      switch (ev.type) {
        case 'state':
          st.state = ev.state;
          break;
        case 'started':
          eventsLog.add(now, `Subscribe.Start — watching ${stream.value.trim()}`);
          showNotice('');
          break;
        case 'metadata':
          metaLog.add(ev.receivedAtMs || now, h('code', { class: 'json' }, JSON.stringify(ev.data)));
          break;
        case 'message':
          eventsLog.add(now, h('code', { class: 'json' }, `${ev.method} ${JSON.stringify(ev.data)}`));
          break;
        case 'unpublished':
          eventsLog.add(now, h('span', { class: 'warn' }, 'The broadcaster stopped publishing (NetStream.Play.UnpublishNotify)'));
          showNotice('The broadcaster stopped publishing. The picture comes back by itself when they return.');
          stageMsg.textContent = 'The broadcaster stopped publishing.';
          stageMsg.hidden = false;
          break;
        case 'firstFrame':
          eventsLog.add(now, `First frame ${ev.width}×${ev.height}`);
          break;
        case 'transportSwitched':
          eventsLog.add(now, 'Messages now use the data channel (MessageTransport.Change)');
          break;
        case 'serverStatus':
          eventsLog.add(now, ev.status);
          break;
        case 'reconnecting':
          st.state = 'reconnecting';
          eventsLog.add(now, h('span', { class: 'warn' }, `${text || ev.reason} Trying again: attempt ${ev.attempt} of ${ev.of}…`));
          break;
        case 'reconnected':
          eventsLog.add(now, 'Reconnected');
          showNotice('');
          break;
        case 'audioOutput':
        case 'warning':
          eventsLog.add(now, h('span', { class: 'warn' }, text || ev.message));
          break;
        case 'stats':
          stats.update(ev.stats);
          break;
        case 'stopped':
          eventsLog.add(now, 'Stopped');
          break;
        case 'failed':
          st.state = 'failed';
          eventsLog.add(now, h('span', { class: 'err' }, text || ev.error));
          showNotice(text || ev.error);
          toast(text || ev.error, 'error', 12000);
          break;
        default:
          break;
      }
      render();
    });

    render();
    return section;
  },
};
