// Swagger UI in a real browser: /docs shows every operation of the source spec, "Authorize" takes a
// token from POST /auth/login, and "Try it out" on GET /products answers 200 with products.
//
// Usage: BASE_URL=http://127.0.0.1:8080 ADMIN_PASSWORD=... node tests/browser/swagger-ui.mjs
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const base = process.env.BASE_URL ?? 'http://127.0.0.1:8080';
const password = process.env.ADMIN_PASSWORD;
const fail = (message) => { console.error(`swagger-ui: FAIL: ${message}`); process.exit(1); };

// The operations the source spec documents, counted from its text (one operationId each).
const spec = readFileSync(new URL('../../openapi/commerce.yaml', import.meta.url), 'utf8');
// Operations sit at depth 3 (paths > path > method); deeper operationIds belong to links.
const documented = (spec.match(/^      operationId: /gm) ?? []).length;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // The docs pages carry a Content-Security-Policy: anything it blocks would break the UI quietly.
  const blocked = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/.test(message.text())) blocked.push(message.text());
  });
  await page.goto(`${base}/docs/`);
  await page.waitForSelector('.opblock', { timeout: 20000 });
  const shown = await page.locator('.opblock').count();
  if (shown !== documented) fail(`Swagger UI shows ${shown} operations, the spec documents ${documented}`);

  const login = await page.request.post(`${base}/auth/login`, {
    data: { tenant: 'demo', email: 'admin@example.com', password },
  });
  if (login.status() !== 200) fail(`login answered ${login.status()}`);
  const { accessToken } = await login.json();

  await page.click('button.authorize');
  await page.locator('.auth-container input').first().fill(accessToken);
  await page.locator('.auth-container button.authorize').first().click();
  await page.click('button.btn-done');

  const op = page.locator('#operations-Products-listProducts');
  await op.locator('.opblock-summary').click();
  if (!(await op.locator('button.execute').count())) await op.locator('button.try-out__btn').click();
  await op.locator('input[placeholder="search"]').fill('');
  await op.locator('button.execute').click();
  const status = op.locator('.live-responses-table tbody .response-col_status').first();
  await status.waitFor({ timeout: 20000 });
  const code = (await status.textContent()).trim();
  if (code !== '200') fail(`Try it out on GET /products answered ${code}`);
  const body = JSON.parse(await op.locator('.live-responses-table .microlight').first().textContent());
  if (!Array.isArray(body.data) || body.data.length === 0) fail('Try it out returned no products');
  if (blocked.length) fail(`the Content-Security-Policy blocked: ${blocked.join('; ')}`);
  console.log(`swagger-ui: ok: ${shown} operations shown; Try it out on GET /products answered 200 with ${body.data.length} products`);
} finally {
  await browser.close();
}
