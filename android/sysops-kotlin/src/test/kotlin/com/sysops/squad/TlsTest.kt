// The Kotlin wrapper reaches a server over HTTPS with no platform set-up: the real server
// terminates TLS with a certificate this test makes (openssl) under a CA this test makes;
// the device trusts that CA only when the app passes it as `extraCaPem`.
package com.sysops.squad

import com.sysops.squad.support.ServerProcess
import com.sysops.squad.support.ServerProcess.Companion.ADMIN_EMAIL
import com.sysops.squad.support.ServerProcess.Companion.ADMIN_PASSWORD
import java.nio.file.Path
import java.util.concurrent.TimeUnit
import kotlin.io.path.readText
import kotlin.io.path.writeText
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

class TlsTest {
    private fun openssl(dir: Path, vararg args: String) {
        val p = ProcessBuilder(listOf("openssl") + args).directory(dir.toFile()).redirectErrorStream(true).start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0) { "openssl ${args.joinToString(" ")}: $out" }
    }

    /** A CA, and a certificate for 127.0.0.1 signed by it; returns the CA's PEM. */
    private fun makePki(dir: Path): String {
        val ec = arrayOf("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
        openssl(dir, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
            "-subj", "/CN=Sysops Squad test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        openssl(dir, "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=sysops.test")
        dir.resolve("server.ext").writeText("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        openssl(dir, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "1", "-extfile", "server.ext")
        return dir.resolve("ca.crt").readText()
    }

    @Test
    fun `the device reaches an https server through its private CA and refuses it without`(@TempDir dir: Path) =
        runBlocking<Unit> {
            val caPem = makePki(dir)
            val env = mapOf(
                "SYSOPS_TLS_CERT_FILE" to dir.resolve("server.crt").toString(),
                "SYSOPS_TLS_KEY_FILE" to dir.resolve("server.key").toString(),
            )
            ServerProcess.start(dir.resolve("server"), env).use { server ->
                assertTrue(server.baseUrl.startsWith("https://127.0.0.1:"), server.baseUrl)
                // The bundled Mozilla roots do not vouch for a private CA: no connection.
                SysopsClient.open(dir.resolve("a.db").toString(), server.baseUrl, InMemoryTokenStore()).use { client ->
                    assertFailsWith<SysopsException.Offline> { client.signIn(ADMIN_EMAIL, ADMIN_PASSWORD) }
                }
                // With the CA, the server answers over TLS: it signs the administrator in,
                // and the device (an expert's app) turns them away itself.
                SysopsClient.open(
                    dir.resolve("b.db").toString(), server.baseUrl, InMemoryTokenStore(), extraCaPem = caPem,
                ).use { client ->
                    val e = assertFailsWith<SysopsException.Invalid> { client.signIn(ADMIN_EMAIL, ADMIN_PASSWORD) }
                    assertTrue("only experts" in e.reason, e.reason)
                    assertFailsWith<SysopsException.BadCredentials> { client.signIn(ADMIN_EMAIL, "wrong-password") }
                }
                // A CA that is not PEM is refused when opening, with a reason.
                assertFailsWith<SysopsException.Invalid> {
                    SysopsClient.open(dir.resolve("c.db").toString(), server.baseUrl, InMemoryTokenStore(),
                        extraCaPem = "not a certificate")
                }
            }
        }
}
