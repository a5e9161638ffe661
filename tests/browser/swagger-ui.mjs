// Swagger UI and ReDoc in a real browser, on a server's first start as `cargo run` makes it (the demo
// data, no chosen admin password, a loopback address):
// - /docs shows every operation of the source spec and links the document as YAML and JSON;
// - every operation's "Try it out", executed as prefilled, in the order a visitor tries them, answers
//   a documented success. The visitor's only inputs are what login answered: the access token into
//   "Authorize" and the refresh token into refreshToken's body;
// - /redoc renders the same document;
// - neither page's Content-Security-Policy blocks anything.
//
// Usage: BASE_URL=http://127.0.0.1:8080 node tests/browser/swagger-ui.mjs
import { chromium } from 'playwright-core';

const base = process.env.BASE_URL ?? 'http://127.0.0.1:8080';
const fail = (message) => { console.error(`swagger-ui: FAIL: ${message}`); process.exit(1); };

// The same order as tests/api/demo.rs.
const NATURAL_ORDER = [
  'healthz', 'readyz', 'metrics', 'login', 'refreshToken',
  'listProducts', 'createProduct', 'getProduct', 'updateProduct',
  'listCustomers', 'createCustomer', 'getCustomer', 'updateCustomer',
  'listOrders', 'createOrder', 'getOrder', 'updateOrderStatus',
  'deleteProduct', 'logout',
];

const spec = await (await fetch(`${base}/openapi.json`)).json();
const tagOf = {};
for (const item of Object.values(spec.paths)) {
  for (const op of Object.values(item)) {
    if (op && op.operationId) tagOf[op.operationId] = op.tags?.[0] ?? 'default';
  }
}
const documented = Object.keys(tagOf).sort();
if (JSON.stringify([...NATURAL_ORDER].sort()) !== JSON.stringify(documented)) {
  fail(`NATURAL_ORDER ${NATURAL_ORDER} is not the spec's operations ${documented}`);
}

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
    const text = message.text();
    // ReDoc's menu footer shows Redocly's logo from their CDN; the CSP keeps every page offline
    // (no third-party requests), and ReDoc hides the image when it fails to load.
    if (text.includes('https://cdn.redoc.ly/redoc/logo-mini.svg')) return;
    if (/Content Security Policy|Refused to/.test(text)) blocked.push(text);
  });
  await page.goto(`${base}/docs/`);
  await page.waitForSelector('.opblock', { timeout: 20000 });
  const shown = await page.locator('.opblock').count();
  if (shown !== documented.length) fail(`Swagger UI shows ${shown} operations, the spec documents ${documented.length}`);
  for (const href of ['/openapi.yaml', '/openapi.json', '/redoc']) {
    if (!(await page.locator(`.information-container a[href="${href}"]`).count())) fail(`the page does not link ${href}`);
  }

  let login = null;
  const results = [];
  for (const id of NATURAL_ORDER) {
    const op = page.locator(`#operations-${tagOf[id]}-${id}`);
    await op.locator('.opblock-summary').first().click();
    if (!(await op.locator('button.execute').count())) await op.locator('button.try-out__btn').click();
    if (id === 'refreshToken') {
      await op.locator('textarea.body-param__text').fill(JSON.stringify({ refreshToken: login.refreshToken }));
    }
    await op.locator('button.execute').click();
    const status = op.locator('.live-responses-table tbody .response-col_status').first();
    await status.waitFor({ timeout: 20000 });
    const code = Number((await status.textContent()).trim());
    const text = await op.locator('.live-responses-table .microlight').first().textContent().catch(() => '');
    if (code < 200 || code >= 300) fail(`Try it out on ${id}, as prefilled, answered ${code}: ${text}`);
    results.push(`${id} ${code}`);
    if (id === 'login') {
      login = JSON.parse(text);
      await page.click('button.authorize');
      const bearer = page.locator('.auth-container').filter({ hasText: 'BearerAuth' });
      await bearer.locator('input').first().fill(login.accessToken);
      await bearer.locator('button.authorize').click();
      await page.click('button.btn-done');
    }
    if (id === 'listProducts' && JSON.parse(text).pagination.total !== 8) {
      fail(`GET /products as prefilled listed ${text}: a filter is prefilled`);
    }
    await op.locator('.opblock-summary').first().click();
  }

  await page.goto(`${base}/redoc`);
  await page.waitForSelector('h1', { timeout: 20000 });
  const title = await page.locator('h1').first().textContent();
  if (!title.includes('Commerce API')) fail(`ReDoc shows ${title}`);
  const menu = await page.locator('[role=menuitem], .menu-content li').count();
  if (menu < documented.length) fail(`ReDoc's menu has ${menu} entries for ${documented.length} operations`);

  if (blocked.length) fail(`the Content-Security-Policy blocked: ${blocked.join('; ')}`);
  console.log(`swagger-ui: ok: ${shown} operations shown and each answered as prefilled (${results.join(', ')}); ReDoc: "${title.trim()}"`);
} finally {
  await browser.close();
}
