// Firebase Cloud Messaging: a new token is registered with the device (which sends it to
// the server now or on the next connection); a message about new work wakes sync.
package com.sysops.squad.app.push

import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import com.sysops.squad.SysopsException
import com.sysops.squad.app.SysopsApp
import kotlinx.coroutines.launch

/** Receives FCM tokens and messages. */
class SysopsMessagingService : FirebaseMessagingService() {
    private val app get() = application as SysopsApp

    override fun onNewToken(token: String) {
        app.scope.launch {
            try {
                app.device.await().registerPushToken(token)
            } catch (e: SysopsException) {
                // Not signed in yet: sign-in registers the current token.
            }
        }
    }

    override fun onMessageReceived(message: RemoteMessage) {
        // The data comes through sync; make sure it is running (it reconnects by itself).
        app.scope.launch {
            try {
                app.device.await().startSync()
            } catch (e: SysopsException) {
                // Signed out: nothing to fetch.
            }
        }
    }
}
