// Settings-file problems (corrupt file kept aside, newer format, unreadable) as a banner above the panes.
import { h, $ } from './dom.js';
import { icon } from './icons.js';
import { invoke } from './backend.js';

export function mountBanner(store) {
  const region = $('#banner-region');
  let shown = null;
  store.subscribe((s) => {
    const msg = s.settings && s.settings.problemMessage;
    if (msg === shown) return;
    shown = msg;
    if (!msg) {
      region.replaceChildren();
      return;
    }
    const dismissible = s.settings.savingEnabled;
    region.replaceChildren(
      h(
        'div',
        { id: 'settings-banner', class: 'banner banner-warn', role: 'alert', 'data-problem': s.settings.problem?.type || '' },
        icon('alert', 20),
        h('p', { class: 'banner-text' }, msg),
        dismissible
          ? h(
              'button',
              {
                id: 'settings-banner-dismiss',
                type: 'button',
                class: 'btn btn-ghost',
                onclick: async () => {
                  try {
                    store.update({ settings: await invoke('acknowledge_settings_problem') });
                  } catch (e) {
                    region.append(h('p', { class: 'banner-text' }, e.message));
                  }
                },
              },
              'Dismiss',
            )
          : null,
      ),
    );
  });
}
