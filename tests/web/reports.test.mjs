// The manager's reports in Chromium (issue 11): a manager signs in, opens each report,
// changes the date range and sees the charts and tables change, downloads the CSV;
// axe finds no serious or critical violations; screenshots at 390 and 1280 px in
// tests/.work/screenshots/. The history is made through the real API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, api, login, unique, capture, signIn, ADMIN, PASSWORD } from './lib.mjs';

let server, browser, admin;
const CHICAGO = { lat: 41.8781, lon: -87.6298 };
const RAISED = 5;

before(async () => {
  server = await startServer();
  browser = await launch();
  admin = await login(server.base, ADMIN.email, ADMIN.password);
  const plan = await api(server.base, 'POST', '/api/v1/plans', admin,
    { name: 'Home and Office', categories: ['television', 'laptop', 'printer'], monthly_price_cents: 2999, currency: 'USD' });
  assert.equal(plan.status, 201, JSON.stringify(plan.body));
  const experts = [];
  for (const [i, name] of ['Avery Fixwell', 'Blake Solder'].entries()) {
    const email = `${unique('expert')}@experts.test`;
    const r = await api(server.base, 'POST', '/api/v1/experts', admin, {
      name, email, password: PASSWORD, phone: `+1312555${7000 + i}`, skills: ['television', 'laptop', 'printer'],
      service_area: { center: CHICAGO, radius_km: 40 }, locale: 'en-US',
      location: { lat: CHICAGO.lat + i * 0.02, lon: CHICAGO.lon }, available: true,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    experts.push({ id: r.body.id, token: await login(server.base, email, PASSWORD) });
  }
  const email = `${unique('casey')}@customers.test`;
  const c = await api(server.base, 'POST', '/api/v1/customers', null, {
    name: 'Casey Doe', email, password: PASSWORD, phone: '+13125550199', notify_by: 'email',
    address: '1 Main St, Chicago', location: CHICAGO,
  });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const customer = await login(server.base, email, PASSWORD);
  const sub = await api(server.base, 'POST', '/api/v1/customers/me/subscriptions', customer,
    { plan_id: plan.body.id, product: 'Living-room TV' });
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  const categories = ['television', 'laptop', 'printer', 'laptop', 'television'];
  for (const [i, category] of categories.entries()) {
    const t = await api(server.base, 'POST', '/api/v1/tickets', customer,
      { subscription_id: sub.body.id, category, title: `Trouble ${i}`, description: 'It stopped working this morning.' });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    const who = experts.find((e) => e.id === t.body.assigned_expert_id);
    if (!who) continue;
    const path = `/api/v1/tickets/${t.body.id}`;
    if (i === 1) {
      assert.equal((await api(server.base, 'POST', `${path}/decline`, who.token, { reason: 'Too far' })).status, 200);
      continue;
    }
    assert.equal((await api(server.base, 'POST', `${path}/accept`, who.token, {})).status, 200);
    if (i % 2 === 0) {
      const r = await api(server.base, 'POST', `${path}/complete`, who.token, { resolution: 'Replaced the power board.' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Reloads until the read model has caught up with what the `before` hook did. */
async function untilRaised(page, n) {
  for (let i = 0; i < 50; i++) {
    const raised = await page.locator('table:has(caption:text("Tickets per day")) tbody tr td:nth-child(2)').allInnerTexts();
    if (raised.map(Number).reduce((a, b) => a + b, 0) === n) return;
    await page.waitForTimeout(300);
    await page.reload();
  }
  assert.fail(`the report never showed ${n} tickets raised`);
}

async function charts(page) {
  const svgs = page.locator('figure.chart-box svg[role="img"]');
  const n = await svgs.count();
  const out = [];
  for (let i = 0; i < n; i++) out.push({ label: await svgs.nth(i).getAttribute('aria-label'), svg: await svgs.nth(i).innerHTML() });
  return out;
}

test('a manager opens each report, changes the range, sees charts and tables change, and downloads the CSV', async () => {
  const email = `${unique('manager')}@sysops.test`;
  const r = await api(server.base, 'POST', '/api/v1/users', admin, { name: 'Morgan Manager', email, password: PASSWORD, role: 'manager' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await signIn(page, server.base, email, PASSWORD);
  assert.equal(new URL(page.url()).pathname, '/manager');

  // Ticketing: this month's figures.
  await page.getByRole('link', { name: 'Ticketing report' }).first().click();
  await page.waitForLoadState('load');
  assert.equal(await page.locator('h1').innerText(), 'Ticketing report');
  await untilRaised(page, RAISED);
  const before = await charts(page);
  assert.deepEqual(before.map((c) => c.label),
    ['Tickets per day', 'Tickets raised by category', 'Median time per step', 'Open tickets by age']);
  for (const c of before) {
    assert.match(c.svg, /<text[^>]*>[^<]*Tickets|Minutes|Open tickets/, `${c.label} has an axis label`);
  }
  const byCategory = await page.locator('table:has(caption:text("Tickets raised by category")) tbody').innerText();
  assert.match(byCategory, /Laptops\s+2/);
  const declined = await page.locator('table:has(caption:text-matches("^Declined"))').innerText();
  assert.match(declined, /too far\s+1/);
  await capture(page, 'report-ticketing');

  // Another range: the first ten days of January, when nothing happened.
  await page.getByLabel('From', { exact: true }).fill('2026-01-01');
  await page.getByLabel('To (included)').fill('2026-01-10');
  await page.getByLabel('Time zone', { exact: true }).fill('Europe/Paris');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForLoadState('load');
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('from'), '2026-01-01');
  const days = await page.locator('table:has(caption:text("Tickets per day")) tbody tr').allInnerTexts();
  assert.equal(days.length, 10);
  assert.match(days[0], /^2026-01-01\s+0\s+0\s+0$/);
  const after = await charts(page);
  assert.notEqual(after[0].svg, before[0].svg, 'the volume chart changed with the range');
  assert.notEqual(after[1].svg, before[1].svg, 'the category chart changed with the range');
  assert.match(await page.locator('.muted').first().innerText(), /days in Europe\/Paris/);
  await capture(page, 'report-ticketing-january');

  // The CSV of what the page shows.
  const href = await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href');
  assert.match(href, /^\/manager\/reports\/ticketing\.csv\?from=2026-01-01&to=2026-01-10&tz=Europe%2FParis/);
  const csv = await page.request.get(server.base + href);
  assert.equal(csv.status(), 200);
  assert.match(csv.headers()['content-type'], /^text\/csv/);
  const lines = (await csv.text()).trim().split('\n');
  assert.equal(lines[0], 'section,key,label,metric,value');
  assert.ok(lines.includes('by_day,2026-01-01,2026-01-01,created,0'));

  // A bad range is explained on the page.
  await page.goto(`${server.base}/manager/reports/ticketing?from=2026-02-10&to=2026-02-01`);
  assert.match(await page.locator('[role="alert"]').innerText(), /from: 2026-02-10 is after to/);

  // Expert performance.
  await page.getByRole('link', { name: 'Expert performance' }).first().click();
  await page.waitForLoadState('load');
  assert.equal(await page.locator('h1').innerText(), 'Expert performance');
  const table = page.locator('table:has(caption:text("Expert performance, most completions first"))');
  const rows = await table.locator('tbody tr').allInnerTexts();
  assert.ok(rows.length >= 1, 'at least one expert worked');
  assert.match(rows.join('\n'), /Avery Fixwell|Blake Solder/);
  const expertCharts = await charts(page);
  assert.deepEqual(expertCharts.map((c) => c.label), ['Tickets completed per expert', 'First-time fix rate per expert']);
  await capture(page, 'report-experts');
  await page.getByLabel('From', { exact: true }).fill('2026-01-01');
  await page.getByLabel('To (included)').fill('2026-01-10');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('main').innerText(), /No expert worked on a ticket in this range/);
  assert.equal(await charts(page).then((c) => c.length), 0);
  await capture(page, 'report-experts-january');
  const ecsv = await page.request.get(server.base + await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href'));
  assert.equal((await ecsv.text()).trim().split('\n').length, 1, 'only the header row');
  await context.close();
});

test('the reports work with JavaScript off, and other roles are refused', async () => {
  const email = `${unique('manager')}@sysops.test`;
  const r = await api(server.base, 'POST', '/api/v1/users', admin, { name: 'Nico Manager', email, password: PASSWORD, role: 'manager' });
  assert.equal(r.status, 201);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, javaScriptEnabled: false });
  const page = await context.newPage();
  await signIn(page, server.base, email, PASSWORD);
  await page.goto(`${server.base}/manager/reports/ticketing`);
  await page.getByLabel('Category', { exact: true }).selectOption('laptop');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForLoadState('load');
  assert.equal(new URL(page.url()).searchParams.get('category'), 'laptop');
  const byCategory = await page.locator('table:has(caption:text("Tickets raised by category")) tbody').innerText();
  assert.match(byCategory, /^Laptops\s+2$/);
  await context.close();

  const agentEmail = `${unique('agent')}@sysops.test`;
  assert.equal((await api(server.base, 'POST', '/api/v1/users', admin, { name: 'Ari Agent', email: agentEmail, password: PASSWORD, role: 'agent' })).status, 201);
  const other = await browser.newContext();
  const p2 = await other.newPage();
  await signIn(p2, server.base, agentEmail, PASSWORD);
  for (const path of ['/manager/reports/ticketing', '/manager/reports/experts', '/manager/reports/experts.csv']) {
    const resp = await p2.goto(server.base + path);
    assert.equal(resp.status(), 403, path);
  }
  await other.close();
});
