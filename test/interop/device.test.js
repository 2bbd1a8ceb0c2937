// Device scenario: azure-iot-device over Mqtt and MqttWs against the outpost cloud.
//
// Environment (set by interop_test.go): OUTPOST_BIN, OUTPOST_CONNECTION_STRING,
// OUTPOST_CA_FILE, OUTPOST_ENDPOINT, NODE_EXTRA_CA_CERTS, DEVICE_CONNECTION_STRING
// (device for Mqtt) and DEVICE_CONNECTION_STRING_WS (device for MqttWs).
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const { Client: DeviceClient, Message } = require('azure-iot-device');
const { NoRetry } = require('azure-iot-common');
const { Mqtt, MqttWs } = require('azure-iot-device-mqtt');
const { Registry, Client: ServiceClient } = require('azure-iothub');

const { env, deviceIdOf, preflight, outpost, Monitor, poll, withTimeout, pick } = require('./lib');

const transports = [
  { name: 'Mqtt', Transport: Mqtt, csVar: 'DEVICE_CONNECTION_STRING' },
  { name: 'MqttWs', Transport: MqttWs, csVar: 'DEVICE_CONNECTION_STRING_WS' },
];

const OP_MS = 10000; // bound for one SDK operation

for (const { name, Transport, csVar } of transports) {
  describe(`device over ${name}`, { timeout: 60000 }, () => {
    let client;
    let deviceId;
    let registry;
    let service;

    before(async () => {
      await preflight([csVar, 'OUTPOST_BIN', 'OUTPOST_CA_FILE', 'OUTPOST_ENDPOINT']);
      const cs = env(csVar);
      deviceId = deviceIdOf(cs);
      registry = Registry.fromConnectionString(env('OUTPOST_CONNECTION_STRING'));
      service = ServiceClient.fromConnectionString(env('OUTPOST_CONNECTION_STRING'));
      client = DeviceClient.fromConnectionString(cs, Transport);
      // Fail fast: a cloud bug must surface as a failure, not be hidden by reconnects.
      client.setRetryPolicy(new NoRetry());
      client.on('error', (err) => { console.error(`device client (${name}) error: ${err}`); });
      await withTimeout(`${name} open`, client.open(), OP_MS);
    });

    after(async () => {
      if (client) {
        try { await withTimeout(`${name} close`, client.close(), OP_MS); } catch (err) { console.error(String(err)); }
      }
    });

    it('sends telemetry with properties; monitor shows them and the iothub-* stamps', async () => {
      const mon = new Monitor(deviceId, '40s');
      const run = crypto.randomUUID();
      const sent = new Set();
      let found = null;
      try {
        // The monitor may attach after its start returns; resend (each with a new
        // messageId) until one shows up, bounded by the deadline.
        const deadline = Date.now() + 25000;
        let n = 0;
        while (!found) {
          if (Date.now() > deadline) {
            throw new Error(`interop: no telemetry event for ${deviceId} seen by outpost monitor within 25 s ` +
              `(sent ${n}); monitor exit=${JSON.stringify(mon.exited)} stderr=${mon.stderr}` +
              ` events=${JSON.stringify(mon.events).slice(0, 2000)}`);
          }
          if (mon.exited) {
            throw new Error(`interop: outpost monitor exited early: ${JSON.stringify(mon.exited)} stderr=${mon.stderr}`);
          }
          const mid = `${run}-${n++}`;
          const msg = new Message(JSON.stringify({ temperature: 21.5, run, seq: n }));
          msg.messageId = mid;
          msg.contentType = 'application/json';
          msg.contentEncoding = 'utf-8';
          msg.properties.add('alert', 'high temp');
          msg.properties.add('run', run);
          sent.add(mid);
          await withTimeout(`${name} sendEvent`, client.sendEvent(msg), OP_MS);
          const until = Date.now() + 2000;
          while (!found && Date.now() < until && !mon.exited) {
            found = mon.events.find((e) => sent.has(pick(e.systemProperties, 'messageId', 'message-id', '$.mid')));
            if (!found) await mon.changed(until - Date.now());
          }
        }
      } finally {
        mon.stop();
      }
      const sys = found.systemProperties || {};
      const app = found.properties || {};
      assert.equal(found.deviceId, deviceId, 'event deviceId');
      assert.equal(app.alert, 'high temp', 'application property with a space round-trips');
      assert.equal(app.run, run);
      assert.equal(pick(sys, 'contentType', 'content-type', '$.ct'), 'application/json', 'contentType');
      assert.equal(pick(sys, 'contentEncoding', 'content-encoding', '$.ce'), 'utf-8', 'contentEncoding');
      assert.equal(pick(sys, 'iothub-connection-device-id', 'connectionDeviceId'), deviceId,
        `iothub-connection-device-id stamp; systemProperties=${JSON.stringify(sys)}`);
      assert.ok(pick(sys, 'iothub-enqueuedtime', 'enqueuedTime') || found.enqueuedTime,
        'enqueued time stamp');
      assert.ok(!('iothub-connection-module-id' in sys) || !sys['iothub-connection-module-id'],
        'no module id stamp for a device');
      // body: JSON bodies are shown as JSON values
      const body = typeof found.body === 'string' ? JSON.parse(found.body) : found.body;
      assert.equal(body.run, run);
      assert.equal(body.temperature, 21.5);
    });

    it('receives a C2D message sent with `outpost c2d send` and completes it', async () => {
      const tag = crypto.randomUUID();
      const received = new Promise((resolve) => {
        const onMessage = (msg) => {
          if (msg.properties.getValue('tag') !== tag) {
            client.complete(msg, () => {}); // a leftover from an earlier run
            return;
          }
          client.removeListener('message', onMessage);
          resolve(msg);
        };
        client.on('message', onMessage);
      });
      // C2D is queued by the hub, so sending before the subscription is active is fine.
      const body = `hello ${tag}`;
      const { stdout } = await outpost(['c2d', 'send', deviceId, body, '--property', `tag=${tag}`,
        '--property', 'kind=interop test']);
      const msg = await withTimeout(`${name} C2D receive`, received, 20000);
      assert.equal(msg.data.toString(), body, 'C2D body');
      assert.equal(msg.properties.getValue('kind'), 'interop test', 'C2D application property');
      assert.ok(msg.messageId, 'C2D messageId ($.mid) is set');
      // `c2d send` prints the message id the hub assigned (bare, or {"messageId"} with --json).
      const printed = stdout.trim();
      let printedId = null;
      try { printedId = JSON.parse(printed).messageId; } catch { if (/^\S+$/.test(printed)) printedId = printed; }
      assert.ok(printedId, `\`outpost c2d send\` printed no message id: ${JSON.stringify(stdout)}`);
      assert.equal(msg.messageId, printedId, 'C2D messageId ($.mid) is the one `c2d send` printed');
      await withTimeout(`${name} complete`, client.complete(msg), OP_MS);
    });

    it('twin: getTwin, reported patch read back by the service SDK', async () => {
      const twin = await withTimeout(`${name} getTwin`, client.getTwin(), OP_MS);
      assert.equal(typeof twin.properties.desired.$version, 'number', 'desired.$version');
      assert.equal(typeof twin.properties.reported.$version, 'number', 'reported.$version');
      const stamp = crypto.randomUUID();
      const patch = { interop: { stamp, transport: name, nested: { n: 42 } }, firmware: '1.2.3' };
      await withTimeout(`${name} reported update`, new Promise((resolve, reject) => {
        twin.properties.reported.update(patch, (err) => (err ? reject(err) : resolve()));
      }), OP_MS);
      const got = await registry.getTwin(deviceId);
      const reported = got.responseBody.properties.reported;
      assert.equal(reported.interop.stamp, stamp);
      assert.equal(reported.interop.transport, name);
      assert.equal(reported.interop.nested.n, 42);
      assert.equal(reported.firmware, '1.2.3');
      assert.equal(got.responseBody.deviceId, deviceId);
      // A null deletes the member (JSON merge patch).
      await withTimeout(`${name} reported delete`, new Promise((resolve, reject) => {
        twin.properties.reported.update({ firmware: null }, (err) => (err ? reject(err) : resolve()));
      }), OP_MS);
      const after = (await registry.getTwin(deviceId)).responseBody.properties.reported;
      assert.ok(!('firmware' in after), 'reported.firmware deleted by null');
      assert.equal(after.interop.stamp, stamp);
    });

    it('twin: desired update from the service reaches properties.desired', async () => {
      const twin = await withTimeout(`${name} getTwin`, client.getTwin(), OP_MS);
      const probe = crypto.randomUUID();
      const seen = [];
      let wake = () => {};
      twin.on('properties.desired', (delta) => { seen.push(delta); wake(); });
      // The SDK subscribes asynchronously and gives no signal; repeat the service-side
      // update (with a counter) until one notification arrives, bounded.
      let n = 0;
      const hit = await poll(`${name} desired notification`, async () => {
        n++;
        await registry.updateTwin(deviceId, { properties: { desired: { probe, n, settings: { rate: 5 } } } }, '*');
        const until = Date.now() + 2000;
        for (;;) {
          const h = seen.find((d) => d && d.probe === probe);
          if (h || Date.now() >= until) return h;
          await new Promise((r) => { wake = r; setTimeout(r, until - Date.now()); });
        }
      }, { timeoutMs: 20000, intervalMs: 10 });
      assert.equal(typeof hit.$version, 'number', 'desired patch carries $version');
      assert.equal(hit.settings.rate, 5);
      assert.equal(twin.properties.desired.probe, probe, 'merged into twin.properties.desired');
      const svc = (await registry.getTwin(deviceId)).responseBody;
      assert.equal(svc.properties.desired.probe, probe);
      assert.ok(svc.properties.desired.$version >= hit.$version, 'service $version >= notified $version');
    });

    it('direct method answered via onDeviceMethod (service Client.invokeDeviceMethod)', async () => {
      const calls = [];
      client.onDeviceMethod('echo', (request, response) => {
        calls.push(request);
        response.send(201, { echo: request.payload, method: request.methodName }, (err) => {
          if (err) console.error(`method response send failed: ${err}`);
        });
      });
      const payload = { a: 1, s: 'x y', list: [1, 2, 3] };
      // onDeviceMethod subscribes asynchronously; until the subscription is active the hub answers 404.
      const res = await poll(`${name} invoke echo`, () => service.invokeDeviceMethod(deviceId, {
        methodName: 'echo', payload, responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 0,
      }), { timeoutMs: 20000, intervalMs: 500 });
      assert.equal(res.result.status, 201, 'device status code round-trips');
      assert.deepEqual(res.result.payload, { echo: payload, method: 'echo' }, 'payload round-trips');
      assert.ok(calls.length >= 1);
      assert.deepEqual(calls[calls.length - 1].payload, payload, 'device saw the JSON payload');
    });
  });
}
