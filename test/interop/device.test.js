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
const { Mqtt, MqttWs } = require('azure-iot-device-mqtt');
const { Registry, Client: ServiceClient } = require('azure-iothub');

const {
  OP_MS, env, deviceIdOf, preflight, outpost, Monitor, withTimeout, sdkClient, closeClient,
  checkReportedRoundTrip, checkDesiredNotified, checkEchoMethod,
} = require('./lib');

const transports = [
  { name: 'Mqtt', Transport: Mqtt, csVar: 'DEVICE_CONNECTION_STRING' },
  { name: 'MqttWs', Transport: MqttWs, csVar: 'DEVICE_CONNECTION_STRING_WS' },
];

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
      client = sdkClient(`device client (${name})`, DeviceClient, cs, Transport);
      await withTimeout(`${name} open`, client.open(), OP_MS);
    });

    after(async () => {
      if (client) await closeClient(name, client);
    });

    it('sends telemetry with properties; monitor shows them and the iothub-* stamps', async () => {
      const mon = new Monitor(deviceId, '40s');
      const run = crypto.randomUUID();
      const msg = new Message(JSON.stringify({ temperature: 21.5, run }));
      msg.contentType = 'application/json';
      msg.contentEncoding = 'utf-8';
      msg.properties.add('alert', 'high temp');
      msg.properties.add('run', run);
      let found;
      try {
        found = await mon.sendAndSee(`${name} telemetry event for ${deviceId}`, client, msg);
      } finally {
        mon.stop();
      }
      const sys = found.systemProperties || {};
      const app = found.properties || {};
      assert.equal(found.deviceId, deviceId, 'event deviceId');
      assert.equal(app.alert, 'high temp', 'application property with a space round-trips');
      assert.equal(app.run, run);
      assert.equal(sys['content-type'], 'application/json', 'contentType');
      assert.equal(sys['content-encoding'], 'utf-8', 'contentEncoding');
      assert.equal(sys['iothub-connection-device-id'], deviceId,
        `iothub-connection-device-id stamp; systemProperties=${JSON.stringify(sys)}`);
      assert.ok(sys['iothub-enqueuedtime'], 'iothub-enqueuedtime stamp');
      assert.ok(found.enqueuedTime, 'x-opt-enqueued-time annotation');
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
      // `c2d send` (without --json) prints the message id the hub assigned, alone on its line.
      assert.equal(stdout, `${msg.messageId}\n`, 'C2D messageId ($.mid) is the one `c2d send` printed');
      await withTimeout(`${name} complete`, client.complete(msg), OP_MS);
    });

    it('twin: getTwin, reported patch read back by the service SDK', async () => {
      const got = await checkReportedRoundTrip(name, name, client, async () => (await registry.getTwin(deviceId)).responseBody);
      assert.equal(got.deviceId, deviceId);
    });

    it('twin: desired update from the service reaches properties.desired', async () => {
      await checkDesiredNotified(name, client, (patch) => registry.updateTwin(deviceId, patch, '*'),
        async () => (await registry.getTwin(deviceId)).responseBody);
    });

    it('direct method answered via onDeviceMethod (service Client.invokeDeviceMethod)', async () => {
      await checkEchoMethod(name, client.onDeviceMethod.bind(client), (params) => service.invokeDeviceMethod(deviceId, params),
        201, { a: 1, s: 'x y', list: [1, 2, 3] });
    });
  });
}
