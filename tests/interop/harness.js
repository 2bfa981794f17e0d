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

  window.runScenario = async function (name, opts) {
    try {
      switch (name) {
        case 'whip-whep-sm2':
          return await whipWhep(opts);
        case 'ws-sm1':
          return await wsFlow(opts, 'streammanager', 'streammanager', (id) => ({ host: '127.0.0.1', app: 'live' }));
        case 'ws-sm2':
          return await wsFlow(opts, `as/v1/proxy/ws/publish/live/${opts.stream}`, `as/v1/proxy/ws/subscribe/live/${opts.stream}`, () => ({ nodeGroup: 'default' }));
        default:
          return { ok: false, error: 'unknown scenario ' + name };
      }
    } catch (e) {
      return { ok: false, error: String(e && e.message ? e.message : e) };
    }
  };
})();
