import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium (playwright-core downloads no browser): CHROMIUM_PATH, /usr/bin/chromium, or PATH. */
export function findChromium(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  try {
    candidates.push(execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim());
  } catch {
    // not on PATH: the fixed paths decide
  }
  const found = candidates.find((p) => p !== undefined && p !== '' && existsSync(p));
  if (found === undefined) {
    throw new Error("Chromium not found (looked for CHROMIUM_PATH, /usr/bin/chromium, `command -v chromium`): run `npm run setup` (scripts/install-peers.sh installs Debian's chromium)");
  }
  return found;
}

/** A headless browser and one page whose console errors and uncaught exceptions are collected. */
export async function openBrowserPage(viewport = { width: 1440, height: 1100 }): Promise<{ browser: Browser; page: Page; consoleErrors: string[] }> {
  const browser = await chromium.launch({ executablePath: findChromium(), args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const page = await browser.newPage({ viewport, colorScheme: 'dark' });
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));
  return { browser, page, consoleErrors };
}
