// Helpers shared by the sync scripts: connecting an automerge-repo client, waiting with
// timeouts, knowing when the server has our changes, reading scalar-or-text strings, and
// the few REST calls the scripts need.

import { EventEmitter } from "node:events"
import { randomBytes } from "node:crypto"
import {
  Repo,
  ImmutableString,
  isImmutableString,
  decodeHeads,
  cbor,
} from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

export { ImmutableString }

// ---------------------------------------------------------------- strings

/** A field that may be a scalar string (ImmutableString) or text (a JS string). */
export function str(value) {
  if (typeof value === "string") return value
  if (isImmutableString(value)) return value.val
  return undefined
}

/** `str`, but throws when the field is missing or not a string. */
export function mustStr(doc, key, what = "document") {
  const value = str(doc?.[key])
  if (value === undefined) {
    throw new Error(`${what}: field "${key}" is not a string (got ${describe(doc?.[key])})`)
  }
  return value
}

/** A scalar string for fields that are not edited collaboratively. */
export const scalar = value => new ImmutableString(String(value))

function describe(value) {
  if (value === undefined) return "nothing"
  if (value === null) return "null"
  return typeof value === "object" ? value.constructor?.name ?? "object" : typeof value
}

// ---------------------------------------------------------------- waiting

export class TimeoutError extends Error {}

/** Rejects with a TimeoutError naming `what` if `promise` has not settled in `ms`. */
export function withTimeout(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Resolves once `predicate()` is truthy (returning its value). It is checked now, on each
 * call of the `wake` function handed to `subscribe(wake)` (which returns an unsubscribe
 * function), and every `pollMs` as a safety net. Rejects after `timeoutMs`; a predicate
 * that throws rejects at once.
 */
export function waitFor(predicate, timeoutMs, { what = "condition", subscribe, pollMs = 50 } = {}) {
  return new Promise((resolve, reject) => {
    let unsubscribe = () => {}
    const finish = (fn, value) => {
      clearTimeout(timer)
      clearInterval(poll)
      unsubscribe()
      fn(value)
    }
    const check = () => {
      try {
        const value = predicate()
        if (value) finish(resolve, value)
      } catch (err) {
        finish(reject, err)
      }
    }
    const timer = setTimeout(
      () => finish(reject, new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs
    )
    const poll = setInterval(check, pollMs)
    if (subscribe) unsubscribe = subscribe(check)
    check()
  })
}

// ---------------------------------------------------------------- connecting

/** A WebSocket client adapter that records why a connection failed instead of throwing. */
/** Messages and bytes every client in this process exchanged with its server. */
export const traffic = { received: 0, receivedBytes: 0, sent: 0 }

class ClientAdapter extends WebSocketClientAdapter {
  failure = undefined

  send(message) {
    traffic.sent++
    super.send(message)
  }

  // The base class throws from its error handler for anything but ECONNREFUSED (for
  // instance a 401 on the upgrade), which would crash the process with no context.
  onError = event => {
    this.failure = `websocket error: ${event.error?.message ?? event.message ?? event}`
  }

  onClose = event => {
    const reason = event?.reason ? `, ${event.reason}` : ""
    this.failure ??= `the server closed the connection (code ${event?.code}${reason})`
    if (this.remotePeerId) this.emit("peer-disconnected", { peerId: this.remotePeerId })
    // Do not reconnect: these are short-lived test clients, and a silent retry loop
    // would hide the failure.
  }

  // The base class only logs `error` messages (e.g. a refused peer id); keep them.
  // Error messages are small, so bulky sync messages are not decoded twice.
  receiveMessage(bytes) {
    traffic.received++
    traffic.receivedBytes += bytes.byteLength
    if (bytes.byteLength < 512) {
      try {
        const message = cbor.decode(new Uint8Array(bytes))
        if (message?.type === "error") this.failure = `server error: ${message.message}`
      } catch {
        // the base class reports undecodable messages
      }
    }
    super.receiveMessage(bytes)
  }
}

const clients = new WeakMap() // Repo -> { adapter, theirHeads: Map<docId, hex[]>, events }

/** A peer id our server accepts: `expert:<user-id>:<random suffix>`. */
export const expertPeerId = userId => `expert:${userId}:${randomBytes(4).toString("hex")}`

/** `ws://HOST:PORT/api/v1/sync?access_token=…` from an `http://HOST:PORT` base. */
export function syncUrl(base, token) {
  const url = new URL("/api/v1/sync", base)
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:"
  url.searchParams.set("access_token", token)
  return url.toString()
}

/**
 * A Repo connected to one sync server; resolves once the server has answered `join`
 * with `peer`. Without `storageDir` the client keeps nothing on disk.
 */
export async function connectRepo({ url, peerId, storageDir, timeoutMs = 15_000 }) {
  const adapter = new ClientAdapter(url)
  const repo = new Repo({
    network: [adapter],
    storage: storageDir ? new NodeFSStorageAdapter(storageDir) : undefined,
    peerId,
  })
  const theirHeads = new Map()
  const events = new EventEmitter().setMaxListeners(0)
  clients.set(repo, { adapter, theirHeads, events })

  // Every sync message from the server updates our sync state with the heads the
  // server has; remembering them tells us when the server has our changes.
  repo.synchronizer.on("sync-state", ({ peerId: from, documentId, syncState }) => {
    if (from !== adapter.remotePeerId || !syncState.theirHeads) return
    theirHeads.set(documentId, syncState.theirHeads)
    events.emit("heads", documentId)
  })

  try {
    await waitFor(
      () => {
        if (adapter.remotePeerId && repo.peers.includes(adapter.remotePeerId)) return true
        if (adapter.failure) throw new Error(`cannot connect to ${redact(url)}: ${adapter.failure}`)
      },
      timeoutMs,
      { what: `the sync server at ${redact(url)} to answer join`, pollMs: 10 }
    )
  } catch (err) {
    await closeRepo(repo)
    throw err
  }
  return repo
}

const redact = url => url.replace(/access_token=[^&]+/, "access_token=…")

/** The peer id of the server this repo is connected to. */
export const serverPeerId = repo => clients.get(repo).adapter.remotePeerId

/** Why the connection failed, if it did. */
export const connectionFailure = repo => clients.get(repo).adapter.failure

/** True when the server's last sync message announced every one of our heads. */
export function serverHas(repo, handle) {
  const theirs = clients.get(repo).theirHeads.get(handle.documentId)
  if (!theirs || !handle.isReady()) return false
  const set = new Set(theirs)
  return decodeHeads(handle.heads()).every(head => set.has(head))
}

/** Resolves when the server has every change we made to each of `handles`. */
export function waitUntilServerHas(repo, handles, timeoutMs) {
  const { events } = clients.get(repo)
  const pending = new Map(handles.map(h => [h.documentId, h]))
  const settle = id => {
    const handle = pending.get(id)
    if (handle && serverHas(repo, handle)) pending.delete(id)
  }
  return waitFor(
    () => {
      const failure = connectionFailure(repo)
      if (failure) throw new Error(`lost the sync server: ${failure}`)
      if (pending.size > 0) for (const id of [...pending.keys()]) settle(id)
      return pending.size === 0
    },
    timeoutMs,
    {
      what: "the server to have our changes",
      subscribe: wake => {
        const onHeads = id => {
          settle(id)
          if (pending.size === 0) wake()
        }
        events.on("heads", onHeads)
        return () => events.off("heads", onHeads)
      },
      pollMs: 250,
    }
  ).catch(err => {
    if (err instanceof TimeoutError) {
      err.message = `timed out after ${timeoutMs} ms: the server lacks our changes to ${pending.size} of ${handles.length} documents (e.g. ${[...pending.keys()][0]})`
    }
    throw err
  })
}

/** `repo.find(url)` with a timeout; rejects with "… is unavailable" when the server says so. */
export async function findDoc(repo, url, timeoutMs = 15_000) {
  try {
    return await withTimeout(repo.find(url), timeoutMs, `finding ${url}`)
  } catch (err) {
    const failure = connectionFailure(repo)
    if (failure && !/unavailable/.test(err.message)) err.message += ` (connection: ${failure})`
    throw err
  }
}

/** Disconnects and writes what is ready to local storage (if any). */
export async function closeRepo(repo) {
  for (const adapter of repo.networkSubsystem.adapters) {
    try {
      adapter.disconnect()
    } catch {
      // never connected
    }
  }
  // Repo.flush() throws on handles that are not ready (e.g. unavailable ones).
  const ready = Object.values(repo.handles).filter(h => h.isReady()).map(h => h.documentId)
  await withTimeout(repo.flush(ready), 10_000, "flushing local storage")
}

// ---------------------------------------------------------------- REST

/** Calls the REST API; throws with the problem+json detail on a non-2xx answer. */
export async function api(base, method, path, { token, body, timeoutMs = 15_000 } = {}) {
  const headers = { accept: "application/json" }
  if (token) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers["content-type"] = "application/json"
  let response
  try {
    response = await fetch(new URL(path, base), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (err) {
    throw new Error(`${method} ${path}: ${err.cause?.message ?? err.message}`)
  }
  const text = await response.text()
  let json
  try {
    json = text ? JSON.parse(text) : undefined
  } catch {
    json = undefined
  }
  if (!response.ok) {
    const detail = json?.detail ?? json?.title ?? text.slice(0, 200)
    throw new Error(`${method} ${path}: HTTP ${response.status}${detail ? `: ${detail}` : ""}`)
  }
  return json
}

/** Logs in; returns `{ token, userId }`. */
export async function login(base, email, password) {
  const answer = await api(base, "POST", "/api/v1/auth/login", { body: { email, password } })
  if (!answer?.access_token || !answer?.user_id) {
    throw new Error(`POST /api/v1/auth/login: no access_token/user_id in ${JSON.stringify(answer)}`)
  }
  return { token: answer.access_token, userId: answer.user_id }
}

/** The caller's root document URL from `GET /api/v1/sync/root`. */
export async function rootUrl(base, token) {
  const answer = await api(base, "GET", "/api/v1/sync/root", { token })
  if (typeof answer?.root !== "string" || !answer.root.startsWith("automerge:")) {
    throw new Error(`GET /api/v1/sync/root: no automerge root in ${JSON.stringify(answer)}`)
  }
  return answer.root
}
