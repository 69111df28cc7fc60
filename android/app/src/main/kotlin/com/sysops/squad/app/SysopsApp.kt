// The process-wide device: opened once, in the background, when the app starts.
package com.sysops.squad.app

import android.app.Application
import com.sysops.squad.SysopsClient
import java.io.File
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async

/** The application: owns the one [SysopsClient] of this process. */
class SysopsApp : Application() {
    /** Work that outlives any screen (opening the device, push token registration). */
    val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    /** The device, ready once opened. It stays open for the life of the process. */
    lateinit var device: Deferred<SysopsClient>
        private set

    override fun onCreate() {
        super.onCreate()
        val tokens = KeystoreTokenStore.create(this)
        val store = File(noBackupFilesDir, "device.db").path
        device = scope.async(Dispatchers.IO) { SysopsClient.open(store, BuildConfig.SERVER_URL, tokens) }
    }
}
