/**
 * The live dashboard (issue 17, `eddy run --ui`): the committed bundle is
 * what its sources build; the server guards it as it guards /metrics; and in
 * Debian's Chromium the page of a real run — embedded and on two worker
 * threads — shows the job graph, the steps' counts (equal to what the input
 * makes), checkpoints and dead letters with their reason, and says when the
 * run has gone.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Dashboard } from '../../src/ops/dashboard.ts';
import type { DashboardInit } from '../../src/ops/dashboard-state.ts';
import { RunHealth } from '../../src/ops/health.ts';
import { startMetricsServer } from '../../src/ops/metrics-server.ts';
import { RunExporter } from '../../src/ops/prometheus.ts';
import { buildDashboard } from '../../web/build.ts';
import { launchChromium } from './browser.ts';
import { eventually } from './exposition.ts';
import { build, expected } from './fixtures/held-open.ts';

const bin = new URL('../../bin/eddy.js', import.meta.url).pathname;
const heldOpen = new URL('./fixtures/held-open.ts', import.meta.url).pathname;
/** Where the screenshots go (the repository's test-artifacts/, ignored by git). */
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;

describe('live dashboard (issue 17)', () => {
  it('the committed bundle in web/dist is what npm run build:ui makes from web/dashboard', async () => {
    for (const [name, text] of await buildDashboard())
      assert.equal(
        readFileSync(new URL(`../../web/dist/${name}`, import.meta.url), 'utf8'),
        text,
        `web/dist/${name} is stale: run npm run build:ui and commit web/dist`,
      );
  });

  it('is served only with --ui, only for loopback Hosts without a token, and behind the token with one', async () => {
    const health = new RunHealth();
    const exporter = new RunExporter({
      pipeline: 'p',
      runId: 'r',
      mode: 'embedded',
      health,
      processMetrics: false,
    });
    const plain = await startMetricsServer(
      { host: '127.0.0.1', port: 0, token: undefined },
      exporter,
      health,
    );
    const dashboard = new Dashboard({ pipeline: 'p', runId: 'r', mode: 'embedded', parallelism: 1, health });
    const p = build(10);
    dashboard.setGraph(p.graph());
    const ui = await startMetricsServer(
      { host: '127.0.0.1', port: 0, token: undefined },
      exporter,
      health,
      dashboard,
    );
    const guarded = await startMetricsServer(
      { host: '127.0.0.1', port: 0, token: 's3cret' },
      exporter,
      health,
      dashboard,
    );
    try {
      assert.equal((await fetch(`${plain.url}/`)).status, 404);
      const page = await fetch(`${ui.url}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
      assert.match(await page.text(), /<script type="module" src="\/dashboard.js">/);
      assert.equal(
        (await fetch(`${ui.url}/dashboard.js`)).headers.get('content-type'),
        'text/javascript; charset=utf-8',
      );
      assert.equal((await fetch(`${ui.url}/../package.json`)).status, 404);
      assert.equal((await fetch(`${ui.url}/api/state`, { method: 'POST' })).status, 405);
      // A page elsewhere that a DNS name rebinds to 127.0.0.1 sends its own Host: refused.
      const rebound = await rawGet(ui.port, '/api/state', { Host: 'evil.example:80' });
      assert.equal(rebound.status, 403);
      assert.match(rebound.body, /evil\.example/);

      const init = await firstEvent(`${ui.url}/api/events`);
      assert.equal(init.pipeline, 'p');
      assert.deepEqual(
        init.graph?.nodes.map((n) => n.id),
        ['dead-letters', 'readings', 'check', 'keep', 'by-key', 'sum', 'out', 'dead-letter-out'],
      );
      assert.ok(init.graph?.edges.some((e) => e.from === 'by-key' && e.to === 'sum' && e.output === 'main'));

      assert.equal((await fetch(`${guarded.url}/`)).status, 401);
      assert.equal((await fetch(`${guarded.url}/api/state`)).status, 401);
      assert.equal((await fetch(`${guarded.url}/?token=wrong`, { redirect: 'manual' })).status, 401);
      const login = await fetch(`${guarded.url}/?token=s3cret`, { redirect: 'manual' });
      assert.equal(login.status, 303);
      assert.equal(login.headers.get('location'), '/');
      const cookie = login.headers.get('set-cookie') ?? '';
      assert.match(cookie, /^eddy_token=s3cret; HttpOnly; SameSite=Strict/);
      const withCookie = { headers: { cookie: cookie.split(';')[0]! } };
      assert.equal((await fetch(`${guarded.url}/`, withCookie)).status, 200);
      assert.equal((await fetch(`${guarded.url}/api/state`, withCookie)).status, 200);
      assert.equal((await fetch(`${guarded.url}/metrics`, withCookie)).status, 200);
      assert.equal(
        (await fetch(`${guarded.url}/api/state`, { headers: { authorization: 'Bearer s3cret' } })).status,
        200,
      );
      assert.equal(
        (await fetch(`${guarded.url}/api/state`, { headers: { cookie: 'eddy_token=nope' } })).status,
        401,
      );
      // With a token the Host does not matter (that is how it is reached from elsewhere).
      assert.equal(
        (
          await rawGet(guarded.port, '/healthz', {
            Host: 'eddy.internal:9464',
            Authorization: 'Bearer s3cret',
          })
        ).status,
        200,
      );
    } finally {
      dashboard.close();
      await Promise.all([plain.close(), ui.close(), guarded.close()]);
    }
  });

  for (const parallelism of [1, 2])
    it(`in Chromium, shows a run ${parallelism === 1 ? 'embedded' : 'on 2 worker threads'}: graph, counts, checkpoints, dead letters; then that it ended`, {
      timeout: 120_000,
    }, async (t) => {
      const browser = await launchChromium(t);
      if (browser === undefined) return;
      const events = 20_000;
      const { deadLetters, kept } = expected(events);
      const dir = mkdtempSync(join(tmpdir(), 'h7-ui-'));
      const child = spawn(
        process.execPath,
        [
          bin,
          'run',
          heldOpen,
          '--ui',
          '--events',
          String(events),
          '--parallelism',
          String(parallelism),
          '--quiet',
          '--checkpoint-dir',
          join(dir, 'c'),
          '--savepoint-dir',
          join(dir, 's'),
          '--checkpoint-interval',
          '300',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        const url = await eventually(
          async () => /eddy: dashboard on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr)?.[1],
          30_000,
          `the dashboard's address on stderr (stderr: ${stderr})`,
        );
        const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        page.on('console', (m) => {
          if (m.type() === 'error') errors.push(m.text());
        });
        await page.goto(url);
        // The graph: every step the pipeline declares, in the order data flows.
        await page.waitForSelector('svg#graph g.step[data-step="sum"]', { timeout: 30_000 });
        const drawn = await page.$$eval('svg#graph g.step', (gs) =>
          gs.map((g) => g.getAttribute('data-step')),
        );
        assert.deepEqual([...drawn].sort(), [
          'by-key',
          'check',
          'dead-letter-out',
          'dead-letters',
          'keep',
          'out',
          'readings',
          'sum',
        ]);
        // Counts: the source read every event, the keyed reduce saw every kept one (merged over threads).
        await page.waitForSelector(`svg#graph g.step[data-step="sum"][data-records-in="${kept}"]`, {
          timeout: 60_000,
        });
        const cells = async (step: string) =>
          page.$$eval(`#steps tr[data-step="${step}"] td`, (tds) => tds.map((td) => td.textContent));
        assert.equal((await cells('readings'))[4], events.toLocaleString('en-US'));
        assert.equal((await cells('keep'))[4], kept.toLocaleString('en-US'));
        // Seven keys in the keyed reduce's state; with checkpoints every 300 ms, their size too.
        await page.waitForFunction(
          'document.querySelector(\'#steps tr[data-step="sum"]\')?.children[12]?.textContent?.startsWith("7 · ")',
          null,
          { timeout: 30_000 },
        );
        // Dead letters by step and code, with the reason the user function gave.
        await page.waitForSelector(
          '#dead-letters tr[data-step="check"][data-code="EDDY_USER_FUNCTION_FAILED"]',
        );
        const letter = await page.$$eval('#dead-letters tr[data-step="check"] td', (tds) =>
          tds.map((td) => td.textContent),
        );
        assert.equal(letter[2], deadLetters.toLocaleString('en-US'));
        assert.match(letter[3] ?? '', /reading \d+ is unlucky/);
        // Hot keys of the keyed reduce: its seven keys k0..k6 come evenly, so each has about 1/7.
        const hot = await page.$$eval('#hot-keys tr[data-step="sum"]', (trs) =>
          trs.map((tr) => [tr.getAttribute('data-key'), tr.children[2]?.textContent]),
        );
        assert.equal(hot.length, 5, JSON.stringify(hot));
        for (const [key, share] of hot) {
          assert.match(key ?? '', /^k[0-6]$/);
          assert.ok(Math.abs(Number.parseInt(share ?? '', 10) - 14) <= 3, `${key}: ${share}`);
        }
        assert.match((await page.textContent('#scale')) ?? '', /^DS2: /);
        // Checkpoints (every 300 ms) arrive in the history; the charts draw.
        await page.waitForSelector('#checkpoints tr[data-result="ok"]', { timeout: 30_000 });
        assert.match(
          (await page.textContent('#checkpoint-summary')) ?? '',
          /^[1-9][\d,]* completed, 0 failed$/,
        );
        assert.equal(await page.locator('#chart-rate canvas').count(), 1);
        assert.equal(await page.locator('#chart-process canvas').count(), 1);
        assert.equal(await page.textContent('#phase'), 'running');
        assert.match(
          (await page.textContent('#facts')) ?? '',
          parallelism === 1 ? /^embedded · run / : /^threads × 2 · run /,
        );
        // Kept as the test's artefact (test-artifacts/, not committed), for a person to look at.
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: join(ARTIFACTS, `dashboard-p${parallelism}.png`), fullPage: true });
        // Stopped (a savepoint), the server goes: the page says so.
        child.kill('SIGTERM');
        assert.equal(await exited, 0, stderr);
        await page.waitForSelector('#phase[data-phase="disconnected"]', { timeout: 30_000 });
        assert.deepEqual(errors, []);
      } finally {
        child.kill('SIGKILL');
        await browser.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
});

/** A GET with headers fetch() would not send as given (Host). */
async function rawGet(
  port: number,
  path: string,
  headers: Readonly<Record<string, string>>,
): Promise<{ status: number; body: string }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The first Server-Sent Event's data of `url` (the `init` message). */
async function firstEvent(url: string): Promise<DashboardInit> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = res.body!.getReader();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended before its first event: ${text}`);
      text += new TextDecoder().decode(value);
      const end = text.indexOf('\n\n', text.indexOf('event: init'));
      if (end >= 0) {
        const data = /event: init\ndata: (.*)/.exec(text.slice(0, end))?.[1];
        return JSON.parse(data!) as DashboardInit;
      }
    }
  } finally {
    controller.abort();
  }
}
