#!/usr/bin/env node
// The automerge-repo reference sync server: the baseline of the sync benchmark. It
// accepts every document from every peer and keeps them in a directory.
//
//   node reference-server.mjs --data DIR [--port 0]
//
// Prints exactly one line `listening on ws://127.0.0.1:PORT` when ready; SIGTERM (or
// SIGINT) writes what is in memory to DIR and exits 0.

import http from "node:http"
import os from "node:os"
import { mkdirSync } from "node:fs"
import { parseArgs } from "node:util"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const { values: args } = parseArgs({
  options: {
    data: { type: "string" },
    port: { type: "string", default: "0" },
  },
})
const port = Number(args.port)
if (!args.data || !Number.isInteger(port) || port < 0 || port > 65535) {
  console.error("usage: node reference-server.mjs --data DIR [--port PORT (0 = any)]")
  process.exit(2)
}
mkdirSync(args.data, { recursive: true })

const server = http.createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/plain" })
  res.end("automerge-repo reference sync server\n")
})
const wss = new WebSocketServer({ server })

/**
 * The Repo connects its network adapters only after reading its storage id from disk;
 * a client arriving before that is dropped. This adapter says when it is attached.
 */
class ServerAdapter extends NodeWSServerAdapter {
  attached = new Promise(resolve => (this.onAttached = resolve))
  connect(peerId, peerMetadata) {
    super.connect(peerId, peerMetadata)
    this.onAttached()
  }
}
const adapter = new ServerAdapter(wss)
const repo = new Repo({
  network: [adapter],
  storage: new NodeFSStorageAdapter(args.data),
  peerId: `reference-server-${os.hostname()}`,
  // Like automerge-repo-sync-server: never announce documents, serve those asked for.
  sharePolicy: async () => false,
})

server.on("error", err => {
  console.error(`reference-server: ${err.message}`)
  process.exit(1)
})
await adapter.attached
server.listen(port, "127.0.0.1", () => {
  console.log(`listening on ws://127.0.0.1:${server.address().port}`)
})

let stopping = false
async function stop(signal) {
  if (stopping) return
  stopping = true
  const deadline = setTimeout(() => {
    console.error(`reference-server: did not stop within 10 s of ${signal}`)
    process.exit(1)
  }, 10_000)
  wss.close() // the adapter then drops every client
  for (const client of wss.clients) client.terminate()
  // Repo.shutdown()/flush() throw on handles that are not ready (documents a client
  // asked for and nobody had), so flush only the ready ones.
  const ready = Object.values(repo.handles).filter(h => h.isReady()).map(h => h.documentId)
  await repo.flush(ready)
  server.close()
  clearTimeout(deadline)
  process.exit(0)
}
process.on("SIGTERM", () => void stop("SIGTERM").catch(fail))
process.on("SIGINT", () => void stop("SIGINT").catch(fail))

function fail(err) {
  console.error(`reference-server: ${err.stack ?? err}`)
  process.exit(1)
}
