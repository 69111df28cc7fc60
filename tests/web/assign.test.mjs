// Assigning a ticket by hand in the console, in Chromium against the real server: the
// staff ticket page lists the skilled experts with whether each could take the ticket
// and why; an expert who fails a hard constraint (off duty) is refused at the field; one
// who fails only a soft one (outside their service area) needs the override box ticked;
// a missing reason is refused at its field; the next best goes to the best fitting
// expert; a form without the CSRF token changes nothing. A manager and an agent (with
// JavaScript off) do it. Every page is checked with axe and screenshotted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, launch, api, login, unique, capture, signIn, shots, ADMIN, PASSWORD } from './lib.mjs';

const CHICAGO = { lat: 41.88, lon: -87.63 };
const MILWAUKEE = { lat: 43.04, lon: -87.91 };
let server, browser, admin, customer, sub;
const experts = {};

before(async () => {
  server = await startServer();
  browser = await launch();
  admin = await login(server.base, ADMIN.email, ADMIN.password);
  const plan = await api(server.base, 'POST', '/api/v1/plans', admin, { name: 'Laptop Care', categories: ['laptop'], monthly_price_cents: 1999, currency: 'USD' });
  assert.equal(plan.status, 201, JSON.stringify(plan.body));
  // Two who fit, one whose area is Milwaukee (soft: a person may send them), one off duty (hard).
  const people = [
    ['Avery Near', CHICAGO, CHICAGO, true],
    ['Dana Close', { lat: CHICAGO.lat + 0.03, lon: CHICAGO.lon }, CHICAGO, true],
    ['Blake Wide', MILWAUKEE, MILWAUKEE, true],
    ['Casey Off', CHICAGO, CHICAGO, false],
  ];
  for (const [i, [name, location, center, available]] of people.entries()) {
    const email = `${unique('expert')}@experts.test`;
    const r = await api(server.base, 'POST', '/api/v1/experts', admin, {
      name, email, password: PASSWORD, phone: `+1312555${7100 + i}`, skills: ['laptop'],
      service_area: { center, radius_km: name === 'Blake Wide' ? 20 : 50 }, locale: 'en-US', location, available,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    experts[name] = { name, id: r.body.id };
  }
  const email = `${unique('jo')}@customers.test`;
  const c = await api(server.base, 'POST', '/api/v1/customers', null, {
    name: 'Jo Caller', email, password: PASSWORD, phone: '+13125550142', notify_by: 'email', address: '1 Main St, Chicago', location: CHICAGO,
  });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  customer = await login(server.base, email, PASSWORD);
  const s = await api(server.base, 'POST', '/api/v1/customers/me/subscriptions', customer, { plan_id: plan.body.id, product: 'Work laptop' });
  assert.equal(s.status, 201, JSON.stringify(s.body));
  sub = s.body.id;
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function raise(title) {
  const t = await api(server.base, 'POST', '/api/v1/tickets', customer, { subscription_id: sub, category: 'laptop', title, description: 'It will not start.' });
  assert.equal(t.status, 201, JSON.stringify(t.body));
  assert.equal(t.body.status, 'assigned');
  return t.body;
}

async function holder(id) {
  const r = await api(server.base, 'GET', `/api/v1/tickets/${id}`, admin);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.assigned_expert_id;
}

async function staff(role, name) {
  const email = `${unique(role)}@sysops.test`;
  const r = await api(server.base, 'POST', '/api/v1/users', admin, { name, email, password: PASSWORD, role });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return email;
}

async function shoot(page, name) {
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 844 });
    await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
  }
}

const byId = (id) => Object.values(experts).find((e) => e.id === id);

test('a manager sees who could take a ticket and why, is refused an off-duty expert, and overrides a service area knowingly', async () => {
  const t = await raise('Will not boot');
  const first = byId(t.assigned_expert_id);
  assert.ok(['Avery Near', 'Dana Close'].includes(first.name), `assigned at intake to one who fits: ${first.name}`);
  const otherFit = first.name === 'Avery Near' ? experts['Dana Close'] : experts['Avery Near'];

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await signIn(page, server.base, await staff('manager', 'Mo Manager'), PASSWORD);
  await page.goto(`${server.base}/console/tickets/${t.id}`);
  assert.equal(await page.locator('a[href^="/console/customers/"]').count(), 0, 'no links to console pages a manager may not open');
  assert.equal(await page.locator('.crumbs a').getAttribute('href'), '/manager');
  const row = (e) => page.locator(`tr[data-candidate="${e.id}"]`);
  assert.match(await row(otherFit).innerText(), /Fits[\s\S]*km away[\s\S]*of \d+ tickets/);
  assert.match(await row(experts['Blake Wide']).innerText(), /May be overridden[\s\S]*outside their service area/);
  assert.match(await row(experts['Casey Off']).innerText(), /Cannot take it[\s\S]*off duty/);
  assert.equal(await row(first).count(), 0, 'the current expert is not offered again');
  await capture(page, 'console-assign-candidates');

  // Off duty is a hard constraint: refused at the field, the choice and reason kept, nothing changed.
  const expertField = page.getByLabel('Expert', { exact: true });
  await expertField.selectOption(experts['Casey Off'].id);
  await page.getByLabel('Why?', { exact: true }).fill('Casey knows this customer');
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('#f-assign-to-error').innerText(), /Casey Off cannot take this ticket: off duty/);
  assert.equal(await expertField.inputValue(), experts['Casey Off'].id);
  assert.equal(await page.getByLabel('Why?', { exact: true }).inputValue(), 'Casey knows this customer');
  assert.equal(await page.getByLabel(/Assign them anyway/).count(), 0, 'a hard constraint cannot be overridden');
  await capture(page, 'console-assign-hard');
  assert.equal(await holder(t.id), first.id, 'unchanged');

  // Outside the service area is soft: a warning and a box to tick; without it nothing changes.
  await expertField.selectOption(experts['Blake Wide'].id);
  await page.getByLabel('Why?', { exact: true }).fill('Blake is visiting Chicago this week');
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('#f-assign-to-error').innerText(), /Blake Wide fails a constraint you may override: the ticket is outside their service area/);
  assert.equal(await holder(t.id), first.id, 'a warning changes nothing');
  await capture(page, 'console-assign-soft');
  await page.getByLabel(/Assign them anyway/).check();
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await page.waitForURL(`${server.base}/console/tickets/${t.id}`);
  assert.match(await page.locator('.flash').innerText(), /assigned to Blake Wide/);
  assert.match(await page.locator('#timeline').innerText(), /Reassigned by Mo Manager[\s\S]*visiting Chicago[\s\S]*Assigned to Blake Wide/);
  assert.match(await page.locator('main').innerText(), /Why this expert[\s\S]*overridden: the ticket is outside their service area/);
  assert.equal(await holder(t.id), experts['Blake Wide'].id);
  await capture(page, 'console-assign-done');
  await context.close();
});

test('with JavaScript off an agent must give a reason, then the next best expert takes the ticket; a form without the CSRF token is refused', async () => {
  const t = await raise('Fan is loud');
  const first = byId(t.assigned_expert_id);
  const otherFit = first.name === 'Avery Near' ? experts['Dana Close'] : experts['Avery Near'];

  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, javaScriptEnabled: false });
  const page = await context.newPage();
  await signIn(page, server.base, await staff('agent', 'Ari Agent'), PASSWORD);
  await page.goto(`${server.base}/console/tickets/${t.id}`);

  // Forged: the same form without the token is refused and changes nothing.
  const forged = await page.request.post(`${server.base}/console/tickets/${t.id}/assign`, { form: { expert: '', reason: 'forged' }, maxRedirects: 0 });
  assert.equal(forged.status(), 403);
  assert.match(await forged.text(), /This form has expired/);
  assert.equal(await holder(t.id), first.id, 'the forged form changed nothing');

  // No reason: refused at the reason field.
  assert.equal(await page.getByLabel('Expert', { exact: true }).inputValue(), '', 'the next best is the default');
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('#f-assign-reason-error').innerText(), /Say why/);
  assert.equal(await page.locator('#f-assign-reason').getAttribute('aria-invalid'), 'true');
  // axe needs scripts; this page is the one checked above, so only the screenshots.
  await shoot(page, 'console-assign-no-reason-nojs');
  assert.equal(await holder(t.id), first.id);

  // With a reason, the next best: the other expert who fits (the first is withdrawn).
  await page.getByLabel('Why?', { exact: true }).fill('The customer asked for someone else');
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await page.waitForURL(`${server.base}/console/tickets/${t.id}`);
  assert.match(await page.locator('.flash').innerText(), new RegExp(`assigned to ${otherFit.name}`));
  assert.equal(await holder(t.id), otherFit.id);
  await context.close();
});

test('a customer cannot assign', async () => {
  const t = await raise('Keyboard sticks');
  const context = await browser.newContext();
  const page = await context.newPage();
  const me = await api(server.base, 'GET', '/api/v1/customers/me', customer);
  assert.equal(me.status, 200);
  await signIn(page, server.base, me.body.email, PASSWORD);
  const r = await page.goto(`${server.base}/console/tickets/${t.id}`);
  assert.equal(r.status(), 403);
  const token = await page.locator('input[name=csrf]').first().getAttribute('value');
  const post = await page.request.post(`${server.base}/console/tickets/${t.id}/assign`, { form: { csrf: token, expert: '', reason: 'mine' }, maxRedirects: 0 });
  assert.equal(post.status(), 403);
  assert.equal(await holder(t.id), t.assigned_expert_id);
  await context.close();
});
