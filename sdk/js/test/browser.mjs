// Drive headless Chromium (playwright-core, the system's chromium) through one job on the harness page.
// Usage: node browser.mjs < job.json   with {chromium, url, job, demo?: {url, images: [path, path]}};
// prints the page's result (and the demo page's decision) as JSON.
// Page errors and console messages go to stderr.
import { chromium } from 'playwright-core';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const { chromium: executablePath, url, job, demo } = JSON.parse(Buffer.concat(chunks).toString('utf-8'));

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage();
  page.on('console', (m) => process.stderr.write(`console.${m.type()}: ${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`pageerror: ${e.message}\n`));
  await page.goto(url);
  await page.waitForFunction(() => window.siameseReady === true, null, { timeout: 20000 });
  const result = await page.evaluate((j) => window.runParity(j), job);
  if (demo) {
    // the demo page: load its default bundle, pick two images, read the decision shown
    await page.goto(demo.url);
    await page.evaluate(() => window.demoReady);
    await page.setInputFiles('#slot0 input', demo.images[0]);
    await page.setInputFiles('#slot1 input', demo.images[1]);
    await page.waitForFunction(() => /threshold/.test(document.getElementById('result').textContent), null, { timeout: 20000 });
    result.demo = { status: await page.textContent('#status'), result: await page.textContent('#result') };
  }
  process.stdout.write(JSON.stringify(result));
} finally {
  await browser.close();
}
