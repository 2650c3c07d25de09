/**
 * Debian's Chromium (`apt install chromium`; `.ci/run` installs it), driven
 * by playwright-core — never a downloaded browser. Without it a test skips
 * locally and fails under CI=true, where no suite may be skipped.
 */
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = process.env['EDDY_CHROMIUM'] ?? '/usr/bin/chromium';

/** The browser, or undefined (the test skipped) when it is not installed and CI is not set. */
export async function launchChromium(t: TestContext): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) {
    if (process.env['CI'] === 'true')
      throw new Error(`${CHROMIUM} is missing; .ci/run installs it (apt-get install -y chromium)`);
    t.skip(`${CHROMIUM} is not installed (apt-get install -y chromium)`);
    return undefined;
  }
  // The flags keep this machine's closed network out of Chromium's way (no background fetches, no QUIC).
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
