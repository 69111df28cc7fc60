// The device's records under the app's package, so screens import com.sysops.squad only,
// and the few questions about them that every screen asks.
package com.sysops.squad

/** A ticket on the device (generated from the Rust record). */
typealias Ticket = uniffi.mobile_ffi.Ticket

/** A knowledge-base search hit: id, title and the matching passage. */
typealias KbHit = uniffi.mobile_ffi.KbHit

/** A knowledge-base article; `draft` when written on this device and not yet published. */
typealias Article = uniffi.mobile_ffi.Article

/** Connection and sync state: connected, last synced (RFC 3339), pending changes. */
typealias SyncState = uniffi.mobile_ffi.SyncState

/** Pending changes as an Int (the FFI carries a UInt). */
val SyncState.pending: Int get() = pendingChanges.toInt()

/** Connected, with nothing waiting to reach the server, and synced at least once. */
val SyncState.isSettled: Boolean get() = connected && pendingChanges == 0u && lastSyncedAt != null

/** No more work to do on it on this device. */
val Ticket.isFinished: Boolean
    get() = completedAt != null || status in setOf("completed", "closed", "cancelled")

/**
 * A field step the expert can take next, judged from what this device recorded; the
 * device itself has the last word (it throws [DeviceException.Invalid] otherwise).
 */
enum class FieldStep { ACCEPT, DECLINE, EN_ROUTE, ARRIVED, COMPLETE }

/** The steps worth offering for this ticket now. */
fun Ticket.nextSteps(): Set<FieldStep> = when {
    isFinished -> emptySet()
    acceptedAt == null -> setOf(FieldStep.ACCEPT, FieldStep.DECLINE)
    enRouteAt == null -> setOf(FieldStep.EN_ROUTE, FieldStep.ARRIVED, FieldStep.COMPLETE)
    arrivedAt == null -> setOf(FieldStep.ARRIVED, FieldStep.COMPLETE)
    else -> setOf(FieldStep.COMPLETE)
}
