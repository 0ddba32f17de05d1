import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';

/**
 * Debian's Chromium driven by playwright-core: Playwright's own browser downloads need a
 * network these machines lack, and the distribution's build is what `.ci/run` installs.
 * CHROMIUM_PATH points elsewhere (macOS, another distribution).
 */
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A headless Chromium for one test file. `launch` gives it a fresh temporary profile, removed
 * on close; each `newContext()` is a separate cookie jar and storage, like a private window.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(executablePath)) {
    throw new Error(`No Chromium at ${executablePath}: install Debian's package (apt-get install chromium), or set CHROMIUM_PATH.`);
  }
  return chromium.launch({ executablePath, args: FLAGS, headless: true });
}

/** A private window whose failed navigations and page errors show in the test's output. */
export async function privateWindow(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  context.setDefaultTimeout(20_000);
  context.on('weberror', (error) => console.error(`page error: ${error.error().message}`));
  return context;
}
