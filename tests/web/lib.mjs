// The web suite's harness: starts the real sysops-server binary (port 0, a temp data
// dir, create-admin first, as server/tests/api/helpers.rs does), drives Debian's
// Chromium with playwright-core, checks every page with axe-core and screenshots it at
// 390 px and 1280 px into tests/.work/screenshots/.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, '../..');
export const shots = join(root, 'tests/.work/screenshots');
export const ADMIN = { email: 'root@sysops.test', password: 'root-password-1' };
export const PASSWORD = 'a-good-password';

const bin = process.env.SYSOPS_SERVER_BIN ?? join(root, 'target/debug/sysops-server');

/** Starts a server on a fresh SQLite database; resolves with {base, stop}. */
export async function startServer(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sysops-web-'));
  const data = join(dir, 'data');
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SYSOPS_')));
  const childEnv = { ...clean, SYSOPS_LOG_FORMAT: 'json', ...env };
  execFileSync(bin, ['create-admin', '--data-dir', data, '--email', ADMIN.email, '--password', ADMIN.password], { env: childEnv, stdio: 'ignore' });
  const child = spawn(bin, ['serve', '--bind', '127.0.0.1:0', '--data-dir', data], { env: childEnv, stdio: ['ignore', 'pipe', 'ignore'] });
  const base = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('the server did not start in 60 s')), 60_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('listening on ')) { clearTimeout(timer); ok(line.slice(13).trim()); }
    });
    child.on('exit', (code) => fail(new Error(`the server exited (${code})`)));
  });
  return {
    base,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((ok) => child.once('exit', ok));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium (never a downloaded browser). */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** The JSON API, for setting up what a page needs. */
export async function api(base, method, path, token, body) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

export async function login(base, email, password) {
  const r = await api(base, 'POST', '/api/v1/auth/login', null, { email, password });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.access_token;
}

let counter = 0;
export function unique(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

/** No serious or critical axe violations on the page as it is now. */
export async function checkA11y(page, name) {
  const r = await new AxeBuilder({ page }).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`), [], `accessibility of ${name}`);
}

/** Screenshots at 390 px and 1280 px (full page), each checked with axe. */
export async function capture(page, name) {
  mkdirSync(shots, { recursive: true });
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    await checkA11y(page, `${name} at ${width} px`);
    await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

/** Signs in through the form. */
export async function signIn(page, base, email, password) {
  await page.goto(`${base}/sign-in`);
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState('load');
}
