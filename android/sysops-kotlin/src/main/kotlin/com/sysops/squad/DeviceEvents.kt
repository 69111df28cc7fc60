// The one DeviceListener the client installs: it turns the device's callbacks (on the
// device's threads, possibly while it holds its lock) into flows without ever calling
// back into the device from the callback.
package com.sysops.squad

import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.MutableSharedFlow
import uniffi.sysops_core.DeviceListener

/** What changed on the device. */
enum class Change {
    /** The ticket list or a ticket. */
    TICKETS,

    /** The knowledge base (articles arrived, or a draft was written). */
    KB,
}

/**
 * Forwards callbacks without blocking: changes go to [changes], and a sync-state callback
 * only asks for a re-read (through [stateRequests]), so a single reader orders the state.
 */
internal class ListenerBridge : DeviceListener {
    val changes = MutableSharedFlow<Change>(extraBufferCapacity = 64, onBufferOverflow = BufferOverflow.DROP_OLDEST)
    val stateRequests = Channel<Unit>(Channel.CONFLATED)

    override fun onChange(what: String) {
        when (what) {
            "tickets" -> changes.tryEmit(Change.TICKETS)
            "kb" -> changes.tryEmit(Change.KB)
            // Something new: re-reading everything is always correct.
            else -> Change.entries.forEach { changes.tryEmit(it) }
        }
    }

    override fun onSyncState(state: uniffi.sysops_core.SyncState) {
        stateRequests.trySend(Unit)
    }
}
