// Pane navigation: a vertical tablist with a roving tabindex (one Tab stop; arrows, Home and End move
// between panes) and global shortcuts Ctrl+1..5 (Cmd on macOS) and Ctrl+, for Settings.
import { h, $ } from './dom.js';
import { icon } from './icons.js';

const LAST_PANE_KEY = 'red5desk.pane';

export function mountNav(panes, store) {
  const list = $('#nav');
  const tabs = panes.map((p, i) =>
    h(
      'button',
      {
        id: `nav-${p.id}`,
        class: 'nav-item',
        type: 'button',
        role: 'tab',
        'aria-controls': `pane-${p.id}`,
        'aria-keyshortcuts': `Control+${i + 1}`,
        'data-pane': p.id,
        onclick: () => select(p.id),
      },
      icon(p.icon),
      h('span', { class: 'nav-label' }, p.title),
      h('kbd', { class: 'nav-kbd', 'aria-hidden': 'true' }, `Ctrl ${i + 1}`),
    ),
  );
  list.replaceChildren(...tabs);

  function select(id, { focus = false } = {}) {
    if (!panes.some((p) => p.id === id)) return;
    store.update({ pane: id });
    try {
      localStorage.setItem(LAST_PANE_KEY, id);
    } catch {
      // storage can be unavailable; remembering the pane is only a convenience
    }
    if (focus) $(`#nav-${id}`).focus();
  }

  list.addEventListener('keydown', (e) => {
    const i = panes.findIndex((p) => p.id === store.get().pane);
    const last = panes.length - 1;
    const target = {
      ArrowDown: i < last ? i + 1 : 0,
      ArrowRight: i < last ? i + 1 : 0,
      ArrowUp: i > 0 ? i - 1 : last,
      ArrowLeft: i > 0 ? i - 1 : last,
      Home: 0,
      End: last,
    }[e.key];
    if (target === undefined) return;
    e.preventDefault();
    select(panes[target].id, { focus: true });
  });

  document.addEventListener('keydown', (e) => {
    const mod = e.ctrlKey || e.metaKey;
    if (!mod || e.altKey || e.shiftKey) return;
    const n = Number.parseInt(e.key, 10);
    if (n >= 1 && n <= panes.length) {
      e.preventDefault();
      select(panes[n - 1].id, { focus: true });
    } else if (e.key === ',') {
      e.preventDefault();
      select('settings', { focus: true });
    }
  });

  store.subscribe((s) => {
    for (const t of tabs) {
      const on = t.dataset.pane === s.pane;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
    }
    for (const p of panes) {
      const section = $(`#pane-${p.id}`);
      if (section) section.hidden = p.id !== s.pane;
    }
  });

  let saved = null;
  try {
    saved = localStorage.getItem(LAST_PANE_KEY);
  } catch {
    saved = null;
  }
  if (saved && panes.some((p) => p.id === saved)) store.update({ pane: saved });
  return { select };
}
