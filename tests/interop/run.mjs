// Runs one interop scenario in headless Debian Chromium against a running built-in server.
// usage: node run.mjs <base-url> <scenario> [stream]
// Prints one line `RESULT <json>` and exits 0 only when the scenario passed.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, scenario, stream = 'stream1'] = process.argv.slice(2);
if (!base || !scenario) {
  console.error('usage: node run.mjs <base-url> <scenario> [stream]');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const userDataDir = mkdtempSync(join(tmpdir(), 'red5-interop-'));
const args = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required',
];
let code = 1;
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, { executablePath, headless: true, args });
  for (const p of [['camera', 'microphone'], ['local-network-access']]) {
    try { await context.grantPermissions(p, { origin: base }); } catch (e) { /* older/newer Chromium */ }
  }
  const page = await context.newPage();
  page.on('console', (m) => { if (process.env.INTEROP_VERBOSE || /\[harness\]/.test(m.text())) console.error('[page]', m.text()); });
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  await page.goto(`${base}/_static/page.html`);
  await page.waitForFunction(() => typeof window.runScenario === 'function' && !!window.red5prosdk, null, { timeout: 20000 });
  const result = await page.evaluate(([s, o]) => window.runScenario(s, o), [scenario, { base, stream }]);
  console.log('RESULT ' + JSON.stringify(result));
  code = result && result.ok ? 0 : 1;
} catch (e) {
  console.log('RESULT ' + JSON.stringify({ ok: false, error: String(e && e.message ? e.message : e) }));
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(code);
