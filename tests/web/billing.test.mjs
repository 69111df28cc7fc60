// The customer's billing pages in Chromium (issue 10): the demo customer (a year of
// monthly invoices issued by the billing service, `--demo`) opens Billing, sees the card
// on file and the invoices in pages, opens one invoice and its PDF statement, and a
// monthly statement; nobody else sees them. axe finds no serious or critical
// violations; screenshots at 390 and 1280 px in tests/.work/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, api, login, unique, capture, signIn, PASSWORD } from './lib.mjs';

const PAT = { email: 'pat.customer@example.com', password: 'customer-demo-pass' };
const MANAGER = { email: 'manager@sysops.example', password: 'manager-demo-pass' };
const AGENT = { email: 'agent@sysops.example', password: 'agent-demo-pass' };
const ADMIN = { email: 'admin@sysops.example', password: 'admin-demo-pass' };
let server, browser;

before(async () => {
  server = await startServer({ SYSOPS_DEMO: 'true' });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the demo customer sees the card on file, pages through a year of invoices, opens one and its PDF', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, server.base, PAT.email, PAT.password);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Billing' }).click();
  await page.waitForURL(`${server.base}/my/billing`);
  assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Billing');
  assert.match(await page.locator('[data-card]').innerText(), /Visa ending 4242 \(expires 12\/2029\)/);
  assert.match(await page.locator('#plans-h + .list').innerText(), /Total Home · 39\.99 USD a month/);

  const rows = page.locator('table.invoices tbody tr');
  assert.equal(await rows.count(), 12, 'twelve invoices a page');
  const statuses = await page.locator('table.invoices tbody tr td:nth-child(4)').allInnerTexts();
  assert.ok(statuses.every((s) => s.trim() === 'Paid'), statuses.join(', '));
  const totals = await page.locator('table.invoices tbody tr td:nth-child(3)').allInnerTexts();
  assert.ok(totals.every((t) => t.trim() === '43.29 USD'), `39.99 USD and 8.25% tax: ${totals.join(', ')}`);
  await capture(page, 'billing');

  // The older page holds the rest, and leads back.
  const firstPage = await page.locator('table.invoices tbody tr td:first-child').allInnerTexts();
  await page.getByRole('link', { name: 'Older invoices' }).click();
  const older = await page.locator('table.invoices tbody tr td:first-child').allInnerTexts();
  assert.ok(older.length >= 1, 'the oldest invoices are on the next page');
  assert.ok(older.every((n) => !firstPage.includes(n)), 'no invoice twice');
  await page.getByRole('link', { name: 'Newest invoices' }).click();
  await page.waitForURL(`${server.base}/my/billing`);

  // One invoice, as a page and as its PDF statement.
  const number = firstPage[0].trim();
  await page.getByRole('link', { name: number, exact: true }).click();
  assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), `Invoice ${number}`);
  const foot = await page.locator('table.invoice-lines tfoot').innerText();
  assert.match(foot, /Subtotal\s+39\.99 USD/);
  assert.match(foot, /Tax \(8\.25%\)\s+3\.30 USD/);
  assert.match(foot, /Total\s+43\.29 USD/);
  assert.match(await page.locator('table.invoice-lines tbody').innerText(), /Total Home, \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d/);
  assert.match(await page.locator('.facts').innerText(), /Paid with\s+Visa ending 4242/);
  await capture(page, 'invoice');
  const pdfHref = await page.getByRole('link', { name: /Download PDF/ }).getAttribute('href');
  const pdf = await page.request.get(server.base + pdfHref);
  assert.equal(pdf.status(), 200);
  assert.equal(pdf.headers()['content-type'], 'application/pdf');
  assert.equal((await pdf.body()).subarray(0, 5).toString(), '%PDF-');

  // The partly refunded invoice says so.
  await page.goto(`${server.base}/my/billing`);
  const links = await page.locator('table.invoices tbody td:first-child a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  let refunded = 0;
  for (const href of links) {
    await page.goto(server.base + href);
    if (await page.locator('tfoot th', { hasText: 'Refunded' }).count()) {
      assert.match(await page.locator('table.invoice-lines tfoot').innerText(), /Refunded\s+−10\.00 USD/);
      refunded += 1;
    }
  }
  assert.equal(refunded, 1, 'the demo refund shows on its invoice');

  // A monthly statement.
  await page.goto(`${server.base}/my/billing`);
  const month = page.locator('.month-links a').first();
  const st = await page.request.get(server.base + await month.getAttribute('href'));
  assert.equal(st.status(), 200);
  assert.equal((await st.body()).subarray(0, 5).toString(), '%PDF-');
  await context.close();
});

test('billing pages are the customer\'s own: other customers get a 404, other roles a 403, and old links still work', async () => {
  const pat = await browser.newContext();
  const page = await pat.newPage();
  await signIn(page, server.base, PAT.email, PAT.password);
  await page.goto(`${server.base}/portal/billing`);
  await page.waitForURL(`${server.base}/my/billing`);
  const href = await page.locator('table.invoices tbody td:first-child a').first().getAttribute('href');
  await pat.close();

  const email = `${unique('robin')}@customers.test`;
  const r = await api(server.base, 'POST', '/api/v1/customers', null, {
    name: 'Robin Other', email, password: PASSWORD, phone: '+13125550177', notify_by: 'email',
    address: '2 Main St, Chicago', location: { lat: 41.88, lon: -87.63 },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const other = await browser.newContext();
  const op = await other.newPage();
  await signIn(op, server.base, email, PASSWORD);
  await op.goto(`${server.base}/my/billing`);
  assert.match(await op.locator('[data-card]').innerText(), /No card on file yet/);
  assert.match(await op.locator('#invoices-h + p').innerText(), /No invoice yet/);
  await capture(op, 'billing-empty');
  const resp = await op.goto(server.base + href);
  assert.equal(resp.status(), 404, 'another customer\'s invoice does not exist for them');
  const pdf = await op.request.get(`${server.base}${href}.pdf`);
  assert.equal(pdf.status(), 404);
  await other.close();

  const staff = await browser.newContext();
  const sp = await staff.newPage();
  await signIn(sp, server.base, MANAGER.email, MANAGER.password);
  const refused = await sp.goto(`${server.base}/my/billing`);
  assert.equal(refused.status(), 403);
  await staff.close();
});

test('an agent sees a customer\'s invoices and their PDF; the refund form (admins only) checks reason, amount and CSRF, and says when the processor refuses', async () => {
  const pat = await login(server.base, PAT.email, PAT.password);
  const mine = await api(server.base, 'GET', '/api/v1/customers/me/invoices?limit=50', pat);
  assert.equal(mine.status, 200, JSON.stringify(mine.body));
  const inv = mine.body.items.find((i) => i.status === 'paid' && i.amount_refunded_cents === 0);
  assert.ok(inv, 'a paid invoice with nothing refunded');

  // The agent: the customer's page lists the invoices; one opens with its PDF; no refund form.
  const agentCtx = await browser.newContext();
  const ap = await agentCtx.newPage();
  await signIn(ap, server.base, AGENT.email, AGENT.password);
  await ap.goto(`${server.base}/console?q=${encodeURIComponent(PAT.email)}`);
  await ap.locator('#results a[href^="/console/customers/"]').first().click();
  await ap.waitForURL(/\/console\/customers\/[0-9a-f-]{36}$/);
  const customerUrl = ap.url();
  assert.equal(await ap.locator('table.invoices tbody tr').count(), 12, 'the latest twelve');
  await capture(ap, 'console-customer-invoices');
  await ap.locator(`table.invoices a[href="/console/invoices/${inv.id}"]`).click();
  await ap.waitForURL(`${server.base}/console/invoices/${inv.id}`);
  assert.match(await ap.locator('main').innerText(), new RegExp(`Invoice ${inv.number}[\\s\\S]*Customer\\s*Pat`));
  assert.equal(await ap.getByRole('heading', { name: 'Refund' }).count(), 0, 'agents do not refund');
  const pdf = await ap.request.get(`${server.base}/console/invoices/${inv.id}.pdf`);
  assert.equal(pdf.status(), 200);
  assert.equal(pdf.headers()['content-type'], 'application/pdf');
  assert.equal((await pdf.body()).subarray(0, 5).toString(), '%PDF-');
  assert.equal(await ap.getByRole('link', { name: /Download PDF/ }).getAttribute('href'), `/console/invoices/${inv.id}.pdf`);
  await capture(ap, 'console-invoice');
  await ap.getByRole('link', { name: /← Pat/ }).click();
  await ap.waitForURL(customerUrl);
  const refused = await ap.request.post(`${server.base}/console/invoices/${inv.id}/refund`, {
    form: { csrf: await ap.locator('input[name=csrf]').first().getAttribute('value'), amount: '1', reason: 'agent' }, maxRedirects: 0,
  });
  assert.equal(refused.status(), 403, 'only admins refund');
  await agentCtx.close();

  // The admin: the refund form, its failing paths, then a partial refund made once.
  const adminCtx = await browser.newContext();
  const page = await adminCtx.newPage();
  await signIn(page, server.base, ADMIN.email, ADMIN.password);
  await page.goto(`${server.base}/console/invoices/${inv.id}`);
  await page.getByRole('heading', { name: 'Refund' }).waitFor();
  await page.getByLabel(/^Amount in USD/).fill('ten');
  await page.getByRole('button', { name: 'Refund', exact: true }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('#f-amount-error').innerText(), /Enter an amount in USD/);
  assert.match(await page.locator('#f-refund-reason-error').innerText(), /Say why/);
  assert.equal(await page.getByLabel(/^Amount in USD/).inputValue(), 'ten', 'what was typed is kept');
  await capture(page, 'console-refund-errors');
  await page.getByLabel(/^Amount in USD/).fill('999.00');
  await page.getByLabel('Why?', { exact: true }).fill('Goodwill');
  await page.getByRole('button', { name: 'Refund', exact: true }).click();
  await page.waitForLoadState('load');
  assert.ok(await page.locator('#f-amount-error').count() === 1, 'more than was paid is refused at the amount');
  const forged = await page.request.post(`${server.base}/console/invoices/${inv.id}/refund`, { form: { amount: '1.00', reason: 'forged' }, maxRedirects: 0 });
  assert.equal(forged.status(), 403, 'no CSRF token: refused');
  // The demo's year of payments was seeded, so the in-process card processor does not
  // know them: the refund is refused there, and the form says so and keeps everything
  // (its one-time key too, so a retry refunds once). Sent twice at once: nothing refunded,
  // no error page. (A refund the processor takes is tested through the API in
  // server/tests/api/billing.rs, with the same service.)
  await page.getByLabel(/^Amount in USD/).fill('5.00');
  await page.getByLabel('Why?', { exact: true }).fill('Technician arrived late');
  const form = page.locator('form[action$="/refund"]');
  const fields = await form.evaluate((f) => Object.fromEntries(new FormData(f)));
  const action = new URL(await form.getAttribute('action'), server.base).href;
  const both = await Promise.all([0, 1].map(() => page.request.post(action, { form: fields, maxRedirects: 0 })));
  assert.deepEqual(both.map((r) => r.status()), [200, 200]);
  await page.getByRole('button', { name: 'Refund', exact: true }).click();
  await page.waitForLoadState('load');
  assert.match(await page.locator('#refund-error').innerText(), /Nothing was refunded: the card processor/);
  assert.equal(await page.getByLabel(/^Amount in USD/).inputValue(), '5.00');
  assert.equal(await page.locator('form[action$="/refund"] input[name=key]').inputValue(), fields.key, 'the same one-time key');
  const after = await api(server.base, 'GET', `/api/v1/customers/me/invoices/${inv.id}`, pat);
  assert.equal(after.body.amount_refunded_cents, 0, 'nothing refunded');
  await capture(page, 'console-refunded');
  await adminCtx.close();
});

test('a manager opens the financial report, changes the range, sees the chart and tables change, and downloads the CSV', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, server.base, MANAGER.email, MANAGER.password);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Financial report' }).click();
  assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Financial report');
  const today = new Date();
  const iso = (d) => d.toISOString().slice(0, 10);
  const yearAgo = new Date(today.getTime() - 400 * 86_400_000);
  await page.getByLabel('From').fill(iso(yearAgo));
  await page.getByLabel('To (included)').fill(iso(today));
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForLoadState('load');
  const totals = page.locator('table:has(caption:text("Totals per currency")) tbody tr');
  assert.equal(await totals.count(), 1);
  const year = await totals.first().innerText();
  assert.match(year, /USD\s+562\.77 USD\s+10\.00 USD\s+552\.77 USD/, `13 payments of 43.29, one refund of 10.00: ${year}`);
  const months = page.locator('table:has(caption:text("Revenue by month and plan")) tbody tr');
  assert.equal(await months.count(), 13);
  const chart = page.locator('section:has(#rev-h) figure.chart-box svg');
  assert.equal(await chart.count(), 1);
  // Monthly recurring revenue: a chart, and a row per month whose last one shows the
  // demo customer's plan (its price before tax) in force.
  assert.equal(await page.locator('section:has(#mrr-h) figure.chart-box svg').count(), 1);
  const mrr = page.locator('table:has(caption:text("MRR and its movements by month")) tbody tr');
  assert.ok((await mrr.count()) >= 13, `${await mrr.count()} months of MRR`);
  assert.match(await mrr.last().innerText(), /^\d{4}-\d\d\s+[1-9][\d,]*\.\d\d USD\s+1\s/, 'MRR at the end of the range, one subscription');
  const before = await chart.innerHTML();
  assert.match(await page.locator('table:has(caption:text("Refunds, oldest first"))').innerText(), /The expert arrived a day later than promised/);
  await capture(page, 'report-financial');

  // Two months: fewer payments, another chart.
  await page.getByLabel('From').fill(iso(new Date(today.getTime() - 45 * 86_400_000)));
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForLoadState('load');
  const fewer = await page.locator('table:has(caption:text("Revenue by month and plan")) tbody tr').count();
  assert.ok(fewer >= 1 && fewer <= 3, `${fewer} months`);
  assert.notEqual(await page.locator('section:has(#rev-h) figure.chart-box svg').innerHTML(), before);

  const href = await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href');
  const csv = await page.request.get(server.base + href);
  assert.equal(csv.status(), 200);
  assert.match(csv.headers()['content-type'], /^text\/csv/);
  const body = await csv.text();
  assert.match(body, /^section,month,plan,currency,metric,value/);
  assert.match(body, /by_month_and_plan,\d{4}-\d\d,Total Home,USD,charged_cents,4329/);
  assert.match(body, /\nmrr,\d{4}-\d\d,,USD,mrr_cents,[1-9]\d*/);

  // A bad range is named on the page.
  await page.goto(`${server.base}/manager/reports/financial?from=2026-02-30`);
  assert.match(await page.getByRole('alert').innerText(), /from/);
  await context.close();
});

test('the demo customer saves another card on the processor\'s page, changes plan and cancels', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, server.base, PAT.email, PAT.password);
  await page.goto(`${server.base}/my/billing`);
  await page.getByRole('link', { name: 'Use another card' }).click();
  // The processor's (stand-in's) page: the card number goes there, never to us.
  await page.getByLabel('Card number').fill('5555555555554444');
  await page.getByRole('button', { name: 'Save card' }).click();
  await page.waitForURL(`${server.base}/my/billing`);
  assert.match(await page.getByRole('status').first().innerText(), /Your card is saved/);
  assert.match(await page.locator('[data-card]').innerText(), /ending 4444/);

  const basic = await page.locator('select[name="plan"] option', { hasText: 'Home Basic' }).getAttribute('value');
  await page.getByLabel('Move to').selectOption(basic);
  await page.getByRole('button', { name: 'Change plan' }).click();
  await page.waitForURL(`${server.base}/my/billing`);
  assert.match(await page.getByRole('status').first().innerText(), /Your plan is changed/);
  assert.match(await page.locator('#plans-h + .list').innerText(), /Home Basic/);

  // Cancelling asks first: a form without the confirmation, or keeping the plan, changes nothing.
  const cancelLink = page.getByRole('link', { name: /Cancel plan/ });
  const confirmUrl = new URL(await cancelLink.getAttribute('href'), server.base).href;
  const csrf = await page.locator('input[name=csrf]').first().getAttribute('value');
  const unconfirmed = await page.request.post(confirmUrl, { form: { csrf }, maxRedirects: 0 });
  assert.equal(unconfirmed.status(), 303);
  assert.equal(new URL(unconfirmed.headers().location, server.base).href, confirmUrl, 'sent to the confirmation step');
  const forged = await page.request.post(confirmUrl, { form: { confirmed: 'yes' }, maxRedirects: 0 });
  assert.equal(forged.status(), 403, 'no CSRF token: refused');
  await cancelLink.click();
  await page.waitForURL(confirmUrl);
  assert.match(await page.locator('h1').innerText(), /Cancel the plan for .+\?/);
  assert.match(await page.locator('main').innerText(), /covered until the end of the period/);
  await capture(page, 'billing-cancel-confirm');
  await page.getByRole('link', { name: 'Keep my plan' }).click();
  await page.waitForURL(`${server.base}/my/billing`);
  assert.doesNotMatch(await page.locator('#plans-h + .list').innerText(), /cover ends/);
  await page.getByRole('link', { name: /Cancel plan/ }).click();
  await page.getByRole('button', { name: 'Cancel the plan' }).click();
  await page.waitForURL(`${server.base}/my/billing`);
  assert.match(await page.getByRole('status').first().innerText(), /Your plan is cancelled/);
  assert.match(await page.locator('#plans-h + .list').innerText(), /cover ends at the end of the period already paid/);
  assert.equal(await page.getByRole('link', { name: /Cancel plan/ }).count(), 0);
  await capture(page, 'billing-after-changes');
  await context.close();
});
