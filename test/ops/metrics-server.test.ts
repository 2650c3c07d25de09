/**
 * The metrics endpoint over real HTTP on 127.0.0.1 (issue 17): a scrape of
 * a running pipeline parsed as Prometheus text, its counts checked against
 * what the run did; readiness and liveness through a run's life; the token;
 * what is refused. Everything waits on conditions, never on fixed sleeps.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RunHealth } from '../../src/ops/health.ts';
import { startMetricsServer } from '../../src/ops/metrics-server.ts';
import { RunExporter } from '../../src/ops/prometheus.ts';
import { eventually, parseExposition } from './exposition.ts';
import { BASE_TIME, build, expected } from './fixtures/held-open.ts';

const loopback = { host: '127.0.0.1', port: 0, token: undefined };

async function scrape(url: string, init?: RequestInit) {
  const res = await fetch(`${url}/metrics`, init);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

async function probe(url: string, path: string) {
  const res = await fetch(`${url}${path}`);
  return {
    status: res.status,
    body: (await res.json()) as { status: string; phase: string; reason: string },
  };
}

describe('metrics server (issue 17)', () => {
  it('scrapes a running pipeline: counts equal what the source produced; ready only while running', {
    timeout: 60_000,
  }, async () => {
    const events = 5000;
    const { deadLetters, kept } = expected(events);
    const dir = mkdtempSync(join(tmpdir(), 'h7-metrics-'));
    const health = new RunHealth();
    const exporter = new RunExporter({ pipeline: 'held-open', runId: 'r1', mode: 'embedded', health });
    const server = await startMetricsServer(loopback, exporter, health);
    // Stopped in `finally` too: its source stays open, so a failed assertion would otherwise leave
    // it running and the test file would never end (it hung CI once).
    let started: Awaited<ReturnType<ReturnType<typeof build>['start']>> | undefined;
    try {
      // Loading and restoring: alive, not ready; a scrape already answers.
      assert.deepEqual((await probe(server.url, '/readyz')).status, 503);
      assert.equal((await probe(server.url, '/readyz')).body.phase, 'starting');
      assert.equal((await probe(server.url, '/healthz')).status, 200);
      const before = await scrape(server.url);
      assert.equal(before.get('eddy_ready'), 0);
      assert.equal(before.get('eddy_run_info', { pipeline: 'held-open', run_id: 'r1', mode: 'embedded' }), 1);
      assert.deepEqual(before.all('eddy_step_records_in_total'), []);

      const running = await build(events).start({
        hotKeys: true,
        checkpoints: { dir, intervalMs: 0 },
        onCheckpoint: (info) => exporter.observeCheckpoint(info),
      });
      started = running;
      exporter.attach(() => running.metrics());
      health.running();
      assert.equal((await probe(server.url, '/readyz')).status, 200);

      // The source stays open after its records: wait until the last step has seen every kept record.
      const m = await eventually(
        async () => {
          const x = await scrape(server.url);
          return x.get('eddy_step_records_in_total', { step: 'sum' }) === kept ? x : undefined;
        },
        30_000,
        `${kept} records into "sum"`,
      );
      assert.equal(m.get('eddy_step_records_out_total', { step: 'readings', kind: 'source' }), events);
      assert.equal(m.get('eddy_source_records_total'), events);
      assert.equal(m.get('eddy_step_records_in_total', { step: 'check', kind: 'map' }), events);
      assert.equal(m.get('eddy_step_dead_letters_total', { step: 'check' }), deadLetters);
      assert.equal(
        m.get('eddy_step_dead_letters_total', { step: 'check', code: 'EDDY_USER_FUNCTION_FAILED' }),
        deadLetters,
      );
      // The keyed reduce's seven keys come evenly: the heaviest has about 1/7 of its load.
      const hot = m.get('eddy_step_hot_key_share', { step: 'sum' })!;
      assert.ok(Math.abs(hot - 1 / 7) < 0.04, `hot key share ${hot}`);
      assert.equal(m.get('eddy_step_hot_key_share', { step: 'check' }), undefined);
      // Seven keys: seven entries in the keyed reduce's state.
      assert.equal(m.get('eddy_step_state_entries', { step: 'sum' }), 7);
      assert.equal(m.get('eddy_step_state_entries', { step: 'check' }), 0);
      assert.equal(m.get('eddy_step_records_out_total', { step: 'keep', kind: 'filter' }), kept);
      assert.equal(
        m.get('eddy_step_records_in_total', { step: 'dead-letter-out', kind: 'sink' }),
        deadLetters,
      );
      assert.equal(m.get('eddy_step_late_records_total', { step: 'sum' }), 0);
      assert.equal(m.get('eddy_ready'), 1);
      // Batch times: a summary whose count is the step's batches and whose sum is its busy time.
      const count = m.get('eddy_step_batch_duration_seconds_count', { step: 'sum' })!;
      assert.ok(count >= 1);
      assert.equal(m.types.get('eddy_step_batch_duration_seconds'), 'summary');
      assert.equal(
        m.get('eddy_step_batch_duration_seconds_sum', { step: 'sum' }),
        m.get('eddy_step_busy_seconds_total', { step: 'sum' }),
      );
      const p99 = m.get('eddy_step_batch_duration_seconds', { step: 'sum', quantile: '0.99' })!;
      assert.ok(p99 >= 0 && p99 <= m.get('eddy_step_batch_duration_max_seconds', { step: 'sum' })!);
      // Backpressure and alignment are sources' figures only.
      assert.ok(m.get('eddy_step_backpressure_seconds_total', { step: 'readings' })! >= 0);
      assert.equal(m.get('eddy_step_backpressure_seconds_total', { step: 'sum' }), undefined);
      // Watermarks in seconds: at most the last event's time, and behind now.
      const watermark = m.get('eddy_step_watermark_seconds', { step: 'readings' })!;
      assert.ok(
        watermark > BASE_TIME / 1000 && watermark <= (BASE_TIME + (events - 1) * 10) / 1000,
        `${watermark}`,
      );
      assert.ok(m.get('eddy_step_watermark_lag_seconds', { step: 'readings' })! > 0);
      // Process figures come from prom-client.
      assert.equal(m.types.get('process_cpu_user_seconds_total'), 'counter');

      // A checkpoint shows in the counters and the histograms.
      await running.checkpoint();
      const c = await scrape(server.url);
      assert.equal(c.get('eddy_checkpoints_completed_total'), 1);
      assert.equal(c.get('eddy_checkpoint_duration_seconds_count', { kind: 'checkpoint' }), 1);
      assert.equal(c.get('eddy_checkpoint_duration_seconds_bucket', { kind: 'checkpoint', le: '+Inf' }), 1);
      assert.ok(c.get('eddy_checkpoint_last_size_bytes')! > 0);
      assert.equal(c.get('eddy_checkpoint_last_id'), 1);
      assert.equal(c.get('eddy_restarts_total'), 0);

      // Draining, then finished: alive, not ready.
      health.stopping('stopping: SIGINT');
      assert.equal((await probe(server.url, '/readyz')).status, 503);
      running.stop();
      await running.done;
      health.finished();
      const ready = await probe(server.url, '/readyz');
      assert.equal(ready.status, 503);
      assert.equal(ready.body.phase, 'finished');
      assert.equal((await probe(server.url, '/healthz')).status, 200);
    } finally {
      started?.stop();
      await started?.done.catch(() => {});
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
    await assert.rejects(fetch(`${server.url}/healthz`), 'closed with the run');
  });

  it('answers only GET on /metrics, /healthz and /readyz', async () => {
    const health = new RunHealth();
    const exporter = new RunExporter({ pipeline: 'p', runId: 'r', mode: 'embedded', processMetrics: false });
    const server = await startMetricsServer(loopback, exporter, health);
    try {
      for (const path of ['/', '/metrics/', '/state/x', '/metricsx', '/favicon.ico']) {
        const res = await fetch(`${server.url}${path}`);
        assert.equal(res.status, 404, path);
        await res.body?.cancel();
      }
      const post = await fetch(`${server.url}/metrics`, { method: 'POST', body: 'x'.repeat(1 << 20) });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET');
      await post.body?.cancel();
      const query = await fetch(`${server.url}/healthz?verbose=1`);
      assert.equal(query.status, 200);
      await query.body?.cancel();
    } finally {
      await server.close();
    }
  });

  it('with a token: 401 without it or with another, 200 with it, on every path', async () => {
    const health = new RunHealth();
    health.running();
    const exporter = new RunExporter({ pipeline: 'p', runId: 'r', mode: 'embedded', processMetrics: false });
    const server = await startMetricsServer({ ...loopback, token: 's3cret' }, exporter, health);
    try {
      for (const path of ['/metrics', '/healthz', '/readyz', '/nope']) {
        for (const authorization of [
          undefined,
          'Bearer wrong',
          'Bearer s3cret2',
          's3cret',
          'Basic czNjcmV0',
        ]) {
          const res = await fetch(
            `${server.url}${path}`,
            authorization === undefined ? {} : { headers: { authorization } },
          );
          assert.equal(res.status, 401, `${path} ${authorization}`);
          assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
          await res.body?.cancel();
        }
        const ok = await fetch(`${server.url}${path}`, { headers: { authorization: 'Bearer s3cret' } });
        assert.equal(ok.status, path === '/nope' ? 404 : 200, path);
        await ok.body?.cancel();
      }
    } finally {
      await server.close();
    }
  });

  it('refuses to listen beyond loopback without a token, before binding', async () => {
    const exporter = new RunExporter({ pipeline: 'p', runId: 'r', mode: 'embedded', processMetrics: false });
    for (const host of ['0.0.0.0', '::', '192.0.2.1'])
      await assert.rejects(
        startMetricsServer({ host, port: 0, token: undefined }, exporter, new RunHealth()),
        /without a token; set EDDY_METRICS_TOKEN/,
      );
  });

  it('says why the port cannot be had', async () => {
    const exporter = new RunExporter({ pipeline: 'p', runId: 'r', mode: 'embedded', processMetrics: false });
    const first = await startMetricsServer(loopback, exporter, new RunHealth());
    try {
      await assert.rejects(
        startMetricsServer({ ...loopback, port: first.port }, exporter, new RunHealth()),
        /EADDRINUSE.*pick another --metrics-port/,
      );
    } finally {
      await first.close();
    }
  });

  it('a failed run is not alive; a restarting one is alive and not ready', async () => {
    const health = new RunHealth();
    const exporter = new RunExporter({
      pipeline: 'p',
      runId: 'r',
      mode: 'embedded',
      health,
      processMetrics: false,
    });
    const server = await startMetricsServer(loopback, exporter, health);
    try {
      health.running();
      health.restarting(1, 60_000, new Error('the sink failed\nat stack'));
      const restarting = await probe(server.url, '/readyz');
      assert.equal(restarting.status, 503);
      assert.equal(restarting.body.phase, 'restarting');
      assert.match(restarting.body.reason, /^restart 1 after a failure \(the sink failed\)/);
      assert.equal((await probe(server.url, '/healthz')).status, 200);
      health.failed(new Error('the run failed 11 times within 600000 ms (restart limit: 10)'));
      const dead = await probe(server.url, '/healthz');
      assert.equal(dead.status, 503);
      assert.deepEqual(dead.body, {
        status: 'unavailable',
        phase: 'failed',
        reason: 'failed: the run failed 11 times within 600000 ms (restart limit: 10)',
      });
      health.running(); // a failed run stays failed
      assert.equal((await probe(server.url, '/readyz')).status, 503);
    } finally {
      await server.close();
    }
  });
});
