#!/usr/bin/env node
// Renders a transfix HTML report in headless Chromium through chromedriver (WebDriver over HTTP: only
// Node built-ins) and checks what a user would see: the page loads without console errors or
// exceptions, fetches nothing, has the expected elements, answers hover and click on the chart; a
// full-page screenshot is saved.
//
// usage: render_report.js REPORT.html --screenshot OUT.png [--json OUT.json] [--expect ID]...
//          [--expect-selector CSS]... [--expect-js EXPR]... [--interact] [--chromium PATH] [--chromedriver PATH]
// Prints one line (what passed, or which checks failed) and writes every check and console message to
// --json; exit 0 when every check passed, 1 when one failed, 2 when the browser could not be driven.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

function parseArgs(argv) {
  const a = { expect: [], selectors: [], scripts: [], interact: false, chromium: '/usr/bin/chromium', chromedriver: '/usr/bin/chromedriver' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--screenshot') a.screenshot = argv[++i];
    else if (k === '--expect') a.expect.push(argv[++i]);
    else if (k === '--expect-selector') a.selectors.push(argv[++i]);
    else if (k === '--expect-js') a.scripts.push(argv[++i]);
    else if (k === '--json') a.json = argv[++i];
    else if (k === '--interact') a.interact = true;
    else if (k === '--chromium') a.chromium = argv[++i];
    else if (k === '--chromedriver') a.chromedriver = argv[++i];
    else if (!a.report) a.report = k;
    else throw new Error('unexpected argument ' + k);
  }
  if (!a.report || !a.screenshot) throw new Error('usage: render_report.js REPORT.html --screenshot OUT.png [--expect ID]...');
  return a;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
    srv.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class WebDriver {
  constructor(port) { this.base = `http://127.0.0.1:${port}`; }
  async call(method, url, body) {
    const res = await fetch(this.base + url, {
      method, headers: { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok || (json.value && json.value.error)) throw new Error(`${method} ${url}: ${JSON.stringify(json.value).slice(0, 400)}`);
    return json.value;
  }
  async waitReady(ms) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      try { if ((await this.call('GET', '/status')).ready) return; } catch (e) { /* not up yet */ }
      await sleep(100);
    }
    throw new Error('chromedriver did not start');
  }
  s(url) { return `/session/${this.session}${url}`; }
  run(script, ...args) { return this.call('POST', this.s('/execute/sync'), { script, args }); }
  logs() { return this.call('POST', this.s('/se/log'), { type: 'browser' }); }
  cdp(cmd, params) { return this.call('POST', this.s('/goog/cdp/execute'), { cmd, params }); }
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const result = { report: a.report, checks: [], console: [], ok: true };
  const check = (name, ok, detail) => {
    result.checks.push({ name, ok: !!ok, detail });
    if (!ok) result.ok = false;
  };
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'transfix-chromium-'));
  const port = await freePort();
  const driver = spawn(a.chromedriver, [`--port=${port}`], { stdio: 'ignore' });
  const wd = new WebDriver(port);
  try {
    await wd.waitReady(15000);
    const session = await wd.call('POST', '/session', {
      capabilities: {
        alwaysMatch: {
          browserName: 'chrome',
          'goog:chromeOptions': {
            binary: a.chromium,
            args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
              '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--window-size=1360,1000',
              '--hide-scrollbars'],
          },
          'goog:loggingPrefs': { browser: 'ALL' },
        },
      },
    });
    wd.session = session.sessionId;
    result.browser = `${session.capabilities.browserName} ${session.capabilities.browserVersion}`;
    const t0 = Date.now();
    await wd.call('POST', wd.s('/url'), { url: 'file://' + path.resolve(a.report) });
    let rendered = false;
    for (let i = 0; i < 100 && !rendered; i++) {
      rendered = await wd.run("return document.body && document.body.dataset.rendered === 'true';");
      if (!rendered) await sleep(100);
    }
    result.render_ms = Date.now() - t0;
    check('page rendered (body[data-rendered])', rendered);
    for (const id of a.expect) check(`#${id} present`, await wd.run('return !!document.getElementById(arguments[0]);', id));
    for (const sel of a.selectors) {
      const n = await wd.run('return document.querySelectorAll(arguments[0]).length;', sel);
      check(`${sel} present`, n > 0, `${n} found`);
    }
    for (const expr of a.scripts) check(expr, await wd.run(`return !!(${expr});`));
    // The page must fetch nothing: no resource entries (data: URIs are not fetched).
    const resources = await wd.run("return performance.getEntriesByType('resource').map((e) => e.name);");
    check('no network resources loaded', resources.length === 0, resources.slice(0, 5));
    result.page = await wd.run(`return { title: document.title, height: document.documentElement.scrollHeight,
      width: document.documentElement.scrollWidth, elements: document.getElementsByTagName('*').length };`);
    if (a.interact) await interact(wd, check);
    const entries = await wd.logs();
    result.console = entries.map((e) => `${e.level} ${e.message}`);
    const errors = entries.filter((e) => e.level === 'SEVERE' || e.level === 'WARNING');
    check('no console errors or warnings', errors.length === 0, errors.map((e) => e.message).slice(0, 5));
    const height = Math.min(result.page.height, 12000);
    const shot = await wd.cdp('Page.captureScreenshot', {
      format: 'png', captureBeyondViewport: true, clip: { x: 0, y: 0, width: 1360, height, scale: 1 },
    });
    fs.writeFileSync(a.screenshot, Buffer.from(shot.data, 'base64'));
    result.screenshot = { path: a.screenshot, bytes: fs.statSync(a.screenshot).size, height };
    check('screenshot written', result.screenshot.bytes > 1000);
  } finally {
    if (wd.session) await wd.call('DELETE', wd.s('')).catch(() => {});
    driver.kill();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  if (a.json) fs.writeFileSync(a.json, JSON.stringify(result, null, 1) + '\n');
  const failedChecks = result.checks.filter((c) => !c.ok);
  console.log(result.ok
    ? `ok: ${result.checks.length} checks, rendered in ${result.render_ms} ms, ${result.page.elements} elements, page ${result.page.height} px, ${result.browser}`
    : `FAIL: ${JSON.stringify(failedChecks)}`);
  process.exitCode = result.ok ? 0 : 1;
}

// Hover the chart (a tooltip naming tensors of both models must appear), click it (the pair's details
// must show), page the pairs table; real pointer events through the WebDriver actions API.
async function interact(wd, check) {
  const chart = await wd.run("const s = document.querySelector('#chart svg'); return s ? true : false;");
  if (!chart) return;
  const el = await wd.call('POST', wd.s('/element'), { using: 'css selector', value: '#chart svg' });
  const pointer = (actions) => wd.call('POST', wd.s('/actions'), {
    actions: [{ type: 'pointer', id: 'mouse', parameters: { pointerType: 'mouse' }, actions }],
  });
  await pointer([{ type: 'pointerMove', duration: 0, origin: el, x: 0, y: 0 }]);
  const tip = await wd.run("const t = document.querySelector('#chart .tooltip'); return t ? [t.style.display, t.textContent] : null;");
  check('chart hover shows a tooltip with tensor names of both models',
    tip && tip[0] === 'block' && tip[1].includes('target:') && tip[1].includes('source:'), tip && tip[1].slice(0, 200));
  await pointer([{ type: 'pointerDown', button: 0 }, { type: 'pointerUp', button: 0 }]);
  const detail = await wd.run("const d = document.getElementById('pair-detail'); return d ? d.textContent.slice(0, 200) : null;");
  const selected = await wd.run("return document.querySelectorAll('#pairs-table tr.selected').length;");
  check('chart click shows the pair and selects its table row', detail && selected === 1, detail);
  const pager = await wd.run(`const t = document.getElementById('pairs-table'); const b = t && t.querySelectorAll('.pager button')[1];
    if (!b || b.disabled) return 'single page'; b.click(); return t.querySelector('.pager span').textContent;`);
  check('pairs table pages', typeof pager === 'string', pager);
}

main().catch((e) => {
  console.log(`ERROR: ${String(e && e.message ? e.message : e)}`);
  process.exitCode = 2;
});
