// A small state store: one plain object, replaced on every change, with subscribers.
// Backend events are applied by `applyBackendEvent`, UI actions by `store.update`.

export function createStore(initial) {
  let state = initial;
  const subs = new Set();
  return {
    get: () => state,
    /** Shallow-merges a patch (or the result of fn(state)) and notifies subscribers. */
    update(patch) {
      const next = typeof patch === 'function' ? patch(state) : patch;
      state = { ...state, ...next };
      for (const fn of subs) fn(state);
    },
    /** Calls fn(state) now and on every change; returns an unsubscribe function. */
    subscribe(fn) {
      subs.add(fn);
      fn(state);
      return () => subs.delete(fn);
    },
  };
}

export const initialState = {
  ready: false,
  pane: 'participant',
  profiles: [],
  activeProfileId: 'builtin',
  connection: 'idle',
  connectionDetail: null,
  settings: null, // { path, savingEnabled, problem, problemMessage }
  kinds: [],
  app: null, // { name, version, configDir, logDir }
  builtInServer: { state: 'off' }, // { state: off|starting|running|failed, baseUrl?, note?, message? }
  sessions: { presenter: null, viewer: null }, // session state per pane (SessionState or null)
  // The conference panes' own connections: the Host's backend (HostView.connection) and the
  // Participant's room state (ParticipantPaneState), folded into the status bar's state too.
  conference: { host: null, participant: null },
  error: null,
};

/** Folds one backend event ({ type, ... }) into the state. Unknown types are ignored (newer backend). */
export function applyBackendEvent(state, ev) {
  switch (ev && ev.type) {
    case 'profilesChanged':
      return { profiles: ev.profiles, activeProfileId: ev.activeProfileId };
    case 'settingsStatus':
      return { settings: ev.status };
    case 'connection':
      return { connection: ev.state, connectionDetail: ev.detail ?? null };
    case 'builtInServer':
      return { builtInServer: ev.server };
    case 'presenter':
    case 'viewer':
      if (ev.event && ev.event.type === 'state') {
        return { sessions: { ...state.sessions, [ev.type]: ev.event.state } };
      }
      return {};
    case 'conference':
      if (ev.kind === 'host' && ev.view && ev.view.connection) {
        return { conference: { ...state.conference, host: ev.view.connection } };
      }
      if (ev.kind === 'participant' && ev.state) {
        return { conference: { ...state.conference, participant: ev.state } };
      }
      return {};
    default:
      return {};
  }
}

export function activeProfile(state) {
  return state.profiles.find((p) => p.id === state.activeProfileId) || state.profiles[0] || null;
}

// How each pane's own state counts in the status bar's one connection state.
const HOST_CONNECTION = { connecting: 'connecting', connected: 'connected', reconnecting: 'reconnecting', failed: 'failed' };
const PARTICIPANT_CONNECTION = {
  connecting: 'connecting',
  waiting: 'connected',
  joining: 'connecting',
  inConference: 'connected',
  reconnecting: 'reconnecting',
  leaving: 'connecting',
  failed: 'failed',
};
const RANK = { idle: 0, connected: 1, connecting: 2, reconnecting: 3, failed: 4 };

/**
 * The status bar's connection state: the worst of the Presenter/Viewer sessions (folded by the
 * backend into `state.connection`), the Host pane's backend connection and the Participant's
 * room state, so hosting or waiting in a room never reads "Not connected".
 */
export function overallConnection(state) {
  const c = state.conference || {};
  const candidates = [
    { state: state.connection || 'idle', detail: state.connectionDetail },
    { state: HOST_CONNECTION[c.host] || 'idle', detail: null },
    { state: PARTICIPANT_CONNECTION[c.participant] || 'idle', detail: null },
  ];
  return candidates.reduce((a, b) => ((RANK[b.state] ?? 0) > (RANK[a.state] ?? 0) ? b : a));
}
