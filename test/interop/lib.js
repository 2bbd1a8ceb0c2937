// Shared helpers for the interop scenarios: environment, pre-flight checks, the outpost CLI
// (monitor, c2d send), SDK clients, bounded polling, and the twin and method checks the device
// and module scenarios share.
'use strict';

const { spawn, execFile } = require('node:child_process');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const tls = require('node:tls');
const readline = require('node:readline');

const { NoRetry } = require('azure-iot-common');

const OP_MS = 10000; // bound for one SDK operation

const HOW_TO_RUN =
  'run the suite through `go test ./test/interop/` from the module root (it starts the cloud and ' +
  'sets the environment), or see test/interop/README.md to run it against a cloud you started';

/** env returns the variable or throws an error that says how to run the suite. */
function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`interop: environment variable ${name} is not set; ${HOW_TO_RUN}`);
  }
  return v;
}

/** hostOf returns HostName from a connection string. */
function hostOf(connectionString) {
  const m = /(?:^|;)HostName=([^;]+)/i.exec(connectionString);
  if (!m) throw new Error('interop: connection string has no HostName');
  return m[1];
}

/** deviceIdOf returns DeviceId from a device connection string. */
function deviceIdOf(connectionString) {
  const m = /(?:^|;)DeviceId=([^;]+)/i.exec(connectionString);
  if (!m) throw new Error('interop: connection string has no DeviceId');
  return m[1];
}

/**
 * tlsCheck resolves when host:port completes a TLS handshake whose certificate
 * verifies against Node's CA store (which includes NODE_EXTRA_CA_CERTS) within timeoutMs.
 */
function tlsCheck(host, port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host, port, servername: host });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      sock.end();
      resolve();
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * preflight checks that the environment is set and that the cloud named by the
 * service connection string listens on 8883 (MQTT) and 443 (HTTPS, MQTT-WS).
 * It throws one clear error otherwise, so a missing cloud fails fast.
 */
async function preflight(extraVars) {
  for (const name of ['OUTPOST_CONNECTION_STRING', ...(extraVars || [])]) env(name);
  const caFile = process.env.NODE_EXTRA_CA_CERTS;
  if (!caFile || !fs.existsSync(caFile)) {
    throw new Error(`interop: NODE_EXTRA_CA_CERTS must name the cloud's ca.pem (got ${JSON.stringify(caFile)}); ` +
      `it has to be set when node starts; ${HOW_TO_RUN}`);
  }
  const host = hostOf(env('OUTPOST_CONNECTION_STRING'));
  for (const port of [443, 8883]) {
    try {
      await tlsCheck(host, port, 3000);
    } catch (err) {
      if (err.code && /CERT|SELF_SIGNED|ALTNAME|VERIFY/.test(err.code)) {
        throw new Error(`interop: TLS to ${host}:${port} failed verification (${err.code}: ${err.message}); ` +
          `the server certificate must chain to ${caFile} and name ${host}`);
      }
      throw new Error(`interop: the outpost cloud is not reachable at ${host}:${port} (${err.message}); ` +
        `start it with \`outpost cloud serve --hostname ${host} --mqtt-listen 127.0.0.1:8883 ` +
        `--https-listen 127.0.0.1:443\` or ${HOW_TO_RUN}`);
    }
  }
}

/** cliEnv is the environment for the outpost CLI. */
function cliEnv() {
  return {
    ...process.env,
    OUTPOST_CONNECTION_STRING: env('OUTPOST_CONNECTION_STRING'),
    OUTPOST_CA_FILE: env('OUTPOST_CA_FILE'),
    OUTPOST_ENDPOINT: env('OUTPOST_ENDPOINT'),
  };
}

/** outpost runs the CLI with args and resolves with {stdout, stderr}; rejects on non-zero exit. */
function outpost(args, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    execFile(env('OUTPOST_BIN'), args, { env: cliEnv(), timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`interop: outpost ${args.join(' ')}: ${err.message}\nstderr: ${stderr}`));
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}

/**
 * normalizeEvent turns one `outpost monitor --properties` line, in the az-CLI shape
 * {"event":{"origin","module","payload","annotations","properties":{"system","application"}}},
 * into {deviceId, moduleId, systemProperties, properties, body, enqueuedTime, raw}.
 */
function normalizeEvent(line) {
  if (!line || !line.event || typeof line.event !== 'object') {
    throw new Error('not {"event":{...}}');
  }
  const e = line.event;
  const props = e.properties || {};
  const ann = e.annotations || {};
  return {
    deviceId: e.origin,
    moduleId: e.module || '',
    systemProperties: props.system || {},
    properties: props.application || {},
    body: e.payloadEncoding === 'base64' ? Buffer.from(e.payload, 'base64').toString() : e.payload,
    enqueuedTime: ann['x-opt-enqueued-time'],
    raw: line,
  };
}

/**
 * Monitor runs `outpost monitor --device ID [--module M] --from start --timeout T` and collects
 * the JSON events it prints, one per line. --from start replays the retained events first, so an
 * event stored before the monitor attached is printed too.
 */
class Monitor {
  constructor(deviceId, timeout = '30s', { moduleId } = {}) {
    this.events = [];
    this.stderr = '';
    this.exited = null;
    this._waiters = [];
    // --properties: include system/application properties (az iot hub monitor-events style).
    const args = ['monitor', '--device', deviceId, '--properties', '--from', 'start', '--timeout', timeout];
    if (moduleId) args.push('--module', moduleId);
    this.proc = spawn(env('OUTPOST_BIN'), args, {
      env: cliEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const text = line.trim();
      if (!text) return;
      try {
        this.events.push(normalizeEvent(JSON.parse(text)));
      } catch (err) {
        this.stderr += `unexpected stdout line (${err.message}): ${text}\n`;
      }
      this._wake();
    });
    this.proc.stderr.on('data', (d) => { this.stderr += d.toString(); });
    this.proc.on('exit', (code, signal) => {
      this.exited = { code, signal };
      this._wake();
    });
    this.proc.on('error', (err) => {
      this.exited = { error: err };
      this._wake();
    });
  }

  _wake() {
    const w = this._waiters;
    this._waiters = [];
    for (const f of w) f();
  }

  /** changed resolves on the next event or exit (or after ms). */
  changed(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this._waiters.push(() => { clearTimeout(t); resolve(); });
    });
  }

  /** waitFor resolves with the first event for which pred is true, or undefined after ms or at exit. */
  async waitFor(pred, ms) {
    const until = Date.now() + ms;
    for (;;) {
      const found = this.events.find(pred);
      if (found || this.exited || Date.now() >= until) return found;
      await this.changed(until - Date.now());
    }
  }

  /**
   * sendAndSee sends msg (with a new messageId) through send (client.sendEvent unless given)
   * and resolves with the event this monitor prints for it, failing if none is printed within
   * timeoutMs.
   */
  async sendAndSee(what, client, msg, timeoutMs = 25000, send = (m) => client.sendEvent(m)) {
    msg.messageId = crypto.randomUUID();
    await withTimeout(`${what}: send`, send(msg), OP_MS);
    const found = await this.waitFor((e) => e.systemProperties['message-id'] === msg.messageId, timeoutMs);
    if (found) return found;
    if (this.exited) {
      throw new Error(`interop: outpost monitor exited early: ${JSON.stringify(this.exited)} stderr=${this.stderr}`);
    }
    throw new Error(`interop: no ${what} seen by outpost monitor within ${timeoutMs} ms; ` +
      `stderr=${this.stderr} events=${JSON.stringify(this.events).slice(0, 2000)}`);
  }

  stop() {
    if (this.exited === null) this.proc.kill('SIGTERM');
  }
}

/**
 * identityConnectionString is the connection string of a device (or, with moduleId, a module)
 * on the hub named by OUTPOST_CONNECTION_STRING.
 */
function identityConnectionString(deviceId, key, moduleId) {
  const mod = moduleId ? `;ModuleId=${moduleId}` : '';
  return `HostName=${hostOf(env('OUTPOST_CONNECTION_STRING'))};DeviceId=${deviceId}${mod};SharedAccessKey=${key}`;
}

/**
 * sdkClient makes an azure-iot-device Client or ModuleClient (not yet open) that never retries:
 * a cloud bug must surface as a failure, not be hidden by reconnects. Its 'error' events go to
 * onError (default: logged).
 */
function sdkClient(label, Client, cs, Transport, onError) {
  const c = Client.fromConnectionString(cs, Transport);
  c.setRetryPolicy(new NoRetry());
  c.on('error', onError || ((err) => { console.error(`${label} error: ${err}`); }));
  return c;
}

/** closeClient closes an SDK client within OP_MS; a failure (e.g. never opened) is logged, not thrown. */
async function closeClient(label, c) {
  try { await withTimeout(`${label} close`, c.close(), OP_MS); } catch (err) { console.error(String(err)); }
}

/** updateReported applies a reported-properties patch through a client-side twin, bounded. */
function updateReported(what, twin, patch) {
  return withTimeout(what, new Promise((resolve, reject) => {
    twin.properties.reported.update(patch, (err) => (err ? reject(err) : resolve()));
  }), OP_MS);
}

/**
 * desiredNotification repeats trigger(n) (a service-side change, n = 1, 2, ...) until the
 * client-side twin emits a 'properties.desired' delta for which match is true, and returns that
 * delta. The SDK subscribes asynchronously and gives no signal, so one trigger may go unnoticed.
 */
async function desiredNotification(what, twin, match, trigger) {
  const seen = [];
  let wake = () => {};
  const onDelta = (delta) => { seen.push(delta); wake(); };
  twin.on('properties.desired', onDelta);
  let n = 0;
  try {
    return await poll(what, async () => {
      n++;
      await trigger(n);
      const until = Date.now() + 2000;
      for (;;) {
        const h = seen.find((d) => d && match(d));
        if (h || Date.now() >= until) return h;
        await new Promise((r) => { wake = r; setTimeout(r, until - Date.now()); });
      }
    }, { timeoutMs: 20000, intervalMs: 10 });
  } finally {
    twin.removeListener('properties.desired', onDelta);
  }
}

/**
 * checkReportedRoundTrip (device or module): the client's twin has both $versions; a reported
 * patch made through it is read back by readTwin (the service's twin document), and a null
 * deletes a member. It returns the service's twin as read after the patch.
 */
async function checkReportedRoundTrip(label, transport, client, readTwin) {
  const twin = await withTimeout(`${label} getTwin`, client.getTwin(), OP_MS);
  assert.equal(typeof twin.properties.desired.$version, 'number', 'desired.$version');
  assert.equal(typeof twin.properties.reported.$version, 'number', 'reported.$version');
  const stamp = crypto.randomUUID();
  await updateReported(`${label} reported update`, twin,
    { interop: { stamp, transport, nested: { n: 42 } }, firmware: '1.2.3' });
  const got = await readTwin();
  const reported = got.properties.reported;
  assert.equal(reported.interop.stamp, stamp);
  assert.equal(reported.interop.transport, transport);
  assert.equal(reported.interop.nested.n, 42);
  assert.equal(reported.firmware, '1.2.3');
  // A null deletes the member (JSON merge patch).
  await updateReported(`${label} reported delete`, twin, { firmware: null });
  const after = (await readTwin()).properties.reported;
  assert.ok(!('firmware' in after), 'reported.firmware deleted by null');
  assert.equal(after.interop.stamp, stamp);
  return got;
}

/**
 * checkDesiredNotified (device or module): a desired patch made with updateTwin(patch) reaches the
 * client as a 'properties.desired' notification with $version, is merged into the client's twin,
 * and readTwin (the service's twin document) agrees.
 */
async function checkDesiredNotified(label, client, updateTwin, readTwin) {
  const twin = await withTimeout(`${label} getTwin`, client.getTwin(), OP_MS);
  const probe = crypto.randomUUID();
  const hit = await desiredNotification(`${label} desired notification`, twin, (d) => d.probe === probe,
    (n) => updateTwin({ properties: { desired: { probe, n, settings: { rate: 5 } } } }));
  assert.equal(typeof hit.$version, 'number', 'desired patch carries $version');
  assert.equal(hit.settings.rate, 5);
  assert.equal(twin.properties.desired.probe, probe, 'merged into twin.properties.desired');
  const svc = await readTwin();
  assert.equal(svc.properties.desired.probe, probe);
  assert.ok(svc.properties.desired.$version >= hit.$version, 'service $version >= notified $version');
}

/**
 * checkEchoMethod (device or module): a method 'echo' registered with onMethod (the client's
 * onDeviceMethod or onMethod) answers status with the JSON payload and the method name; invoke
 * (the service call) is repeated while the SDK's asynchronous subscription is not yet active
 * (the hub answers 404 until then).
 */
async function checkEchoMethod(label, onMethod, invoke, status, payload) {
  const calls = [];
  onMethod('echo', (request, response) => {
    calls.push(request);
    response.send(status, { echo: request.payload, method: request.methodName }, (err) => {
      if (err) console.error(`${label} method response send failed: ${err}`);
    });
  });
  const res = await poll(`${label} invoke echo`, () => invoke({
    methodName: 'echo', payload, responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 0,
  }), { timeoutMs: 20000, intervalMs: 500 });
  assert.equal(res.result.status, status, 'status code round-trips');
  assert.deepEqual(res.result.payload, { echo: payload, method: 'echo' }, 'payload round-trips');
  assert.ok(calls.length >= 1);
  assert.deepEqual(calls[calls.length - 1].payload, payload, 'the client saw the JSON payload');
}

/**
 * poll calls fn until it returns a truthy value or the deadline passes; it
 * waits intervalMs between tries. The last error (if any) is reported.
 */
async function poll(what, fn, { timeoutMs = 15000, intervalMs = 500 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastErr = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`interop: ${what}: not done within ${timeoutMs} ms` +
        (lastErr ? `; last error: ${describeError(lastErr)}` : ''));
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** describeError includes the HTTP status and body the service SDK attaches to its errors. */
function describeError(err) {
  let s = `${err.name}: ${err.message}`;
  if (err.response && err.response.statusCode) s += ` (HTTP ${err.response.statusCode})`;
  if (err.responseBody) s += ` body: ${String(err.responseBody).slice(0, 500)}`;
  return s;
}

/**
 * httpError returns an assert.rejects validator for a service SDK error: HTTP status, and when
 * given the SDK's error name and the IoT Hub ErrorCode in the body. (azure-iothub maps a 404 whose
 * code is not DeviceNotFound/IotHubNotFound to a plain Error('Not found'): check code, not name.)
 */
function httpError(what, status, { name, code } = {}) {
  return (err) => {
    assert.equal(err.response && err.response.statusCode, status, `${what}: want HTTP ${status}, got ${describeError(err)}`);
    if (name) assert.equal(err.name, name, `${what}: got ${describeError(err)}`);
    if (code) assert.match(String(err.responseBody), new RegExp(`ErrorCode:${code}\\b`), `${what}: body names ${code}`);
    return true;
  };
}

/** withTimeout rejects if p does not settle within ms. */
function withTimeout(what, p, ms) {
  let t;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`interop: ${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

module.exports = {
  OP_MS, env, deviceIdOf, preflight, outpost, Monitor, poll, withTimeout, httpError,
  identityConnectionString, sdkClient, closeClient, updateReported, desiredNotification,
  checkReportedRoundTrip, checkDesiredNotified, checkEchoMethod,
};
