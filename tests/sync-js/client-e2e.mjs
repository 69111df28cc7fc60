#!/usr/bin/env node
// A "real client nobody here wrote": drives sysops-server's sync endpoint with the JS
// automerge-repo stack, the way a third-party device would. See README.md for the modes.
//
// stdout: exactly one JSON line, `{"ok": true, ...}` (exit 0) or `{"ok": false,
// "error": ...}` (exit 1). Progress and what was read go to stderr.

import { parseArgs } from "node:util"
import * as L from "./lib.mjs"

const USAGE = `usage: node client-e2e.mjs --base http://127.0.0.1:PORT --email E --password P
  [--peer-id expert|stock] [--ticket TICKET_ID] [--resolution TEXT] [--draft-title T --draft-body B [--draft-tags a,b]]
  [--expect-unavailable DOC_URL | --write-ticket-doc] [--timeout-ms 20000]`

const { values: args } = parseArgs({
  options: {
    base: { type: "string" },
    email: { type: "string" },
    password: { type: "string" },
    "peer-id": { type: "string", default: "expert" },
    ticket: { type: "string" },
    resolution: { type: "string", default: "Fixed by client-e2e." },
    "draft-title": { type: "string" },
    "draft-body": { type: "string" },
    "draft-tags": { type: "string", default: "" },
    "expect-unavailable": { type: "string" },
    "write-ticket-doc": { type: "boolean", default: false },
    "timeout-ms": { type: "string", default: "20000" },
  },
})
const timeoutMs = Number(args["timeout-ms"])
const log = (...parts) => console.error("client-e2e:", ...parts)
const now = () => new Date().toISOString()

async function main() {
  if (!args.base || !args.email || !args.password) throw new Error(USAGE)
  if (!(timeoutMs > 0)) throw new Error("--timeout-ms must be a positive number")
  if ((args["draft-title"] === undefined) !== (args["draft-body"] === undefined)) {
    throw new Error("--draft-title and --draft-body go together")
  }

  if (!["expert", "stock"].includes(args["peer-id"])) throw new Error(USAGE)
  const { token, userId } = await L.login(args.base, args.email, args.password)
  const repo = await L.connectRepo({
    url: L.syncUrl(args.base, token),
    // `stock`: no peer id, so automerge-repo picks its own random one.
    peerId: args["peer-id"] === "expert" ? L.expertPeerId(userId) : undefined,
    timeoutMs,
  })
  log(`connected as ${repo.peerId} to server peer ${L.serverPeerId(repo)}`)
  try {
    if (args["expect-unavailable"]) return await expectUnavailable(repo, args["expect-unavailable"])
    const root = await L.findDoc(repo, await L.rootUrl(args.base, token), timeoutMs)
    const { ticketId, ticket, work } = await openTicket(repo, root)
    if (args["write-ticket-doc"]) return await writeTicketDoc(repo, root, ticketId, ticket)

    completeWork(work, args.resolution)
    const changed = [work]
    let draft = null
    if (args["draft-title"] !== undefined) {
      const [draftHandle, index] = await createDraft(repo, root.doc())
      changed.push(draftHandle, index)
      draft = { id: draftHandle.documentId, url: draftHandle.url, index: index.url }
    }
    await L.waitUntilServerHas(repo, changed, timeoutMs)
    log("the server has every change")
    const w = work.doc()
    return {
      ok: true,
      peer_id: repo.peerId,
      ticket: { id: ticketId, url: ticket.url, ...readTicket(ticket.doc()) },
      work: {
        url: work.url,
        accepted_at: L.str(w.accepted_at),
        completed: { at: L.str(w.completed.at), resolution: L.str(w.completed.resolution) },
      },
      draft,
    }
  } finally {
    await L.closeRepo(repo)
  }
}

async function expectUnavailable(repo, url) {
  try {
    const handle = await L.findDoc(repo, url, timeoutMs)
    throw new Error(`${url} was available (schema ${L.str(handle.doc().schema)})`)
  } catch (err) {
    if (!/is unavailable/.test(err.message)) throw err
    log(`as expected: ${err.message}`)
    return { ok: true, unavailable: url }
  }
}

/** The ticket and work documents of --ticket, or of the first ticket the root lists. */
async function openTicket(repo, root) {
  const r = root.doc()
  log(`root ${root.url}: schema ${L.str(r.schema)}, expert ${L.str(r.expert_id)}`)
  const tickets = r.tickets ?? {}
  const ids = Object.keys(tickets)
  log(`root lists ${ids.length} ticket(s): ${ids.join(", ") || "none"}`)
  const ticketId = args.ticket ?? ids[0]
  if (!ticketId) throw new Error("the root document lists no tickets")
  const entry = tickets[ticketId]
  if (!entry) throw new Error(`ticket ${ticketId} is not in root.tickets (${ids.join(", ") || "none"})`)
  const [ticket, work] = await Promise.all([
    L.findDoc(repo, L.str(entry.ticket), timeoutMs),
    L.findDoc(repo, L.str(entry.work), timeoutMs),
  ])
  log(`ticket ${ticket.url}: ${JSON.stringify(readTicket(ticket.doc()))}`)
  log(`work ${work.url}: ${JSON.stringify(work.doc())}`)
  return { ticketId, ticket, work }
}

function readTicket(t) {
  const fields = ["schema", "ticket_id", "status", "category", "title", "description", "address",
    "customer_name", "customer_phone", "assigned_expert_id", "dispatcher_notes", "updated_at"]
  const out = Object.fromEntries(fields.map(f => [f, L.str(t[f])]))
  return { ...out, lat: t.lat, lon: t.lon }
}

function completeWork(work, resolution) {
  const at = now()
  work.change(w => {
    if (!L.str(w.accepted_at)) w.accepted_at = L.scalar(at)
    w.completed = { at: L.scalar(at), resolution } // resolution is prose: text
  })
  log(`completed the work document at ${at}`)
}

/** A new draft document, listed in the expert's drafts index. */
async function createDraft(repo, r) {
  const index = await L.findDoc(repo, L.mustStr(r, "drafts", "root"), timeoutMs)
  const tags = args["draft-tags"].split(",").filter(Boolean).map(L.scalar)
  const draft = repo.create({
    schema: L.scalar("sysops.draft/1"),
    title: L.scalar(args["draft-title"]),
    body: args["draft-body"],
    tags,
    created_at: L.scalar(now()),
  })
  index.change(d => {
    if (!d.drafts) d.drafts = {}
    d.drafts[draft.documentId] = L.scalar(draft.url)
  })
  log(`created draft ${draft.url}, listed in ${index.url}`)
  return [draft, index]
}

/** Changes the server-written ticket document; succeeds if the root gains a notice about it. */
async function writeTicketDoc(repo, root, ticketId, ticket) {
  const before = root.doc().notices?.length ?? 0
  ticket.change(t => {
    t.title = L.scalar(`changed by client-e2e at ${now()}`)
  })
  log(`changed ticket document ${ticket.url}; root had ${before} notice(s)`)
  const about = n => (L.str(n?.document) ?? "").includes(ticket.documentId)
  let notice = null
  try {
    notice = await L.waitFor(
      () => (root.doc().notices ?? []).slice(before).find(about),
      timeoutMs,
      {
        what: `a notice about ${ticket.url} in the root document`,
        subscribe: wake => (root.on("change", wake), () => root.off("change", wake)),
      }
    )
  } catch (err) {
    if (!(err instanceof L.TimeoutError)) throw err
  }
  const plain = notice && { at: L.str(notice.at), document: L.str(notice.document), message: L.str(notice.message) }
  log(notice ? `notice: ${JSON.stringify(plain)}` : `no notice within ${timeoutMs} ms`)
  return {
    ok: Boolean(notice),
    write_ticket_doc: { ticket: ticketId, url: ticket.url, notice_seen: Boolean(notice), notice: plain },
    ...(notice ? {} : { error: `no notice about ${ticket.url} within ${timeoutMs} ms` }),
  }
}

function failed(err) {
  console.error(`client-e2e: ${err?.message ?? err}`)
  console.log(JSON.stringify({ ok: false, error: String(err?.message ?? err) }))
  process.exit(1)
}
// automerge-repo can throw from socket callbacks (e.g. sending on a closed socket).
process.on("uncaughtException", failed)
process.on("unhandledRejection", failed)

main().then(result => {
  console.log(JSON.stringify(result))
  process.exit(result.ok ? 0 : 1)
}, failed)
