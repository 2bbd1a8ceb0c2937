// Module scenario: module identities through azure-iothub (Registry module CRUD, module twins,
// edge devices, applyConfigurationContentOnDevice) and azure-iot-device's ModuleClient over Mqtt
// and MqttWs directly against the outpost cloud (telemetry, module twin, direct methods).
//
// Environment (set by interop_test.go): OUTPOST_BIN, OUTPOST_CONNECTION_STRING, OUTPOST_CA_FILE,
// OUTPOST_ENDPOINT, NODE_EXTRA_CA_CERTS. Devices and modules are created here (Registry.addModule
// for the Mqtt run, `outpost module create` for the MqttWs run) and deleted at the end.
//
// SDK API names in the pinned azure-iothub 1.16.6: there is no `Client.invokeModuleMethod` — a
// module method is `Client.invokeDeviceMethod(deviceId, moduleId, params)` (POST
// /twins/{d}/modules/{m}/methods) — and no `Registry.applyConfigurationContent` — it is
// `Registry.applyConfigurationContentOnDevice(deviceId, content)` (POST
// /devices/{d}/applyConfigurationContent with the content as the JSON body).
// `Registry.updateModuleTwin(deviceId, moduleId, patch, etag)` needs a truthy etag ('*' for any).
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const { ModuleClient, Client: DeviceClient, Message } = require('azure-iot-device');
const { Mqtt, MqttWs } = require('azure-iot-device-mqtt');
const { Registry, Client: ServiceClient } = require('azure-iothub');

const {
  OP_MS, env, preflight, outpost, Monitor, poll, withTimeout, httpError, identityConnectionString,
  sdkClient, closeClient, updateReported, desiredNotification, checkReportedRoundTrip, checkDesiredNotified,
  checkEchoMethod,
} = require('./lib');

/** moduleNotFound: HTTP 404 with ErrorCode:ModuleNotFound. */
const moduleNotFound = (what) => httpError(what, 404, { code: 'ModuleNotFound' });

/** staleEtag: HTTP 412, InvalidEtagError. */
const staleEtag = (what) => httpError(what, 412, { name: 'InvalidEtagError' });

describe('service SDK: module identities', { timeout: 60000 }, () => {
  let registry;
  const suffix = crypto.randomBytes(4).toString('hex');
  const created = new Set();

  before(async () => {
    await preflight([]);
    registry = Registry.fromConnectionString(env('OUTPOST_CONNECTION_STRING'));
  });

  after(async () => {
    for (const id of created) {
      try { await registry.delete(id); } catch { /* already gone */ }
    }
  });

  it('Registry addModule/getModule/getModulesOnDevice/updateModule (etag and forced)/removeModule', async () => {
    const deviceId = `interop-modreg-${suffix}`;
    await registry.create({ deviceId });
    created.add(deviceId);
    assert.deepEqual((await registry.getModulesOnDevice(deviceId)).responseBody, [],
      'a plain device has no modules');

    const res = await registry.addModule({ deviceId, moduleId: 'filter' });
    assert.equal(res.httpResponse.statusCode, 200, 'addModule answers 200');
    const mod = res.responseBody;
    assert.equal(mod.deviceId, deviceId);
    assert.equal(mod.moduleId, 'filter');
    assert.ok(mod.generationId, 'generationId assigned');
    assert.ok(mod.etag, 'etag assigned');
    const keys = mod.authentication && mod.authentication.symmetricKey;
    assert.ok(keys && keys.primaryKey && keys.secondaryKey, 'symmetric keys generated');
    assert.ok(Buffer.from(keys.primaryKey, 'base64').length >= 16, 'primary key is base64');
    assert.notEqual(keys.primaryKey, keys.secondaryKey);

    // given keys and managedBy are kept
    const given = crypto.randomBytes(32).toString('base64');
    const given2 = crypto.randomBytes(32).toString('base64');
    const mod2 = (await registry.addModule({
      deviceId, moduleId: 'sensor', managedBy: 'IotEdge',
      authentication: { symmetricKey: { primaryKey: given, secondaryKey: given2 } },
    })).responseBody;
    assert.equal(mod2.authentication.symmetricKey.primaryKey, given, 'given primary key kept');
    assert.equal(mod2.managedBy, 'IotEdge', 'managedBy kept');

    await assert.rejects(registry.addModule({ deviceId, moduleId: 'filter' }),
      httpError('add twice', 409, { code: 'ModuleAlreadyExistsOnDevice' }));

    const got = (await registry.getModule(deviceId, 'filter')).responseBody;
    assert.equal(got.moduleId, 'filter');
    assert.equal(got.deviceId, deviceId);
    assert.equal(got.etag, mod.etag, 'etag stable without changes');
    assert.equal(got.generationId, mod.generationId);
    assert.equal(got.authentication.symmetricKey.primaryKey, keys.primaryKey);
    assert.equal(got.connectionState, 'Disconnected');

    const list = (await registry.getModulesOnDevice(deviceId)).responseBody;
    assert.ok(Array.isArray(list), 'getModulesOnDevice returns an array');
    assert.deepEqual(list.map((m) => m.moduleId).sort(), ['filter', 'sensor']);
    assert.ok(list.every((m) => m.deviceId === deviceId));

    // updateModule with the etag (If-Match: "etag"): new keys, new etag, same generationId
    const newKey = crypto.randomBytes(32).toString('base64');
    const upd = (await registry.updateModule({
      ...got, authentication: { symmetricKey: { primaryKey: newKey, secondaryKey: keys.secondaryKey } },
    })).responseBody;
    assert.equal(upd.authentication.symmetricKey.primaryKey, newKey, 'key updated');
    assert.notEqual(upd.etag, got.etag, 'etag changes on update');
    assert.equal(upd.generationId, got.generationId, 'generationId survives an update');
    assert.equal((await registry.getModule(deviceId, 'filter')).responseBody.authentication.symmetricKey.primaryKey, newKey);

    // a stale etag is refused with 412
    await assert.rejects(registry.updateModule({ ...got, managedBy: 'stale' }), staleEtag('updateModule'));
    // forceUpdate (If-Match: "*") ignores the etag
    const forced = (await registry.updateModule({ deviceId, moduleId: 'filter', managedBy: 'me',
      authentication: { symmetricKey: { primaryKey: newKey, secondaryKey: keys.secondaryKey } } }, true)).responseBody;
    assert.equal(forced.managedBy, 'me', 'forced update applied');
    assert.notEqual(forced.etag, upd.etag);

    // removeModule by ids (If-Match: "*") and by module object (If-Match: its etag)
    await registry.removeModule(deviceId, 'filter');
    await assert.rejects(registry.getModule(deviceId, 'filter'), moduleNotFound('getModule after remove'));
    // (removeModule(module) has to use the callback form: azure-iothub 1.16.6's promise form
    // passes its callback in the moduleId slot and throws "Argument 'done' cannot be falsy".)
    const sensor = (await registry.getModule(deviceId, 'sensor')).responseBody;
    await withTimeout('removeModule(module)', new Promise((resolve, reject) => {
      registry.removeModule(sensor, (err) => (err ? reject(err) : resolve()));
    }), OP_MS);
    assert.deepEqual((await registry.getModulesOnDevice(deviceId)).responseBody, [], 'no modules left');
  });

  it('a module that does not exist: 404 ModuleNotFound from getModule, getModuleTwin, removeModule, updateModuleTwin', async () => {
    const deviceId = `interop-modmiss-${suffix}`;
    await registry.create({ deviceId });
    created.add(deviceId);
    await assert.rejects(registry.getModule(deviceId, 'ghost'), moduleNotFound('getModule'));
    await assert.rejects(registry.getModuleTwin(deviceId, 'ghost'), moduleNotFound('getModuleTwin'));
    await assert.rejects(registry.removeModule(deviceId, 'ghost'), moduleNotFound('removeModule'));
    await assert.rejects(registry.updateModuleTwin(deviceId, 'ghost', { properties: { desired: { a: 1 } } }, '*'),
      moduleNotFound('updateModuleTwin'));
    // a module on a device that does not exist
    await assert.rejects(registry.addModule({ deviceId: `interop-nodev-${suffix}`, moduleId: 'm' }),
      httpError('addModule on a missing device', 404, { name: 'DeviceNotFoundError' }));
  });

  it('module twin: getModuleTwin and updateModuleTwin (tags, desired, etag)', async () => {
    const deviceId = `interop-modtwin-${suffix}`;
    await registry.create({ deviceId });
    created.add(deviceId);
    await registry.addModule({ deviceId, moduleId: 'twinmod' });
    const twin = (await registry.getModuleTwin(deviceId, 'twinmod')).responseBody;
    assert.equal(twin.deviceId, deviceId);
    assert.equal(twin.moduleId, 'twinmod');
    assert.ok(twin.etag && twin.etag !== '*', 'module twin etag');
    assert.equal(typeof twin.properties.desired.$version, 'number');
    assert.equal(typeof twin.properties.reported.$version, 'number');
    const upd = (await registry.updateModuleTwin(deviceId, 'twinmod',
      { tags: { role: 'filter' }, properties: { desired: { threshold: 30, cfg: { unit: 'C' } } } }, twin.etag)).responseBody;
    assert.equal(upd.moduleId, 'twinmod', 'the returned twin is the module twin');
    assert.equal(upd.tags.role, 'filter');
    assert.equal(upd.properties.desired.threshold, 30);
    assert.notEqual(upd.etag, twin.etag, 'etag changes');
    const again = (await registry.getModuleTwin(deviceId, 'twinmod')).responseBody;
    assert.equal(again.properties.desired.cfg.unit, 'C');
    assert.ok(again.properties.desired.$version > twin.properties.desired.$version, 'desired $version grows');
    // the device twin is a different document
    const dev = (await registry.getTwin(deviceId)).responseBody;
    assert.ok(!dev.moduleId, 'device twin has no moduleId');
    assert.ok(!('threshold' in dev.properties.desired), 'module desired does not leak into the device twin');
    // a stale etag is refused
    await assert.rejects(registry.updateModuleTwin(deviceId, 'twinmod', { tags: { x: 1 } }, twin.etag),
      staleEtag('updateModuleTwin'));
  });

  it('edge device: $edgeAgent/$edgeHub listed; applyConfigurationContentOnDevice lands in the module twins', async () => {
    const edgeId = `interop-edge-${suffix}`;
    const res = await registry.create({ deviceId: edgeId, capabilities: { iotEdge: true } });
    created.add(edgeId);
    assert.equal(res.responseBody.capabilities && res.responseBody.capabilities.iotEdge, true, 'capabilities.iotEdge');
    assert.equal((await registry.get(edgeId)).responseBody.capabilities.iotEdge, true);
    const mods = (await registry.getModulesOnDevice(edgeId)).responseBody;
    const ids = mods.map((m) => m.moduleId).sort();
    assert.deepEqual(ids, ['$edgeAgent', '$edgeHub'], 'an edge device starts with $edgeAgent and $edgeHub');
    for (const m of mods) {
      assert.equal(m.deviceId, edgeId);
      assert.ok(m.authentication.symmetricKey.primaryKey, `${m.moduleId} has a SAS key`);
    }
    const agent = (await registry.getModule(edgeId, '$edgeAgent')).responseBody;
    assert.equal(agent.moduleId, '$edgeAgent');

    const stamp = crypto.randomUUID();
    const content = {
      modulesContent: {
        $edgeAgent: {
          'properties.desired': {
            schemaVersion: '1.1',
            runtime: { type: 'docker', settings: { minDockerVersion: 'v1.25', loggingOptions: '' } },
            systemModules: {
              edgeAgent: { type: 'docker', settings: { image: 'mcr.microsoft.com/azureiotedge-agent:1.4', createOptions: '{}' } },
              edgeHub: {
                type: 'docker', status: 'running', restartPolicy: 'always',
                settings: { image: 'mcr.microsoft.com/azureiotedge-hub:1.4', createOptions: '{}' },
              },
            },
            modules: {
              tempSensor: {
                version: '1.0', type: 'docker', status: 'running', restartPolicy: 'always',
                settings: { image: 'mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.4', createOptions: '{}' },
              },
            },
            interopStamp: stamp,
          },
        },
        $edgeHub: {
          'properties.desired': {
            schemaVersion: '1.1',
            routes: { upstream: 'FROM /messages/* INTO $upstream' },
            storeAndForwardConfiguration: { timeToLiveSecs: 7200 },
          },
        },
        tempSensor: { 'properties.desired': { SendInterval: 5, stamp } },
      },
    };
    const applied = await registry.applyConfigurationContentOnDevice(edgeId, content);
    assert.equal(applied.httpResponse.statusCode, 204, 'applyConfigurationContent answers 204 No Content (as IoT Hub)');

    const agentTwin = (await registry.getModuleTwin(edgeId, '$edgeAgent')).responseBody;
    const d = agentTwin.properties.desired;
    assert.equal(agentTwin.moduleId, '$edgeAgent');
    assert.equal(d.interopStamp, stamp, `$edgeAgent desired: ${JSON.stringify(d).slice(0, 500)}`);
    assert.equal(d.schemaVersion, '1.1');
    assert.equal(d.runtime.type, 'docker');
    assert.equal(d.systemModules.edgeHub.settings.image, 'mcr.microsoft.com/azureiotedge-hub:1.4');
    assert.equal(d.modules.tempSensor.settings.createOptions, '{}');
    assert.equal(typeof d.$version, 'number');
    const hubTwin = (await registry.getModuleTwin(edgeId, '$edgeHub')).responseBody;
    assert.equal(hubTwin.properties.desired.routes.upstream, 'FROM /messages/* INTO $upstream');
    assert.equal(hubTwin.properties.desired.storeAndForwardConfiguration.timeToLiveSecs, 7200);

    // A module the deployment names but that does not exist yet gets its content when created
    // (the edge agent creates module identities after it reads the deployment).
    await registry.addModule({ deviceId: edgeId, moduleId: 'tempSensor', managedBy: 'IotEdge' });
    const sensorTwin = (await registry.getModuleTwin(edgeId, 'tempSensor')).responseBody;
    assert.equal(sensorTwin.properties.desired.SendInterval, 5);
    assert.equal(sensorTwin.properties.desired.stamp, stamp);

    // A second deployment replaces (not merges) the desired properties.
    await registry.applyConfigurationContentOnDevice(edgeId, {
      modulesContent: { $edgeAgent: { 'properties.desired': { schemaVersion: '1.1', second: true } } },
    });
    const d2 = (await registry.getModuleTwin(edgeId, '$edgeAgent')).responseBody.properties.desired;
    assert.equal(d2.second, true);
    assert.ok(!('interopStamp' in d2), 'a new deployment replaces $edgeAgent desired');
    assert.ok(d2.$version > d.$version, 'desired $version grows');

    // applyConfigurationContent is for edge devices only
    const plainId = `interop-noedge-${suffix}`;
    await registry.create({ deviceId: plainId });
    created.add(plainId);
    await assert.rejects(registry.applyConfigurationContentOnDevice(plainId, content), httpError('non-edge device', 400));
  });

  it('deleting a device deletes its modules', async () => {
    const deviceId = `interop-moddel-${suffix}`;
    await registry.create({ deviceId });
    created.add(deviceId);
    await registry.addModule({ deviceId, moduleId: 'gone' });
    await registry.delete(deviceId);
    created.delete(deviceId);
    await assert.rejects(registry.getModule(deviceId, 'gone'), httpError('getModule of a deleted device', 404));
    // re-creating the device does not bring the old module back
    await registry.create({ deviceId });
    created.add(deviceId);
    assert.deepEqual((await registry.getModulesOnDevice(deviceId)).responseBody, []);
  });

  it('changing a module\'s keys, removing it or deleting/disabling its device disconnects the module', async () => {
    const deviceId = `interop-moddisc-${suffix}`;
    await registry.create({ deviceId });
    created.add(deviceId);
    const actions = {
      keys: () => registry.updateModule({ deviceId, moduleId: 'keys', authentication: { symmetricKey: {
        primaryKey: crypto.randomBytes(32).toString('base64'), secondaryKey: crypto.randomBytes(32).toString('base64') } } }, true),
      remove: () => registry.removeModule(deviceId, 'remove'),
      disable: () => registry.update({ deviceId, status: 'disabled' }),
      delete: () => registry.delete(deviceId),
    };
    for (const [moduleId, act] of Object.entries(actions)) {
      const mod = (await registry.addModule({ deviceId, moduleId })).responseBody;
      const c = sdkClient(moduleId, ModuleClient,
        identityConnectionString(deviceId, mod.authentication.symmetricKey.primaryKey, moduleId), Mqtt, () => {});
      let disconnected = null;
      c.on('disconnect', () => { disconnected = Date.now(); });
      try {
        await withTimeout(`open ${moduleId}`, c.open(), OP_MS);
        // Act right after CONNACK, before the hub may have recorded the connection: a change
        // in that window must disconnect the module too (internal/cloud re-checks at Online).
        await act();
        await poll(`module disconnected after ${moduleId}`, () => disconnected, { timeoutMs: 5000, intervalMs: 50 });
      } finally {
        await closeClient(moduleId, c);
      }
      if (moduleId === 'disable') await registry.update({ deviceId, status: 'enabled' });
    }
    created.delete(deviceId);
  });

  it('a module key authenticates only its own module (MQTT CONNECT refused otherwise)', async () => {
    const deviceId = `interop-modauth-${suffix}`;
    await registry.create({ deviceId });
    created.add(deviceId);
    const a = (await registry.addModule({ deviceId, moduleId: 'a' })).responseBody;
    await registry.addModule({ deviceId, moduleId: 'b' });
    const keyA = a.authentication.symmetricKey.primaryKey;
    for (const [what, cs] of [
      ["module a's key as module b", identityConnectionString(deviceId, keyA, 'b')],
      ['a wrong key', identityConnectionString(deviceId, crypto.randomBytes(32).toString('base64'), 'a')],
    ]) {
      const c = sdkClient(what, ModuleClient, cs, Mqtt, () => {});
      try {
        await assert.rejects(withTimeout(`open with ${what}`, c.open(), OP_MS), (err) => {
          assert.ok(!/no answer within/.test(err.message), `open with ${what}: ${err.message}`);
          assert.equal(err.name, 'UnauthorizedError', `open with ${what}: got ${err.name}: ${err.message}`);
          return true;
        }, `open with ${what} must fail`);
      } finally {
        await closeClient(what, c);
      }
    }
  });
});

// ModuleClient runs: the Mqtt module is created with Registry.addModule (connection string built
// from the generated key), the MqttWs module with `outpost module create` (printed connection string).
const transports = [
  { name: 'Mqtt', Transport: Mqtt, via: 'Registry.addModule' },
  { name: 'MqttWs', Transport: MqttWs, via: 'outpost module create' },
];

for (const { name, Transport, via } of transports) {
  describe(`module client over ${name} (module created with ${via})`, { timeout: 60000 }, () => {
    const suffix = crypto.randomBytes(4).toString('hex');
    const deviceId = `interop-moddev-${name.toLowerCase()}-${suffix}`;
    const moduleId = `mod-${name.toLowerCase()}`;
    let registry;
    let service;
    let client;

    before(async () => {
      await preflight(['OUTPOST_BIN', 'OUTPOST_CA_FILE', 'OUTPOST_ENDPOINT']);
      registry = Registry.fromConnectionString(env('OUTPOST_CONNECTION_STRING'));
      service = ServiceClient.fromConnectionString(env('OUTPOST_CONNECTION_STRING'));
      await registry.create({ deviceId });
      let cs;
      if (via === 'Registry.addModule') {
        const mod = (await registry.addModule({ deviceId, moduleId })).responseBody;
        cs = identityConnectionString(deviceId, mod.authentication.symmetricKey.primaryKey, moduleId);
      } else {
        const { stdout } = await outpost(['module', 'create', deviceId, moduleId]);
        cs = stdout.split('\n').map((l) => l.trim()).find((l) => l.startsWith('HostName=') && l.includes(`ModuleId=${moduleId}`));
        assert.ok(cs, `\`outpost module create\` printed no module connection string: ${JSON.stringify(stdout)}`);
        assert.match(cs, new RegExp(`DeviceId=${deviceId};`));
      }
      client = sdkClient(`module client (${name})`, ModuleClient, cs, Transport);
      await withTimeout(`${name} module open`, client.open(), OP_MS);
    });

    after(async () => {
      if (client) await closeClient(`${name} module`, client);
      if (registry) {
        try { await registry.delete(deviceId); } catch { /* already gone */ }
      }
    });

    it('sends telemetry; `outpost monitor --device D --module M` shows the module stamps', async () => {
      const mon = new Monitor(deviceId, '40s', { moduleId });
      const run = crypto.randomUUID();
      const msg = new Message(JSON.stringify({ humidity: 40, run }));
      msg.contentType = 'application/json';
      msg.contentEncoding = 'utf-8';
      msg.properties.add('source', 'module test');
      let found;
      try {
        found = await mon.sendAndSee(`${name} telemetry event for ${deviceId}/${moduleId}`, client, msg);
      } finally {
        mon.stop();
      }
      const sys = found.systemProperties || {};
      assert.equal(found.deviceId, deviceId, 'event deviceId');
      assert.equal(found.moduleId, moduleId, `event module; raw=${JSON.stringify(found.raw).slice(0, 1000)}`);
      assert.equal(sys['iothub-connection-device-id'], deviceId,
        `iothub-connection-device-id stamp; systemProperties=${JSON.stringify(sys)}`);
      assert.equal(sys['iothub-connection-module-id'], moduleId,
        `iothub-connection-module-id stamp; systemProperties=${JSON.stringify(sys)}`);
      assert.equal(found.properties.source, 'module test', 'application property');
      assert.equal(sys['content-type'], 'application/json', 'contentType');
      const body = typeof found.body === 'string' ? JSON.parse(found.body) : found.body;
      assert.equal(body.run, run);
      // every event the module-filtered monitor printed belongs to this module
      for (const e of mon.events) assert.equal(e.moduleId, moduleId, 'monitor --module filters by module');
    });

    // sendOutputEvent publishes on .../messages/events/%24.on=out1&...&k=v/ (a trailing '/'
    // after the bag): the hub must not keep it in the last value or in the output name.
    it('sendOutputEvent: the event carries the output name and the last property without the trailing /', async () => {
      const mon = new Monitor(deviceId, '40s', { moduleId });
      try {
        const msg = new Message('out');
        msg.properties.add('k', 'v');
        const found = await mon.sendAndSee(`${name} output event`, client, msg, 25000,
          (m) => client.sendOutputEvent('out1', m));
        assert.equal(found.systemProperties.outputName, 'out1',
          `output name; systemProperties=${JSON.stringify(found.systemProperties)}`);
        assert.equal(found.properties.k, 'v', `last property; properties=${JSON.stringify(found.properties)}`);
        // Without messageId and properties the output name itself ends the topic.
        const run = crypto.randomUUID();
        await withTimeout(`${name} bare sendOutputEvent`, client.sendOutputEvent('out2', new Message(run)), OP_MS);
        const bare = await mon.waitFor((e) => e.body === run, 25000);
        assert.ok(bare, `bare output event not seen; events=${JSON.stringify(mon.events).slice(0, 2000)}`);
        assert.equal(bare.systemProperties.outputName, 'out2',
          `bare output name; systemProperties=${JSON.stringify(bare.systemProperties)}`);
      } finally {
        mon.stop();
      }
    });

    it('module twin: getTwin, reported patch read back with Registry.getModuleTwin', async () => {
      const got = await checkReportedRoundTrip(`${name} module`, name, client,
        async () => (await registry.getModuleTwin(deviceId, moduleId)).responseBody);
      assert.equal(got.deviceId, deviceId);
      assert.equal(got.moduleId, moduleId);
      // the module's reported properties are not the device's
      const dev = (await registry.getTwin(deviceId)).responseBody;
      assert.ok(!dev.properties.reported.interop, 'module reported does not leak into the device twin');
    });

    it('module twin: desired update with Registry.updateModuleTwin reaches properties.desired', async () => {
      await checkDesiredNotified(`${name} module`, client, (patch) => registry.updateModuleTwin(deviceId, moduleId, patch, '*'),
        async () => (await registry.getModuleTwin(deviceId, moduleId)).responseBody);
    });

    it('direct method answered with onMethod, invoked with Client.invokeDeviceMethod(deviceId, moduleId, params)', async () => {
      const payload = { m: moduleId, list: [3, 2, 1], s: 'a b' };
      await checkEchoMethod(`${name} module`, client.onMethod.bind(client),
        (params) => service.invokeDeviceMethod(deviceId, moduleId, params), 202, payload);
      // The device itself is not connected: a device-level method is not routed to the module.
      await assert.rejects(service.invokeDeviceMethod(deviceId, {
        methodName: 'echo', payload, responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 0,
      }), httpError('device-level invoke', 404, { code: 'DeviceNotOnline' }));
      // and the module shows as connected in the registry
      const m = (await registry.getModule(deviceId, moduleId)).responseBody;
      assert.equal(m.connectionState, 'Connected', 'module connectionState');
    });

    it('the device and its module are separate identities: both connected at once, each gets its own method', async () => {
      const devKey = (await registry.get(deviceId)).responseBody.authentication.symmetricKey.primaryKey;
      const device = sdkClient(`device client (${name})`, DeviceClient, identityConnectionString(deviceId, devKey), Transport);
      try {
        await withTimeout(`${name} device open`, device.open(), OP_MS);
        device.onDeviceMethod('who', (req, resp) => { resp.send(200, { me: 'device' }, () => {}); });
        client.onMethod('who', (req, resp) => { resp.send(200, { me: 'module' }, () => {}); });
        const params = { methodName: 'who', responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 0 };
        const d = await poll(`${name} invoke device who`, () => service.invokeDeviceMethod(deviceId, params),
          { timeoutMs: 20000, intervalMs: 500 });
        assert.deepEqual(d.result.payload, { me: 'device' }, 'device method reaches the device');
        // the device's CONNECT did not drop the module's connection
        const m = await poll(`${name} invoke module who`, () => service.invokeDeviceMethod(deviceId, moduleId, params),
          { timeoutMs: 20000, intervalMs: 500 });
        assert.deepEqual(m.result.payload, { me: 'module' }, 'module method reaches the module');
        assert.equal((await registry.get(deviceId)).responseBody.connectionState, 'Connected', 'device connected');
        assert.equal((await registry.getModule(deviceId, moduleId)).responseBody.connectionState, 'Connected', 'module still connected');
      } finally {
        await closeClient(`${name} device`, device);
      }
    });
  });
}

// The edge runtime's own identities: $edgeAgent and $edgeHub connect to the cloud as modules of
// the edge device (the '$' goes into the MQTT username, topics and the SAS audience), read the
// deployment from their twin and get the next deployment as a desired-properties notification.
describe('edge runtime modules ($edgeAgent over Mqtt, $edgeHub over MqttWs)', { timeout: 60000 }, () => {
  const suffix = crypto.randomBytes(4).toString('hex');
  const edgeId = `interop-edgert-${suffix}`;
  let registry;
  const clients = [];

  before(async () => {
    await preflight([]);
    registry = Registry.fromConnectionString(env('OUTPOST_CONNECTION_STRING'));
    await registry.create({ deviceId: edgeId, capabilities: { iotEdge: true } });
  });

  after(async () => {
    for (const c of clients) await closeClient('edge module', c);
    if (registry) {
      try { await registry.delete(edgeId); } catch { /* already gone */ }
    }
  });

  for (const [moduleId, Transport, tname] of [['$edgeAgent', Mqtt, 'Mqtt'], ['$edgeHub', MqttWs, 'MqttWs']]) {
    it(`${moduleId} over ${tname}: getTwin has the deployment, reports, and is notified of the next deployment`, async () => {
      const first = crypto.randomUUID();
      await registry.applyConfigurationContentOnDevice(edgeId, {
        modulesContent: { [moduleId]: { 'properties.desired': { schemaVersion: '1.1', deployment: first } } },
      });
      const key = (await registry.getModule(edgeId, moduleId)).responseBody.authentication.symmetricKey.primaryKey;
      const client = sdkClient(`${moduleId} client`, ModuleClient, identityConnectionString(edgeId, key, moduleId), Transport);
      clients.push(client);
      await withTimeout(`${moduleId} open`, client.open(), OP_MS);

      const twin = await withTimeout(`${moduleId} getTwin`, client.getTwin(), OP_MS);
      assert.equal(twin.properties.desired.deployment, first, `${moduleId} twin desired holds the deployment`);
      assert.equal(twin.properties.desired.schemaVersion, '1.1');

      const reported = { schemaVersion: '1.1', lastDesiredVersion: twin.properties.desired.$version,
        runtime: { platform: { os: 'linux', architecture: 'x86_64' } } };
      await updateReported(`${moduleId} reported update`, twin, reported);
      const svc = (await registry.getModuleTwin(edgeId, moduleId)).responseBody;
      assert.equal(svc.moduleId, moduleId);
      assert.equal(svc.properties.reported.lastDesiredVersion, twin.properties.desired.$version);
      assert.equal(svc.properties.reported.runtime.platform.os, 'linux');

      // The next deployment arrives as a desired notification.
      const next = crypto.randomUUID();
      const hit = await desiredNotification(`${moduleId} deployment notification`, twin, (d) => d.deployment === next,
        (n) => registry.applyConfigurationContentOnDevice(edgeId, {
          modulesContent: { [moduleId]: { 'properties.desired': { schemaVersion: '1.1', deployment: next, n } } },
        }));
      assert.equal(typeof hit.$version, 'number', 'notification carries $version');
      assert.equal(twin.properties.desired.deployment, next, 'merged into twin.properties.desired');
      const m = (await registry.getModule(edgeId, moduleId)).responseBody;
      assert.equal(m.connectionState, 'Connected', `${moduleId} connectionState`);
    });
  }
});
