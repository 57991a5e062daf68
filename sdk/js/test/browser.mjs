// Drive headless Chromium (playwright-core, the system's chromium) through one job on the harness page.
// Usage: node browser.mjs < job.json   where job = {chromium, url, job}; prints the page's result as JSON.
// Page errors and console messages go to stderr.
import { chromium } from 'playwright-core';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const { chromium: executablePath, url, job } = JSON.parse(Buffer.concat(chunks).toString('utf-8'));

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage();
  page.on('console', (m) => process.stderr.write(`console.${m.type()}: ${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`pageerror: ${e.message}\n`));
  await page.goto(url);
  await page.waitForFunction(() => window.siameseReady === true, null, { timeout: 20000 });
  const result = await page.evaluate((j) => window.runParity(j), job);
  process.stdout.write(JSON.stringify(result));
} finally {
  await browser.close();
}
