// Status bar: connection state of the active session and the active server profile.
import { $ } from './dom.js';
import { activeProfile } from './store.js';

const CONNECTION_TEXT = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  failed: 'Connection failed',
};

export function mountStatusBar(store, nav) {
  $('#status-profile').addEventListener('click', () => nav.select('settings', { focus: true }));
  store.subscribe((s) => {
    const conn = $('#status-connection');
    conn.dataset.state = s.connection;
    const text = CONNECTION_TEXT[s.connection] || s.connection;
    conn.querySelector('.status-text').textContent = s.connectionDetail ? `${text} — ${s.connectionDetail}` : text;

    const p = activeProfile(s);
    $('#status-profile-name').textContent = p ? p.name : 'No profile';
    const kind = p && p.kindLabel !== p.name ? `${p.kindLabel} · ` : '';
    $('#status-profile-endpoint').textContent = p ? `${kind}${p.endpoint} · ${p.transportLabel}` : '';
    $('#status-version').textContent = s.app ? `v${s.app.version}` : '';
  });
}
