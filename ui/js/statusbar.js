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

const SESSION_TEXT = {
  connecting: 'connecting',
  live: 'live',
  reconnecting: 'reconnecting',
  failed: 'failed',
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
    // The built-in server may run on another port than the saved one (port taken, tests).
    const running = s.builtInServer && s.builtInServer.state === 'running';
    const endpoint = p && p.builtIn && running ? `${s.builtInServer.baseUrl}/${p.form.app || 'live'}` : p && p.endpoint;
    $('#status-profile-endpoint').textContent = p ? `${kind}${endpoint} · ${p.transportLabel}` : '';
    $('#status-version').textContent = s.app ? `v${s.app.version}` : '';

    const srv = $('#status-server');
    const b = s.builtInServer || { state: 'off' };
    srv.hidden = b.state === 'off';
    srv.dataset.state = b.state;
    srv.querySelector('.status-text').textContent =
      {
        starting: 'Built-in server starting…',
        running: `Built-in server on ${(b.baseUrl || '').replace(/^http:\/\//, '')}${b.note ? ` (${b.note})` : ''}`,
        failed: b.message || 'The built-in server could not start.',
      }[b.state] || '';

    const ses = [];
    const sp = s.sessions && s.sessions.presenter;
    const sv = s.sessions && s.sessions.viewer;
    if (sp && sp !== 'stopped') ses.push(`Presenter: ${SESSION_TEXT[sp] || sp}`);
    if (sv && sv !== 'stopped') ses.push(`Viewer: ${SESSION_TEXT[sv] || sv}`);
    $('#status-sessions').textContent = ses.join(' · ');
  });
}
