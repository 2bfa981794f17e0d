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
    default:
      return {};
  }
}

export function activeProfile(state) {
  return state.profiles.find((p) => p.id === state.activeProfileId) || state.profiles[0] || null;
}
