// Host pane: connect to the conference backend, create the room's composition and watch its state
// (Pending → Composing), see the waiting room live, admit or exclude people, run the conference
// (presenter, remove, ban) and destroy the composition. The host engine runs in Rust
// (src-tauri/src/conference.rs); every change arrives as a "conference" event of kind "host".
import { h, replaceChildren } from '../dom.js';
import { invoke, onBackendEvent } from '../backend.js';
import { toast } from '../toast.js';
import { paneSection } from './common.js';
import { addRules, canvasSink, errorText, field, onConferenceEvent } from './participant.js';

addRules('conference-host', [
  `.host-layout { display: grid; grid-template-columns: minmax(0, 1fr) 320px; gap: 18px; align-items: start; }`,
  `.host-main { display: flex; flex-direction: column; gap: 14px; min-width: 0; }`,
  `.host-tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 10px; }`,
  `.host-tile { background: #11151b; border: 1px solid var(--border); border-radius: var(--radius); overflow: hidden; display: flex; flex-direction: column; }`,
  `.host-tile canvas { width: 100%; aspect-ratio: 16 / 9; display: block; background: #0a0c0f; object-fit: contain; }`,
  `.host-tile-body { padding: 8px 10px; display: flex; flex-direction: column; gap: 6px; }`,
  `.host-tile-name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }`,
  `.host-tile .actions { flex-wrap: wrap; gap: 6px; }`,
  `.host-tile .btn, .host-row .btn { padding: 4px 9px; font-size: 12px; }`,
  `.host-rows { display: flex; flex-direction: column; gap: 6px; margin: 0; padding: 0; list-style: none; }`,
  `.host-row { display: flex; align-items: center; gap: 8px; padding: 6px 8px; border: 1px solid var(--border); border-radius: 6px; background: #11151b; }`,
  `.host-row-name { flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-weight: 600; }`,
  `.host-presenter { font-size: 11px; padding: 1px 7px; border-radius: 999px; background: rgba(90, 169, 255, 0.18); color: var(--focus); }`,
  `.host-comp { display: flex; flex-direction: column; gap: 8px; }`,
  `.host-excluded { margin: 8px 0 0; font-size: 12px; color: var(--text-muted); }`,
]);

const CONNECTION_LABELS = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  closed: 'Disconnected',
  failed: 'Connection failed',
};

const COMPOSITION_LABELS = {
  pending: 'Pending',
  inservice: 'In service (starting the mixer)',
  composing: 'Composing',
  disconnected: 'Mixer disconnected',
  terminating: 'Terminating',
};

export const pane = {
  id: 'host',
  title: 'Host',
  icon: 'host',
  description: 'Run a conference: admit people from the waiting room and control the composition.',
  mount() {
    const { section, body } = paneSection(this);

    // Stage: the composite (what participants see), watched as an ordinary subscriber.
    const stageCanvas = h('canvas', { id: 'host-composite', class: 'conf-canvas', width: 1280, height: 720, hidden: true });
    const stageText = h('span', {}, 'Create a composition; the mixed conference appears here once it is composing.');
    const stagePlaceholder = h('div', { class: 'stage-placeholder' }, h('strong', {}, 'Composition preview'), stageText);
    const stageLive = h('span', { class: 'conf-live', hidden: true }, 'LIVE');
    const stage = h(
      'div',
      { id: 'host-stage', class: 'stage conf-stage', role: 'img', 'aria-label': 'Composition preview' },
      stageCanvas,
      stagePlaceholder,
      stageLive,
    );

    const waitingTiles = h('div', { id: 'host-waiting-list', class: 'host-tiles' });
    const waitingEmpty = h('p', { class: 'empty' }, 'Nobody is waiting.');
    const confRows = h('ul', { id: 'host-conference-list', class: 'host-rows' });
    const confEmpty = h('p', { class: 'empty' }, 'No participants yet.');
    const excludedEl = h('p', { id: 'host-excluded', class: 'host-excluded', hidden: true });

    // Backend connection.
    const backendWs = h('input', { id: 'host-backend', class: 'input', value: '', placeholder: 'ws://127.0.0.1:5080', autocomplete: 'off', spellcheck: 'false' });
    const app = h('input', { id: 'host-app', class: 'input', value: 'live', autocomplete: 'off', spellcheck: 'false' });
    const room = h('input', { id: 'host-room', class: 'input', value: 'room1', autocomplete: 'off', spellcheck: 'false' });
    const connectBtn = h('button', { id: 'host-connect-btn', class: 'btn btn-primary', type: 'submit' }, 'Connect');
    const disconnectBtn = h('button', { id: 'host-disconnect-btn', class: 'btn', type: 'button', hidden: true }, 'Disconnect');
    const connState = h('span', { id: 'host-conn-state', class: 'conf-state', 'data-state': 'idle' }, CONNECTION_LABELS.idle);
    const connMessage = h('p', { id: 'host-conn-message', class: 'form-message', role: 'status' });
    const connForm = h(
      'form',
      { id: 'host-connect-form', class: 'conf-form', novalidate: true },
      field('host-backend', 'Backend WebSocket', backendWs, 'The conference backend (the built-in server serves it).'),
      h('div', { class: 'grid-2' }, field('host-app', 'App', app), field('host-room', 'Room', room)),
      h('div', { class: 'actions' }, connectBtn, disconnectBtn, h('span', { class: 'spacer' }), connState),
      connMessage,
    );

    // Composition: the create form, or the active composition.
    const event = h('input', { id: 'host-event', class: 'input', value: 'room1', autocomplete: 'off', spellcheck: 'false' });
    const region = h('select', { id: 'host-region', class: 'input' }, h('option', { value: '' }, 'Waiting for regions…'));
    const width = h('input', { id: 'host-width', class: 'input', type: 'number', value: '1280', min: '160', max: '3840' });
    const height = h('input', { id: 'host-height', class: 'input', type: 'number', value: '720', min: '120', max: '2160' });
    const fps = h('input', { id: 'host-fps', class: 'input', type: 'number', value: '30', min: '1', max: '60' });
    const kbps = h('input', { id: 'host-bitrate', class: 'input', type: 'number', value: '1500', min: '100', max: '20000' });
    const createBtn = h('button', { id: 'host-create-btn', class: 'btn btn-primary', type: 'submit', disabled: true }, 'Create composition');
    const createMessage = h('p', { id: 'host-create-message', class: 'form-message', role: 'status' });
    const createForm = h(
      'form',
      { id: 'host-create-form', class: 'conf-form', novalidate: true },
      h('div', { class: 'grid-2' }, field('host-event', 'Event', event), field('host-region', 'Mixer region', region)),
      h('div', { class: 'grid-2' }, field('host-width', 'Width', width), field('host-height', 'Height', height)),
      h('div', { class: 'grid-2' }, field('host-fps', 'Frame rate (fps)', fps), field('host-bitrate', 'Bitrate (kbps)', kbps)),
      h('div', { class: 'actions' }, createBtn),
      createMessage,
    );
    const compState = h('span', { id: 'host-comp-state', class: 'conf-state', 'data-state': 'pending' }, 'Pending');
    const compFacts = h('dl', { id: 'host-comp-facts', class: 'conf-dl' });
    const destroyBtn = h('button', { id: 'host-destroy-btn', class: 'btn btn-danger', type: 'button' }, 'Destroy composition');
    const activeComp = h(
      'div',
      { id: 'host-active-composition', class: 'host-comp', hidden: true },
      h('div', {}, h('span', { class: 'muted' }, 'State: '), compState),
      compFacts,
      h('div', { class: 'actions' }, destroyBtn),
    );

    body.append(
      h(
        'div',
        { class: 'host-layout' },
        h(
          'div',
          { class: 'host-main' },
          stage,
          h(
            'section',
            { class: 'card', id: 'host-waiting', 'aria-labelledby': 'host-waiting-title' },
            h('h2', { id: 'host-waiting-title' }, 'Waiting room'),
            waitingEmpty,
            waitingTiles,
            excludedEl,
          ),
          h(
            'section',
            { class: 'card', id: 'host-participants', 'aria-labelledby': 'host-participants-title' },
            h('h2', { id: 'host-participants-title' }, 'In the conference'),
            confEmpty,
            confRows,
          ),
        ),
        h(
          'div',
          { id: 'host-side', class: 'side' },
          h('section', { class: 'card', id: 'host-backend-card', 'aria-labelledby': 'host-backend-title' }, h('h2', { id: 'host-backend-title' }, 'Conference backend'), connForm),
          h(
            'section',
            { class: 'card', id: 'host-composition', 'aria-labelledby': 'host-composition-title' },
            h('h2', { id: 'host-composition-title' }, 'Composition'),
            createForm,
            activeComp,
          ),
        ),
      ),
    );

    // ----- state -----
    let view = { seq: 0, connection: 'idle', regions: [], waiting: [], conference: [], presenter: null, excluded: [], compositions: [] };
    const tiles = new Map(); // waiting stream name → { el, sink, watchId }
    let composite = null; // { key, sink, watchId }
    let busy = false;

    const activeComposition = () => view.compositions.find((c) => c.event === event.value.trim()) || view.compositions[0] || null;

    function render() {
      const conn = view.connection || 'idle';
      connState.dataset.state = conn;
      connState.textContent = CONNECTION_LABELS[conn] || conn;
      const connected = conn === 'connected' || conn === 'reconnecting';
      const engaged = conn !== 'idle' && conn !== 'closed' && conn !== 'failed';
      connectBtn.hidden = engaged;
      disconnectBtn.hidden = !engaged;
      for (const el of [backendWs, app, room]) el.disabled = engaged;

      // Regions from the backend's mixerRegions.
      const regions = view.regions || [];
      if (region.dataset.list !== regions.join('\n')) {
        const keep = region.value;
        region.dataset.list = regions.join('\n');
        replaceChildren(
          region,
          regions.length
            ? regions.map((r) => h('option', { value: r }, r))
            : h('option', { value: '' }, connected ? 'No mixer regions' : 'Waiting for regions…'),
        );
        if (regions.includes(keep)) region.value = keep;
      }

      const comp = activeComposition();
      createForm.hidden = Boolean(comp);
      activeComp.hidden = !comp;
      createBtn.disabled = !connected || busy || !region.value;
      if (comp) {
        const st = (comp.state || 'pending').toLowerCase();
        compState.dataset.state = st;
        compState.textContent = COMPOSITION_LABELS[st] || comp.state;
        replaceChildren(
          compFacts,
          [
            ['Event', comp.event],
            ['Output', comp.output],
            ['Size', `${comp.width}×${comp.height} @ ${comp.fps} fps`],
            ['Bitrate', `${comp.bitrateKbps} kbps`],
            ['Region', comp.region || '—'],
          ].flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
        );
        destroyBtn.disabled = busy;
      }
      renderComposite(comp);
      renderWaiting();
      renderConference();
      const ex = view.excluded || [];
      excludedEl.hidden = ex.length === 0;
      excludedEl.textContent = ex.length ? `Excluded: ${ex.join(', ')}` : '';
    }

    function renderComposite(comp) {
      const want = comp && (comp.state || '').toLowerCase() === 'composing' ? comp.output : null;
      if ((composite && composite.key) !== want) {
        if (composite) stopWatch(composite);
        composite = null;
        stageCanvas.hidden = true;
        delete stageCanvas.dataset.frames;
        if (want) {
          const sink = canvasSink(stageCanvas, { onFirstFrame: () => render() });
          composite = { key: want, sink, watchId: `composite:${want}` };
          startWatch(composite.watchId, want, sink, 15);
        }
      }
      const showing = Boolean(composite && stageCanvas.dataset.frames);
      stageCanvas.hidden = !showing;
      stageLive.hidden = !showing;
      stagePlaceholder.hidden = showing;
      stageText.textContent = !comp
        ? 'Create a composition; the mixed conference appears here once it is composing.'
        : want
          ? 'Composing — loading the composite…'
          : 'The mixer is starting; the composite appears when it is composing.';
    }

    function renderWaiting() {
      const waiting = view.waiting || [];
      waitingEmpty.hidden = waiting.length > 0;
      for (const [name, t] of tiles) {
        if (!waiting.includes(name)) {
          stopWatch(t);
          t.el.remove();
          tiles.delete(name);
        }
      }
      for (const name of waiting) {
        let t = tiles.get(name);
        if (!t) {
          const canvas = h('canvas', { class: 'host-preview', width: 320, height: 240, 'aria-label': `Live preview of ${name}` });
          const sink = canvasSink(canvas);
          const el = h(
            'div',
            { class: 'host-tile', dataset: { stream: name } },
            canvas,
            h(
              'div',
              { class: 'host-tile-body' },
              h('span', { class: 'host-tile-name', title: name }, name),
              h(
                'div',
                { class: 'actions' },
                h('button', { class: 'btn btn-primary', type: 'button', dataset: { action: 'admit' }, onclick: () => control('admit', name) }, 'Add to conference'),
                h('button', { class: 'btn btn-danger', type: 'button', dataset: { action: 'exclude' }, onclick: () => control('exclude', name) }, 'Exclude'),
              ),
            ),
          );
          t = { el, sink, watchId: `waiting:${name}` };
          tiles.set(name, t);
          waitingTiles.append(el);
          startWatch(t.watchId, `${view.app}/${view.room}_wr/${name}`, sink, 10);
        }
      }
    }

    function renderConference() {
      const list = view.conference || [];
      confEmpty.hidden = list.length > 0;
      replaceChildren(
        confRows,
        list.map((name) =>
          h(
            'li',
            { class: 'host-row', dataset: { stream: name } },
            h('span', { class: 'host-row-name', title: name }, name),
            name === view.presenter ? h('span', { class: 'host-presenter' }, 'Presenter') : null,
            name === view.presenter
              ? null
              : h('button', { class: 'btn', type: 'button', dataset: { action: 'presenter' }, onclick: () => control('presenter', name) }, 'Make presenter'),
            h('button', { class: 'btn', type: 'button', dataset: { action: 'remove' }, onclick: () => control('remove', name) }, 'Remove'),
            h('button', { class: 'btn btn-danger', type: 'button', dataset: { action: 'ban' }, onclick: () => control('ban', name) }, 'Ban'),
          ),
        ),
      );
    }

    // Watch id → what to restart: a preview that fails while its stream is still listed (the
    // publisher is reconnecting, or was listed a moment before its media flowed) tries again.
    const watching = new Map();

    function startWatch(id, guid, sink, maxFps) {
      watching.set(id, { guid, sink, maxFps, tries: 0 });
      invoke('conference_watch', { request: { id, guid, maxFps }, frames: sink.channel }).catch((e) =>
        console.warn(`host pane: no preview of ${guid}: ${errorText(e)}`),
      );
    }

    onConferenceEvent('watch', (ev) => {
      const w = watching.get(ev.id);
      if (!w || !ev.error || w.tries >= 10) return;
      w.tries += 1;
      setTimeout(() => {
        if (watching.get(ev.id) !== w) return; // stopped or replaced meanwhile
        invoke('conference_watch', { request: { id: ev.id, guid: w.guid, maxFps: w.maxFps }, frames: w.sink.channel }).catch(() => {});
      }, 1000);
    });

    function stopWatch(w) {
      watching.delete(w.watchId);
      w.sink.stop();
      invoke('conference_unwatch', { id: w.watchId }).catch(() => {});
    }

    function stopAllWatches() {
      for (const t of tiles.values()) {
        stopWatch(t);
        t.el.remove();
      }
      tiles.clear();
      if (composite) stopWatch(composite);
      composite = null;
    }

    async function control(action, name) {
      try {
        await invoke('host_control', { action, name });
      } catch (e) {
        toast(errorText(e), 'error', 6000);
      }
    }

    function setMsg(el, text, kind = '') {
      el.textContent = text || '';
      if (kind) el.dataset.kind = kind;
      else delete el.dataset.kind;
    }

    // ----- actions -----
    room.addEventListener('input', () => {
      // The composition's event is the room (the join API requires event == room).
      event.value = room.value.trim();
    });

    connForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      setMsg(connMessage, '');
      const request = { backendWs: backendWs.value.trim(), app: app.value.trim(), room: room.value.trim() };
      if (!request.backendWs) return setMsg(connMessage, 'Enter the backend WebSocket address.', 'error');
      if (!request.room) return setMsg(connMessage, 'Enter the room.', 'error');
      stopAllWatches();
      view = { ...view, connection: 'connecting', app: request.app, room: request.room };
      render();
      try {
        // Events may have brought a newer view while the reply travelled: keep the newest.
        const reply = await invoke('host_connect', { request });
        if (!(view.seq > reply.seq)) view = reply;
        render();
      } catch (err) {
        view = { ...view, connection: 'failed' };
        render();
        setMsg(connMessage, errorText(err), 'error');
      }
    });

    disconnectBtn.addEventListener('click', async () => {
      stopAllWatches();
      try {
        await invoke('host_disconnect');
      } catch (err) {
        setMsg(connMessage, errorText(err), 'error');
      }
    });

    createForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      setMsg(createMessage, '');
      const form = {
        event: event.value.trim(),
        region: region.value,
        width: Number(width.value),
        height: Number(height.value),
        fps: Number(fps.value),
        bitrateKbps: Number(kbps.value),
      };
      busy = true;
      render();
      try {
        await invoke('host_create_composition', { form });
        setMsg(createMessage, 'Composition requested.', 'ok');
      } catch (err) {
        setMsg(createMessage, errorText(err), 'error');
      } finally {
        busy = false;
        render();
      }
    });

    destroyBtn.addEventListener('click', async () => {
      const comp = activeComposition();
      if (!comp) return;
      busy = true;
      render();
      try {
        await invoke('host_destroy_composition', { event: comp.event });
      } catch (err) {
        toast(errorText(err), 'error', 6000);
      } finally {
        busy = false;
        render();
      }
    });

    onConferenceEvent('host', (ev) => {
      if (ev.view && !(view.seq > ev.view.seq)) {
        const wasConnected = view.connection;
        view = ev.view;
        if (view.connection === 'closed' || view.connection === 'failed') {
          if (wasConnected !== view.connection) stopAllWatches();
        }
      }
      if (ev.error) {
        if (section.hidden) toast(ev.error, 'error', 8000);
        else setMsg(activeComposition() ? connMessage : createMessage, ev.error, 'error');
      }
      render();
    });

    // Prefill the backend address from the active server (the built-in one serves the backend too).
    async function prefill() {
      try {
        const d = await invoke('host_defaults');
        if (!backendWs.value || backendWs.dataset.auto === 'true') {
          backendWs.value = d.backendWs || '';
          backendWs.dataset.auto = 'true';
        }
        if (d.app && !app.dataset.touched) app.value = d.app;
      } catch (e) {
        console.warn('host pane: no defaults yet', e);
      }
    }
    backendWs.addEventListener('input', () => (backendWs.dataset.auto = 'false'));
    app.addEventListener('input', () => (app.dataset.touched = 'true'));
    prefill();
    // The built-in server may still be starting, and the active profile can change.
    onServerChange(prefill);

    render();
    return section;
  },
};

/** Calls fn when the server behind the active profile may have changed. */
function onServerChange(fn) {
  onBackendEvent((ev) => {
    if (ev && (ev.type === 'builtInServer' || ev.type === 'profilesChanged')) fn();
  }).catch(() => {});
}
