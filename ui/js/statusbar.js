// Status bar: connection state of the active session and the active server profile.
import { $ } from './dom.js';
import { activeProfile, overallConnection } from './store.js';

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

// Idle/closed/left states are not listed: only what is running is.
const HOST_TEXT = {
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting',
  failed: 'failed',
};

const PARTICIPANT_TEXT = {
  connecting: 'connecting',
  waiting: 'waiting for the host',
  joining: 'joining',
  inConference: 'in conference',
  reconnecting: 'reconnecting',
  leaving: 'leaving',
  failed: 'failed',
};

export function mountStatusBar(store, nav) {
  $('#status-profile').addEventListener('click', () => nav.select('settings', { focus: true }));
  store.subscribe((s) => {
    const conn = $('#status-connection');
    const overall = overallConnection(s);
    conn.dataset.state = overall.state;
    const text = CONNECTION_TEXT[overall.state] || overall.state;
    conn.querySelector('.status-text').textContent = overall.detail ? `${text} — ${overall.detail}` : text;

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
    const c = s.conference || {};
    if (c.host && HOST_TEXT[c.host]) ses.push(`Host: ${HOST_TEXT[c.host]}`);
    if (c.participant && PARTICIPANT_TEXT[c.participant]) ses.push(`Participant: ${PARTICIPANT_TEXT[c.participant]}`);
    $('#status-sessions').textContent = ses.join(' · ');
  });
}
