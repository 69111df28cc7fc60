// Staff accounts in the back office, in Chromium against the real server: an admin
// lists agents, admins and managers, deactivates an agent after a confirmation step
// (their API token and their browser session stop working at once), and reactivates
// them. Failing paths: keeping the account changes nothing, a form without the CSRF
// token or without the confirmation deactivates nobody, and an admin cannot deactivate
// themselves. Every page is checked with axe and screenshotted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, api, login, unique, capture, signIn, ADMIN, PASSWORD } from './lib.mjs';

let server, browser, admin;

before(async () => {
  server = await startServer();
  browser = await launch();
  admin = await login(server.base, ADMIN.email, ADMIN.password);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function staff(role, name) {
  const email = `${unique(role)}@sysops.test`;
  const r = await api(server.base, 'POST', '/api/v1/users', admin, { name, email, password: PASSWORD, role });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { email, id: r.body.id, name };
}

async function fresh() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  return { context, page: await context.newPage() };
}

test('an admin deactivates an agent after confirming, which ends their sessions, and reactivates them', async () => {
  const sam = await staff('agent', 'Sam Caller');
  await staff('manager', 'Mo Numbers');
  const samToken = await login(server.base, sam.email, PASSWORD);
  const samBrowser = await fresh();
  await signIn(samBrowser.page, server.base, sam.email, PASSWORD);
  assert.equal((await samBrowser.page.goto(server.base + '/console')).status(), 200);

  const { context, page } = await fresh();
  await signIn(page, server.base, ADMIN.email, ADMIN.password);
  await page.getByRole('link', { name: 'Staff', exact: true }).click();
  await page.waitForURL(server.base + '/admin/staff');
  const row = (name) => page.locator('tr', { hasText: name });
  assert.match(await row('Sam Caller').innerText(), /Call-center agent[\s\S]*active/);
  assert.match(await row('Mo Numbers').innerText(), /Manager/);
  assert.match(await row(ADMIN.email).innerText(), /You/, 'no button to deactivate oneself');
  await capture(page, 'staff');

  // A forged form (no CSRF token) and a form without the confirmation deactivate nobody.
  const forged = await page.request.post(`${server.base}/admin/users/${sam.id}/standing`, { form: { disabled: 'true', confirmed: 'yes' }, maxRedirects: 0 });
  assert.equal(forged.status(), 403);
  const csrf = await page.locator('input[name=csrf]').first().getAttribute('value');
  const unconfirmed = await page.request.post(`${server.base}/admin/users/${sam.id}/standing`, { form: { csrf, disabled: 'true' }, maxRedirects: 0 });
  assert.equal(unconfirmed.status(), 303);
  assert.equal(unconfirmed.headers().location, `/admin/users/${sam.id}/deactivate`, 'sent to the confirmation step');
  assert.equal((await api(server.base, 'GET', '/api/v1/tickets', samToken)).status, 200, 'still active');

  // The confirmation step: keeping the account changes nothing.
  await page.getByRole('link', { name: 'Deactivate Sam Caller' }).click();
  await page.waitForURL(`${server.base}/admin/users/${sam.id}/deactivate`);
  assert.equal(await page.locator('h1').innerText(), 'Deactivate Sam Caller?');
  assert.match(await page.locator('main').innerText(), /signed out on every device/);
  await capture(page, 'staff-deactivate-confirm');
  await page.getByRole('link', { name: 'Keep the account' }).click();
  await page.waitForURL(server.base + '/admin/staff');
  assert.match(await row('Sam Caller').innerText(), /active/);

  // Confirmed: their token and their browser session stop working at once.
  await page.getByRole('link', { name: 'Deactivate Sam Caller' }).click();
  await page.getByRole('button', { name: 'Deactivate Sam Caller' }).click();
  await page.waitForURL(server.base + '/admin/staff');
  assert.match(await page.locator('.flash').innerText(), /Sam Caller is deactivated/);
  assert.match(await row('Sam Caller').innerText(), /deactivated/);
  await capture(page, 'staff-deactivated');
  assert.equal((await api(server.base, 'GET', '/api/v1/tickets', samToken)).status, 401, 'the token stops working');
  await samBrowser.page.goto(server.base + '/console');
  assert.match(samBrowser.page.url(), /\/sign-in/, 'the browser session stops working: back to sign-in');
  assert.equal((await api(server.base, 'POST', '/api/v1/auth/login', null, { email: sam.email, password: PASSWORD })).status, 401);

  // Reactivated: they can sign in again.
  await page.getByRole('button', { name: 'Reactivate Sam Caller' }).click();
  await page.waitForURL(server.base + '/admin/staff');
  assert.match(await page.locator('.flash').innerText(), /Sam Caller is active again/);
  await login(server.base, sam.email, PASSWORD);
  await context.close();
  await samBrowser.context.close();
});

test('an admin cannot deactivate their own account, and other roles cannot open the page', async () => {
  const ann = await staff('admin', 'Ann Second');
  const { context, page } = await fresh();
  await signIn(page, server.base, ann.email, PASSWORD);
  await page.goto(`${server.base}/admin/users/${ann.id}/deactivate`);
  await page.waitForURL(server.base + '/admin/staff');
  assert.match(await page.locator('.flash').innerText(), /cannot deactivate your own account/);
  const csrf = await page.locator('input[name=csrf]').first().getAttribute('value');
  const r = await page.request.post(`${server.base}/admin/users/${ann.id}/standing`, { form: { csrf, disabled: 'true', confirmed: 'yes' }, maxRedirects: 0 });
  assert.equal(r.status(), 303);
  await page.goto(server.base + '/admin/staff');
  assert.match(await page.locator('.flash').innerText(), /cannot disable your own account/);
  assert.equal((await api(server.base, 'GET', '/api/v1/tickets', await login(server.base, ann.email, PASSWORD))).status, 200);
  await context.close();

  const mo = await staff('manager', 'Mo Again');
  const other = await fresh();
  await signIn(other.page, server.base, mo.email, PASSWORD);
  assert.equal((await other.page.goto(server.base + '/admin/staff')).status(), 403);
  assert.equal((await other.page.goto(`${server.base}/admin/users/${ann.id}/deactivate`)).status(), 403);
  await other.context.close();
});
