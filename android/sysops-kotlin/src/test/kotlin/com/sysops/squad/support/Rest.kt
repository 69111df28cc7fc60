// The few REST calls the tests make to set the scene and to check the server's view
// afterwards (java.net.http, JSON trees from kotlinx-serialization).
package com.sysops.squad.support

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.time.Duration
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.put

/** JSON over HTTP to the server at [base]. */
class Rest(private val base: () -> String) {
    // HTTP/1.1 only: by default the JDK client offers an h2c upgrade on a new cleartext
    // connection; the server answers in HTTP/1.1 with `connection: upgrade` and then closes
    // that connection, which the client reuses, so a later POST would fail with no bytes.
    private val http = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(10))
        .build()

    /** An answer: the status and the JSON body (an empty object when there is none). */
    data class Answer(val status: Int, val body: JsonObject)

    fun send(method: String, path: String, token: String? = null, body: JsonElement? = null): Answer {
        val req = HttpRequest.newBuilder(URI.create(base() + path))
            .timeout(Duration.ofSeconds(30))
            .header("accept", "application/json")
            .method(
                method,
                if (body == null) HttpRequest.BodyPublishers.noBody() else HttpRequest.BodyPublishers.ofString(body.toString()),
            )
        if (body != null) req.header("content-type", "application/json")
        if (token != null) req.header("authorization", "Bearer $token")
        val resp = http.send(req.build(), HttpResponse.BodyHandlers.ofString())
        val json = resp.body().takeIf { it.isNotBlank() }?.let { Json.parseToJsonElement(it) as? JsonObject }
        return Answer(resp.statusCode(), json ?: JsonObject(emptyMap()))
    }

    /** GET, expecting 200. */
    fun get(path: String, token: String? = null): JsonObject = expect(200, "GET", path, token, null)

    /** POST, expecting [status] (201 unless said). */
    fun post(path: String, body: JsonObject, token: String? = null, status: Int = 201): JsonObject =
        expect(status, "POST", path, token, body)

    /** Logs in; returns the access token. */
    fun login(email: String, password: String): String =
        post("/api/v1/auth/login", buildJsonObject {
            put("email", email)
            put("password", password)
        }, status = 200).str("access_token")

    private fun expect(status: Int, method: String, path: String, token: String?, body: JsonElement?): JsonObject {
        val a = send(method, path, token, body)
        check(a.status == status) { "$method $path: expected $status, got ${a.status}: ${a.body}" }
        return a.body
    }
}

/** A string field, which must be there. */
fun JsonObject.str(key: String): String =
    requireNotNull(this[key]?.jsonPrimitive?.takeIf { it.isString }?.content) { "no string \"$key\" in $this" }

/** A nested object, which must be there. */
fun JsonObject.obj(key: String): JsonObject = requireNotNull(this[key]?.jsonObject) { "no object \"$key\" in $this" }
