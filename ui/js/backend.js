// The only module that talks to Rust: commands go out through invoke(), and every backend→UI
// notification arrives on one event stream ("red5:event") as { type, ... }.

export const EVENT_NAME = 'red5:event';

function tauri() {
  const t = window.__TAURI__;
  if (!t || !t.core) {
    throw new Error('Red5 Desk UI must run inside the Red5 Desk app (window.__TAURI__ is missing).');
  }
  return t;
}

/**
 * Calls a Rust command. Rejects with { message, fields } (fields: inline messages per form field).
 */
export async function invoke(cmd, args = {}) {
  try {
    return await tauri().core.invoke(cmd, args);
  } catch (e) {
    if (e && typeof e === 'object' && 'message' in e) throw { message: e.message, fields: e.fields || {} };
    throw { message: String(e), fields: {} };
  }
}

/** Subscribes to the backend event stream; returns a promise of the unlisten function. */
export function onBackendEvent(handler) {
  return tauri().event.listen(EVENT_NAME, (e) => handler(e.payload));
}
