// Service scenario: azure-iothub (Registry, Twin, Client.invokeDeviceMethod) against the outpost cloud.
//
// Environment (set by interop_test.go): OUTPOST_CONNECTION_STRING, NODE_EXTRA_CA_CERTS.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const { Registry, Client: ServiceClient } = require('azure-iothub');
const { Client: DeviceClient } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');

const {
  OP_MS, env, preflight, poll, withTimeout, httpError, identityConnectionString, sdkClient, closeClient,
} = require('./lib');

describe('service SDK (azure-iothub)', { timeout: 60000 }, () => {
  let registry;
  let service;
  const suffix = crypto.randomBytes(4).toString('hex');
  const regId = `interop-reg-${suffix}`;
  const methodId = `interop-method-${suffix}`;
  const offlineId = `interop-offline-${suffix}`;
  const created = new Set();
  let device;

  before(async () => {
    await preflight([]);
    registry = Registry.fromConnectionString(env('OUTPOST_CONNECTION_STRING'));
    service = ServiceClient.fromConnectionString(env('OUTPOST_CONNECTION_STRING'));
  });

  after(async () => {
    if (device) await closeClient('device', device);
    for (const id of created) {
      try { await registry.delete(id); } catch { /* already gone */ }
    }
  });

  it('Registry create/get/update/list/delete a device', async () => {
    const res = await registry.create({ deviceId: regId, status: 'enabled' });
    created.add(regId);
    assert.equal(res.httpResponse.statusCode, 200, 'create answers 200');
    const dev = res.responseBody;
    assert.equal(dev.deviceId, regId);
    assert.ok(dev.generationId, 'generationId assigned');
    assert.ok(dev.etag, 'etag assigned');
    assert.equal(dev.status, 'enabled');
    const keys = dev.authentication && dev.authentication.symmetricKey;
    assert.ok(keys && keys.primaryKey && keys.secondaryKey, 'symmetric keys generated');
    assert.equal(Buffer.from(keys.primaryKey, 'base64').length >= 16, true, 'primary key is base64');

    const got = (await registry.get(regId)).responseBody;
    assert.equal(got.deviceId, regId);
    assert.equal(got.authentication.symmetricKey.primaryKey, keys.primaryKey);
    assert.equal(got.connectionState, 'Disconnected');

    const upd = await registry.update({ deviceId: regId, status: 'disabled', statusReason: 'interop' });
    assert.equal(upd.responseBody.status, 'disabled');
    assert.equal((await registry.get(regId)).responseBody.status, 'disabled');
    // update without authentication keeps (or regenerates) keys, never drops them
    assert.ok(upd.responseBody.authentication.symmetricKey.primaryKey, 'keys kept on update');

    const list = (await registry.list()).responseBody;
    assert.ok(Array.isArray(list), 'list returns an array');
    assert.ok(list.some((d) => d.deviceId === regId), 'created device is listed');

    await registry.delete(regId);
    created.delete(regId);
    await assert.rejects(registry.get(regId), httpError('get after delete', 404, { name: 'DeviceNotFoundError' }));
  });

  it('DeviceNotFoundError for a missing device; DeviceAlreadyExistsError for a duplicate', async () => {
    const missing = `interop-missing-${suffix}`;
    const notFound = (what) => httpError(what, 404, { name: 'DeviceNotFoundError' });
    await assert.rejects(registry.get(missing), notFound('get'));
    await assert.rejects(registry.getTwin(missing), notFound('getTwin'));
    await assert.rejects(registry.delete(missing), notFound('delete'));
    const dupId = `interop-dup-${suffix}`;
    await registry.create({ deviceId: dupId });
    created.add(dupId);
    await assert.rejects(registry.create({ deviceId: dupId }), httpError('create twice', 409, { name: 'DeviceAlreadyExistsError' }));
  });

  it('twin: getTwin, twin.update of tags and desired (If-Match etag), stale etag refused', async () => {
    const id = `interop-twin-${suffix}`;
    await registry.create({ deviceId: id });
    created.add(id);
    const twin = (await registry.getTwin(id)).responseBody;
    assert.equal(twin.deviceId, id);
    assert.ok(twin.etag, 'twin etag');
    assert.equal(typeof twin.properties.desired.$version, 'number');
    const firstEtag = twin.etag;
    await twin.update({ tags: { site: 'lab', floor: 3 }, properties: { desired: { rate: 10, cfg: { mode: 'eco' } } } });
    assert.equal(twin.tags.site, 'lab', 'tags merged into the returned twin');
    assert.equal(twin.properties.desired.rate, 10);
    assert.notEqual(twin.etag, firstEtag, 'etag changes on update');

    const again = (await registry.getTwin(id)).responseBody;
    assert.equal(again.tags.floor, 3);
    assert.equal(again.properties.desired.cfg.mode, 'eco');
    // merge semantics: a second patch keeps untouched members, null deletes
    await again.update({ tags: { floor: null }, properties: { desired: { cfg: { level: 2 } } } });
    const third = (await registry.getTwin(id)).responseBody;
    assert.equal(third.tags.site, 'lab');
    assert.ok(!('floor' in third.tags), 'null deletes a tag');
    assert.equal(third.properties.desired.cfg.mode, 'eco');
    assert.equal(third.properties.desired.cfg.level, 2);
    assert.equal(third.properties.desired.rate, 10);

    // The first twin object still carries an etag that is now stale: If-Match must refuse it.
    await assert.rejects(registry.updateTwin(id, { tags: { x: 1 } }, firstEtag),
      httpError('stale etag', 412, { name: 'InvalidEtagError' }));
  });

  it('invokeDeviceMethod: 404 DeviceNotOnline for a device that is not connected', async () => {
    await registry.create({ deviceId: offlineId });
    created.add(offlineId);
    await assert.rejects(service.invokeDeviceMethod(offlineId, {
      methodName: 'reboot', payload: null, responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 0,
    }), httpError('offline device', 404, { code: 'DeviceNotOnline' }));
    // and DeviceNotFound for a device that does not exist
    await assert.rejects(service.invokeDeviceMethod(`interop-nodevice-${suffix}`, {
      methodName: 'reboot', responseTimeoutInSeconds: 5,
    }), httpError('unknown device', 404, { name: 'DeviceNotFoundError' }));
  });

  it('invokeDeviceMethod succeeds on a registry-created device connected with its generated key', async () => {
    const res = await registry.create({ deviceId: methodId });
    created.add(methodId);
    const key = res.responseBody.authentication.symmetricKey.primaryKey;
    device = sdkClient('device', DeviceClient, identityConnectionString(methodId, key), Mqtt);
    await withTimeout('device open', device.open(), OP_MS);
    device.onDeviceMethod('getStatus', (req, resp) => {
      resp.send(200, { ok: true, got: req.payload }, () => {});
    });
    device.onDeviceMethod('fail', (req, resp) => {
      resp.send(500, { reason: 'on purpose' }, () => {});
    });
    const r = await poll('invoke getStatus', () => service.invokeDeviceMethod(methodId, {
      methodName: 'getStatus', payload: 'plain string', responseTimeoutInSeconds: 5,
    }), { timeoutMs: 20000, intervalMs: 500 });
    assert.equal(r.result.status, 200);
    assert.deepEqual(r.result.payload, { ok: true, got: 'plain string' });
    // A device-reported error status is a successful HTTP call carrying that status.
    const f = await service.invokeDeviceMethod(methodId, { methodName: 'fail', responseTimeoutInSeconds: 5 });
    assert.equal(f.result.status, 500);
    assert.deepEqual(f.result.payload, { reason: 'on purpose' });
    // connectionState reflects the live connection
    const dev = (await registry.get(methodId)).responseBody;
    assert.equal(dev.connectionState, 'Connected');
  });
});
