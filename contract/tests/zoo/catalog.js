// A product catalog in Express 4, written as its guides show, with defects planted on purpose (the
// contract tester's zoo; see README.md). `--clean` serves it without them.
//
//   node catalog.js [--clean]      prints the port it listens on (127.0.0.1, a free port)
//
// Planted defects (without --clean):
//   1. listItems with sort=price compares prices as strings (`localeCompare` on a number): 500 for
//      a documented value (not_a_server_error; status_code_conformance for the undocumented 500).
//   2. A body that is not JSON gets express.json()'s own 400 HTML page, undocumented
//      (status_code_conformance on createItem).
//   3. Express answers 404 to a method a route does not have, where RFC 9110 says 405 with Allow
//      (unsupported_method).
//   4. An item whose price is 0 is answered without `price` (`if (price)` drops it):
//      response_schema_conformance, at the schema's own minimum.
const express = require('express');

const clean = process.argv.includes('--clean');
const app = express();
const items = [];

app.use(express.json({ strict: false }));
if (clean) {
  app.use((error, req, res, next) => res.status(422).json({ error: 'the body is not JSON' }));
}

function shown(item) {
  if (clean) return item;
  const out = { id: item.id, name: item.name };
  if (item.price) out.price = item.price;
  return out;
}

app.get('/items', (req, res) => {
  if (req.query.sort !== undefined && req.query.sort !== 'name' && req.query.sort !== 'price') {
    return res.status(400).json({ error: 'sort by name or price' });
  }
  const sorted = [...items];
  if (req.query.sort === 'name' || req.query.sort === 'price') {
    const key = req.query.sort;
    sorted.sort((a, b) => (clean && key === 'price' ? a.price - b.price : a[key].localeCompare(b[key])));
  }
  res.json(sorted.map(shown));
});

app.post('/items', (req, res) => {
  const body = req.body;
  const valid = body !== null && typeof body === 'object' && !Array.isArray(body)
    && Object.keys(body).every((k) => k === 'name' || k === 'price')
    && typeof body.name === 'string' && body.name.length >= 1 && [...body.name].length <= 30
    && Number.isInteger(body.price) && body.price >= 0 && body.price <= 100000;
  if (!valid) return res.status(422).json({ error: 'invalid item' });
  const item = { id: items.length + 1, name: body.name, price: body.price };
  items.push(item);
  res.status(201).json(shown(item));
});

if (clean) {
  app.all('/items', (req, res) => res.set('allow', 'GET, POST').status(405).json({ error: 'method not allowed' }));
}

const server = app.listen(0, '127.0.0.1', () => console.log(server.address().port));
