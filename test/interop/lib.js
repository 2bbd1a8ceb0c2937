// Shared helpers for the interop scenarios: environment, pre-flight checks,
// the outpost CLI (monitor, c2d send) and bounded polling.
'use strict';

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const tls = require('node:tls');
const readline = require('node:readline');

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

/** keyOf returns SharedAccessKey from a connection string. */
function keyOf(connectionString) {
  const m = /(?:^|;)SharedAccessKey=([^;]+)/i.exec(connectionString);
  return m ? m[1] : '';
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
 * normalizeEvent turns one `outpost monitor --properties` line into
 * {deviceId, moduleId, systemProperties, properties, body, enqueuedTime}. It reads the
 * az-CLI shape {"event":{"origin","module","payload","annotations","properties":{"system","application"}}}
 * and also the cloud's EventJSON shape {"deviceId","systemProperties","properties","body",...}.
 */
function normalizeEvent(line) {
  if (line && line.event && typeof line.event === 'object') {
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
  return { ...line, raw: line };
}

/**
 * Monitor runs `outpost monitor --device ID [--module M] --timeout T` and collects the JSON
 * events it prints, one per line.
 */
class Monitor {
  constructor(deviceId, timeout = '30s', { moduleId } = {}) {
    this.events = [];
    this.stderr = '';
    this.exited = null;
    this._waiters = [];
    // --properties: include system/application properties (az iot hub monitor-events style).
    const args = ['monitor', '--device', deviceId, '--properties', '--timeout', timeout];
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
        this.stderr += `unparsable stdout line: ${text}\n`;
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

  stop() {
    if (this.exited === null) this.proc.kill('SIGTERM');
  }
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

/**
 * pick returns the first present value among keys of obj (the event JSON may
 * name system properties either in edgeHub style or in AMQP/Event Hubs style).
 */
function pick(obj, ...keys) {
  if (!obj) return undefined;
  for (const k of keys) {
    if (obj[k] !== undefined && obj[k] !== null) return obj[k];
  }
  return undefined;
}

module.exports = {
  env, hostOf, keyOf, deviceIdOf, preflight, outpost, Monitor, normalizeEvent, poll, withTimeout, pick, tlsCheck, describeError,
};
