#!/usr/bin/env node
// The sync benchmark: the same JS automerge-repo client scenario against the
// automerge-repo reference server and against sysops-server, in one run, with the
// ratio reference/sysops for every phase (> 1: sysops-server is faster or smaller).
//
//   node bench.mjs --server-bin target/release/sysops-server [--sizes 100,1000]
//                  [--only reference|sysops] [--relay-rounds 20] [--timeout-s S] [--json]
//
// Each (server, N) runs in a fresh node process: in one process, whichever ran later
// inherited the earlier runs' heap and JIT state, and the client (which dominates the
// machine's CPU here) was up to 2x slower for it.

import { spawn, execFile } from "node:child_process"
import { mkdtempSync, rmSync, readFileSync, createWriteStream } from "node:fs"
import { tmpdir } from "node:os"
import { join, dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { parseArgs } from "node:util"
import readline from "node:readline"
import * as L from "./lib.mjs"

const here = dirname(fileURLToPath(import.meta.url))
const { values: args } = parseArgs({
  options: {
    "server-bin": { type: "string" },
    sizes: { type: "string", default: "100,1000" },
    only: { type: "string" },
    "relay-rounds": { type: "string", default: "20" },
    "timeout-s": { type: "string" },
    json: { type: "boolean", default: false },
    child: { type: "boolean", default: false }, // internal: run one (server, N), print JSON
  },
})
const sizes = args.sizes.split(",").map(Number)
const rounds = Number(args["relay-rounds"])
const kinds = args.only ? [args.only] : ["reference", "sysops"]
if (sizes.some(n => !Number.isInteger(n) || n < 1) || kinds.some(k => !["reference", "sysops"].includes(k))) {
  fail("usage: node bench.mjs --server-bin PATH [--sizes 100,1000] [--only reference|sysops] [--relay-rounds 20] [--timeout-s S] [--json]")
}
if (kinds.includes("sysops") && !args["server-bin"]) fail("--server-bin is required unless --only reference")
/** Per-phase timeout: generous, growing with N (the reference cold fetch of 1,000 takes ~50 s). */
const phaseTimeout = n => (args["timeout-s"] ? Number(args["timeout-s"]) : 60 + 0.2 * n) * 1000
const progress = (...parts) => console.error("bench:", ...parts)

// ---------------------------------------------------------------- servers

/** Spawns a server and resolves with its first stdout line matching `pattern`. */
function spawnServer(cmd, argv, pattern, logFile) {
  const proc = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] })
  const log = createWriteStream(logFile, { flags: "a" })
  proc.stderr.pipe(log)
  const lines = readline.createInterface({ input: proc.stdout })
  return L.withTimeout(
    new Promise((resolve, reject) => {
      lines.on("line", line => {
        log.write(`${line}\n`) // keep draining stdout so the server never blocks on it
        const match = line.match(pattern)
        if (match) resolve({ proc, address: match[1] })
      })
      proc.on("error", reject)
      proc.on("exit", code => reject(new Error(`${cmd} exited with ${code} before listening (log: ${logFile})`)))
    }),
    60_000,
    `${cmd} to print its listening line (log: ${logFile})`
  ).catch(err => {
    proc.kill("SIGKILL")
    throw err
  })
}

/** SIGTERM, then SIGKILL if it has not exited within 30 s. */
async function stopServer(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise(resolve => proc.once("exit", resolve))
  proc.kill("SIGTERM")
  try {
    await L.withTimeout(exited, 30_000, "the server to exit after SIGTERM")
  } catch (err) {
    progress(`${err.message}; killing it`)
    proc.kill("SIGKILL")
    await exited
  }
}

/** User + system CPU time of a process so far, in ms (from /proc/PID/stat). */
const cpuMs = pid => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // USER_HZ is 100 on Linux
}

const rssMb = pid => {
  const kb = Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/)[1])
  return kb / 1024
}

/** The automerge-repo reference server; its drafts index is a document the client creates. */
class ReferenceTarget {
  name = "reference"
  constructor(dir) {
    this.dir = dir
  }
  async start() {
    const argv = [join(here, "reference-server.mjs"), "--data", join(this.dir, "data"), "--port", "0"]
    const { proc, address } = await spawnServer(process.execPath, argv, /^listening on (ws:\S+)$/, join(this.dir, "server.log"))
    this.proc = proc
    this.url = address
  }
  connect() {
    return L.connectRepo({ url: this.url, peerId: L.expertPeerId("bench"), storageDir: mkdtempSync(join(this.dir, "client-")) })
  }
  async index(repo) {
    if (this.indexUrl) return L.findDoc(repo, this.indexUrl)
    const index = repo.create({ schema: L.scalar("sysops.drafts/1"), expert_id: L.scalar("bench"), drafts: {} })
    await L.waitUntilServerHas(repo, [index], 15_000)
    this.indexUrl = index.url
    return index
  }
}

/** sysops-server with an admin, one expert, and that expert's own drafts index. */
class SysopsTarget {
  name = "sysops"
  constructor(dir, bin) {
    this.dir = dir
    this.bin = bin
  }
  async start() {
    const data = join(this.dir, "data")
    if (!this.token) {
      const argv = ["create-admin", "--email", "bench@sysops.test", "--password", "bench-password", "--data-dir", data]
      await promisify(execFile)(this.bin, argv, { timeout: 60_000 }).catch(err => {
        throw new Error(`${this.bin} create-admin failed: ${err.stderr || err.message}`)
      })
    }
    const argv = ["serve", "--bind", "127.0.0.1:0", "--data-dir", data]
    const { proc, address } = await spawnServer(this.bin, argv, /^listening on (http:\S+)$/, join(this.dir, "server.log"))
    this.proc = proc
    this.base = address
    if (!this.token) await this.createExpert()
  }
  async createExpert() {
    const admin = await L.login(this.base, "bench@sysops.test", "bench-password")
    const at = { lat: 51.5074, lon: -0.1278 }
    await L.api(this.base, "POST", "/api/v1/experts", {
      token: admin.token,
      body: {
        name: "Bench Expert", email: "bench-expert@sysops.test", password: "bench-password",
        phone: "+442071838750", skills: ["television"], service_area: { center: at, radius_km: 50 },
        locale: "en-GB", location: at, available: true,
      },
    })
    const expert = await L.login(this.base, "bench-expert@sysops.test", "bench-password")
    this.token = expert.token // tokens stay valid across restarts (API contract)
    this.userId = expert.userId
    this.rootUrl = await L.rootUrl(this.base, this.token)
  }
  connect() {
    return L.connectRepo({
      url: L.syncUrl(this.base, this.token),
      peerId: L.expertPeerId(this.userId),
      storageDir: mkdtempSync(join(this.dir, "client-")),
    })
  }
  async index(repo) {
    if (!this.indexUrl) {
      const root = await L.findDoc(repo, this.rootUrl)
      this.indexUrl = L.mustStr(root.doc(), "drafts", "root")
    }
    return L.findDoc(repo, this.indexUrl)
  }
}

// ---------------------------------------------------------------- the scenario

const BODY = "The set powers on but shows no picture; the standby LED blinks twice. ".repeat(15)

function draft(i) {
  return {
    schema: L.scalar("sysops.draft/1"),
    title: L.scalar(`Bench draft ${i}`),
    body: `${i}: ${BODY}`.slice(0, 1024), // ~1 KB of text
    tags: [L.scalar("bench"), L.scalar("television")],
    created_at: L.scalar(new Date().toISOString()),
  }
}

/** Finds the index and every document it lists; resolves with the handles. */
async function fetchAll(target, repo, n, timeoutMs) {
  const index = await target.index(repo)
  const urls = Object.values(index.doc().drafts ?? {}).map(L.str)
  if (urls.length < n) throw new Error(`the index lists ${urls.length} of ${n} drafts`)
  return Promise.all(urls.map(url => L.findDoc(repo, url, timeoutMs)))
}

const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/**
 * Runs one phase of `target`; records its ms and the server's CPU ms, or why it failed.
 * Returns the phase's value (true if none), or undefined if it failed.
 */
async function phase(target, results, name, fn) {
  progress(`  ${name}…`)
  const cpu0 = cpuMs(target.proc.pid)
  const { received: in0, sent: out0 } = L.traffic
  const t0 = performance.now()
  try {
    const out = await fn()
    results[name] = out?.ms ?? performance.now() - t0
    results[`${name}: server CPU`] = (cpuMs(target.proc.pid) - cpu0) / (out?.rounds ?? 1)
    results[`${name}: messages in/out`] = `${L.traffic.received - in0}/${L.traffic.sent - out0}`
    progress(`  ${name}: ${fmt(results[name])} ms, server CPU ${fmt(results[`${name}: server CPU`])} ms, messages from/to the server ${results[`${name}: messages in/out`]}`)
    return out ?? true
  } catch (err) {
    results[name] = err instanceof L.TimeoutError ? "timeout" : "error"
    problem(`${target.name} N=${results.n}: ${name}: ${err.message}`)
    return undefined
  }
}
const problems = []
function problem(message) {
  progress(message)
  problems.push(message)
}

async function scenario(target, n) {
  const results = { n }
  const timeoutMs = phaseTimeout(n)
  const repos = []
  const connect = async () => {
    const repo = await target.connect()
    repos.push(repo)
    return repo
  }
  const closeAll = () => Promise.all(repos.splice(0).map(r => L.closeRepo(r).catch(() => {})))
  try {
    await target.start()
    const a = await connect()
    const index = await target.index(a)
    let drafts

    const uploaded = await phase(target, results, "upload", async () => {
      drafts = []
      const t0 = performance.now()
      for (let i = 0; i < n; i++) {
        const handle = a.create(draft(i))
        index.change(d => {
          d.drafts[handle.documentId] = L.scalar(handle.url)
        })
        drafts.push(handle)
      }
      results["upload: client creating"] = performance.now() - t0
      await L.waitUntilServerHas(a, [...drafts, index], timeoutMs)
    })
    if (!uploaded) return results

    const b = await connect()
    const fetched = await phase(target, results, "fresh fetch", () => L.withTimeout(fetchAll(target, b, n, timeoutMs), timeoutMs, `fetching ${n} documents`))

    if (fetched) {
      // Each round edits another document: automerge-repo throttles a document's outgoing
      // sync to one message per 100 ms (DocSynchronizer.syncDebounceRate, on the client
      // and on the reference server), so back-to-back edits of one document would
      // measure that throttle instead of the relay.
      await phase(target, results, "edit relay (median)", async () => {
        const times = []
        for (let r = 0; r < rounds; r++) {
          const mine = drafts[r % n]
          const theirs = await L.findDoc(b, mine.url)
          const marker = `relay ${r} ${Math.random()}`
          const seen = L.waitFor(() => L.str(theirs.doc().title) === marker, 10_000, {
            what: `client B to see edit ${r}`,
            subscribe: wake => (theirs.on("change", wake), () => theirs.off("change", wake)),
            pollMs: 1000,
          })
          const t0 = performance.now()
          mine.change(d => {
            d.title = L.scalar(marker)
          })
          await seen
          times.push(performance.now() - t0)
        }
        return { ms: median(times), rounds }
      })
    }
    results["server RSS MB (after fetch)"] = rssMb(target.proc.pid)

    await closeAll()
    await stopServer(target.proc)
    await target.start()
    const c = await connect()
    await phase(target, results, "cold fetch", () => L.withTimeout(fetchAll(target, c, n, timeoutMs), timeoutMs, `fetching ${n} documents after a restart`))
    results["server RSS MB (after cold fetch)"] = rssMb(target.proc.pid)
    return results
  } catch (err) {
    problem(`${target.name} N=${n}: stopped: ${err.message}`)
    return results
  } finally {
    await closeAll()
    if (target.proc) await stopServer(target.proc)
  }
}

// ---------------------------------------------------------------- report

const PHASES = [
  "upload", "upload: client creating", "upload: server CPU", "upload: messages in/out",
  "fresh fetch", "fresh fetch: server CPU", "fresh fetch: messages in/out",
  "edit relay (median)", "edit relay (median): server CPU", // CPU: mean per round
  "cold fetch", "cold fetch: server CPU", "cold fetch: messages in/out",
  "server RSS MB (after fetch)", "server RSS MB (after cold fetch)",
]

const fmt = v => (typeof v === "number" ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : v ?? "-")

function table(all) {
  const rows = [["phase", "N", "reference", "sysops", "ratio (ref/sysops)"]]
  for (const n of sizes) {
    for (const p of PHASES) {
      const ref = all.reference?.[n]?.[p]
      const ours = all.sysops?.[n]?.[p]
      const ratio = typeof ref === "number" && typeof ours === "number" ? `${(ref / ours).toFixed(2)}x` : "-"
      const label = p.startsWith("server RSS") || p.endsWith("in/out") ? p : `${p} (ms)`
      rows.push([label, String(n), fmt(ref), fmt(ours), ratio])
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)))
  return rows.map(r => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")).join("\n")
}

function fail(message) {
  console.error(message)
  process.exit(2)
}

process.on("unhandledRejection", err => progress(`warning: unhandled rejection: ${err?.message ?? err}`))

/** Runs one (server, N) in a fresh node process; resolves with its results and problems. */
function isolated(kind, n) {
  const argv = [fileURLToPath(import.meta.url), "--child", "--only", kind, "--sizes", String(n), "--relay-rounds", String(rounds)]
  if (args["server-bin"]) argv.push("--server-bin", args["server-bin"])
  if (args["timeout-s"]) argv.push("--timeout-s", args["timeout-s"])
  return new Promise(resolve => {
    const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.on("data", d => (out += d))
    child.on("exit", code => {
      try {
        resolve(JSON.parse(out.trim().split("\n").pop()))
      } catch {
        resolve({ results: { n }, problems: [`${kind} N=${n}: the bench process exited with ${code} and no results`] })
      }
    })
  })
}

const all = {}
if (args.child) {
  const [kind, n] = [kinds[0], sizes[0]]
  const scratch = mkdtempSync(join(tmpdir(), "sysops-bench-"))
  const dir = mkdtempSync(join(scratch, `${kind}-${n}-`))
  const target = kind === "reference" ? new ReferenceTarget(dir) : new SysopsTarget(dir, args["server-bin"])
  progress(`${kind}, N=${n} (phase timeout ${phaseTimeout(n) / 1000} s)`)
  const results = await scenario(target, n)
  if (problems.length === 0) rmSync(scratch, { recursive: true, force: true })
  else problems.push(`kept ${scratch} (server logs, data)`)
  console.log(JSON.stringify({ results, problems }))
  process.exit(0)
}
for (const n of sizes) {
  for (const kind of kinds) {
    const { results, problems: p } = await isolated(kind, n)
    ;(all[kind] ??= {})[n] = results
    problems.push(...p)
  }
}
console.log(table(all))
for (const p of problems) console.log(`! ${p}`)
if (args.json) console.log(JSON.stringify(all))
process.exit(problems.length === 0 ? 0 : 1)
