// The Kotlin wrapper over the real native library against the real server: an expert's
// short field day, most of it without a network, and what the server sees afterwards.
// The Rust tests cover the device's logic; this covers the bindings and the wrapper.
package com.sysops.squad

import com.sysops.squad.support.Rest
import com.sysops.squad.support.ServerProcess
import com.sysops.squad.support.ServerProcess.Companion.ADMIN_EMAIL
import com.sysops.squad.support.ServerProcess.Companion.ADMIN_PASSWORD
import com.sysops.squad.support.obj
import com.sysops.squad.support.str
import java.nio.file.Path
import java.time.Instant
import kotlin.math.abs
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.flowOf
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.add
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.double
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.put
import kotlinx.serialization.json.putJsonArray
import kotlinx.serialization.json.putJsonObject
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.MethodOrderer
import org.junit.jupiter.api.Order
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.TestMethodOrder
import org.junit.jupiter.api.io.TempDir

/** Bounds for waits that should take moments: they only make a failure end. */
private val SYNC_BOUND: Duration = 90.seconds

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation::class)
class FieldDayTest {
    private lateinit var tmp: Path
    private lateinit var server: ServerProcess
    private lateinit var api: Rest
    private lateinit var scene: Scene

    /** What the dispatcher set up: an expert with a ticket, and a KB article. */
    private data class Scene(
        val expertId: String,
        val expertEmail: String,
        val ticketId: String,
        val articleId: String,
        val subscriptionId: String,
    )

    @BeforeAll
    fun startServer(@TempDir dir: Path) {
        tmp = dir
        server = ServerProcess.start(tmp.resolve("server"))
        api = Rest { server.baseUrl }
        scene = try {
            setUpScene()
        } catch (e: Throwable) {
            System.err.println(server.logTail())
            throw e
        }
    }

    @AfterAll
    fun stopServer() {
        if (::server.isInitialized) server.close()
    }

    @Test
    @Order(1)
    fun `a wrong password is reported as bad credentials`() = runBlocking<Unit> {
        SysopsClient.open(tmp.resolve("wrong.db").toString(), server.baseUrl, InMemoryTokenStore()).use { client ->
            val e = assertFailsWith<SysopsException.BadCredentials> { client.signIn(scene.expertEmail, "not-the-password") }
            assertTrue(e.message!!.isNotBlank())
            assertFailsWith<SysopsException.NotSignedIn> { client.startSync() }
        }
    }

    @Test
    @Order(2)
    fun `a field day done offline reaches the server when the network returns`() = runBlocking<Unit> {
        val store = tmp.resolve("device.db").toString()
        val tokens = InMemoryTokenStore() // stands in for the phone's secure storage
        var client = SysopsClient.open(store, server.baseUrl, tokens)
        try {
            // Morning, with signal: sign in and let the ticket and the KB arrive.
            assertEquals(scene.expertId, client.signIn(scene.expertEmail, EXPERT_PASSWORD))
            client.startSync()
            within("the ticket on the device") { client.ticketList().first { list -> list.any { it.id == scene.ticketId } } }
            within("the article on the device") {
                client.searchAsYouType(flowOf("television pow")).first { hits -> hits.any { it.id == scene.articleId } }
            }
            assertTrue(client.awaitSynced(SYNC_BOUND), "synced while online")
            within("the state flow to show the connection") { client.syncStates.first { it.isSettled } }

            // The network goes away.
            server.kill()
            within("the device to notice") { client.syncStates.first { !it.connected } }

            // At the customer's, offline: look things up, do the work, write it down.
            val hit = client.searchKb("television power").first { it.id == scene.articleId }
            assertTrue(hit.snippet.isNotBlank(), "a snippet")
            val article = client.article(scene.articleId)
            assertEquals(ARTICLE_TITLE, article.title)
            assertTrue(!article.draft)

            val ticket = client.ticket(scene.ticketId)
            assertEquals(TicketStatus.ASSIGNED, ticket.status, "typed by the core")
            assertEquals(TicketStage.ASSIGNED, ticket.stage)
            assertEquals("New", ticket.stage.label())
            assertEquals("Casey Customer", ticket.customerName)
            assertEquals(CUSTOMER_ADDRESS, ticket.address)
            assertTrue(ticket.mapUrl.startsWith("geo:"), ticket.mapUrl)
            assertEquals(setOf(FieldStep.ACCEPT, FieldStep.DECLINE), ticket.nextSteps())

            client.accept(scene.ticketId)
            assertEquals(TicketStage.ACCEPTED, client.ticket(scene.ticketId).stage, "the stage follows the device offline")
            client.setNotes(scene.ticketId, "Replaced the power board.")
            client.complete(scene.ticketId, RESOLUTION)
            val done = client.ticket(scene.ticketId)
            assertEquals(TicketStage.COMPLETED, done.stage)
            assertTrue(done.isFinished && done.nextSteps().isEmpty(), "nothing left to do")
            val completedAt = assertNotNull(client.ticket(scene.ticketId).completedAt, "completed on the device")
            val draftId = client.writeArticle(DRAFT_TITLE, "Check the standby LED before opening the set.", listOf("television"))
            assertTrue(client.syncState().pending > 0, "changes wait for the network")

            // The app is closed and opened again: everything is still there.
            client.close()
            client = SysopsClient.open(store, server.baseUrl, tokens)
            assertEquals(completedAt, client.ticket(scene.ticketId).completedAt)
            assertEquals(RESOLUTION, client.ticket(scene.ticketId).resolution)
            assertTrue(client.article(draftId).draft, "the article is a local draft")
            assertTrue(client.syncState().pending > 0, "still waiting")

            // Signal again: everything goes up.
            server.restart()
            client.startSync()
            assertTrue(client.awaitSynced(SYNC_BOUND), "synced after the network returned")
            client.close()

            val admin = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            val onServer = eventually("the ticket completed on the server") {
                api.get("/api/v1/tickets/${scene.ticketId}", admin).takeIf { it.str("status") == "completed" }
            }
            assertEquals(Instant.parse(completedAt), Instant.parse(onServer.str("completed_at")), "the device's time")
            assertEquals(RESOLUTION, onServer.str("resolution"))
            val draft = eventually("the article on the server") {
                api.send("GET", "/api/v1/kb/$draftId", admin).takeIf { it.status == 200 }?.body
            }
            assertEquals("in_review", draft.str("status"))
            assertEquals(DRAFT_TITLE, draft.str("title"))
        } catch (e: Throwable) {
            System.err.println(server.logTail())
            throw e
        } finally {
            client.close() // idempotent
        }
    }

    @Test
    @Order(3)
    fun `the device reports where the expert is and the next assignment uses it`() = runBlocking<Unit> {
        val admin = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        // Erin is 1 km north, the customer 0.5 km north, Flo (new) 3 km north.
        val floEmail = "flo@experts.test"
        val flo = api.post("/api/v1/experts", buildJsonObject {
            put("name", "Flo Expert")
            put("email", floEmail)
            put("password", EXPERT_PASSWORD)
            put("phone", "+13125550102")
            putJsonArray("skills") { add("television") }
            putJsonObject("service_area") {
                put("center", place(0.0))
                put("radius_km", 40.0)
            }
            put("locale", "en-US")
            put("location", place(3.0))
            put("available", true)
        }, admin).str("id")
        val customer = api.login("casey@customers.test", CUSTOMER_PASSWORD)
        fun newTicket(title: String) = api.post("/api/v1/tickets", buildJsonObject {
            put("subscription_id", scene.subscriptionId)
            put("category", "television")
            put("title", title)
            put("description", "No picture.")
        }, customer)
        fun location(id: String) = api.get("/api/v1/experts/$id", admin).obj("location")

        SysopsClient.open(tmp.resolve("flo.db").toString(), server.baseUrl, InMemoryTokenStore()).use { client ->
            assertEquals(flo, client.signIn(floEmail, EXPERT_PASSWORD))
            client.setLocationPolicy(minMoveMetres = 250.0, minInterval = 60.seconds * 60)
            assertEquals(3600uL, client.locationPolicy().minIntervalS)
            client.startSync()
            assertTrue(client.awaitSynced(SYNC_BOUND), "synced")

            // On start the first fix goes out: Flo has driven 30 km north.
            val away = 41.8781 + 30.0 / 111.2
            assertTrue(client.reportLocation(away, -87.6298), "the first fix is sent")
            // Driving back at once is throttled (at most once an hour here).
            assertTrue(!client.reportLocation(41.8781, -87.6298), "throttled")
            assertTrue(client.awaitSynced(SYNC_BOUND), "the fix reached the server")
            eventually("Flo's new position on the server") {
                location(flo).takeIf { abs(it.getValue("lat").jsonPrimitive.double - away) < 1e-6 }
            }
            // The dispatcher's next assignment uses it. From where the server had her (2.5 km
            // from the customer) Flo would win over Erin (0.5 km plus 3 km of fairness for
            // her job this morning); from 29.5 km away she loses.
            assertEquals(scene.expertId, newTicket("After Flo drove off").str("assigned_expert_id"))
        }
    }

    /** Runs [block], failing with [what] if it has not finished within [SYNC_BOUND]. */
    private suspend fun <T> within(what: String, block: suspend () -> T): T =
        withTimeoutOrNull(SYNC_BOUND) { block() } ?: fail("timed out waiting for $what")

    /** Polls [read] until it answers (the server projects synced changes in the background). */
    private suspend fun <T : Any> eventually(what: String, read: () -> T?): T = within(what) {
        var value = read()
        while (value == null) {
            delay(100)
            value = read()
        }
        value
    }

    private fun setUpScene(): Scene {
        val admin = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        val plan = api.post("/api/v1/plans", buildJsonObject {
            put("name", "Home Cinema")
            putJsonArray("categories") { add("television") }
            put("monthly_price_cents", 1999)
            put("currency", "USD")
        }, admin)
        val expertEmail = "erin@experts.test"
        val expert = api.post("/api/v1/experts", buildJsonObject {
            put("name", "Erin Expert")
            put("email", expertEmail)
            put("password", EXPERT_PASSWORD)
            put("phone", "+13125550101")
            putJsonArray("skills") { add("television") }
            putJsonObject("service_area") {
                put("center", place(0.0))
                put("radius_km", 40.0)
            }
            put("locale", "en-US")
            put("location", place(1.0))
            put("available", true)
        }, admin)
        api.post("/api/v1/customers", buildJsonObject {
            put("name", "Casey Customer")
            put("email", "casey@customers.test")
            put("password", CUSTOMER_PASSWORD)
            put("phone", "+13125550199")
            put("notify_by", "email")
            put("address", CUSTOMER_ADDRESS)
            put("location", place(0.5))
        })
        val customer = api.login("casey@customers.test", CUSTOMER_PASSWORD)
        val subscription = api.post("/api/v1/customers/me/subscriptions", buildJsonObject {
            put("plan_id", plan.str("id"))
            put("product", "Living-room TV")
        }, customer)
        val ticket = api.post("/api/v1/tickets", buildJsonObject {
            put("subscription_id", subscription.str("id"))
            put("category", "television")
            put("title", "The TV will not turn on")
            put("description", "It stopped working this morning; the standby light blinks.")
        }, customer)
        assertEquals(expert.str("id"), ticket.str("assigned_expert_id"), "assigned to our expert: $ticket")
        val article = api.post("/api/v1/kb", buildJsonObject {
            put("title", ARTICLE_TITLE)
            put("body", "If a television does not power on, unplug it for a minute, then check the power board.")
            putJsonArray("tags") { add("television") }
        }, admin)
        return Scene(expert.str("id"), expertEmail, ticket.str("id"), article.str("id"), subscription.str("id"))
    }

    /** [km] kilometres north of central Chicago. */
    private fun place(km: Double): JsonObject = buildJsonObject {
        put("lat", 41.8781 + km / 111.2)
        put("lon", -87.6298)
    }

    private companion object {
        const val EXPERT_PASSWORD = "expert-password-1"
        const val CUSTOMER_PASSWORD = "customer-password-1"
        const val CUSTOMER_ADDRESS = "1 Main St, Chicago"
        const val ARTICLE_TITLE = "Television will not power on"
        const val DRAFT_TITLE = "Blinking standby light on living-room TVs"
        const val RESOLUTION = "Replaced the power board; the set powers on."
    }
}
