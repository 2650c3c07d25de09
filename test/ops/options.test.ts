import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoopback, OPS_FLAGS, OPS_HELP, opsOptions } from '../../src/ops/options.ts';

describe('operations flags (issue 17)', () => {
  it('no flags: no server, info-level text logs', () => {
    assert.deepEqual(opsOptions({}, {}), {
      metrics: undefined,
      logLevel: 'info',
      logFormat: 'text',
      ui: false,
      stallTimeoutMs: 300_000,
    });
  });

  it('--ui serves the dashboard on the metrics server: on any free port unless --metrics-port says', () => {
    assert.deepEqual(opsOptions({ ui: true }, {}), {
      metrics: { host: '127.0.0.1', port: 0, token: undefined },
      logLevel: 'info',
      logFormat: 'text',
      ui: true,
      stallTimeoutMs: 300_000,
    });
    assert.equal(
      (opsOptions({ ui: true, 'metrics-port': '9464' }, {}) as { metrics: { port: number } }).metrics.port,
      9464,
    );
    assert.match(opsOptions({ ui: true, 'metrics-host': '0.0.0.0' }, {}) as string, /without a token/);
  });

  it('binds 127.0.0.1 by default; takes the token from the flag, else EDDY_METRICS_TOKEN', () => {
    assert.deepEqual(opsOptions({ 'metrics-port': '9464' }, {}), {
      metrics: { host: '127.0.0.1', port: 9464, token: undefined },
      logLevel: 'info',
      logFormat: 'text',
      ui: false,
      stallTimeoutMs: 300_000,
    });
    const env = { EDDY_METRICS_TOKEN: 'from-env' };
    assert.equal(
      (opsOptions({ 'metrics-port': '0' }, env) as { metrics: { token: string } }).metrics.token,
      'from-env',
    );
    const flag = opsOptions({ 'metrics-port': '0', 'metrics-token': 'from-flag' }, env);
    assert.equal((flag as { metrics: { token: string } }).metrics.token, 'from-flag');
  });

  it('refuses any host beyond loopback without a token, naming the fix; accepts it with one', () => {
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'eddy.example.com', '128.0.0.1']) {
      const refused = opsOptions({ 'metrics-port': '9464', 'metrics-host': host }, {});
      assert.equal(typeof refused, 'string', host);
      assert.match(
        refused as string,
        /without a token; set EDDY_METRICS_TOKEN=<secret> \(or pass --metrics-token <secret>\)/,
      );
      assert.match(refused as string, /leave --metrics-host out to bind 127\.0\.0\.1$/);
      const allowed = opsOptions(
        { 'metrics-port': '9464', 'metrics-host': host },
        { EDDY_METRICS_TOKEN: 't' },
      );
      assert.equal(typeof allowed, 'object', host);
    }
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'])
      assert.ok(isLoopback(host), host);
    assert.equal(typeof opsOptions({ 'metrics-port': '0', 'metrics-host': '::1' }, {}), 'object');
  });

  it('checks the port, the level and the format', () => {
    for (const port of ['', '-1', '65536', '1.5', 'http', '9464x'])
      assert.match(
        opsOptions({ 'metrics-port': port }, {}) as string,
        /--metrics-port must be a port number/,
        port,
      );
    assert.match(opsOptions({ 'log-level': 'verbose' }, {}) as string, /--log-level must be one of/);
    assert.match(opsOptions({ 'log-format': 'xml' }, {}) as string, /--log-format must be text or json/);
    assert.match(opsOptions({ 'metrics-port': '1', 'metrics-token': '' }, {}) as string, /must not be empty/);
    assert.match(opsOptions({ 'metrics-host': '0.0.0.0' }, {}) as string, /add --metrics-port/);
  });

  it('documents every flag in the help', () => {
    for (const [name, flag] of Object.entries(OPS_FLAGS))
      assert.match(OPS_HELP, new RegExp(flag.type === 'boolean' ? `--${name} ` : `--${name} <`));
    for (const line of OPS_HELP.split('\n')) assert.ok(line.length <= 102, line);
  });
});
