// Push in the `plain` build: none (the token can still be typed in Settings for testing).
package com.sysops.squad.app.push

/** This build's push tokens. */
object PushProvider {
    /** Whether this build can fetch a token. */
    const val AVAILABLE = false

    /** This phone's push token: none here. */
    suspend fun currentToken(): String? = null
}
