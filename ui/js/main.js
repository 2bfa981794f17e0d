// Entry point: load the snapshot, mount the shell, then apply backend events as they arrive.
import { $ } from './dom.js';
import { invoke, onBackendEvent } from './backend.js';
import { createStore, initialState, applyBackendEvent } from './store.js';
import { mountNav } from './nav.js';
import { mountStatusBar } from './statusbar.js';
import { mountBanner } from './banner.js';
import { toast } from './toast.js';
import { publish } from './bus.js';
import { videoStats, resetVideoStats, probeCanvas, settledSnapshot } from './video.js';
import { trackInputModality } from './focus.js';
import { pane as participant } from './panes/participant.js';
import { pane as host } from './panes/host.js';
import { pane as presenter } from './panes/presenter.js';
import { pane as viewer } from './panes/viewer.js';
import { pane as settings } from './panes/settings.js';

const PANES = [participant, host, presenter, viewer, settings];

async function start() {
  trackInputModality();
  const store = createStore(initialState);
  // Debug aid for end-to-end tests and devtools: read-only view of the state.
  Object.defineProperty(window, 'red5Desk', {
    value: Object.freeze({
      state: () => store.get(),
      videoStats,
      resetVideoStats,
      probeCanvas,
      // A PNG (base64) of the window as the display shows it, native video included.
      snapshot: settledSnapshot,
    }),
  });

  const panesEl = $('#panes');
  for (const p of PANES) panesEl.append(p.mount(store));
  const nav = mountNav(PANES, store);
  mountStatusBar(store, nav);
  mountBanner(store);

  try {
    // Listen first so no event between the snapshot and the subscription is lost.
    await onBackendEvent((ev) => {
      store.update((s) => applyBackendEvent(s, ev));
      publish(ev);
    });
    const [snap, app] = await Promise.all([invoke('get_snapshot'), invoke('app_info')]);
    store.update({
      ready: true,
      app,
      profiles: snap.profiles,
      activeProfileId: snap.activeProfileId,
      connection: snap.connection,
      settings: snap.settings,
      kinds: snap.kinds,
      builtInServer: snap.builtInServer,
    });
    document.body.dataset.ready = 'true';
    const measure = await invoke('measure_config');
    if (measure) import('./measure.js').then((m) => m.run(measure, store));
  } catch (e) {
    store.update({ error: e.message || String(e) });
    toast(`Red5 Desk could not load its settings: ${e.message || e}`, 'error', 60000);
    document.body.dataset.ready = 'error';
  }
}

start();
