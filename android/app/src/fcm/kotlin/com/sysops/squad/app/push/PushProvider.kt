// Push in the `fcm` build: this phone's Firebase Cloud Messaging token.
package com.sysops.squad.app.push

import com.google.firebase.messaging.FirebaseMessaging
import kotlin.coroutines.resume
import kotlinx.coroutines.suspendCancellableCoroutine

/** This build's push tokens. */
object PushProvider {
    /** Whether this build can fetch a token. */
    const val AVAILABLE = true

    /** This phone's FCM token, or null when Firebase is not configured or not reachable. */
    suspend fun currentToken(): String? = try {
        suspendCancellableCoroutine { cont ->
            FirebaseMessaging.getInstance().token.addOnCompleteListener { task ->
                cont.resume(if (task.isSuccessful) task.result else null)
            }
        }
    } catch (e: IllegalStateException) {
        null // no google-services.json: Firebase was never initialised
    }
}
