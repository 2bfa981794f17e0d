// Browser side of the interop tests: drives the official Red5 SDK 11 against the built-in
// server this page is served from, and reports what happened. Every wait has a deadline.
/* global red5prosdk */
(function () {
  const sdk = window.red5prosdk;
  const log = (...a) => console.log('[harness]', ...a);

  function recorder(client, name) {
    const events = [];
    const waiters = [];
    client.on('*', (e) => {
      const entry = { type: e.type, data: e.data };
      events.push(entry);
      if (!/Time\.Update|Candidate|Offer|Answer/.test(e.type)) log(name, e.type);
      for (const w of waiters.slice()) {
        if (w.pred(entry)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(entry); }
      }
    });
    return {
      events,
      types: () => events.map((e) => e.type),
      wait(pred, what, ms = 30000) {
        const found = events.find(pred);
        if (found) return Promise.resolve(found);
        return new Promise((resolve, reject) => {
          const w = { pred, resolve };
          waiters.push(w);
          setTimeout(() => {
            const i = waiters.indexOf(w);
            if (i >= 0) { waiters.splice(i, 1); reject(new Error(`${name}: timed out waiting for ${what}; events: ${events.map((e) => e.type).join(',')}`)); }
          }, ms);
        });
      },
    };
  }
  const isType = (t) => (e) => e.type === t;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // Decoded frames > 0 and the subscriber's size equal to the publisher's sent size.
  async function videoPlays(subEl, pubEl, ms = 40000) {
    const deadline = Date.now() + ms;
    let last = {};
    while (Date.now() < deadline) {
      const q = subEl.getVideoPlaybackQuality ? subEl.getVideoPlaybackQuality() : { totalVideoFrames: 0 };
      const track = pubEl.srcObject && pubEl.srcObject.getVideoTracks()[0];
      const s = track ? track.getSettings() : {};
      last = { frames: q.totalVideoFrames, w: subEl.videoWidth, h: subEl.videoHeight, pubW: s.width, pubH: s.height, pubElW: pubEl.videoWidth, pubElH: pubEl.videoHeight };
      if (q.totalVideoFrames > 30 && subEl.videoWidth > 0 && subEl.videoWidth === s.width && subEl.videoHeight === s.height) {
        return last;
      }
      await sleep(250);
    }
    throw new Error('video did not play at the right size: ' + JSON.stringify(last));
  }

  // Key-frame requests the server sent to the (Chrome) publisher, from its outbound-rtp stats.
  async function pliCount(client) {
    try {
      const pc = client.getPeerConnection();
      const stats = await pc.getStats();
      let n = 0;
      stats.forEach((r) => { if (r.type === 'outbound-rtp' && r.kind === 'video') n += r.pliCount || 0; });
      return n;
    } catch (e) { return -1; }
  }

  const PAYLOAD = { metadata: 'hello ✓ ünïcode', n: 42, nested: { ok: true } };
  const LATEST = { metadata: 'latest wins' };
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  function base(opts) {
    const u = new URL(opts.base);
    return { host: u.hostname, port: Number(u.port), rtcConfiguration: { iceServers: [], bundlePolicy: 'max-bundle' }, iceServers: [] };
  }

  async function whipWhep(opts) {
    const S = opts.stream;
    const b = base(opts);
    const publisher = new sdk.WHIPClient();
    const pub = recorder(publisher, 'whip');
    await publisher.init({ ...b, protocol: 'http', app: 'live', streamName: S, mediaElementId: 'pub', trickleIce: true, enableChannelSignaling: true });
    // SDK 11 has no Stream Manager option: point it at the SM2 proxy path.
    publisher._whipHelper._url = `${opts.base}/as/v1/proxy/whip/live/${S}`;
    publisher.publish().catch((e) => log('publish rejected', e && e.message));
    await pub.wait(isType('Publish.Start'), 'Publish.Start');
    await pub.wait(isType('MessageTransport.Change'), 'MessageTransport.Change');

    const subscriber = new sdk.WHEPClient();
    const sub = recorder(subscriber, 'whep');
    await subscriber.init({ ...b, protocol: 'http', app: 'live', streamName: S, mediaElementId: 'sub', subscriptionId: 'subscriber-interop1', enableChannelSignaling: true });
    subscriber._whipHelper._url = `${opts.base}/as/v1/proxy/whep/live/${S}?requestId=subscriber-interop1`;
    subscriber.subscribe().catch((e) => log('subscribe rejected', e && e.message));
    await sub.wait(isType('Subscribe.Start'), 'Subscribe.Start');
    await sub.wait(isType('MessageTransport.Change'), 'subscriber MessageTransport.Change').catch(() => sleep(1500));

    publisher.send('onMetaData', PAYLOAD);
    const md = await sub.wait((e) => e.type === 'Subscribe.Metadata' && same(e.data, PAYLOAD), 'Subscribe.Metadata with the exact payload');
    const video = await videoPlays(document.getElementById('sub'), document.getElementById('pub'));

    // A late joiner gets the latest onMetaData.
    publisher.send('onMetaData', LATEST);
    await sub.wait((e) => e.type === 'Subscribe.Metadata' && same(e.data, LATEST), 'second metadata');
    const late = new sdk.WHEPClient();
    const lateRec = recorder(late, 'whep-late');
    await late.init({ ...b, protocol: 'http', app: 'live', streamName: S, mediaElementId: 'sub2', subscriptionId: 'subscriber-interop2', enableChannelSignaling: true });
    late._whipHelper._url = `${opts.base}/as/v1/proxy/whep/live/${S}?requestId=subscriber-interop2`;
    late.subscribe().catch((e) => log('late subscribe rejected', e && e.message));
    const lateMd = await lateRec.wait((e) => e.type === 'Subscribe.Metadata', 'late Subscribe.Metadata');

    const plis = await pliCount(publisher);
    await publisher.unpublish();
    const unpub = await sub.wait(isType('Subscribe.Play.Unpublish'), 'Subscribe.Play.Unpublish');
    await late.unsubscribe().catch(() => {});
    await subscriber.unsubscribe().catch(() => {});
    return { ok: same(lateMd.data, LATEST), metadata: md.data, lateMetadata: lateMd.data, video, plis, unpublish: unpub.type, pubEvents: pub.types(), subEvents: sub.types() };
  }

  async function wsFlow(opts, pubApp, subApp, params) {
    const S = opts.stream;
    const b = base(opts);
    const publisher = new sdk.RTCPublisher();
    const pub = recorder(publisher, 'ws-pub');
    await publisher.init({ ...b, protocol: 'ws', app: pubApp, streamName: S, mediaElementId: 'pub', connectionParams: params(S) });
    publisher.publish().catch((e) => log('publish rejected', e && e.message));
    await pub.wait(isType('Publish.Start'), 'Publish.Start');
    await pub.wait(isType('MessageTransport.Change'), 'MessageTransport.Change');

    const subscriber = new sdk.RTCSubscriber();
    const sub = recorder(subscriber, 'ws-sub');
    await subscriber.init({ ...b, protocol: 'ws', app: subApp, streamName: S, mediaElementId: 'sub', subscriptionId: 'subscriber-ws1', connectionParams: params('subscriber-ws1') });
    subscriber.subscribe().catch((e) => log('subscribe rejected', e && e.message));
    await sub.wait(isType('Subscribe.Start'), 'Subscribe.Start');

    // Before the subscriber switched to the data channel (relay over the WS)…
    publisher.send('onMetaData', PAYLOAD);
    const md1 = await sub.wait((e) => e.type === 'Subscribe.Metadata' && same(e.data, PAYLOAD), 'Subscribe.Metadata (exact payload)');
    // …and after it (relay over the data channel).
    await sub.wait(isType('MessageTransport.Change'), 'subscriber MessageTransport.Change');
    publisher.send('onMetaData', LATEST);
    const md2 = await sub.wait((e) => e.type === 'Subscribe.Metadata' && same(e.data, LATEST), 'Subscribe.Metadata after the switch');
    const video = await videoPlays(document.getElementById('sub'), document.getElementById('pub'));

    const plis = await pliCount(publisher);
    await publisher.unpublish();
    const unpub = await sub.wait(isType('Subscribe.Play.Unpublish'), 'Subscribe.Play.Unpublish');
    await subscriber.unsubscribe().catch(() => {});
    return { ok: true, metadata: md1.data, afterSwitch: md2.data, video, plis, unpublish: unpub.type, pubEvents: pub.types(), subEvents: sub.types() };
  }

  // The conference backend WebSocket as a host page uses it (red5-protocol §7.4).
  function backendSocket(url) {
    const ws = new WebSocket(url);
    const msgs = [];
    const waiters = [];
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      msgs.push(m);
      log('backend', e.data.slice(0, 200));
      for (const w of waiters.slice()) {
        if (w.pred(m)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m); }
      }
    };
    const opened = new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('backend socket failed')); });
    return {
      opened,
      send: (m) => ws.send(JSON.stringify(m)),
      close: () => ws.close(),
      wait(pred, what, ms = 30000) {
        const found = msgs.find(pred);
        if (found) return Promise.resolve(found);
        return new Promise((resolve, reject) => {
          const w = { pred, resolve };
          waiters.push(w);
          setTimeout(() => {
            const i = waiters.indexOf(w);
            if (i >= 0) { waiters.splice(i, 1); reject(new Error(`backend: timed out waiting for ${what}`)); }
          }, ms);
        });
      },
    };
  }

  // Inbound RTP of a participant's peer connection: packets per kind and decoded frames.
  async function inbound(client) {
    const out = { audio: [], video: [] };
    const stats = await client.getPeerConnection().getStats();
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp') out[r.kind].push({ packets: r.packetsReceived || 0, frames: r.framesDecoded || 0, w: r.frameWidth, h: r.frameHeight });
    });
    return out;
  }

  // Two official RTCConferenceParticipants join a composition made over the backend WS: each gets
  // Conference.MediaStream (1 composite video + 3 mix-minus audio tracks) that plays.
  async function conference(opts) {
    const u = new URL(opts.base);
    const room = 'live/room1';
    const group = 'room1';
    const W = 640, H = 360;
    const host = backendSocket(`ws://${u.host}/?testbed=conference&room=${room}&host=true`);
    await host.opened;
    host.send({ type: 'createComposition', event: group, digest: 'interop', transcodeComposition: false,
      mixers: [{ mixerName: 'm1', mixingPage: 'https://example.invalid/?sm=true', streamName: group, path: room,
        width: String(W), height: String(H), framerate: '15', bitrate: '800', doForward: true, destinationMixerName: '' }],
      location: ['local'] });
    await host.wait((m) => m.type === 'activeCompositions' && m.list.length > 0 && m.list[0].mixers[0].state === 'composing', 'composing');
    // What the participant page does before joining (§7.6 3a/3b).
    const prov = await fetch(`${opts.base}/streammanager/api/4.0/admin/event/meta/${room}/${group}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ guid: room, context: room, name: group, level: 0, isRestricted: false,
        parameters: { group: 'webrtc', audiotracks: 3, videotracks: 1 }, restrictions: [], primaries: [], secondaries: [] }) });
    if (!prov.ok) throw new Error('provision refused: ' + prov.status + ' ' + await prov.text());
    const join = await (await fetch(`${opts.base}/streammanager/api/4.0/event/live/${group}/join`)).json();
    if (!join.serverAddress) throw new Error('join answered ' + JSON.stringify(join));

    const b = base(opts);
    const names = ['participant1', 'participant2'];
    const els = [['pub', 'conf'], ['pub2', 'conf2']];
    const parts = [];
    for (let i = 0; i < names.length; i++) {
      const p = new sdk.RTCConferenceParticipant();
      const rec = recorder(p, names[i]);
      await p.init({ ...b, protocol: 'ws', app: 'streammanager', streamName: names[i], groupName: group,
        mediaElementId: els[i][0], connectionParams: { host: join.serverAddress, app: room } });
      p.publish().catch((e) => log('participant publish rejected', e && e.message));
      const ev = await rec.wait(isType('Conference.MediaStream'), names[i] + ' Conference.MediaStream');
      parts.push({ p, rec, stream: ev.data.stream, el: document.getElementById(els[i][1]) });
    }
    // Their conference publishes are listed; the host admits both (the first is the presenter).
    await host.wait((m) => m.type === 'active' && m.room === room && names.every((n) => (m.streams || []).includes(n)), 'both participants active');
    for (const n of names) host.send({ type: 'promote', room, streamName: n });

    const results = [];
    for (const x of parts) {
      const tracks = x.stream.getTracks().map((t) => ({ kind: t.kind, state: t.readyState }));
      x.el.srcObject = x.stream;
      const deadline = Date.now() + 40000;
      let q = {};
      let st = {};
      for (;;) {
        const pq = x.el.getVideoPlaybackQuality();
        st = await inbound(x.p);
        q = { frames: pq.totalVideoFrames, w: x.el.videoWidth, h: x.el.videoHeight };
        const audioFlowing = st.audio.length >= 3 && st.audio.every((a) => a.packets > 20);
        if (q.frames > 15 && q.w === W && q.h === H && audioFlowing) break;
        if (Date.now() > deadline) throw new Error('conference media did not play: ' + JSON.stringify({ q, st, tracks }));
        await sleep(250);
      }
      results.push({ tracks, video: q, inbound: st, liveAfter: x.stream.getTracks().every((t) => t.readyState === 'live'), events: x.rec.types() });
    }
    for (const x of parts) await x.p.unpublish().catch(() => {});
    host.send({ type: 'destroyComposition', event: group });
    host.close();
    return { ok: true, participants: results, join };
  }

  window.runScenario = async function (name, opts) {
    try {
      switch (name) {
        case 'whip-whep-sm2':
          return await whipWhep(opts);
        case 'ws-sm1':
          return await wsFlow(opts, 'streammanager', 'streammanager', (id) => ({ host: '127.0.0.1', app: 'live' }));
        case 'ws-sm2':
          return await wsFlow(opts, `as/v1/proxy/ws/publish/live/${opts.stream}`, `as/v1/proxy/ws/subscribe/live/${opts.stream}`, () => ({ nodeGroup: 'default' }));
        case 'conference':
          return await conference(opts);
        default:
          return { ok: false, error: 'unknown scenario ' + name };
      }
    } catch (e) {
      return { ok: false, error: String(e && e.message ? e.message : e) };
    }
  };
})();
