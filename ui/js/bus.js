// Backend events for the panes that handle their own (presenter, viewer, micLevel, …): main.js
// dispatches every backend event here as well as folding shell state into the store.
const bus = new EventTarget();

export function publish(ev) {
  if (ev && ev.type) bus.dispatchEvent(new CustomEvent(ev.type, { detail: ev }));
}

/** Calls fn(event) for every backend event of `type`; returns an unsubscribe function. */
export function on(type, fn) {
  const h = (e) => fn(e.detail);
  bus.addEventListener(type, h);
  return () => bus.removeEventListener(type, h);
}
