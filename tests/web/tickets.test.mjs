// The ticket pages in Chromium against the real server: a customer raises a ticket
// (keyboard only), follows it live while experts act through the API, and answers the
// survey; the same with JavaScript off; an agent raises a ticket for a caller found by
// phone (a double click raises one ticket), adds a note, sees why a ticket is
// unassignable and cancels it. Every page is checked with axe and screenshotted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, launch, api, login, unique, capture, signIn, shots, ADMIN, PASSWORD } from './lib.mjs';

const PLAN = 'Home and Office';
let server, browser, admin;
/** The two experts in Chicago: {name, email, id, token}. */
const experts = [];

before(async () => {
  server = await startServer();
  browser = await launch();
  admin = await login(server.base, ADMIN.email, ADMIN.password);
  const r = await api(server.base, 'POST', '/api/v1/plans', admin, { name: PLAN, categories: ['television', 'laptop', 'printer'], monthly_price_cents: 2999, currency: 'USD' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  // Two laptop experts (nobody repairs printers: a printer ticket is unassignable).
  for (const [name, phone] of [['Morgan Field', '+13125550171'], ['Blake Stone', '+13125550172']]) {
    const email = `${unique('expert')}@experts.test`;
    const e = await api(server.base, 'POST', '/api/v1/experts', admin, {
      name, email, password: PASSWORD, phone, skills: ['laptop', 'television'],
      service_area: { center: { lat: 41.88, lon: -87.63 }, radius_km: 50 }, locale: 'en-US', location: { lat: 41.88, lon: -87.63 }, available: true,
    });
    assert.equal(e.status, 201, JSON.stringify(e.body));
    experts.push({ name, email, id: e.body.id, token: await login(server.base, email, PASSWORD) });
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function fresh(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  const page = await context.newPage();
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  return { context, page, dialogs };
}

async function tabTo(page, id) {
  for (let i = 0; i < 30; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement?.id) === id) return;
  }
  assert.fail(`Tab never reached #${id}`);
}

/** Registers a customer in Chicago through the form and covers an "Office laptop". */
async function registerAndSubscribe(page, name, phone) {
  const email = `${unique('customer')}@customers.test`;
  await page.goto(server.base + '/register');
  await page.getByLabel('Full name').fill(name);
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Mobile phone').fill(phone);
  await page.getByLabel('Street address').fill('233 S Wacker Dr');
  await page.getByLabel('Town or city').fill('Chicago, Illinois, United States');
  await page.getByRole('button', { name: 'Create my account' }).click();
  await page.waitForURL(server.base + '/my');
  await page.goto(server.base + '/my/plans/new');
  await page.getByLabel(new RegExp(PLAN)).check();
  await page.getByLabel('Which product?').fill('Office laptop');
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await page.waitForURL(server.base + '/my');
  return email;
}

function ticketIdOf(url) {
  const m = new URL(url).pathname.match(/\/tickets\/([0-9a-f-]{36})$/);
  assert.ok(m, `a ticket page: ${url}`);
  return m[1];
}

async function ticketApi(id) {
  const r = await api(server.base, 'GET', `/api/v1/tickets/${id}`, admin);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

function expertOf(t) {
  const e = experts.find((x) => x.id === t.assigned_expert_id);
  assert.ok(e, `assigned to one of ours: ${JSON.stringify(t)}`);
  return e;
}

async function expertDoes(e, id, action, body = {}) {
  const r = await api(server.base, 'POST', `/api/v1/tickets/${id}/${action}`, e.token, body);
  assert.equal(r.status, 200, `${action}: ${JSON.stringify(r.body)}`);
  return r.body;
}

test('a customer raises a ticket with the keyboard, follows it live as experts act, and answers the survey', async () => {
  const { context, page, dialogs } = await fresh();
  const email = await registerAndSubscribe(page, 'Casey Doe', '+1 312 555 0142');

  // Errors sit next to their fields and what was typed stays; a script is only text.
  const evil = 'It shows <script>alert("owned")</script> on boot & then "nothing".';
  await page.getByRole('link', { name: 'Report a problem' }).first().click();
  await page.waitForURL(server.base + '/my/tickets/new');
  await capture(page, 'ticket-form');
  await page.getByLabel('Tell us more').fill(evil);
  await page.getByRole('button', { name: 'Send to an expert' }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('#f-cover-error').innerText(), /choose the product/i);
  assert.match(await page.locator('#f-title-error').innerText(), /./);
  assert.equal(await page.locator('#f-title').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel('Tell us more').inputValue(), evil);
  await capture(page, 'ticket-form-errors');

  // The whole form with the keyboard only.
  await page.goto(server.base + '/my/tickets/new');
  await page.locator('main').focus();
  await tabTo(page, 'f-cover');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  assert.match(await page.locator('#f-cover option:checked').innerText(), /Laptops/);
  await tabTo(page, 'f-title');
  await page.keyboard.type('Laptop will not boot');
  await tabTo(page, 'f-description');
  await page.keyboard.type(evil);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Send to an expert');
  await Promise.all([page.waitForURL(/\/my\/tickets\/[0-9a-f-]{36}$/), page.keyboard.press('Enter')]);
  const id = ticketIdOf(page.url());
  assert.match(await page.locator('.flash').innerText(), /Your ticket is raised/);
  assert.equal(await page.locator('.description').innerText(), evil, 'the description is shown as typed');
  assert.equal(await page.locator('main script').count(), 0);
  let t = await ticketApi(id);
  assert.equal(t.status, 'assigned');
  const first = expertOf(t);
  const second = experts.find((e) => e !== first);
  assert.match(await page.locator('[data-ticket-status]').innerText(), /Expert assigned/);
  assert.match(await page.locator('#timeline').innerText(), new RegExp(`Raised[\\s\\S]*by you[\\s\\S]*Assigned to ${first.name.split(' ')[0]}\\b`));
  assert.doesNotMatch(await page.locator('main').innerText(), new RegExp(first.name), 'the customer sees a first name only');
  await capture(page, 'ticket-assigned');

  // The ticket page follows it live (no reload: a marker set in the page survives):
  // the first expert passes on it and the second is assigned.
  await page.evaluate(() => { window.stillHere = true; });
  await expertDoes(first, id, 'decline', { reason: 'Stuck on another job' });
  const secondName = second.name.split(' ')[0];
  await page.locator('#timeline', { hasText: `Assigned to ${secondName}` }).waitFor();
  assert.match(await page.locator('#timeline').innerText(), /The expert could not come/);
  assert.doesNotMatch(await page.locator('#timeline').innerText(), /Stuck on another job/, 'an expert\'s reason is for staff');
  assert.ok(await page.evaluate(() => window.stillHere), 'the page was not reloaded');

  // The list follows it too: the second expert accepts.
  await page.getByRole('link', { name: 'Tickets', exact: true }).click();
  await page.waitForURL(server.base + '/my/tickets');
  const tag = page.locator(`[data-ticket-status="${id}"]`);
  assert.equal(await tag.innerText(), 'Expert assigned');
  await page.getByText(/change as your tickets move/).waitFor();
  await page.evaluate(() => { window.stillHere = true; });
  await expertDoes(second, id, 'accept');
  await page.waitForFunction((i) => document.querySelector(`[data-ticket-status="${i}"]`)?.textContent === 'Expert confirmed', id);
  assert.ok(await page.evaluate(() => window.stillHere), 'the list was not reloaded');
  await capture(page, 'tickets');

  // Completed: the status, the timeline and the survey link arrive live.
  await page.getByRole('link', { name: 'Laptop will not boot' }).click();
  await page.waitForURL(`${server.base}/my/tickets/${id}`);
  await page.getByText(/change as your tickets move|Expert confirmed/).first().waitFor();
  await page.evaluate(() => { window.stillHere = true; });
  // On the way, arrived: events that leave the ticket's row as it was still arrive live.
  await expertDoes(second, id, 'en-route');
  await page.waitForFunction(() => document.querySelector('[data-ticket-status]')?.textContent === 'Expert on the way');
  await page.locator('#timeline', { hasText: `${secondName} is on the way` }).waitFor();
  await expertDoes(second, id, 'arrived');
  await page.locator('#timeline', { hasText: `${secondName} arrived` }).waitFor();
  assert.equal(await page.locator('[data-ticket-status]').innerText(), 'Expert arrived');
  await expertDoes(second, id, 'complete', { resolution: 'Reseated the memory; it boots.' });
  await page.getByRole('link', { name: 'Answer the survey' }).waitFor();
  assert.equal(await page.locator('[data-ticket-status]').innerText(), 'Fixed');
  assert.match(await page.locator('#timeline').innerText(), new RegExp(`Raised[\\s\\S]*Assigned to ${first.name.split(' ')[0]}[\\s\\S]*Assigned to ${secondName}[\\s\\S]*Accepted by ${secondName}[\\s\\S]*on the way[\\s\\S]*arrived[\\s\\S]*Completed[\\s\\S]*Reseated the memory`));
  assert.equal(await page.getByRole('button', { name: 'Cancel the ticket' }).count(), 0, 'a done ticket cannot be cancelled');
  assert.ok(await page.evaluate(() => window.stillHere), 'the page was not reloaded');
  await capture(page, 'ticket-completed');

  // The survey.
  await page.getByRole('link', { name: 'Answer the survey' }).click();
  await page.waitForURL(/\/survey\//);
  await capture(page, 'survey');
  // No rating chosen: the message sits at the rating, the comment stays.
  await page.getByLabel('Anything else?').fill('Quick and friendly.');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('#rating-error').innerText(), /Choose a rating/);
  assert.equal(await page.getByLabel('Anything else?').inputValue(), 'Quick and friendly.');
  await capture(page, 'survey-errors');
  await page.locator('input[name=rating][value="5"]').check();
  await page.getByRole('button', { name: 'Send' }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('body').innerText(), /Thank you/);
  await page.goto(`${server.base}/my/tickets/${id}`);
  assert.match(await page.locator('#timeline').innerText(), /Survey answered[\s\S]*Closed/);
  assert.equal(await page.locator('[data-ticket-status]').innerText(), 'Closed');
  assert.equal((await ticketApi(id)).status, 'closed');
  await capture(page, 'ticket-closed');
  assert.deepEqual(dialogs, [], 'no script ran');

  // Another customer's session: that ticket does not exist for them; no console page.
  const other = await fresh();
  await registerAndSubscribe(other.page, 'Robin Other', '+1 312 555 0143');
  for (const path of [`/my/tickets/${id}`, '/my/tickets/not-a-ticket']) {
    const r = await other.page.goto(server.base + path);
    assert.equal(r.status(), 404, path);
    assert.equal(await other.page.locator('h1').innerText(), 'Page not found');
  }
  const forged = await other.page.request.post(`${server.base}/my/tickets/${id}/cancel`, {
    form: { csrf: await other.page.locator('input[name=csrf]').first().getAttribute('value'), reason: '' },
    maxRedirects: 0,
  });
  assert.equal(forged.status(), 404, 'cannot cancel another customer\'s ticket');
  for (const path of [`/console/tickets/${id}`, '/console/customers/00000000-0000-0000-0000-000000000000/tickets/new']) {
    const r = await other.page.goto(server.base + path);
    assert.equal(r.status(), 403, path);
  }
  await other.context.close();
  await context.close();
  void email;
});

test('with JavaScript off, a customer raises a ticket, sees it move on reload, cancels another, and answers the survey', async () => {
  const { context, page } = await fresh({ javaScriptEnabled: false });
  await registerAndSubscribe(page, 'Noa Script', '+1 312 555 0150');
  await page.goto(server.base + '/my/tickets/new');
  await page.getByLabel('Which product, and what kind of device?').selectOption({ label: 'Laptops' });
  await page.getByLabel('In a few words, what is wrong?').fill('Fan is loud');
  await page.getByLabel('Tell us more').fill('It roars all day.');
  await page.getByRole('button', { name: 'Send to an expert' }).click();
  await page.waitForURL(/\/my\/tickets\/[0-9a-f-]{36}$/);
  const id = ticketIdOf(page.url());
  assert.equal(await page.locator('[data-ticket-status]').innerText(), 'Expert assigned');
  const e = expertOf(await ticketApi(id));
  await page.goto(server.base + '/my/tickets');
  assert.match(await page.locator('[data-live-note]').innerText(), /reload/);
  await expertDoes(e, id, 'accept');
  await page.reload();
  assert.equal(await page.locator(`[data-ticket-status="${id}"]`).innerText(), 'Expert confirmed');
  await expertDoes(e, id, 'complete', { resolution: 'Cleaned the fan.' });
  await page.reload();
  assert.equal(await page.locator(`[data-ticket-status="${id}"]`).innerText(), 'Fixed');
  await page.getByRole('link', { name: 'Fan is loud' }).click();
  await page.getByRole('link', { name: 'Answer the survey' }).click();
  await page.waitForURL(/\/survey\//);
  await page.locator('input[name=rating][value="4"]').check();
  await page.getByRole('button', { name: 'Send' }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('body').innerText(), /Thank you/);
  await page.goto(`${server.base}/my/tickets/${id}`);
  assert.equal(await page.locator('[data-ticket-status]').innerText(), 'Closed');

  // A second ticket, cancelled: a reason that is too long is shown at its field, kept.
  await page.goto(server.base + '/my/tickets/new');
  await page.getByLabel('Which product, and what kind of device?').selectOption({ label: 'Televisions' });
  await page.getByLabel('In a few words, what is wrong?').fill('No picture');
  await page.getByLabel('Tell us more').fill('Sound works.');
  await page.getByRole('button', { name: 'Send to an expert' }).click();
  await page.waitForURL(/\/my\/tickets\/[0-9a-f-]{36}$/);
  const long = 'x'.repeat(2001);
  await page.getByLabel('Why? (optional)').fill(long);
  await page.getByRole('button', { name: 'Cancel the ticket' }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('#f-reason-error').innerText(), /at most 2000/);
  assert.equal(await page.getByLabel('Why? (optional)').inputValue(), long);
  await page.getByLabel('Why? (optional)').fill('It works again');
  await page.getByRole('button', { name: 'Cancel the ticket' }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('.flash').innerText(), /cancelled/);
  assert.equal(await page.locator('[data-ticket-status]').innerText(), 'Cancelled');
  assert.match(await page.locator('#timeline').innerText(), /Cancelled by you[\s\S]*It works again/);
  // (axe needs scripts: these pages are checked with JavaScript on above.)
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 844 });
    await page.screenshot({ path: join(shots, `ticket-cancelled-nojs-${width}.png`), fullPage: true });
  }
  await context.close();
});

test('an agent finds a caller by phone, raises a ticket for them once despite a double click, adds a note, sees why a ticket is unassignable and cancels it', async () => {
  const customer = await fresh();
  await registerAndSubscribe(customer.page, 'Riley Quinn', '+1 773 555 0187');
  await customer.context.close();

  const agentEmail = `${unique('agent')}@sysops.test`;
  const r = await api(server.base, 'POST', '/api/v1/users', admin, { name: 'Sam Agent', email: agentEmail, password: PASSWORD, role: 'agent' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const { context, page } = await fresh();
  await signIn(page, server.base, agentEmail, PASSWORD);
  await page.getByLabel('Name, e-mail or phone').pressSequentially('773 555 0187', { delay: 20 });
  await page.locator('#results table').waitFor();
  await page.getByRole('link', { name: 'Riley Quinn' }).click();
  await page.waitForLoadState('load');
  const customerUrl = page.url();
  await page.getByRole('link', { name: 'Raise a ticket for Riley Quinn' }).click();
  await page.waitForURL(/\/tickets\/new$/);
  assert.match(await page.locator('h1').innerText(), /for Riley Quinn/);
  await capture(page, 'console-ticket-form');

  // A double click: the same form (same one-time key) sent twice at once, as a browser
  // without JavaScript would, raises one ticket; both answers lead to it.
  await page.getByLabel('Which product, and what kind of device?').selectOption({ label: 'Laptops' });
  await page.getByLabel('In a few words, what is wrong?').fill('Caller: screen flickers');
  await page.getByLabel('Tell us more').fill('Flickers when the lid moves.');
  const fields = await page.locator('form[action$="/tickets/new"]').evaluate((f) => Object.fromEntries(new FormData(f)));
  assert.ok(fields.key.length >= 16, 'the form carries a one-time key');
  const action = new URL(await page.locator('form[action$="/tickets/new"]').getAttribute('action'), server.base).href;
  const both = await Promise.all([0, 1].map(() => page.request.post(action, { form: fields, maxRedirects: 0 })));
  assert.deepEqual(both.map((x) => x.status()), [303, 303]);
  assert.equal(both[0].headers().location, both[1].headers().location);
  const id = both[0].headers().location.split('/').pop();
  // The browser's own (third) send of that form lands on the same ticket.
  await page.getByRole('button', { name: 'Send to an expert' }).click();
  await page.waitForURL(`${server.base}/console/tickets/${id}`);
  assert.match(await page.locator('.flash').innerText(), /raised/);
  const list = await api(server.base, 'GET', `/api/v1/tickets?status=assigned`, admin);
  assert.equal(list.body.items.filter((t) => t.title === 'Caller: screen flickers').length, 1, 'one ticket');
  const t = await ticketApi(id);
  assert.match(await page.locator('main').innerText(), new RegExp(`Expert\\s*${expertOf(t).name}`), 'staff see the full name');
  assert.match(await page.locator('#timeline').innerText(), /Raised[\s\S]*by our call center \(Sam Agent\)/);
  await page.getByRole('heading', { name: 'Why this expert' }).waitFor();

  // A note: empty is refused at its field; a real one lands in the timeline.
  await page.getByRole('button', { name: 'Add note' }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('#f-note-error').innerText(), /Write the note/);
  await page.getByLabel(/^Note/).fill('Caller prefers mornings <b>before 10</b>.');
  await page.getByRole('button', { name: 'Add note' }).click();
  await page.waitForURL(`${server.base}/console/tickets/${id}`);
  assert.match(await page.locator('#timeline').innerText(), /Note from Sam Agent[\s\S]*Caller prefers mornings <b>before 10<\/b>\./);
  assert.match((await ticketApi(id)).dispatcher_notes ?? JSON.stringify(await ticketApi(id)), /prefers mornings/);
  await capture(page, 'console-ticket');
  // The console's ticket page follows the ticket live too.
  await page.evaluate(() => { window.stillHere = true; });
  await expertDoes(expertOf(t), id, 'accept');
  await page.waitForFunction(() => document.querySelector('[data-ticket-status]')?.textContent === 'Expert confirmed');
  await page.locator('#timeline', { hasText: 'Accepted by' }).waitFor();
  assert.ok(await page.evaluate(() => window.stillHere), 'the page was not reloaded');

  // Assign by hand: a reason is needed (the choice is kept); then it goes to the other expert.
  const holder = expertOf(await ticketApi(id));
  const other = experts.find((e) => e !== holder);
  await page.getByLabel('Expert', { exact: true }).selectOption(other.id);
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('#f-assign-reason-error').innerText(), /why/i);
  assert.equal(await page.getByLabel('Expert', { exact: true }).inputValue(), other.id);
  await capture(page, 'console-assign-errors');
  await page.getByLabel('Why?', { exact: true }).fill('The customer asked for an earlier visit');
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await page.waitForURL(`${server.base}/console/tickets/${id}`);
  assert.match(await page.locator('.flash').innerText(), new RegExp(`assigned to ${other.name}`));
  assert.match(await page.locator('#timeline').innerText(), new RegExp(`Reassigned by Sam Agent[\\s\\S]*earlier visit[\\s\\S]*Assigned to ${other.name}`));
  assert.equal((await ticketApi(id)).assigned_expert_id, other.id);

  // A printer: nobody repairs printers, so nobody fits; the page says why. Cancel it.
  await page.goto(customerUrl);
  await page.getByRole('link', { name: 'Raise a ticket for Riley Quinn' }).click();
  await page.getByLabel('Which product, and what kind of device?').selectOption({ label: 'Printers and scanners' });
  await page.getByLabel('In a few words, what is wrong?').fill('Paper jam');
  await page.getByLabel('Tell us more').fill('Jams on every page.');
  await page.getByRole('button', { name: 'Send to an expert' }).click();
  await page.waitForURL(/\/console\/tickets\/[0-9a-f-]{36}$/);
  assert.equal(await page.locator('[data-ticket-status]').innerText(), 'Finding an expert');
  const why = await page.locator('section', { has: page.getByRole('heading', { name: 'Why no expert is assigned' }) }).innerText();
  assert.match(why, /skill/i);
  await capture(page, 'console-unassignable');
  await page.getByLabel('Why? (optional)').fill('Customer will bring it in');
  await page.getByRole('button', { name: 'Cancel the ticket' }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('.flash').innerText(), /cancelled/);
  assert.equal(await page.locator('[data-ticket-status]').innerText(), 'Cancelled');
  assert.equal(await page.getByRole('button', { name: 'Cancel the ticket' }).count(), 0);
  await page.goto(customerUrl);
  assert.match(await page.locator('main').innerText(), /Paper jam[\s\S]*Cancelled/);
  await context.close();
});

test('an admin deactivates an expert on the back office: their open ticket moves on and the console says why', async () => {
  // Dana is the only one who repairs printers; a customer's printer ticket is hers.
  const danaEmail = `${unique('dana')}@experts.test`;
  let r = await api(server.base, 'POST', '/api/v1/experts', admin, {
    name: 'Dana Gone', email: danaEmail, password: PASSWORD, phone: '+13125550179', skills: ['printer'],
    service_area: { center: { lat: 41.88, lon: -87.63 }, radius_km: 50 }, locale: 'en-US', location: { lat: 41.88, lon: -87.63 }, available: true,
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const dana = await login(server.base, danaEmail, PASSWORD);
  const plans = await api(server.base, 'GET', '/api/v1/plans');
  const plan = plans.body.items.find((p) => p.name === PLAN);
  const email = `${unique('pat')}@customers.test`;
  r = await api(server.base, 'POST', '/api/v1/customers', null, {
    name: 'Pat Printer', email, password: PASSWORD, phone: '+1 312 555 0160', notify_by: 'email', address: '2 Main St, Chicago', location: { lat: 41.88, lon: -87.63 },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const token = await login(server.base, email, PASSWORD);
  r = await api(server.base, 'POST', '/api/v1/customers/me/subscriptions', token, { plan_id: plan.id, product: 'Office printer' });
  r = await api(server.base, 'POST', '/api/v1/tickets', token, { subscription_id: r.body.id, category: 'printer', title: 'Streaky prints', description: 'Lines on every page.' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const id = r.body.id;
  assert.equal(r.body.status, 'assigned');
  assert.equal((await expertDoes({ token: dana }, id, 'accept')).status, 'accepted');

  const { context, page } = await fresh();
  await signIn(page, server.base, ADMIN.email, ADMIN.password);
  await page.goto(server.base + '/admin/experts');
  await page.getByRole('link', { name: 'Deactivate Dana Gone' }).click();
  await page.waitForURL(/\/admin\/users\/[0-9a-f-]{36}\/deactivate$/);
  assert.match(await page.locator('main').innerText(), /1 open ticket/);
  await capture(page, 'expert-deactivate-confirm');
  await page.getByRole('button', { name: 'Deactivate Dana Gone' }).click();
  await page.waitForURL(server.base + '/admin/experts');
  assert.match(await page.locator('.flash').innerText(), /Dana Gone is deactivated/);
  assert.match(await page.locator('tr', { hasText: 'Dana Gone' }).innerText(), /deactivated/);
  await capture(page, 'experts-deactivated');
  assert.equal((await api(server.base, 'GET', '/api/v1/tickets', dana)).status, 401, 'her tokens stop working');

  // Nobody else repairs printers: the ticket waits, and the console says why.
  await page.goto(`${server.base}/console/tickets/${id}`);
  assert.equal(await page.locator('[data-ticket-status]').innerText(), 'Finding an expert');
  assert.match(await page.locator('#timeline').innerText(), /Dana Gone was deactivated/);
  assert.match(await page.locator('#staff-info').innerText(), /Why no expert is assigned[\s\S]*printer/);
  // Reactivated: she can sign in again.
  await page.goto(server.base + '/admin/experts');
  await page.getByRole('button', { name: 'Reactivate Dana Gone' }).click();
  await page.waitForURL(server.base + '/admin/experts');
  assert.match(await page.locator('.flash').innerText(), /active again/);
  await login(server.base, danaEmail, PASSWORD);
  await context.close();
});
