// crmhub console: a small script over the hub's JSON API. See the package
// doc (hub/console/doc.go) for why it is built this way. Every value from
// the API is put into the page as text (textContent), never as HTML.
'use strict';
(function () {
  const TOKEN_KEY = 'crmhub.token';
  const main = document.getElementById('main');
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const signoutBtn = document.getElementById('signout');
  const toastEl = document.getElementById('toast');

  let cfg = { auth_required: true };
  // session: null until signed in; then { token, steward }.
  let session = null;
  let page = '';
  let pollTimer = 0;
  let keyHandler = null;
  let lastSearch = null; // the last customer search, kept in memory only (PII stays out of the URL)

  // h builds an element: attributes (on* are listeners), then children
  // (strings become text nodes; null and false are skipped).
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    for (const c of kids.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  let fieldSeq = 0;
  // field is a labelled control.
  function field(label, control) {
    if (!control.id) control.id = 'f' + (++fieldSeq);
    return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
  }

  function toast(msg) {
    toastEl.textContent = msg;
    toastEl.classList.add('show');
    clearTimeout(toast.t);
    toast.t = setTimeout(() => toastEl.classList.remove('show'), 3000);
  }

  function render(title, ...nodes) {
    document.title = title + ' · crmhub console';
    const had = main.contains(document.activeElement) && document.activeElement !== main;
    main.replaceChildren(h('h1', {}, title), ...nodes);
    // The focused control went with the old content: start the next Tab
    // at the top of the new page, not at the top of the document.
    if (had || document.activeElement === document.body) main.focus({ preventScroll: true });
  }

  function errorBox(msg) {
    return h('p', { class: 'error', role: 'alert' }, msg);
  }

  // api calls the hub's JSON API with the session's token in the
  // Authorization header. A 401 ends the session.
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (session && session.token) headers.Authorization = 'Bearer ' + session.token;
    const init = { method, headers, credentials: 'omit', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    const out = { status: res.status, ok: res.ok, data, url: res.url, redirected: res.redirected };
    if (res.status === 401 && cfg.auth_required && session) {
      signOut('The session ended: the token is invalid or was revoked. Sign in again.');
      throw new Error('unauthenticated');
    }
    return out;
  }

  function apiError(res, what) {
    if (res.status === 403) return errorBox('Your token\u2019s scopes do not allow ' + what + '. ' + msgOf(res));
    if (res.status === 404) return errorBox('Not found: ' + msgOf(res));
    return errorBox('Could not complete ' + what + ': the hub answered ' + res.status + '. ' + msgOf(res));
  }

  function msgOf(res) {
    return (res.data && res.data.error && res.data.error.message) || '';
  }

  function qs(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== '' && v !== undefined && v !== null) u.set(k, v);
    const s = u.toString();
    return s ? '?' + s : '';
  }

  const enc = encodeURIComponent;

  // --- formatting -------------------------------------------------------

  function fmtValue(v) {
    if (v === null || v === undefined || v === '') return '';
    if (Array.isArray(v)) return v.map(fmtValue).filter(Boolean).join('; ');
    if (typeof v === 'object') {
      if ('amount' in v && 'currency' in v && Object.keys(v).length <= 2) return v.amount + ' ' + v.currency;
      if ('system' in v && 'id' in v) return v.system + (v.entity ? '/' + v.entity : '') + ': ' + v.id;
      return Object.entries(v).filter(([, x]) => x !== '' && x !== null && x !== undefined)
        .map(([k, x]) => (typeof x === 'boolean' ? k + ': ' + (x ? 'yes' : 'no') : fmtValue(x))).join(', ');
    }
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    return String(v);
  }

  function fmtTime(s) {
    if (!s) return '';
    const d = new Date(s);
    if (isNaN(d)) return String(s);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  function fmtDuration(sec) {
    if (!sec || sec < 0) return '0 s';
    if (sec < 90) return sec.toFixed(sec < 10 ? 1 : 0) + ' s';
    if (sec < 5400) return Math.round(sec / 60) + ' min';
    if (sec < 172800) return Math.round(sec / 3600) + ' h';
    return Math.round(sec / 86400) + ' d';
  }

  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  const fieldOrder = ['kind', 'full_name', 'given_name', 'family_name', 'organization_name', 'tax_id', 'birth_date', 'gender',
    'identifiers', 'emails', 'phones', 'addresses', 'language', 'status', 'segment', 'account_manager', 'credit_limit',
    'consent', 'external_ids', 'created_at', 'updated_at', 'custom'];
  const fieldLabels = { full_name: 'Full name', given_name: 'Given name', family_name: 'Family name', organization_name: 'Organization',
    tax_id: 'Tax id', birth_date: 'Birth date', credit_limit: 'Credit limit', external_ids: 'External ids', account_manager: 'Account manager',
    created_at: 'Created', updated_at: 'Updated', emails: 'E-mails', phones: 'Phones' };
  function label(k) {
    return fieldLabels[k] || (k.charAt(0).toUpperCase() + k.slice(1).replace(/_/g, ' '));
  }

  // fieldsOf lists the field names present in any of the records, in a
  // fixed order: absent fields (hidden by scope, or empty) have no row.
  function fieldsOf(...records) {
    const seen = new Set();
    for (const r of records) for (const k of Object.keys(r || {})) if (fmtValue(r[k]) !== '') seen.add(k);
    const known = fieldOrder.filter((k) => seen.has(k));
    return known.concat([...seen].filter((k) => !fieldOrder.includes(k)).sort());
  }

  function recordKey(s) { return s.system + '/' + s.source_entity + '/' + s.source_id; }

  function displayName(c) {
    return c.full_name || c.organization_name || [c.given_name, c.family_name].filter(Boolean).join(' ') || '(no name)';
  }

  // norm makes two values comparable the way a matcher would: case,
  // spacing and punctuation do not count.
  function norm(k, v) {
    let s = fmtValue(v).toLowerCase();
    if (k === 'phones') s = s.split(';').map((p) => p.replace(/[^\d+]/g, '')).sort().join(';');
    else if (k === 'emails') s = s.split(';').map((p) => p.trim()).sort().join(';');
    else s = s.replace(/[\s.,\-]+/g, ' ').trim();
    return s;
  }

  function table(headers, rows, opts) {
    return h('div', { class: 'scroll' }, h('table', opts || {},
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows)));
  }

  // --- session ----------------------------------------------------------

  async function probeSteward() {
    try {
      const r = await api('GET', '/v1/reviews?limit=1');
      return r.ok;
    } catch (e) { return false; }
  }

  function showNav() {
    nav.hidden = false;
    for (const a of nav.querySelectorAll('a')) a.hidden = a.dataset.needs === 'steward' && !session.steward;
    signoutBtn.hidden = !cfg.auth_required;
  }

  function signOut(msg) {
    sessionStorage.removeItem(TOKEN_KEY);
    session = null;
    nav.hidden = true;
    who.textContent = '';
    signoutBtn.hidden = true;
    stopPage();
    if (location.hash !== '#/signin') history.replaceState(null, '', '#/signin');
    signInPage(msg);
  }

  async function startSession(token) {
    session = { token, steward: false };
    session.steward = await probeSteward();
    who.textContent = cfg.auth_required ? ('Signed in' + (session.steward ? ' \u00b7 steward' : '')) : ('Authentication off \u00b7 acting as ' + (cfg.local_actor || 'local'));
    showNav();
  }

  function signInPage(msg) {
    const tok = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false' });
    const err = h('div', {});
    if (msg) err.append(errorBox(msg));
    const form = h('form', { class: 'card', id: 'signin' },
      h('p', {}, 'Sign in with an API token (', h('code', {}, 'crmhub tokens create'), '). It is kept in this tab only and sent as a header, never in a URL.'),
      field('API token', tok), err,
      h('p', {}, h('button', { type: 'submit' }, 'Sign in')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      err.replaceChildren();
      const token = tok.value.trim();
      if (!token) return;
      const res = await fetch('/v1/customers?view=summary&limit=1', { headers: { Authorization: 'Bearer ' + token }, credentials: 'omit', cache: 'no-store' });
      if (res.status === 401) { err.append(errorBox('The token is invalid or revoked.')); return; }
      if (res.status === 403) { err.append(errorBox('This token has no scope that reads customers.')); return; }
      if (!res.ok) { err.append(errorBox('The hub answered ' + res.status + '; try again.')); return; }
      sessionStorage.setItem(TOKEN_KEY, token);
      await startSession(token);
      location.hash = '#/customers';
      route();
    });
    render('Sign in', form);
    tok.focus();
  }

  // --- customers --------------------------------------------------------

  function customersPage() {
    const s = lastSearch || {};
    const inputs = {
      name: h('input', { type: 'search', name: 'name', value: s.name || '', autocomplete: 'off' }),
      email: h('input', { type: 'search', name: 'email', value: s.email || '', autocomplete: 'off' }),
      phone: h('input', { type: 'search', name: 'phone', value: s.phone || '', autocomplete: 'off' }),
      tax_id: h('input', { type: 'search', name: 'tax_id', value: s.tax_id || '', autocomplete: 'off' }),
      system: h('input', { type: 'search', name: 'system', value: s.system || '', autocomplete: 'off' }),
      source_id: h('input', { type: 'search', name: 'source_id', value: s.source_id || '', autocomplete: 'off' }),
    };
    const results = h('div', { id: 'results', 'aria-live': 'polite' });
    const form = h('form', { class: 'row', id: 'search', role: 'search' },
      field('Name (prefix)', inputs.name), field('E-mail', inputs.email), field('Phone (any format)', inputs.phone),
      field('Tax id', inputs.tax_id), field('System', inputs.system), field('Source id', inputs.source_id),
      h('button', { type: 'submit' }, 'Search'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const q = {};
      for (const [k, el] of Object.entries(inputs)) q[k] = el.value.trim();
      lastSearch = q;
      search(results, q, '');
    });
    render('Customers', form, results);
    inputs.name.focus();
    if (lastSearch) search(results, lastSearch, '');
  }

  async function search(results, q, cursor) {
    const res = await api('GET', '/v1/customers' + qs(Object.assign({ view: 'summary', limit: 50, cursor }, q)));
    if (!res.ok) { results.replaceChildren(apiError(res, 'searching customers')); return; }
    const items = res.data.items || [];
    const rows = items.map((c) => h('tr', {},
      h('td', {}, h('a', { href: '#/customer/' + enc(c.id), class: 'customer-link' }, displayName(c))),
      h('td', {}, c.kind || ''), h('td', {}, c.email || ''), h('td', {}, c.phone || ''),
      h('td', {}, [c.postal_code, c.city].filter(Boolean).join(' ')), h('td', { class: 'small muted' }, c.id)));
    const out = [h('p', { class: 'muted' }, items.length ? items.length + (res.data.next_cursor ? '+' : '') + ' customers' : 'No customer matches.')];
    if (items.length) out.push(table(['Name', 'Kind', 'E-mail', 'Phone', 'Place', 'Id'], rows));
    if (res.data.next_cursor) out.push(h('p', {}, h('button', { type: 'button', class: 'secondary', onclick: () => search(results, q, res.data.next_cursor) }, 'Next page')));
    results.replaceChildren(...out);
  }

  async function customerPage(id) {
    render('Customer', h('p', { class: 'muted' }, 'Loading\u2026'));
    const res = await api('GET', '/v1/customers/' + enc(id));
    if (!res.ok) { render('Customer', apiError(res, 'this customer')); return; }
    const c = res.data;
    const notes = [];
    if (c.id !== id) {
      // A merged id: the API redirected to the survivor.
      history.replaceState(null, '', '#/customer/' + enc(c.id));
      notes.push(h('p', { class: 'card', id: 'merged-note' }, 'Customer ' + id + ' was merged into ' + c.id + '; showing the survivor.'));
    }
    const g = c.customer || {};
    const sources = c.sources || [];
    const lineage = c.lineage || {};
    const lineageOf = (k) => Object.entries(lineage).filter(([f]) => f === k || f.startsWith(k + '.'));
    const fields = fieldsOf(g, ...sources.map((s) => s.record));

    const goldenRows = fieldsOf(g).map((k) => h('tr', { 'data-field': k },
      h('th', { scope: 'row' }, label(k)), h('td', {}, fmtValue(g[k])),
      h('td', { class: 'small muted' }, lineageOf(k).map(([f, l]) => (f !== k ? f + ': ' : '') + l.rule + ' \u2190 ' + (l.source || (l.sources || []).join(', '))).join('; '))));

    const srcHead = ['Field', 'Golden'].concat(sources.map((s) => s.system + ' \u00b7 ' + s.source_entity + ' \u00b7 ' + s.source_id));
    const srcRows = fields.map((k) => h('tr', {},
      h('th', { scope: 'row' }, label(k)), h('td', {}, fmtValue(g[k])),
      sources.map((s) => {
        const v = (s.record || {})[k];
        const cls = fmtValue(v) === '' ? 'muted' : (norm(k, v) === norm(k, g[k]) ? 'same' : 'diff');
        return h('td', { class: cls }, fmtValue(v));
      })));
    const srcUpdated = h('tr', {}, h('th', { scope: 'row' }, 'Source updated'), h('td', {}, ''), sources.map((s) => h('td', { class: 'small' }, fmtTime(s.updated_at))));

    const parts = [...notes,
      h('div', { class: 'card' },
        h('p', { class: 'muted small', id: 'customer-summary' }, (g.kind || 'customer') + ' \u00b7 golden id ', h('code', {}, c.id), ' \u00b7 ', sources.length + ' source records \u00b7 updated ' + fmtTime(c.updated_at)),
        c.merged_from && c.merged_from.length ? h('p', { class: 'small' }, 'Merged ids: ', c.merged_from.join(', ')) : null,
        c.last_contact ? h('p', { class: 'small' }, 'Last contact: ' + fmtTime(c.last_contact)) : null,
        c.open_balance ? h('p', { id: 'open-balance' }, 'Open balance: ' + (c.open_balance.length ? fmtValue(c.open_balance) : 'none')) : null),
      h('h2', {}, 'Golden record and lineage'),
      table(['Field', 'Value', 'Lineage (rule \u2190 source record)'], goldenRows, { id: 'golden' }),
      h('h2', {}, 'Source records side by side'),
      h('p', { class: 'small muted' }, 'Green: equal to the golden value; red: differs.'),
      table(srcHead, [...srcRows, srcUpdated], { id: 'sources' })];

    if (c.value) parts.push(valueSection(c.value));
    if (c.orders) parts.push(linkedSection(id, c, 'orders', 'Orders', ['Number', 'Date', 'Status', 'Total'],
      (o) => [o.order_number, o.order_date, o.status, fmtValue(o.total)]));
    if (c.payments) parts.push(linkedSection(id, c, 'payments', 'Payments', ['Document', 'Type', 'Date', 'Due', 'Amount', 'Status'],
      (p) => [p.document_number, p.type, p.date, p.due_date, fmtValue(p.amount), p.status]));
    if (c.service_cases) parts.push(linkedSection(id, c, 'service_cases', 'Service cases', ['Case', 'Opened', 'Status', 'Priority', 'Subject'],
      (s) => [s.case_number, fmtTime(s.opened_at), s.status, s.priority, s.subject]));

    if (session.steward) parts.push(stewardSection(c));
    render(displayName(g), ...parts);
  }

  // valueSection shows the customer value figures (GET /v1/customers/{id},
  // "value"). The API leaves out every part the token's scopes may not see
  // (hub/httpapi/value.go), so a part is shown only when present: the
  // page has no second copy of the scope rules.
  function valueSection(v) {
    const money = (list) => (list && list.length ? list.map((m) => m.amount + ' ' + m.currency).join('; ') : 'none');
    const rows = [];
    const row = (part, k, text) => rows.push(h('tr', { 'data-value': part + '.' + k }, h('th', { scope: 'row' }, text[0]), h('td', {}, text[1])));
    if (v.revenue) {
      row('revenue', 'last_12m', ['Revenue, last 12 months', money(v.revenue.last_12m)]);
      row('revenue', 'lifetime', ['Revenue, lifetime', money(v.revenue.lifetime)]);
      row('revenue', 'orders', ['Orders counted', v.revenue.orders + (v.revenue.returns ? ' (' + plural(v.revenue.returns, 'return', 'returns') + ')' : '')]);
    }
    if (v.loyalty) row('loyalty', 'stage', ['Stage', v.loyalty.stage + (v.loyalty.last_order ? ' \u00b7 last order ' + v.loyalty.last_order : '')]);
    if (v.segment) {
      // Only customers with revenue in the last 12 months are ranked.
      row('segment', 'rfm', ['RFM segment', [v.segment.segment, v.segment.rfm ? 'RFM ' + v.segment.rfm : ''].filter(Boolean).join(' \u00b7 ') || 'not ranked']);
      row('segment', 'abc', ['ABC class', v.segment.abc || 'not ranked']);
    }
    if (v.margin) row('margin', 'margin', ['Margin', money(v.margin.margin) + (v.margin.coverage ? ' (cost known for ' + v.margin.coverage + ')' : '')]);
    if (v.payments) {
      const p = v.payments;
      row('payments', 'open_balance', ['Open balance', money(p.open_balance)]);
      row('payments', 'overdue_balance', ['Overdue balance', money(p.overdue_balance)]);
      row('payments', 'days_to_pay', ['Days to pay', (p.avg_days_to_pay ? p.avg_days_to_pay + ' on average' : 'no settled invoice') +
        (p.worst_days_to_pay !== undefined ? ', worst ' + p.worst_days_to_pay : '') + ' \u00b7 ' + p.paid_invoices + ' of ' + p.invoices + ' invoices paid']);
      if (p.credit_limit_use) row('payments', 'credit_limit_use', ['Credit limit used', p.credit_limit_use]);
    }
    if (v.service) {
      const s = v.service;
      row('service', 'cases', ['Service cases', s.open + ' open, ' + s.closed + ' closed, ' + s.last_90d + ' in the last 90 days' +
        (s.avg_hours_to_close ? ' \u00b7 ' + s.avg_hours_to_close + ' h to close on average' : '')]);
    }
    return h('section', { id: 'value' }, h('h2', {}, 'Value (as of ' + v.as_of + ')'),
      rows.length ? table(['Figure', 'Value'], rows) : h('p', { class: 'muted' }, 'No figures your token may see.'));
  }

  // linkedSection shows one page of a linked list and fetches the next
  // pages with the list's cursor.
  function linkedSection(id, c, key, title, headers, cells) {
    const body = h('tbody', {});
    const add = (items) => { for (const it of items) body.append(h('tr', {}, cells(it).map((x) => h('td', {}, fmtValue(x))))); };
    add(c[key] || []);
    const moreBox = h('p', {});
    const more = (cursor) => {
      moreBox.replaceChildren();
      if (!cursor) return;
      moreBox.append(h('button', { type: 'button', class: 'secondary', onclick: async () => {
        const r = await api('GET', '/v1/customers/' + enc(c.id) + qs({ [key + '_cursor']: cursor }));
        if (!r.ok) { moreBox.replaceChildren(apiError(r, title.toLowerCase())); return; }
        add(r.data[key] || []);
        more(r.data[key + '_next_cursor']);
      } }, 'More ' + title.toLowerCase()));
    };
    more(c[key + '_next_cursor']);
    const empty = (c[key] || []).length === 0 ? h('p', { class: 'muted' }, 'None.') : null;
    return h('section', { id: 'section-' + key }, h('h2', {}, title), empty,
      empty ? null : h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))), body)), moreBox);
  }

  function stewardSection(c) {
    const reason = h('input', { type: 'text', name: 'reason', autocomplete: 'off' });
    const withId = h('input', { type: 'text', name: 'with', autocomplete: 'off' });
    const record = h('select', { name: 'record' }, (c.sources || []).map((s) => h('option', { value: recordKey(s) }, recordKey(s))));
    const out = h('div', {});
    const act = async (path, body, done) => {
      if (!reason.value.trim()) { out.replaceChildren(errorBox('Give a reason: it goes into the audit trail.')); reason.focus(); return; }
      const r = await api('POST', path, body);
      if (!r.ok) { out.replaceChildren(apiError(r, 'this action')); return; }
      done(r.data);
    };
    const audit = h('div', { id: 'audit' }, h('p', { class: 'muted' }, 'Loading\u2026'));
    api('GET', '/v1/customers/' + enc(c.id) + '/audit').then((r) => {
      if (!r.ok) { audit.replaceChildren(apiError(r, 'the audit trail')); return; }
      const items = r.data.items || [];
      audit.replaceChildren(items.length ? table(['When', 'Who', 'Action', 'Why'],
        items.map((e) => h('tr', {}, h('td', {}, fmtTime(e.at)), h('td', {}, e.actor), h('td', {}, e.action), h('td', {}, e.reason)))) :
        h('p', { class: 'muted' }, 'No steward action yet.'));
    }).catch(() => {});
    return h('section', { id: 'steward' },
      h('h2', {}, 'Merge and unmerge'),
      h('div', { class: 'row' }, field('Reason (audited)', reason)),
      h('div', { class: 'row' }, field('Merge with customer id', withId),
        h('button', { type: 'button', id: 'merge', onclick: () => act('/v1/customers/' + enc(c.id) + '/merge', { with: withId.value.trim(), reason: reason.value.trim() },
          (d) => { toast('Merged; survivor ' + d.survivor); location.hash = '#/customer/' + enc(d.survivor); }) }, 'Merge')),
      (c.sources || []).length > 1 ? h('div', { class: 'row' }, field('Source record to split out', record),
        h('button', { type: 'button', id: 'unmerge', class: 'bad', onclick: () => act('/v1/customers/' + enc(c.id) + '/unmerge', { record: record.value, reason: reason.value.trim() },
          (d) => { toast('Unmerged into ' + d.id); customerPage(c.id); }) }, 'Unmerge')) : null,
      out,
      h('h2', {}, 'Audit trail'), audit);
  }

  // --- review queue -----------------------------------------------------

  const rq = { items: [], idx: 0, cursor: '', more: false, loaded: false, busy: false, cache: new Map() };

  async function loadReviews(reset) {
    if (reset) { rq.items = []; rq.idx = 0; rq.cursor = ''; rq.more = false; rq.cache.clear(); }
    const r = await api('GET', '/v1/reviews' + qs({ limit: 200, cursor: rq.cursor }));
    if (!r.ok) return r;
    rq.items.push(...(r.data.items || []));
    rq.cursor = r.data.next_cursor || '';
    rq.more = !!rq.cursor;
    rq.loaded = true;
    return r;
  }

  async function golden(id) {
    if (!rq.cache.has(id)) {
      rq.cache.set(id, api('GET', '/v1/customers/' + enc(id)).then((r) => (r.ok ? r.data : null)));
    }
    return rq.cache.get(id);
  }

  function sourceOf(g, key) {
    return g && (g.sources || []).find((s) => recordKey(s) === key);
  }

  async function reviewsPage() {
    render('Review queue', h('p', { class: 'muted' }, 'Loading\u2026'));
    const r = await loadReviews(true);
    if (!r.ok) { render('Review queue', apiError(r, 'the review queue')); return; }
    keyHandler = reviewKeys;
    showReview();
  }

  async function showReview() {
    const count = h('p', { id: 'review-count' }, rq.items.length + (rq.more ? '+' : '') + (rq.items.length === 1 && !rq.more ? ' pair waits' : ' pairs wait') + ' for a decision');
    const keys = h('p', { class: 'keys' }, h('kbd', {}, 'a'), ' accept \u00b7 ', h('kbd', {}, 'r'), ' reject \u00b7 ',
      h('kbd', {}, 'j'), ' next \u00b7 ', h('kbd', {}, 'k'), ' previous \u00b7 ', h('kbd', {}, 'c'), ' comment');
    if (rq.idx >= rq.items.length && rq.more) { await loadReviews(false); }
    if (rq.items.length === 0) { render('Review queue', count, h('p', { id: 'review-empty' }, 'Nothing waits. Well done.')); return; }
    if (rq.idx >= rq.items.length) rq.idx = rq.items.length - 1;
    if (rq.idx < 0) rq.idx = 0;
    const it = rq.items[rq.idx];
    const mine = it;
    const [ga, gb] = await Promise.all([golden(it.golden_a), golden(it.golden_b)]);
    if (rq.items[rq.idx] !== mine || page !== 'reviews') return; // moved on meanwhile
    const a = sourceOf(ga, it.a), b = sourceOf(gb, it.b);
    const ra = (a && a.record) || {}, rb = (b && b.record) || {};
    let same = 0, differ = 0;
    const rows = fieldsOf(ra, rb).map((k) => {
      const va = fmtValue(ra[k]), vb = fmtValue(rb[k]);
      let verdict = '', cls = 'muted';
      if (va && vb) {
        if (norm(k, ra[k]) === norm(k, rb[k])) { verdict = 'same'; cls = 'same'; same++; } else { verdict = 'differs'; cls = 'diff'; differ++; }
      } else verdict = 'only one';
      return h('tr', { 'data-field': k }, h('th', { scope: 'row' }, label(k)), h('td', {}, va), h('td', {}, vb), h('td', { class: cls }, verdict));
    });
    const comment = h('textarea', { name: 'comment', rows: 2, id: 'review-comment' });
    const head = (s, key, gid) => h('div', {}, h('strong', {}, s ? s.system + ' \u00b7 ' + s.source_id : key), h('br'),
      h('a', { href: '#/customer/' + enc(gid), class: 'small' }, 'golden ' + gid));
    const card = h('div', { class: 'card', id: 'review-pair', 'data-a': it.a, 'data-b': it.b },
      h('p', {}, 'Pair ' + (rq.idx + 1) + ' of ' + rq.items.length + (rq.more ? '+' : '') + ' \u00b7 score ', h('span', { class: 'score', id: 'review-score' }, it.score.toFixed(3))),
      h('p', { class: 'small' }, 'Fields: ' + same + ' agree, ' + differ + ' differ (compared after normalizing case, spacing and phone format).'),
      matcherEvidence(it.evidence),
      table(['Field', 'Record A', 'Record B', 'Compared'], [
        h('tr', {}, h('th', { scope: 'row' }, 'Record'), h('td', {}, head(a, it.a, it.golden_a)), h('td', {}, head(b, it.b, it.golden_b)), h('td', {}, '')),
        ...rows], { id: 'review-table' }),
      field('Comment (optional, audited)', comment),
      h('div', { class: 'row' },
        h('button', { type: 'button', id: 'accept', onclick: () => decide(true), 'aria-keyshortcuts': 'a' }, 'Accept: same customer (a)'),
        h('button', { type: 'button', id: 'reject', class: 'bad', onclick: () => decide(false), 'aria-keyshortcuts': 'r' }, 'Reject: different (r)'),
        h('button', { type: 'button', class: 'secondary', onclick: () => move(-1), 'aria-keyshortcuts': 'k' }, 'Previous (k)'),
        h('button', { type: 'button', class: 'secondary', onclick: () => notSure(), 'aria-keyshortcuts': 'j' }, 'Not sure, next (j; a comment is kept as a note)')));
    render('Review queue', count, keys, card);
    // Prefetch the next pair so the steward does not wait.
    const nx = rq.items[rq.idx + 1];
    if (nx) { golden(nx.golden_a); golden(nx.golden_b); }
  }

  // The matcher's own evidence (GET /v1/reviews): each comparison's level
  // and match weight, the prior and the probability they add up to, and
  // what holds the pair for a steward.
  function matcherEvidence(ev) {
    if (!ev || !ev.terms) return h('p', { class: 'small muted' }, 'No match evidence from the matcher for this pair.');
    const rows = ev.terms.map((t) => h('tr', { 'data-comparison': t.comparison }, h('th', { scope: 'row' }, t.comparison.replace('_', ' ')),
      h('td', {}, t.level), h('td', { class: t.weight >= 0 ? 'same' : 'diff' }, (t.weight >= 0 ? '+' : '') + t.weight.toFixed(2)), h('td', {}, t.note || '')));
    return h('div', { id: 'review-evidence' },
      h('p', { class: 'small' }, 'Matcher: probability ' + ev.probability.toFixed(4) + ' (prior ' + ev.prior_weight.toFixed(2) + ' bits, total ' + ev.weight.toFixed(2) + ' bits)' +
        (ev.hold ? '. Held for review: ' + ev.hold : '')),
      table(['Comparison', 'Level', 'Weight (bits)', 'Note'], rows, { id: 'review-evidence-table' }));
  }

  function move(d) {
    if (rq.busy) return;
    rq.idx = Math.max(0, Math.min(rq.items.length - 1 + (rq.more ? 1 : 0), rq.idx + d));
    showReview();
  }

  // A decision in flight marks the pair aria-busy: keys pressed meanwhile are
  // ignored, and a screen reader (or a test) can tell when it may go on.
  function reviewBusy(on) {
    rq.busy = on;
    const card = document.getElementById('review-pair');
    if (card) card.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  async function decide(accept) {
    if (rq.busy || !rq.items[rq.idx]) return;
    reviewBusy(true);
    const it = rq.items[rq.idx];
    const c = document.getElementById('review-comment');
    try {
      const r = await api('POST', '/v1/reviews/decision', { a: it.a, b: it.b, decision: accept ? 'accept' : 'reject', reason: (c && c.value.trim()) || (accept ? 'accepted' : 'rejected') + ' in the console review queue (score ' + it.score.toFixed(3) + ')' });
      if (!r.ok) { main.append(apiError(r, 'this decision')); return; }
      rq.items.splice(rq.idx, 1);
      // Only the pair's two customers changed; the next pair's stay prefetched.
      rq.cache.delete(it.golden_a);
      rq.cache.delete(it.golden_b);
      toast(accept ? 'Accepted: merged' : 'Rejected: kept apart');
    } finally {
      reviewBusy(false);
    }
    showReview();
  }

  // Not sure: with a comment, the comment is kept as an audited note on
  // the pair (decision "defer"), which stays in the queue; then the next.
  async function notSure() {
    const it = rq.items[rq.idx];
    const c = document.getElementById('review-comment');
    const note = c && c.value.trim();
    if (it && note && !rq.busy) {
      reviewBusy(true);
      try {
        const r = await api('POST', '/v1/reviews/decision', { a: it.a, b: it.b, decision: 'defer', reason: note });
        if (!r.ok) { main.append(apiError(r, 'this note')); return; }
        toast('Noted; the pair stays in the queue');
      } finally {
        reviewBusy(false);
      }
    }
    move(1);
  }

  function reviewKeys(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT')) {
      if (ev.key === 'Escape') t.blur();
      return;
    }
    switch (ev.key) {
      case 'a': ev.preventDefault(); decide(true); break;
      case 'r': ev.preventDefault(); decide(false); break;
      case 'j': ev.preventDefault(); notSure(); break;
      case 'k': ev.preventDefault(); move(-1); break;
      case 'c': { const c = document.getElementById('review-comment'); if (c) { ev.preventDefault(); c.focus(); } break; }
    }
  }

  // --- dead letters -----------------------------------------------------

  let dlStatus = 'open';

  async function deadLettersPage() {
    const status = h('select', { name: 'status', onchange: () => { dlStatus = status.value; deadLettersPage(); } },
      ['open', 'replayed', 'resolved', ''].map((s) => h('option', { value: s, selected: s === dlStatus }, s || 'all')));
    const box = h('div', { id: 'deadletters' }, h('p', { class: 'muted' }, 'Loading\u2026'));
    render('Dead letters', h('div', { class: 'row' }, field('Status', status)), box);
    const items = [];
    let cursor = '';
    for (let i = 0; i < 10; i++) { // at most 2,000 entries on one page
      const r = await api('GET', '/v1/deadletters' + qs({ status: dlStatus, limit: 200, cursor }));
      if (!r.ok) { box.replaceChildren(apiError(r, 'dead letters (they need the steward or admin scope)')); return; }
      items.push(...(r.data.items || []));
      cursor = r.data.next_cursor || '';
      if (!cursor) break;
    }
    if (page !== 'deadletters') return;
    if (!items.length) { box.replaceChildren(h('p', { id: 'deadletters-empty' }, 'No ' + (dlStatus || '') + ' dead letters.')); return; }
    const groups = new Map();
    for (const e of items) {
      const k = (e.reason_class || 'unknown') + '\u0000' + (e.connector || '');
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(e);
    }
    const out = [h('p', {}, items.length + (cursor ? '+' : '') + ' dead letters in ' + groups.size + ' groups')];
    for (const [k, list] of groups) {
      const [reasonClass, connector] = k.split('\u0000');
      const openN = list.filter((e) => e.status === 'open').length;
      out.push(h('section', { class: 'card dl-group', 'aria-label': reasonClass + ' ' + connector, 'data-reason-class': reasonClass, 'data-connector': connector },
        h('h2', {}, reasonClass + ' \u00b7 ' + (connector || 'no connector') + ' (' + list.length + ')'),
        openN && replayable(list[0]) ? h('button', { type: 'button', class: 'secondary replay-group', onclick: async () => {
          const r = await api('POST', '/v1/deadletters/replay', { reason_class: reasonClass, connector });
          if (!r.ok) { toast('Replay failed: ' + msgOf(r)); return; }
          toast('Replayed ' + r.data.matched + ': ' + r.data.published + ' published, ' + r.data.dropped + ' dropped, ' + r.data.failed + ' failed again');
          deadLettersPage();
        } }, 'Replay all ' + openN + ' open in this group') : null,
        openN && replayable(list[0]) ? h('button', { type: 'button', class: 'secondary replay-selected',
          onclick: (ev) => replaySelected(ev.target.closest('section')) }, 'Replay selected') : null,
        list.map(deadLetter)));
    }
    box.replaceChildren(...out);
  }

  // replayable mirrors the hub's rule (hub/pipeline): only records that
  // reached a mapping can be mapped again.
  function replayable(e) {
    return ['no_mapping', 'mapping_error', 'validation_error'].includes(e.reason_class) && !!e.payload && !!e.source_id;
  }

  function deadLetter(e) {
    const note = h('input', { type: 'text', name: 'note', autocomplete: 'off' });
    const msg = h('div', {});
    const dl = (pairs) => h('dl', { class: 'small' }, pairs.filter(([, v]) => v !== '' && v !== undefined && v !== null)
      .map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]));
    let payload = '';
    if (e.payload) payload = JSON.stringify(e.payload, null, 2);
    const body = [dl([['Id', e.id], ['Status', e.status], ['Reason', e.reason], ['Field', e.field],
      ['Mapping', e.mapping ? e.mapping + (e.mapping_version ? ' v' + e.mapping_version : '') : ''],
      ['Source', (e.source_system || '') + ' / ' + (e.source_entity || '') + ' / ' + (e.source_id || '')],
      ...Object.entries(e.meta || {}).map(([k, v]) => [label(k), v]),
      ['At', fmtTime(e.at)], ['Replay attempts', e.replay_attempts], ['Last replay', fmtTime(e.replayed_at)], ['Closed', fmtTime(e.closed_at)],
      ['By', e.actor], ['Note', e.note]])];
    if (e.raw_text) body.push(h('p', { class: 'small muted' }, 'Raw record'), h('pre', { class: 'raw' }, e.raw_text));
    else if (e.raw) body.push(h('p', { class: 'small muted' }, 'Raw record (base64, not text)'), h('pre', { class: 'raw' }, e.raw));
    if (payload) body.push(h('p', { class: 'small muted' }, 'Payload'), h('pre', { class: 'payload' }, payload));
    if (e.status === 'open' && replayable(e)) {
      // A replay maps the stored payload with the hub's current mappings:
      // a fixed file counts only once the hub has reloaded it.
      body.push(h('p', { class: 'small muted' }, 'After fixing the mapping file, reload the hub\u2019s mappings (send the hub SIGHUP: kill -HUP), then replay.'));
    }
    if (e.status === 'open') {
      body.push(h('div', { class: 'row' },
        replayable(e) ? h('button', { type: 'button', class: 'replay', onclick: async () => {
          const r = await api('POST', '/v1/deadletters/' + enc(e.id) + '/replay');
          if (!r.ok) { msg.replaceChildren(apiError(r, 'the replay')); return; }
          toast(r.data.outcome === 'failed' ? 'Replay failed again: ' + (r.data.reason || '').slice(0, 160) : 'Replay: ' + r.data.outcome);
          deadLettersPage();
        } }, 'Replay') : h('span', { class: 'small muted' }, 'Not replayable (the record never reached a mapping): fix the source, then resolve.'),
        field('Note', note),
        h('button', { type: 'button', class: 'secondary resolve', onclick: async () => {
          if (!note.value.trim()) { msg.replaceChildren(errorBox('Write a note: why is it resolved without a replay?')); note.focus(); return; }
          const r = await api('POST', '/v1/deadletters/' + enc(e.id) + '/resolve', { note: note.value.trim() });
          if (!r.ok) { msg.replaceChildren(apiError(r, 'resolving')); return; }
          toast('Resolved');
          deadLettersPage();
        } }, 'Resolve with note')), msg);
    }
    const summary = (e.source_entity || '') + ' ' + (e.source_id || '(no id)') + (e.field ? ' \u00b7 field ' + e.field : '') + ' \u00b7 ' + (e.reason || '').slice(0, 120);
    const pick = e.status === 'open' && replayable(e) ?
      h('input', { type: 'checkbox', class: 'pick', value: e.id, 'aria-label': 'Select ' + (e.source_id || e.id) + ' for replay' }) : null;
    return h('div', { class: 'dl-row' }, pick,
      h('details', { class: 'dl', 'data-id': e.id }, h('summary', {}, summary), body));
  }

  // replaySelected replays the ticked entries of a group one by one and
  // reports what became of them.
  async function replaySelected(section) {
    const ids = [...section.querySelectorAll('input.pick:checked')].map((x) => x.value);
    if (!ids.length) { toast('Select dead letters first'); return; }
    const n = { published: 0, dropped: 0, failed: 0, refused: 0 };
    for (const id of ids) {
      const r = await api('POST', '/v1/deadletters/' + enc(id) + '/replay');
      if (!r.ok) n.refused++;
      else n[r.data.outcome] = (n[r.data.outcome] || 0) + 1;
    }
    toast('Replayed ' + ids.length + ': ' + n.published + ' published, ' + n.dropped + ' dropped, ' + n.failed + ' failed again' + (n.refused ? ', ' + n.refused + ' refused' : ''));
    deadLettersPage();
  }

  // --- sync status ------------------------------------------------------

  // The status page polls GET /v1/connectors rather than holding a
  // server-sent event stream: EventSource cannot send an Authorization
  // header, so the token would have to go into the URL or a cookie, which
  // this console never does (doc.go); and one small request per tab every
  // few seconds costs the hub less than a held connection per tab.
  const STATUS_POLL_MS = 3000;

  // missingBox keeps the last missing-id listing across refreshes: it walks
  // every id of the entity, so it runs on request, never by polling.
  let missingBox = null;

  async function showMissing(x) {
    missingBox.replaceChildren(h('p', { class: 'muted' }, 'Walking the ids of ' + x.connector + ' ' + x.entity + '\u2026'));
    const r = await api('GET', '/v1/reconciliation/' + enc(x.connector) + '/' + enc(x.entity) + '/missing?limit=200');
    if (!r.ok) { missingBox.replaceChildren(apiError(r, 'listing missing ids')); return; }
    const d = r.data;
    missingBox.replaceChildren(h('div', { class: 'card' }, h('h2', {}, 'Missing ids: ' + x.connector + ' ' + x.entity),
      h('p', {}, 'In the source, not in the hub: ' + ((d.missing_in_hub || []).join(', ') || 'none')),
      h('p', {}, 'In the hub, gone from the source: ' + ((d.gone_from_source || []).join(', ') || 'none'))));
  }

  async function statusPage() {
    missingBox = h('div', { id: 'missing' });
    const box = h('div', { id: 'status' }, h('p', { class: 'muted' }, 'Loading\u2026'));
    const stamp = h('p', { class: 'small muted', id: 'status-updated', 'aria-live': 'off' });
    render('Sync status', stamp, box);
    const refresh = async () => {
      const [r, rec] = await Promise.all([api('GET', '/v1/connectors'), api('GET', '/v1/reconciliation').catch(() => null)]);
      if (page !== 'status') return;
      if (!r.ok) { box.replaceChildren(apiError(r, 'connector status')); return; }
      const cs = r.data.connectors || [];
      // data-metric/data-value carry the exact figure behind each cell:
      // the same as /metrics (see httpapi.ConnectorStatus), which a test
      // compares.
      const num = (metric, v, text) => h('td', { class: 'num', 'data-metric': metric, 'data-value': v === undefined || v === null ? null : v }, text);
      const when = (metric, t) => h('td', { class: 'small', 'data-metric': metric, 'data-value': t ? Date.parse(t) / 1000 : null }, fmtTime(t));
      const rows = cs.map((c) => h('tr', { 'data-connector': c.name, 'data-state': c.state },
        h('th', { scope: 'row' }, c.name, h('br'), h('span', { class: 'small muted' }, c.plugin + ' \u00b7 ' + c.system)),
        h('td', { class: 'state-' + c.state }, c.state),
        num('records_read', c.records_read, c.records_read), num('records_mapped', c.records_mapped, c.records_mapped),
        num('records_dead_lettered', c.records_dead_lettered, c.records_dead_lettered),
        h('td', {}, c.caught_up ? 'caught up' : (c.remaining >= 0 ? c.remaining + ' left' : 'reading')),
        num('source_lag_seconds', c.source_lag_seconds, c.source_lag_seconds === undefined ? '' : fmtDuration(c.source_lag_seconds)),
        h('td', { class: 'num' }, c.rate_per_second ? c.rate_per_second.toFixed(1) + '/s' : ''),
        when('last_success', c.last_success),
        h('td', { class: 'small', 'data-metric': 'last_error' }, c.error || c.last_error ? (c.error || c.last_error) + (c.last_error_at ? ' (' + fmtTime(c.last_error_at) + ')' : '') : '')));
      const parts = [cs.length ? table(['Connector', 'State', 'Read', 'Mapped', 'Dead-lettered', 'Progress', 'Lag (last batch)', 'Rate', 'Last success', 'Last error'], rows, { id: 'connectors' }) :
        h('p', {}, 'No connector is configured.')];
      if (rec && rec.ok && rec.data.items && rec.data.items.length) {
        parts.push(h('h2', {}, 'Reconciliation'), table(['Connector', 'Entity', 'Source', 'Hub', 'Drift', 'Open dead letters', 'At', 'Error', ''],
          rec.data.items.map((x) => {
            // An error with zero counts: no round has counted yet (the
            // source may not count at all), so there is no drift to show,
            // as /metrics has none.
            const counted = !x.error || x.source_records || x.hub_records;
            return h('tr', { 'data-reconcile': x.connector + '/' + x.entity }, h('td', {}, x.connector), h('td', {}, x.entity),
              h('td', { class: 'num' }, counted ? x.source_records : ''), h('td', { class: 'num' }, counted ? x.hub_records : ''),
              h('td', { class: 'num ' + (x.drift ? 'diff' : 'same'), 'data-metric': 'drift', 'data-value': counted ? x.drift : null }, counted ? x.drift : '\u2014'),
              h('td', { class: 'num' }, x.dead_letters_open), h('td', { class: 'small' }, fmtTime(x.at)), h('td', { class: 'small' }, x.error || ''),
              h('td', {}, x.drift ? h('button', { type: 'button', class: 'secondary', onclick: () => showMissing(x) }, 'Missing ids') : null));
          })),
          missingBox);
      }
      box.replaceChildren(...parts);
      stamp.textContent = 'Updated ' + new Date().toLocaleTimeString() + ' \u00b7 refreshes every ' + (STATUS_POLL_MS / 1000) + ' s';
    };
    await refresh();
    pollTimer = setInterval(() => { refresh().catch(() => {}); }, STATUS_POLL_MS);
  }

  // --- routing ----------------------------------------------------------

  function stopPage() {
    clearInterval(pollTimer);
    pollTimer = 0;
    keyHandler = null;
  }

  async function route() {
    stopPage();
    if (!session) { signInPage(); return; }
    const hash = location.hash.replace(/^#\/?/, '');
    const [name, ...rest] = hash.split('/');
    const arg = decodeURIComponent(rest.join('/'));
    page = name || 'customers';
    for (const a of nav.querySelectorAll('a')) {
      if (a.dataset.page === page || (page === 'customer' && a.dataset.page === 'customers')) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    try {
      switch (page) {
        case 'customers': customersPage(); break;
        case 'customer': await customerPage(arg); break;
        case 'reviews': await reviewsPage(); break;
        case 'deadletters': await deadLettersPage(); break;
        case 'status': await statusPage(); break;
        case 'signin': location.hash = '#/customers'; break;
        default: render('Not found', h('p', {}, 'No such page. '), h('a', { href: '#/customers' }, 'Customers'));
      }
    } catch (e) {
      if (e.message !== 'unauthenticated') render('Error', errorBox('Something failed: ' + e.message));
    }
  }

  document.addEventListener('keydown', (ev) => {
    if (keyHandler) { keyHandler(ev); return; }
    const t = ev.target;
    if (ev.key === '/' && page === 'customers' && !(t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT'))) {
      const f = document.querySelector('form#search input');
      if (f) { ev.preventDefault(); f.focus(); }
    }
  });
  window.addEventListener('hashchange', route);
  signoutBtn.addEventListener('click', () => signOut());

  async function boot() {
    try {
      const r = await fetch('config.json', { cache: 'no-store' });
      if (r.ok) cfg = await r.json();
    } catch (e) { /* keep the default: ask for a token */ }
    if (!cfg.auth_required) {
      await startSession('');
    } else {
      const t = sessionStorage.getItem(TOKEN_KEY);
      if (t) await startSession(t);
    }
    route();
  }
  boot();
})();
