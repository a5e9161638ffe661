// A to-do list API in Node's http module, as people write one without a framework, with defects
// planted on purpose (the contract tester's zoo; see README.md). `--clean` serves it without them.
//
//   node tasks.js [--clean]      prints the port it listens on (127.0.0.1, a free port)
//
// Planted defects (without --clean):
//   1. deleteTask answers 204 but keeps the task: use_after_free on getTask.
//   2. updateTask answers the new title but stores only `done`: stale_read on getTask.
//   3. Once a task is done, getTask and listTasks answer `completedAt` as a number of
//      milliseconds, not a date-time string (updateTask itself answers it right):
//      response_schema_conformance, reachable only through a create -> update -> read sequence.
//   4. A 404 from getTask is sent as text/plain: content_type_conformance.
const http = require('node:http');

const clean = process.argv.includes('--clean');
const tasks = new Map();
let next = 1;

function send(res, status, body, type = 'application/json') {
  const text = body === undefined ? '' : (type === 'application/json' ? JSON.stringify(body) : String(body));
  res.writeHead(status, body === undefined ? {} : { 'content-type': type });
  res.end(text);
}

function shown(task) {
  if (!clean && task.done && task.completedAt) {
    return { ...task, completedAt: Date.parse(task.completedAt) };
  }
  return task;
}

function valid(body, patch) {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false;
  const keys = Object.keys(body);
  if (patch ? keys.length === 0 : !('title' in body)) return false;
  for (const key of keys) {
    if (key === 'title') {
      if (typeof body.title !== 'string' || body.title.length < 1 || [...body.title].length > 60) return false;
    } else if (key === 'done' && patch) {
      if (typeof body.done !== 'boolean') return false;
    } else {
      return false;
    }
  }
  return true;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url, 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean);
    let body;
    try {
      body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    } catch {
      body = Symbol('malformed');
    }
    if (parts.length === 1 && parts[0] === 'tasks') {
      if (req.method === 'GET') return send(res, 200, [...tasks.values()].map(shown));
      if (req.method === 'POST') {
        if (!valid(body, false)) return send(res, 400, { error: 'invalid task' });
        const task = { id: next++, title: body.title, done: false, completedAt: null };
        tasks.set(task.id, task);
        res.setHeader('location', `/tasks/${task.id}`);
        return send(res, 201, task);
      }
      res.setHeader('allow', 'GET, POST');
      return send(res, 405, { error: 'method not allowed' });
    }
    if (parts.length === 2 && parts[0] === 'tasks') {
      const allow = 'GET, PATCH, DELETE';
      if (!['GET', 'PATCH', 'DELETE'].includes(req.method)) {
        res.setHeader('allow', allow);
        return send(res, 405, { error: 'method not allowed' });
      }
      if (!/^[1-9][0-9]{0,15}$/.test(parts[1])) return send(res, 404, { error: 'no such task' });
      const id = Number(parts[1]);
      const task = tasks.get(id);
      if (!task) {
        if (req.method === 'GET' && !clean) return send(res, 404, 'no such task', 'text/plain');
        return send(res, 404, { error: 'no such task' });
      }
      if (req.method === 'GET') return send(res, 200, shown(task));
      if (req.method === 'DELETE') {
        if (clean) tasks.delete(id);
        return send(res, 204);
      }
      if (!valid(body, true)) return send(res, 400, { error: 'invalid change' });
      const changed = { ...task };
      if ('title' in body) changed.title = body.title;
      if ('done' in body) {
        changed.done = body.done;
        changed.completedAt = body.done ? new Date().toISOString() : null;
      }
      tasks.set(id, clean ? changed : { ...changed, title: task.title });
      return send(res, 200, changed);
    }
    send(res, 404, { error: 'no such route' });
  });
});

server.listen(0, '127.0.0.1', () => console.log(server.address().port));
