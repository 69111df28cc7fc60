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
typealias SyncState = uniffi.sysops_core.SyncState

/** How often and on how large a move [SysopsClient.reportLocation] sends (metres, seconds). */
typealias LocationPolicy = uniffi.sysops_core.LocationPolicy

/** A ticket's status on the server, typed by the core (null on a [Ticket] when the server
 * sent a status this version does not know). */
typealias TicketStatus = uniffi.sysops_core.TicketStatus

/** Where the expert is with a ticket, as the app shows it (decided by the core from the
 * device's own stamps and the server's status; `label()` gives a short English label). */
typealias TicketStage = uniffi.sysops_core.TicketStage

/** Pending changes as an Int (the FFI carries a UInt). */
val SyncState.pending: Int get() = pendingChanges.toInt()

/** Connected, with nothing waiting to reach the server, and synced at least once. */
val SyncState.isSettled: Boolean get() = connected && pendingChanges == 0u && lastSyncedAt != null

/** No more work to do on it on this device (decided by the core: [Ticket.finished]). */
val Ticket.isFinished: Boolean get() = finished

/**
 * A field step the expert can take next, judged from what this device recorded; the
 * device itself has the last word (it throws [DeviceException.Invalid] otherwise).
 */
enum class FieldStep { ACCEPT, DECLINE, EN_ROUTE, ARRIVED, COMPLETE }

/** The steps worth offering for this ticket now. */
fun Ticket.nextSteps(): Set<FieldStep> = when (stage) {
    TicketStage.ASSIGNED -> setOf(FieldStep.ACCEPT, FieldStep.DECLINE)
    TicketStage.ACCEPTED -> setOf(FieldStep.EN_ROUTE, FieldStep.ARRIVED, FieldStep.COMPLETE)
    TicketStage.EN_ROUTE -> setOf(FieldStep.ARRIVED, FieldStep.COMPLETE)
    TicketStage.ON_SITE -> setOf(FieldStep.COMPLETE)
    TicketStage.COMPLETED, TicketStage.DECLINED, TicketStage.WITHDRAWN -> emptySet()
}
