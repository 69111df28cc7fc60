// The real sysops-server binary in a test: a fresh data directory with an administrator,
// `serve` on a loopback port read from its "listening on" line, and a network outage as a
// phone sees it: the server dies (SIGKILL, its connections drop at once) and comes back
// later on the same port and data.
package com.sysops.squad.support

import java.io.File
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException

/** A running (or stopped) server on its own data directory. */
class ServerProcess private constructor(
    private val bin: Path,
    private val root: Path,
    private val env: Map<String, String> = emptyMap(),
) : AutoCloseable {
    private val dataDir: Path = root.resolve("data")
    private val log: File = root.resolve("server.log").toFile()
    private var process: Process? = null

    /** `http://127.0.0.1:PORT`; the same across restarts. */
    lateinit var baseUrl: String
        private set

    private fun command(vararg args: String): ProcessBuilder {
        val pb = ProcessBuilder(listOf(bin.toString()) + args + listOf("--data-dir", dataDir.toString()))
        // Only this test's settings: no database URL or provider from the caller's shell.
        pb.environment().keys.removeIf { it.startsWith("SYSOPS_") }
        pb.environment().putAll(env)
        pb.redirectError(ProcessBuilder.Redirect.appendTo(log))
        return pb
    }

    private fun createAdmin() {
        val p = command("create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log))
            .start()
        check(p.waitFor(STARTUP_SECONDS, TimeUnit.SECONDS) && p.exitValue() == 0) {
            "create-admin failed; server log:\n${logTail()}"
        }
    }

    /** Starts `serve` on [bind] and waits for its "listening on" line. */
    private fun serve(bind: String) {
        check(process == null) { "already running" }
        val p = command("serve", "--bind", bind).redirectOutput(ProcessBuilder.Redirect.PIPE).start()
        process = p
        val listening = CompletableFuture<String>()
        Thread({
            p.inputStream.bufferedReader().useLines { lines ->
                lines.forEach { line ->
                    if (line.startsWith("listening on ")) listening.complete(line.removePrefix("listening on ").trim())
                }
            }
            listening.completeExceptionally(IllegalStateException("the server exited before listening"))
        }, "sysops-server-stdout").apply { isDaemon = true }.start()
        baseUrl = try {
            listening.get(STARTUP_SECONDS, TimeUnit.SECONDS)
        } catch (e: Exception) {
            p.destroyForcibly()
            process = null
            val why = if (e is TimeoutException) "did not listen within ${STARTUP_SECONDS}s" else e.toString()
            throw IllegalStateException("sysops-server $why; its log:\n${logTail()}", e)
        }
    }

    /**
     * The network goes away: the server is killed (SIGKILL), so the device's connection
     * drops at once as it does when a phone loses signal. (A graceful SIGTERM would do
     * too, but the server then waits for open sync connections and its intake writer.)
     */
    fun kill() {
        val p = process ?: return
        process = null
        p.destroyForcibly()
        check(p.waitFor(STOP_SECONDS, TimeUnit.SECONDS)) { "sysops-server did not die" }
    }

    /** Starts again on the same data directory and port. */
    fun restart() {
        serve(baseUrl.removePrefix("http://"))
    }

    /** Whether the process runs, and the end of its log, for failure messages. */
    fun logTail(lines: Int = 60): String {
        val p = process
        val state = when {
            p == null -> "not running"
            p.isAlive -> "running (pid ${p.pid()})"
            else -> "exited with status ${p.exitValue()}"
        }
        val tail = if (log.exists()) log.readLines().takeLast(lines).joinToString("\n") else "(no log)"
        return "sysops-server $state; log:\n$tail"
    }

    override fun close() = kill()

    companion object {
        const val ADMIN_EMAIL = "admin@sysops.test"
        const val ADMIN_PASSWORD = "root-password-1"
        private const val STARTUP_SECONDS = 60L
        private const val STOP_SECONDS = 30L

        /** The binary: system property `sysops.server.bin`, else the cargo debug build. */
        fun binary(): Path {
            val bin = Paths.get(System.getProperty("sysops.server.bin") ?: "../../target/debug/sysops-server")
                .toAbsolutePath().normalize()
            check(Files.isExecutable(bin)) {
                "no server binary at $bin: run `cargo build -p sysops-server -p mobile-ffi` " +
                    "or pass -Dsysops.server.bin=PATH"
            }
            return bin
        }

        /** A server on a fresh data directory under [root], with an administrator and [env]. */
        fun start(root: Path, env: Map<String, String> = emptyMap()): ServerProcess {
            val s = ServerProcess(binary(), root, env)
            Files.createDirectories(root)
            s.createAdmin()
            s.serve("127.0.0.1:0")
            return s
        }
    }
}
