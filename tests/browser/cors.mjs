// CORS in a real browser: a page on another origin calls the API with fetch(). Against a server
// started with --cors-allow-origin naming the page's origin, the call succeeds and the page reads
// the body and an exposed header; against one started without it, the browser refuses the call.
//
// Usage: BASE_URL=http://127.0.0.1:18181 CORS_BASE_URL=http://127.0.0.1:18182 PAGE_PORT=18383 \
//        ADMIN_PASSWORD=... node tests/browser/cors.mjs
// (the server at CORS_BASE_URL allows http://127.0.0.1:$PAGE_PORT; the one at BASE_URL allows nothing)
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

const withoutFlag = process.env.BASE_URL ?? 'http://127.0.0.1:8080';
const withFlag = process.env.CORS_BASE_URL;
const pagePort = Number(process.env.PAGE_PORT ?? 18383);
const password = process.env.ADMIN_PASSWORD;
const fail = (message) => { console.error(`cors: FAIL: ${message}`); process.exit(1); };
if (!withFlag) fail('set CORS_BASE_URL to a server started with --cors-allow-origin http://127.0.0.1:$PAGE_PORT');

// The page's own origin: a blank page on another port.
const site = createServer((_, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<!doctype html><title>shop</title>'); });
await new Promise((resolve) => site.listen(pagePort, '127.0.0.1', resolve));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${pagePort}/`);
  const attempt = async (base) => {
    const login = await page.request.post(`${base}/auth/login`, {
      data: { tenant: 'demo', email: 'admin@example.com', password },
    });
    if (login.status() !== 200) fail(`login at ${base} answered ${login.status()}`);
    const { accessToken } = await login.json();
    // In the page, as a browser app would: a preflighted request (Authorization is not safelisted).
    return page.evaluate(async ({ base, accessToken }) => {
      try {
        const res = await fetch(`${base}/products?pageSize=2`, { headers: { Authorization: `Bearer ${accessToken}` } });
        const body = await res.json();
        return { status: res.status, products: body.data?.length, requestId: res.headers.get('x-request-id') };
      } catch (error) {
        return { error: String(error) };
      }
    }, { base, accessToken });
  };

  const allowed = await attempt(withFlag);
  if (allowed.error) fail(`the allowed origin's fetch failed: ${allowed.error}`);
  if (allowed.status !== 200 || !allowed.products) fail(`the allowed origin's fetch gave ${JSON.stringify(allowed)}`);
  if (!allowed.requestId) fail('the page cannot read X-Request-Id (not exposed)');

  const refused = await attempt(withoutFlag);
  if (!refused.error) fail(`without --cors-allow-origin the browser let the page read ${JSON.stringify(refused)}`);
  console.log(`cors: ok: with the flag the page read ${allowed.products} products and X-Request-Id; without it: ${refused.error}`);
} finally {
  await browser.close();
  site.close();
}
