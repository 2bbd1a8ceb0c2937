// Reproduces a cloud race (not part of the suite; `node --test` does not run it): an identity
// change (here: the device is disabled) that lands between the CONNACK and the moment the cloud
// records the connection is missed, so the connection stays up with a disabled identity and its
// telemetry is still accepted.
//
// The window is microseconds on an idle machine; widen it deterministically by delaying the
// return of every write(2) of the cloud (the CONNACK reaches the client, the connection goroutine
// then stalls before it marks itself ready and calls session.Online):
//
//   strace -f -qq -e trace=write -e inject=write:delay_exit=300000 -o /dev/null \
//     outpost cloud serve --data /tmp/hub --hostname localhost \
//       --mqtt-listen 127.0.0.1:8883 --https-listen 127.0.0.1:443 --metrics-listen '' &
//   export OUTPOST_CONNECTION_STRING="$(outpost cloud connection-string --data /tmp/hub)"
//   export NODE_EXTRA_CA_CERTS=/tmp/hub/ca.pem
//   KIND=device N=3 node repro-connack-race.js     # or KIND=module
//
// Expected: "0/N connections survived". Observed (commit 13a89d3): "N/N survived", each with
// status=disabled and sendEvent accepted.
'use strict';

const crypto = require('node:crypto');
const { ModuleClient, Client: DeviceClient, Message } = require('azure-iot-device');
const { NoRetry } = require('azure-iot-common');
const { Mqtt } = require('azure-iot-device-mqtt');
const { Registry } = require('azure-iothub');
const { env, hostOf } = require('./lib');

(async () => {
  const registry = Registry.fromConnectionString(env('OUTPOST_CONNECTION_STRING'));
  const host = hostOf(env('OUTPOST_CONNECTION_STRING'));
  const deviceId = `race-${crypto.randomBytes(3).toString('hex')}`;
  const dev = (await registry.create({ deviceId })).responseBody;
  const n = Number(process.env.N) || 3;
  const kind = process.env.KIND || 'device';
  let survived = 0;
  for (let i = 0; i < n; i++) {
    let client;
    if (kind === 'module') {
      const mod = (await registry.addModule({ deviceId, moduleId: `m${i}` })).responseBody;
      client = ModuleClient.fromConnectionString(
        `HostName=${host};DeviceId=${deviceId};ModuleId=m${i};SharedAccessKey=${mod.authentication.symmetricKey.primaryKey}`, Mqtt);
    } else {
      client = DeviceClient.fromConnectionString(
        `HostName=${host};DeviceId=${deviceId};SharedAccessKey=${dev.authentication.symmetricKey.primaryKey}`, Mqtt);
    }
    client.setRetryPolicy(new NoRetry());
    client.on('error', () => {});
    let disconnected = false;
    client.on('disconnect', () => { disconnected = true; });
    await client.open(); // resolves on CONNACK
    await registry.update({ deviceId, status: 'disabled' }); // must disconnect every connection of the device
    for (let j = 0; j < 100 && !disconnected; j++) await new Promise((r) => setTimeout(r, 50));
    if (!disconnected) {
      survived++;
      const st = (await registry.get(deviceId)).responseBody;
      let sent;
      try {
        await Promise.race([client.sendEvent(new Message('after disable')),
          new Promise((_, reject) => setTimeout(() => reject(new Error('no PUBACK within 5 s')), 5000))]);
        sent = 'accepted';
      } catch (err) { sent = `refused (${err.message})`; }
      console.log(`${kind} ${i}: still connected 5 s after the disable; status=${st.status}; sendEvent ${sent}`);
    }
    try { await client.close(); } catch { /* closed */ }
    await registry.update({ deviceId, status: 'enabled' });
  }
  console.log(`${kind}: ${survived}/${n} connections survived disabling their device (want 0)`);
  await registry.delete(deviceId);
  process.exit(survived ? 1 : 0);
})().catch((err) => { console.error(err); process.exit(2); });
