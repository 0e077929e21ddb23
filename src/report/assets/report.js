// transfix HTML report: draws the JSON report embedded in #report-data (compare, localize, repair or
// coverage).
// Everything is built with DOM calls and textContent: names in the data come from untrusted model
// files and are never parsed as HTML. Long lists are paged, so a model with thousands of nodes stays
// responsive; the chart is one path per series, hover picks the nearest point arithmetically.
'use strict';
(function () {
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const report = JSON.parse(document.getElementById('report-data').textContent);
  const app = document.getElementById('app');
  app.textContent = '';

  // ------------------------------------------------------------------ small helpers

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  // Report numbers: JSON numbers, "inf"/"-inf" strings, null (NaN or not measured).
  function toNumber(v) {
    if (typeof v === 'number') return v;
    if (v === 'inf') return Infinity;
    if (v === '-inf') return -Infinity;
    return NaN;
  }

  function fmt(v, digits) {
    const x = toNumber(v);
    if (Number.isNaN(x)) return '–';
    if (!Number.isFinite(x)) return x > 0 ? '∞' : '-∞';
    if (x === 0) return '0';
    const a = Math.abs(x);
    if (a >= 1e5 || a < 1e-3) return x.toExponential((digits || 3) - 1).replace('e+', 'e');
    return String(Number(x.toPrecision(digits || 3)));
  }

  function bytes(n) {
    if (typeof n !== 'number') return '–';
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let u = 0;
    while (n >= 1000 && u < units.length - 1) { n /= 1000; u++; }
    return (u === 0 ? n.toFixed(0) : n.toFixed(1)) + ' ' + units[u];
  }

  function badge(text, cls) { return el('span', { class: 'badge v-' + (cls || text) }, text); }

  function section(id, title, ...children) {
    return el('section', { id }, el('h2', { text: title }), ...children);
  }

  function kvTable(rows) {
    return el('table', { class: 'kv' },
      rows.filter((r) => r && r[1] !== undefined && r[1] !== null && r[1] !== '')
        .map(([k, v]) => el('tr', {}, el('th', { text: k }), el('td', {}, v))));
  }

  function table(headers, rows, attrs) {
    return el('table', attrs || {},
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { class: h.num ? 'num' : '' }, h.label || h)))),
      el('tbody', {}, rows));
  }

  // A paged list: `render(items) -> <tr>[]` for one page; filter and search optional.
  function pagedTable(opts) {
    const state = { page: 0, query: '', filter: opts.filters ? opts.filters[0].key : null };
    const body = el('tbody');
    const info = el('span', { class: 'muted' });
    const wrap = el('div', { id: opts.id });
    const controls = el('div', { class: 'pager' });
    const prev = el('button', { type: 'button', onclick: () => { state.page--; draw(); } }, '‹ prev');
    const next = el('button', { type: 'button', onclick: () => { state.page++; draw(); } }, 'next ›');
    controls.append(prev, next, info);
    if (opts.filters) {
      const sel = el('select', { onchange: (e) => { state.filter = e.target.value; state.page = 0; draw(); } },
        opts.filters.map((f) => el('option', { value: f.key }, f.label)));
      controls.append(sel);
    }
    if (opts.search) {
      controls.append(el('input', {
        type: 'search', placeholder: 'search names', oninput: (e) => { state.query = e.target.value.toLowerCase(); state.page = 0; draw(); },
      }));
    }
    const t = table(opts.headers, []);
    t.replaceChild(body, t.tBodies[0]);
    wrap.append(controls, t);
    let visible = opts.items;
    function draw() {
      visible = opts.items.filter((it) =>
        (!state.filter || !opts.filters || opts.filters.find((f) => f.key === state.filter).test(it)) &&
        (!state.query || opts.search(it).toLowerCase().includes(state.query)));
      const pages = Math.max(1, Math.ceil(visible.length / opts.pageSize));
      state.page = Math.min(Math.max(0, state.page), pages - 1);
      const start = state.page * opts.pageSize;
      body.replaceChildren(...opts.render(visible.slice(start, start + opts.pageSize)));
      info.textContent = visible.length
        ? `${start + 1}–${Math.min(visible.length, start + opts.pageSize)} of ${visible.length} (page ${state.page + 1}/${pages})`
        : 'nothing to show';
      prev.disabled = state.page === 0;
      next.disabled = state.page >= pages - 1;
    }
    draw();
    // Shows the page holding `item` (clearing filters that hide it).
    wrap.show = (item) => {
      if (!visible.includes(item)) { state.query = ''; state.filter = opts.filters ? opts.filters[0].key : null; draw(); }
      const i = visible.indexOf(item);
      if (i >= 0) { state.page = Math.floor(i / opts.pageSize); draw(); }
    };
    wrap.redraw = draw;
    return wrap;
  }

  // ------------------------------------------------------------------ shared pieces

  function modelsTable(models) {
    const rows = ['source', 'target'].concat(models.repaired ? ['repaired'] : []).map((side) => {
      const m = models[side] || {};
      return el('tr', {},
        el('th', { text: side }),
        el('td', {}, el('code', { text: m.path || '–' })),
        el('td', { text: m.loaded === false ? 'failed to load' : (m.format || '–') }),
        el('td', { text: m.producer || '–' }),
        el('td', { class: 'num', text: m.opset ? String(m.opset) : '–' }),
        el('td', { class: 'num', text: bytes(m.file_bytes) }),
        el('td', { class: 'num', text: m.nodes !== undefined ? String(m.nodes) : '–' }));
    });
    return table(['', 'file', 'format', 'producer', { label: 'opset', num: 1 }, { label: 'size', num: 1 },
      { label: 'nodes', num: 1 }], rows, { id: 'models' });
  }

  function header(kind, verdictText, verdictClass, subtitle) {
    return el('header', { id: 'header' },
      el('h1', { text: 'transfix ' + kind }),
      el('span', { id: 'verdict' }, badge(verdictText, verdictClass)),
      el('span', { class: 'sub', text: subtitle || '' }));
  }

  // ------------------------------------------------------------------ error along the network

  // Relative error of a pair (error / the tensor's scale); NaN when unknown.
  function rel(v, scale) {
    const x = toNumber(v), s = toNumber(scale);
    if (Number.isNaN(x)) return NaN;
    return s > 0 ? x / s : x;
  }

  function networkChart(id, loc, onSelect) {
    const pairs = loc.pairs || [];
    const wrap = el('div', { class: 'chart-wrap', id });
    if (!pairs.length) {
      wrap.append(el('p', { class: 'muted', text: 'No mapped tensor pairs.' }));
      return wrap;
    }
    const W = 1000, H = 300, L = 58, R = 12, T = 12, B = 34;
    const series = {
      local: pairs.map((p) => rel(p.local_error, p.scale)),
      acc: pairs.map((p) => rel(p.accumulated_error, p.scale)),
      noise: pairs.map((p) => rel(p.accumulated_noise, p.scale)),
      thr: pairs.map((p) => rel(p.threshold, p.scale)),
    };
    const finite = [].concat(...Object.values(series)).filter((v) => Number.isFinite(v) && v > 0);
    let lo = Math.floor(Math.log10(Math.max(1e-16, Math.min(...finite, 1e-7))));
    let hi = Math.ceil(Math.log10(Math.max(...finite, 1e-6)));
    hi = Math.min(Math.max(hi, lo + 2), 3);  // relative errors above 1000x the scale are clipped
    lo = Math.min(lo, hi - 2);
    const x = (i) => L + (pairs.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (pairs.length - 1));
    const y = (v) => {
      if (v === Infinity) return T;
      const c = Math.min(Math.max(Math.log10(Math.max(v, 10 ** lo)), lo), hi);
      return T + ((hi - c) * (H - T - B)) / (hi - lo);
    };
    const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'error along the network' });
    for (let e = lo; e <= hi; e++) {
      s.append(svg('line', { x1: L, x2: W - R, y1: y(10 ** e), y2: y(10 ** e), stroke: '#eef0f4' }));
      const t = svg('text', { x: L - 6, y: y(10 ** e) + 4, 'text-anchor': 'end' });
      t.textContent = '1e' + e;
      s.append(t);
    }
    const xl = svg('text', { x: (L + W - R) / 2, y: H - 8, 'text-anchor': 'middle' });
    xl.textContent = `mapped tensors in network order (${pairs.length})`;
    const yl = svg('text', { x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`, 'text-anchor': 'middle' });
    yl.textContent = 'error / tensor scale';
    s.append(xl, yl);
    // Faulty segments: a red band behind.
    pairs.forEach((p, i) => {
      if (!p.clean) s.append(svg('rect', { x: x(i) - 3, y: T, width: 6, height: H - T - B, fill: '#fdd', class: 'fault-band' }));
    });
    const line = (vals) => {
      let d = '', pen = false;
      vals.forEach((v, i) => {
        if (!(v >= 0)) { pen = false; return; }
        d += (pen ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1);
        pen = true;
      });
      return d;
    };
    s.append(svg('path', { d: line(series.thr), fill: 'none', stroke: '#c9cfdb', 'stroke-dasharray': '2 3', class: 'series-threshold' }));
    s.append(svg('path', { d: line(series.noise), fill: 'none', stroke: '#8a94a6', 'stroke-dasharray': '5 3', class: 'series-noise' }));
    s.append(svg('path', { d: line(series.acc), fill: 'none', stroke: '#1f5fbf', 'stroke-width': 1.6, class: 'series-accumulated' }));
    let stems = '';
    series.local.forEach((v, i) => {
      if (v >= 0) stems += `M${x(i).toFixed(1)} ${H - B}V${y(v).toFixed(1)}`;
    });
    s.append(svg('path', { d: stems, stroke: '#e08a00', 'stroke-width': pairs.length > 400 ? 1 : 2, class: 'series-local' }));
    pairs.forEach((p, i) => {
      if (!p.clean) s.append(svg('circle', { cx: x(i), cy: y(Number.isNaN(series.local[i]) ? Infinity : series.local[i]), r: 4.5, fill: '#c62828', class: 'fault-marker' }));
    });
    const cursor = svg('line', { x1: 0, x2: 0, y1: T, y2: H - B, stroke: '#1d2330', 'stroke-width': 0.6, visibility: 'hidden' });
    s.append(cursor);
    const tip = el('div', { class: 'tooltip' });
    const nearest = (ev) => {
      const box = s.getBoundingClientRect();
      const vx = ((ev.clientX - box.left) * W) / box.width;
      const i = pairs.length === 1 ? 0 : Math.round(((vx - L) * (pairs.length - 1)) / (W - L - R));
      return Math.min(Math.max(i, 0), pairs.length - 1);
    };
    s.addEventListener('mousemove', (ev) => {
      const i = nearest(ev), p = pairs[i];
      cursor.setAttribute('x1', x(i)); cursor.setAttribute('x2', x(i)); cursor.setAttribute('visibility', 'visible');
      tip.replaceChildren(
        el('div', {}, el('b', { text: `#${i + 1} ${p.clean ? '' : '(faulty) '}` })),
        el('div', {}, 'target: ', el('code', { text: p.target })),
        el('div', {}, 'source: ', el('code', { text: p.source })),
        el('div', { text: `local ${fmt(p.local_error)} (${fmt(p.noise_units)} × noise), accumulated ${fmt(p.accumulated_error)}, scale ${fmt(p.scale)}` }));
      tip.style.display = 'block';
      const box = wrap.getBoundingClientRect();
      const left = ev.clientX - box.left + 14;
      tip.style.left = Math.min(left, box.width - 300) + 'px';
      tip.style.top = ev.clientY - box.top + 14 + 'px';
    });
    s.addEventListener('mouseleave', () => { tip.style.display = 'none'; cursor.setAttribute('visibility', 'hidden'); });
    s.addEventListener('click', (ev) => onSelect(pairs[nearest(ev)]));
    const legend = el('div', { class: 'legend' },
      el('span', {}, el('i', { style: 'background:#e08a00' }), 'local error each segment introduces (target fed the source values)'),
      el('span', {}, el('i', { style: 'background:#1f5fbf' }), 'accumulated error (target run on its own)'),
      el('span', {}, el('i', { style: 'background:#8a94a6' }), "source's own fp32 rounding"),
      el('span', {}, el('i', { style: 'background:#c9cfdb' }), 'clean threshold'),
      el('span', {}, el('i', { style: 'background:#c62828;height:8px;width:8px;border-radius:4px' }), 'faulty segment'));
    wrap.append(s, tip, legend);
    return wrap;
  }

  function pairDetail(p, index, id) {
    const ops = (names) => (names && names.length ? el('ul', { class: 'ops' }, names.map((n) => el('li', {}, el('code', { text: n })))) : el('div', { class: 'muted', text: 'none' }));
    return el('div', { class: 'panel pair-detail', id },
      el('div', {}, el('b', { text: `#${index + 1} ` }), p.clean ? 'clean' : badge('faulty', 'FAULTS'),
        el('span', { class: 'muted', text: `  mapping: ${p.how}, transform ${p.transform}` })),
      el('div', { class: 'side-by-side' },
        el('div', {}, el('h4', { text: 'target' }), el('code', { text: p.target }), ops(p.target_op_names)),
        el('div', {}, el('h4', { text: 'source' }), el('code', { text: p.source }), ops(p.source_op_names))),
      el('div', { class: 'muted', text: `local error ${fmt(p.local_error)} = ${fmt(p.noise_units)} × local noise floor ${fmt(p.noise_floor)} (threshold ${fmt(p.threshold)}); accumulated ${fmt(p.accumulated_error)}, source fp32 ${fmt(p.accumulated_noise)}; scale ${fmt(p.scale)}` }));
  }

  function pairsTable(loc, onSelect) {
    const pairs = loc.pairs || [];
    const index = new Map(pairs.map((p, i) => [p, i]));
    return pagedTable({
      id: 'pairs-table', pageSize: 50, items: pairs,
      filters: [{ key: 'all', label: 'all pairs', test: () => true }, { key: 'faulty', label: 'faulty only', test: (p) => !p.clean }],
      search: (p) => p.target + ' ' + p.source,
      headers: [{ label: '#', num: 1 }, 'target tensor', 'source tensor', 'transform', { label: 'local error', num: 1 },
        { label: '× noise', num: 1 }, { label: 'accumulated', num: 1 }, { label: 'ops t/s', num: 1 }],
      render: (items) => items.map((p) => {
        const i = index.get(p);
        return el('tr', { class: (p.clean ? '' : 'faulty ') + 'pair-row', 'data-index': i, onclick: () => onSelect(p) },
          el('td', { class: 'num', text: String(i + 1) }),
          el('td', {}, el('code', { text: p.target })),
          el('td', {}, el('code', { text: p.source })),
          el('td', { text: p.transform }),
          el('td', { class: 'num', text: fmt(p.local_error) }),
          el('td', { class: 'num', text: fmt(p.noise_units) }),
          el('td', { class: 'num', text: fmt(p.accumulated_error) }),
          el('td', { class: 'num', text: `${p.target_ops}/${p.source_ops}` }));
      }),
    });
  }

  // The chart, the selected pair's details and the paged pairs table, wired together.
  function networkSection(id, title, loc) {
    const pairs = loc.pairs || [];
    const detail = el('div');
    let table = null;
    const select = (p) => {
      const i = pairs.indexOf(p);
      detail.replaceChildren(pairDetail(p, i, id === 'network' ? 'pair-detail' : id + '-pair-detail'));
      if (table) {
        table.show(p);
        for (const row of table.querySelectorAll('tr.pair-row')) row.classList.toggle('selected', Number(row.dataset.index) === i);
      }
    };
    const chart = networkChart(id === 'network' ? 'chart' : id + '-chart', loc, select);
    table = pairsTable(loc, select);
    if (id !== 'network') table.id = id + '-pairs-table';
    const firstFault = pairs.find((p) => !p.clean);
    const sec = section(id, title,
      el('p', { class: 'muted', text: 'Each point is a target tensor mapped to the source tensor holding the same values. Hover for the names in both models; click to see the segment and find it in the table. ' +
        'A gap in the accumulated error: the target tensor has another shape than the source\'s there (a fault upstream changed it), or the target crashed before it.' }),
      chart, detail, el('h4', { text: 'mapped tensor pairs' }), table);
    sec.select = select;
    if (firstFault) select(firstFault);
    return sec;
  }

  // ------------------------------------------------------------------ faults (side by side)

  function attributeDiff(f) {
    const ta = (f.target && f.target.attributes) || {}, sa = (f.source && f.source.attributes) || {};
    const keys = [...new Set(Object.keys(ta).concat(Object.keys(sa)))].sort();
    if (!keys.length) return null;
    return el('div', {}, el('h4', { text: 'attributes of the pinned ops' }),
      table(['attribute', 'target', 'source'], keys.map((k) =>
        el('tr', { class: ta[k] !== sa[k] ? 'diff' : '' },
          el('td', {}, el('code', { text: k })),
          el('td', {}, el('code', { text: ta[k] === undefined ? '–' : ta[k] })),
          el('td', {}, el('code', { text: sa[k] === undefined ? '–' : sa[k] }))))));
  }

  function side(name, s) {
    s = s || {};
    return el('div', {},
      el('h4', { text: name }),
      s.op ? el('div', {}, 'pinned op: ', el('code', { text: s.op })) : null,
      el('div', {}, 'tensor: ', el('code', { text: s.tensor || '–' })),
      s.from && s.from.length ? el('div', { class: 'muted' }, 'from: ', el('code', { text: s.from.join(', ') })) : null,
      el('div', { class: 'muted', text: `${(s.ops || []).length} op(s) in the segment` }),
      el('ul', { class: 'ops' }, (s.ops || []).map((o) => el('li', {}, el('code', { text: o })))));
  }

  function faultCard(f, rank, fix, onShow) {
    const ev = f.evidence || {};
    const card = el('div', { class: 'fault-card', id: 'fault-' + rank },
      el('div', { class: 'head' }, el('h3', { text: `${rank}. ${f.summary}` }), badge(f.category, 'FAULTS'),
        el('span', { class: 'muted', text: `confidence ${fmt(f.confidence)}` }),
        onShow ? el('button', { type: 'button', class: 'linkish', onclick: onShow }, 'show in chart') : null),
      el('div', { class: 'side-by-side' }, side('target', f.target), side('source', f.source)),
      attributeDiff(f),
      (f.findings || []).length ? el('div', {}, el('h4', { text: 'findings' }), el('ul', { class: 'findings' },
        f.findings.map((x) => el('li', {}, el('span', { class: 'stage', text: `[${x.stage}]` }), el('b', { text: x.kind + ': ' }), x.detail)))) : null,
      el('h4', { text: 'evidence' }),
      kvTable([
        ['error introduced here', `${fmt(ev.local_error)} (${fmt(ev.relative_error)} of the tensor's scale)`],
        ['noise floor', `${fmt(ev.noise_floor)}: the error is ${fmt(ev.noise_units)} × it`],
        ['clean threshold', fmt(ev.threshold)],
        ['mapping', `${ev.mapping || '–'}, transform ${ev.transform || '–'}`],
      ]));
    const r = f.repair || {};
    if (fix) {
      card.append(el('div', { class: 'repair' }, badge(fix.kept ? 'kept' : 'rolled back', fix.kept ? 'kept' : 'rolled-back'), ' ',
        el('b', { text: 'applied repair: ' }), fix.text,
        el('div', { class: 'muted', text: fix.kept ? `effect: ${score(fix.before)} → ${score(fix.after)}` : `why: ${fix.why}` })));
    } else if (r.text) {
      card.append(el('div', { class: 'repair' }, el('b', { text: 'suggested repair: ' }), r.text, r.action ? el('span', { class: 'muted', text: ` (${r.action})` }) : null));
    }
    return card;
  }

  // Fault cards, FAULT_PAGE at a time (a badly broken conversion of a large model can have hundreds).
  const FAULT_PAGE = 20;
  function faultsSection(loc, fixesByFault, network) {
    const faults = loc.faults || [];
    const byTarget = new Map((loc.pairs || []).map((p) => [p.target, p]));
    const cards = el('div', { id: 'fault-cards' });
    const more = el('button', { type: 'button', id: 'more-faults' });
    const showMore = () => {
      const start = cards.childElementCount;
      faults.slice(start, start + FAULT_PAGE).forEach((f, k) => {
        const p = byTarget.get((f.target || {}).tensor);
        cards.append(faultCard(f, start + k + 1, fixesByFault ? fixesByFault.get(f.summary) : null,
          p && network ? () => { network.select(p); network.scrollIntoView(); } : null));
      });
      const left = faults.length - cards.childElementCount;
      more.textContent = `show ${Math.min(left, FAULT_PAGE)} more of ${left} remaining faults`;
      more.style.display = left > 0 ? '' : 'none';
    };
    more.addEventListener('click', showMore);
    showMore();
    return section('faults', `Faults (${faults.length})`,
      faults.length ? null : el('p', { id: 'no-faults', text: 'No fault: every mapped tensor is within its noise threshold.' }),
      cards, el('div', { class: 'pager' }, more));
  }

  function localizeSummary(loc, extra) {
    const c = loc.coverage || {};
    const th = loc.thresholds || {};
    return section('summary', 'Summary',
      modelsTable(Object.assign({}, loc.models || { source: { path: loc.source }, target: { path: loc.target } }, extra && extra.models)),
      kvTable([
        ['data', loc.data ? `${loc.data.kind}: ${loc.data.description}` : null],
        ['probe', loc.probe],
        ...(extra ? extra.rows : []),
        ['noise floor', "per tensor: the source's fp32 vs fp64 values, each op fed the fp64 values (its own rounding)"],
        ['tolerance', th.clean_noise_multiple !== undefined ? `a tensor is clean within max(${fmt(th.clean_noise_multiple)} × its local noise floor, ${fmt(th.clean_floor)} × its scale)` : null],
        ['mapping', `${c.target_tensors_mapped}/${c.target_tensors} target tensors, ${c.source_tensors_mapped}/${c.source_tensors} source tensors, ${c.source_ops_covered}/${c.source_ops} source ops covered (${loc.passes} passes, ${fmt(loc.seconds)} s)`],
        ['tool', (loc.tool || []).join('; ')],
        ['input contract', (loc.contract || []).join('; ')],
      ]));
  }

  function renderLocalize(loc) {
    const n = (loc.faults || []).length;
    app.append(header('localize', n ? `${n} FAULT${n > 1 ? 'S' : ''}` : 'NO FAULT', n ? 'FAULTS' : 'OK', `${loc.source} → ${loc.target}`));
    app.append(localizeSummary(loc));
    const network = networkSection('network', 'Error along the network', loc);
    app.append(network, faultsSection(loc, null, network));
  }

  // ------------------------------------------------------------------ repair

  function score(s) {
    if (!s) return '–';
    if (s.crashed) return 'crashes';
    return `${s.flips} flip${s.flips === 1 ? '' : 's'}, max error ${fmt(s.max_relative_error)} of output scale`;
  }

  function renderRepair(r) {
    const before = r.localize_before || {}, after = r.localize_after || {};
    const verify = r.verify;
    // The verdict is the verification compare's; without one nothing was written (a dry run, or no fix helped).
    const verdict = verify ? verify.verdict : r.dry_run ? 'DRY RUN' : 'NOTHING WRITTEN';
    app.append(header('repair', verdict, verdict, `${before.source} → ${before.target}${r.output ? ' → ' + r.output : ''}`));
    const repaired = r.output ? { repaired: { path: r.output, format: verify && verify.target ? verify.target.format : undefined,
      producer: verify && verify.target ? verify.target.producer : undefined, opset: verify && verify.target ? verify.target.opset : undefined,
      file_bytes: verify && verify.target ? verify.target.file_bytes : undefined, nodes: verify && verify.target ? verify.target.nodes : undefined } } : null;
    app.append(localizeSummary(before, {
      models: repaired,
      rows: [['verification samples', r.samples !== undefined ? String(r.samples) : null],
        ['repair', `${r.rounds} round(s), ${fmt(r.seconds)} s${r.dry_run ? ', dry run (nothing written)' : ''}`]],
    }));
    const cmp = (a, b) => (b < a ? 'better' : b > a ? 'worse' : '');
    const fin = r.final || {}, ini = r.initial || {};
    const metricRows = [
      el('tr', {}, el('td', { text: 'top-1 flips vs the source (fp64)' }), el('td', { class: 'num', text: String(ini.flips) }),
        el('td', { class: 'num ' + cmp(ini.flips, fin.flips), text: String(fin.flips) })),
      el('tr', {}, el('td', { text: 'max error / output scale' }), el('td', { class: 'num', text: fmt(ini.max_relative_error) }),
        el('td', { class: 'num ' + cmp(toNumber(ini.max_relative_error), toNumber(fin.max_relative_error)), text: fmt(fin.max_relative_error) })),
      el('tr', {}, el('td', { text: 'crashes' }), el('td', { class: 'num', text: ini.crashed ? 'yes' : 'no' }), el('td', { class: 'num', text: fin.crashed ? 'yes' : 'no' })),
      el('tr', {}, el('td', { text: 'faults localized' }), el('td', { class: 'num', text: String((before.faults || []).length) }),
        el('td', { class: 'num ' + cmp((before.faults || []).length, (after.faults || []).length), text: String((after.faults || []).length) })),
    ];
    const verifyRows = verify ? (verify.outputs || []).map((o) => el('tr', {},
      el('td', {}, el('code', { text: o.source_name })), el('td', {}, badge(o.verdict)),
      el('td', { class: 'num', text: fmt(o.error && o.error.max_abs) }),
      el('td', { class: 'num', text: fmt(o.error_in_noise_units && o.error_in_noise_units.max_abs) }),
      el('td', { class: 'num', text: fmt(o.tolerance && o.tolerance.abs) }))) : null;
    app.append(section('repair-metrics', 'Before and after',
      table(['metric', { label: 'before', num: 1 }, { label: 'after', num: 1 }], metricRows),
      verify ? el('div', {}, el('h4', { text: `verification: compare source vs the written model on ${verify.data ? verify.data.samples : '?'} samples` }),
        table(['output', 'verdict', { label: 'max abs error', num: 1 }, { label: '× noise floor', num: 1 }, { label: 'tolerance', num: 1 }], verifyRows, { id: 'verify-table' }))
        : el('p', { class: 'muted', text: 'No verification run (dry run, or no fix was kept).' })));
    const fixes = r.fixes || [];
    app.append(section('fixes', `Fixes (${fixes.length})`,
      fixes.length ? table(['#', 'fault', 'action', 'result', 'measured effect'], fixes.map((f, i) => el('tr', { class: 'fix-row' },
        el('td', { class: 'num', text: String(i + 1) }), el('td', {}, f.fault, el('div', { class: 'muted', text: f.text })),
        el('td', {}, el('code', { text: f.action || '–' })),
        el('td', {}, badge(f.kept ? 'kept' : 'rolled back', f.kept ? 'kept' : 'rolled-back')),
        el('td', { text: f.kept ? `${score(f.before)} → ${score(f.after)}` : (f.why || '') }))), { id: 'fixes-table' })
        : el('p', { text: 'Nothing to repair.' })));
    const fixesByFault = new Map(fixes.map((f) => [f.fault, f]));
    const network = networkSection('network', 'Error along the network, before repair', before);
    app.append(network, faultsSection(before, fixesByFault, network));
    if ((after.pairs || []).length) app.append(networkSection('network-after', 'Error along the network, after repair', after));
  }

  // ------------------------------------------------------------------ compare

  function compareSummary(c) {
    const d = c.data || {}, cal = c.calibration || {}, tol = c.tolerance || {};
    const pre = (p) => (p ? `${p.name}: ${p.channel_order} ${p.layout} ${p.dtype}` + (p.crop ? `, crop ${p.crop.join('×')}` : '') : null);
    const sp = pre(c.source && c.source.preprocess), tp = pre(c.target && c.target.preprocess);
    return section('summary', 'Summary',
      modelsTable({ source: c.source, target: c.target }),
      kvTable([
        ['data', `${d.kind}: ${d.description}: ${d.samples} compared${d.limit ? ` (limit ${d.limit})` : ''}, ${(d.skipped || []).length} skipped${d.labels ? ', labelled' : ''}`],
        ['preprocess', sp === tp ? (sp ? sp + ' (both)' : null) : `source ${sp || '–'}; target ${tp || '–'}`],
        ['noise floor', `source fp32 vs fp64 on ${cal.samples} sample(s) (${cal.which})`],
        ['tolerance', tol.mode === 'user' ? `user: |t − s| ≤ ${fmt(tol.atol || 0)} + ${fmt(tol.rtol || 0)} |s|` :
          `max(${fmt(tol.noise_multiple)} × noise floor, ${fmt(tol.abs_floor)} × output scale); flips allowed: ${fmt(tol.max_flip_rate)}`],
        ['speed', `source ${fmt(c.source && c.source.ms_per_run)} ms/sample, target ${fmt(c.target && c.target.ms_per_run)} ms/sample`],
        ['input contract', (c.contract || []).join('; ')],
        ['error', c.error],
      ]));
  }

  function outputsSection(c) {
    const rows = (c.outputs || []).map((o) => {
      const e = o.error || {};
      let labels = '–';
      if (o.top1) labels = `${o.top1.flips_beyond_noise} of ${o.top1.instances} top-1 flip beyond noise (+${o.top1.flips_near_tie} near-tie)`;
      else if (o.argmax) labels = `${o.argmax.flips_beyond_noise} of ${o.argmax.positions} argmax positions flip`;
      return el('tr', {},
        el('td', {}, el('code', { text: o.source_name }), o.target_name && o.target_name !== o.source_name ? el('div', { class: 'muted' }, 'vs ', el('code', { text: o.target_name })) : null),
        el('td', { text: `${o.kind} [${(o.shape || []).join(', ')}]` }),
        el('td', {}, badge(o.verdict)),
        el('td', { class: 'num', text: fmt(e.max_abs) }),
        el('td', { class: 'num', text: fmt(o.noise_floor && o.noise_floor.max_abs) }),
        el('td', { class: 'num', text: fmt(o.error_in_noise_units && o.error_in_noise_units.max_abs) }),
        el('td', { class: 'num', text: fmt(o.tolerance && o.tolerance.abs) }),
        el('td', { class: 'num', text: fmt(e.cosine, 7) }),
        el('td', { class: 'num', text: fmt(e.snr_db) }),
        el('td', { text: labels }),
        el('td', { class: 'muted', text: (o.reasons || []).join('; ') }));
    });
    const crashes = (c.crashes || []).map((x) => el('li', {}, badge('CRASH'), ` ${x.side} ${x.stage}${x.sample ? ' on ' + x.sample : ''}: `, el('code', { text: x.message })));
    return section('outputs', 'Outputs',
      table(['output', 'kind', 'verdict', { label: 'max abs error', num: 1 }, { label: 'noise floor', num: 1 }, { label: '× noise', num: 1 },
        { label: 'tolerance', num: 1 }, { label: 'cosine', num: 1 }, { label: 'SNR dB', num: 1 }, 'labels', 'why'], rows, { id: 'outputs-table' }),
      intendedPrecision(c),
      quantizationSplit(c),
      crashes.length ? el('ul', { id: 'crashes' }, crashes) : null);
  }

  // Targets meant to run in float16 / int8 / 16x8: judged against that precision simulated on the source.
  function intendedPrecision(c) {
    const items = (c.outputs || []).filter((o) => o.intended_precision).map((o) =>
      el('li', {}, badge(o.verdict), ' ', el('code', { text: o.source_name }), ': ',
        o.intended_precision.note));
    if (!items.length) return null;
    return el('div', {}, el('h3', { text: 'Intended precision: the budget the target is judged against' }),
      el('ul', { id: 'intended-precision' }, items));
  }

  // Quantized targets: the target's error split by its float twin (docs/compare.md).
  function quantizationSplit(c) {
    const rows = (c.outputs || []).filter((o) => o.quantization_split).map((o) => {
      const q = o.quantization_split, flips = (n) => (o.top1 ? ` · ${n} top-1 changes` : '');
      return el('tr', {},
        el('td', {}, el('code', { text: o.source_name })),
        el('td', { class: 'num', text: `${fmt(q.quantization.max_abs)} (SNR ${fmt(q.quantization.snr_db)} dB)${flips(q.quantization_flips)}` }),
        el('td', { class: 'num', text: `${fmt(q.conversion.max_abs)} (SNR ${fmt(q.conversion.snr_db)} dB)${flips(q.conversion_flips)}` }),
        el('td', { class: 'num', text: fmt(q.quantization_share) }));
    });
    if (!rows.length) return null;
    return el('div', {}, el('h3', { text: 'Quantized target: how much of the error the quantization intends' }),
      table(['output', { label: 'quantization: target vs its float twin (intended)', num: 1 },
        { label: 'the rest: float twin vs source (weight rounding, conversion)', num: 1 }, { label: 'quantization share', num: 1 }],
      rows, { id: 'quantization-split' }));
  }

  // Histogram of per-sample max abs error (log bins), with the noise floor and the tolerance marked.
  function histogram(o, samples) {
    const vals = samples.map((s) => s.outputs && s.outputs[o.source_name] ? toNumber(s.outputs[o.source_name].max_abs) : NaN)
      .filter((v) => !Number.isNaN(v));
    const box = el('div', { class: 'chart-wrap histogram', 'data-output': o.source_name },
      el('h4', {}, 'per-sample max abs error: ', el('code', { text: o.source_name }), ` (${vals.length} samples)`));
    if (!vals.length) { box.append(el('p', { class: 'muted', text: 'no per-sample errors' })); return box; }
    const exact = vals.filter((v) => v === 0).length;
    const logs = vals.filter((v) => v > 0).map((v) => (Number.isFinite(v) ? Math.log10(v) : 40));
    const marks = [['noise floor', toNumber(o.noise_floor && o.noise_floor.max_abs), '#8a94a6'], ['tolerance', toNumber(o.tolerance && o.tolerance.abs), '#c62828']]
      .filter((m) => m[1] > 0 && Number.isFinite(m[1]));
    const all = logs.concat(marks.map((m) => Math.log10(m[1])));
    let lo = all.length ? Math.floor(Math.min(...all)) : -8, hi = all.length ? Math.ceil(Math.max(...all)) : 0;
    if (hi <= lo) hi = lo + 1;
    const binsPerDecade = 4, nb = (hi - lo) * binsPerDecade;
    const counts = new Array(nb).fill(0);
    for (const l of logs) counts[Math.min(nb - 1, Math.max(0, Math.floor((l - lo) * binsPerDecade)))]++;
    const W = 480, H = 190, L = 40, R = 10, T = 10, B = 30, E = exact ? 36 : 0;
    const maxc = Math.max(...counts, exact, 1);
    const x = (l) => L + E + ((l - lo) * (W - L - R - E)) / (hi - lo);
    const y = (n) => H - B - (n * (H - T - B)) / maxc;
    const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' });
    s.append(svg('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: '#9aa3b2' }));
    const label = (tx, ty, text, anchor) => { const t = svg('text', { x: tx, y: ty, 'text-anchor': anchor || 'middle' }); t.textContent = text; s.append(t); };
    for (let e = lo; e <= hi; e++) label(x(e), H - B + 14, '1e' + e);
    label(L - 4, y(maxc) + 4, String(maxc), 'end');
    label(L - 4, H - B, '0', 'end');
    if (exact) {
      s.append(svg('rect', { x: L + 4, y: y(exact), width: E - 10, height: H - B - y(exact), fill: '#1a7f37', class: 'bin' }));
      label(L + E / 2, H - B + 14, '0');
    }
    counts.forEach((n, b) => {
      if (!n) return;
      const x0 = x(lo + b / binsPerDecade), x1 = x(lo + (b + 1) / binsPerDecade);
      s.append(svg('rect', { x: x0 + 0.5, y: y(n), width: Math.max(1, x1 - x0 - 1), height: H - B - y(n), fill: '#1f5fbf', class: 'bin' }));
    });
    for (const [name, v, color] of marks) {
      s.append(svg('line', { x1: x(Math.log10(v)), x2: x(Math.log10(v)), y1: T, y2: H - B, stroke: color, 'stroke-dasharray': '4 3' }));
      label(x(Math.log10(v)) + 3, T + 10 + (name === 'tolerance' ? 12 : 0), name, 'start');
    }
    box.append(s);
    return box;
  }

  function histogramSection(c) {
    const samples = c.per_sample;
    if (!samples) return section('histogram', 'Per-sample error', el('p', { class: 'muted', text: 'The report has no per-sample records (compare --per-sample or --html keeps them).' }));
    return section('histogram', 'Per-sample error', el('div', { class: 'grid2' }, (c.outputs || []).filter((o) => o.samples > 0).map((o) => histogram(o, samples))));
  }

  function topkList(list, other) {
    return el('ol', { class: 'topk' }, (list || []).map(([cls, score], i) =>
      el('li', { class: i === 0 ? 'top1' : '' }, `${cls}`, el('span', { class: 'muted', text: ` ${fmt(score)}` }),
        other && other[0] && other[0][0] === cls && i !== 0 ? ' ◂' : '')));
  }

  function flipsSection(c) {
    const classification = (c.outputs || []).filter((o) => o.kind === 'classification');
    if (!classification.length) return null;
    const flips = [];
    for (const s of c.per_sample || []) {
      for (const o of classification) {
        const d = s.outputs && s.outputs[o.source_name];
        if (d && d.flip) flips.push({ s, o, d });
      }
    }
    const total = classification.reduce((n, o) => n + (o.top1 ? o.top1.flips : 0), 0);
    const note = c.per_sample ? `${flips.length} flipped sample(s) with details` + (total > flips.length ? ` (of ${total} flips; batched outputs list only counts)` : '')
      : 'no per-sample records in this report';
    return section('flips', 'Label flips', el('p', { class: 'muted', text: note }),
      pagedTable({
        id: 'flips-table', pageSize: 25, items: flips,
        filters: [{ key: 'all', label: 'all flips', test: () => true }, { key: 'beyond', label: 'beyond noise only', test: (f) => f.d.flip === 'beyond-noise' }],
        search: (f) => f.s.id,
        headers: ['image', 'sample', 'output', 'source top-k', 'target top-k', 'flip', { label: 'source margin', num: 1 }],
        render: (items) => items.map(({ s, o, d }) => el('tr', { class: 'flip-row' },
          el('td', {}, s.thumbnail ? el('img', { class: 'thumb', src: s.thumbnail, alt: s.id }) : el('span', { class: 'muted', text: '–' })),
          el('td', {}, el('code', { text: s.id }), s.label !== undefined ? el('div', { class: 'muted', text: `label ${s.label}` }) : null),
          el('td', {}, el('code', { text: o.source_name })),
          el('td', {}, topkList(d.top_k && d.top_k.source)),
          el('td', {}, topkList(d.top_k && d.top_k.target, d.top_k && d.top_k.source)),
          el('td', {}, badge(d.flip)),
          el('td', { class: 'num', text: fmt(d.flip_margin) }))),
      }));
  }

  function renderCompare(c) {
    app.append(header('compare', c.verdict, c.verdict, `${c.source && c.source.path} → ${c.target && c.target.path}`));
    app.append(compareSummary(c), outputsSection(c), histogramSection(c));
    const flips = flipsSection(c);
    if (flips) app.append(flips);
    const skipped = (c.data && c.data.skipped) || [];
    if (skipped.length) {
      app.append(section('skipped', `Skipped inputs (${skipped.length})`, pagedTable({
        id: 'skipped-table', pageSize: 25, items: skipped, headers: ['input', 'why'],
        render: (items) => items.map((x) => el('tr', {}, el('td', {}, el('code', { text: x.id })), el('td', { text: x.reason }))),
      })));
    }
  }

  // ------------------------------------------------------------------ coverage

  // A path of ops in the model's own names: "Conv 'a' → Relu 'b' → ...", each name as text.
  function opPath(ex) {
    if (!ex || !ex.path) return el('span', { class: 'muted', text: '–' });
    return el('div', { class: 'op-path' }, el('code', { text: ex.path.join(' → ') }),
      el('div', { class: 'muted' }, 'in ', el('code', { text: ex.model })));
  }

  function coverageSummary(c) {
    const s = c.summary || {}, convs = c.conversions || [];
    const passing = convs.filter((x) => x.passed).length;
    const exercised = s.evidence ? s.distinct_sequences - s.untested_sequences : null;
    const models = table(['model', 'format', { label: 'ops', num: 1 }, { label: 'paths', num: 1 },
      { label: 'distinct sequences', num: 1 }, { label: 'never exercised', num: 1 }], (c.models || []).map((m) => el('tr', {},
      el('td', {}, el('code', { text: m.path })), el('td', { text: m.format }),
      el('td', { class: 'num', text: String(m.ops) }), el('td', { class: 'num', text: String(m.paths) }),
      el('td', { class: 'num', text: String(m.distinct_sequences) }),
      el('td', { class: 'num', text: m.untested ? `${m.untested.sequences} (${m.untested.paths} paths)` : '–' }))), { id: 'models' });
    return section('summary', 'Summary', models, kvTable([
      ['sequences', `paths of ${c.n} op${c.n === 1 ? '' : 's'} along data edges, folding ${c.fold}`],
      ['evidence', s.evidence ? `${convs.length} tested conversion(s): ${passing} passing, ${convs.length - passing} failing` : 'none (--against not given)'],
      ['distinct', `${s.distinct_sequences} sequences (${s.paths} paths), ${s.distinct_ops} ops`],
      ['exercised', s.evidence ? `${exercised} of ${s.distinct_sequences} sequences occur in a passing conversion` : null],
      ['never exercised', s.evidence ? `${s.untested_sequences} sequences (${s.untested_paths} of ${s.paths} paths), ${s.untested_ops} of ${s.distinct_ops} ops` : null],
      ['failure-associated', s.evidence ? `${(c.failure_associated || []).length} sequences touch a failing segment` : null],
      ['skipped', (c.skipped || []).length ? (c.skipped || []).map((x) => x.error).join('; ') : null],
    ]));
  }

  function conversionsSection(convs) {
    return section('conversions', `Tested conversions (${convs.length})`, pagedTable({
      id: 'conversions-table', pageSize: 25, items: convs, search: (x) => `${x.file} ${x.source} ${x.target}`,
      headers: ['evidence file', 'kind', 'verdict', 'source → target', 'side', { label: 'failing / clean paths', num: 1 }, 'note'],
      render: (items) => items.map((x) => el('tr', { class: x.passed ? '' : 'faulty' },
        el('td', {}, el('code', { text: x.file })), el('td', { text: x.kind }),
        el('td', {}, badge(x.verdict, x.passed ? 'OK' : 'FAULTS')),
        el('td', {}, el('code', { text: x.source }), ' → ', el('code', { text: x.target })),
        el('td', { text: x.side + (x.localized ? `, ${x.marked_nodes} op(s) marked` : '') }),
        el('td', { class: 'num', text: `${x.failing_paths} / ${x.clean_paths}` }),
        el('td', { class: 'muted', text: x.note || '' }))),
    }));
  }

  // The models' sequences: all of them without evidence, else the ones no passing conversion has.
  function sequencesSection(c) {
    const evidence = c.summary && c.summary.evidence;
    const rows = (c.sequences || []).filter((r) => !evidence || !r.exercised);
    const title = evidence ? `Never exercised by a passing conversion (${rows.length})` : `Sequences of the models (${rows.length})`;
    return section('untested', title, pagedTable({
      id: evidence ? 'untested-table' : 'sequences-table', pageSize: 50, items: rows,
      search: (r) => r.sequence + ' ' + (r.example ? r.example.path.join(' ') + ' ' + r.example.model : ''),
      headers: [{ label: 'paths', num: 1 }, { label: 'models', num: 1 }, 'sequence', 'example'],
      render: (items) => items.map((r) => el('tr', { class: 'sequence-row' },
        el('td', { class: 'num', text: String(r.occurrences) }), el('td', { class: 'num', text: String(r.models) }),
        el('td', {}, el('code', { text: r.sequence })), el('td', {}, opPath(r.example)))),
    }));
  }

  function failureSection(ranked) {
    const rank = new Map(ranked.map((r, i) => [r, i + 1]));
    return section('failure', `Associated with failing segments (${ranked.length})`,
      el('p', { class: 'muted', text: 'Ranked by a one-sided Fisher exact test over paths (failing = through a failing segment), then lift; a ranking score, not a calibrated significance level.' }),
      pagedTable({
        id: 'failure-table', pageSize: 50, items: ranked,
        search: (r) => r.sequence + ' ' + (r.failing_example ? r.failing_example.path.join(' ') : ''),
        headers: [{ label: 'rank', num: 1 }, 'sequence', { label: 'p-value', num: 1 }, { label: 'lift', num: 1 },
          { label: 'failing paths', num: 1 }, { label: 'clean paths', num: 1 }, { label: 'conversions fail / pass', num: 1 },
          'in models', 'failing example'],
        render: (items) => items.map((r) => el('tr', { class: 'failure-row' },
          el('td', { class: 'num', text: String(rank.get(r)) }), el('td', {}, el('code', { text: r.sequence })),
          el('td', { class: 'num', text: fmt(r.p_value, 2) }), el('td', { class: 'num', text: fmt(r.lift) }),
          el('td', { class: 'num', text: String(r.failing_paths) }), el('td', { class: 'num', text: String(r.clean_paths) }),
          el('td', { class: 'num', text: `${r.failing_conversions} / ${r.passing_conversions}` }),
          el('td', { text: r.models > 0 ? `yes (${r.occurrences} paths)` : 'no' }), el('td', {}, opPath(r.failing_example)))),
      }));
  }

  function renderCoverage(c) {
    const s = c.summary || {};
    const verdict = !s.evidence ? 'NO EVIDENCE' : s.untested_sequences ? `${s.untested_sequences} UNTESTED` : 'ALL EXERCISED';
    const nm = (c.models || []).length;
    app.append(header('coverage', verdict, !s.evidence ? 'none' : s.untested_sequences ? 'DEGRADED' : 'OK',
      `${nm} model${nm === 1 ? '' : 's'}, sequences of ${c.n} ops`));
    app.append(coverageSummary(c));
    if (s.evidence) app.append(conversionsSection(c.conversions || []));
    app.append(sequencesSection(c));
    if (s.evidence) app.append(failureSection(c.failure_associated || []));
  }

  // ------------------------------------------------------------------ main

  const schema = report.schema || '';
  if (schema === 'transfix.localize/1') renderLocalize(report);
  else if (schema === 'transfix.repair/1') renderRepair(report);
  else if (schema === 'transfix.compare/1') renderCompare(report);
  else if (schema === 'transfix.coverage/1') renderCoverage(report);
  else app.append(el('p', { text: 'Unknown report schema: ' + schema }));
  app.append(el('footer', { class: 'muted', style: 'margin-top:32px' },
    `${schema} · generated by transfix · the data shown is the JSON in this file's report-data element`));
  document.body.dataset.rendered = 'true';
}());
