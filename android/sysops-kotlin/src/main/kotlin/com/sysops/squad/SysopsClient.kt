// The app's entry point to the expert's device: the generated SysopsDevice behind suspend
// functions (every FFI call blocks, so each runs on the IO dispatcher) and flows fed by
// the device's listener. One client per store file; close it when the app is done.
package com.sysops.squad

import java.util.concurrent.atomic.AtomicBoolean
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.TimeSource
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.FlowPreview
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.debounce
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.flatMapLatest
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.onSubscription
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import uniffi.sysops_core.DeviceException
import uniffi.mobile_ffi.SysopsDevice
import uniffi.sysops_core.DeviceConfig

/**
 * The expert's device: an offline store that syncs with the server in the background.
 * Every action works offline and reaches the server on the next sync.
 *
 * Open it with [SysopsClient.open]. Every call may throw a [SysopsException].
 */
class SysopsClient private constructor(
    private val device: SysopsDevice,
    private val io: CoroutineDispatcher,
    private val bridge: ListenerBridge,
    initialState: SyncState,
) : AutoCloseable {

    private val scope = CoroutineScope(SupervisorJob() + io)
    private val closed = AtomicBoolean(false)
    private val state = MutableStateFlow(initialState)

    /** Connection and sync state, updated as the device reports it and after each action. */
    val syncStates: StateFlow<SyncState> = state.asStateFlow()

    /** What changed on the device (hot; nothing is replayed to a late subscriber). */
    val changes: SharedFlow<Change> = bridge.changes.asSharedFlow()

    /** Whether opening found a damaged store and started afresh (it refills from the server). */
    val recoveredFromDamage: Boolean = device.recoveredFromDamage()

    init {
        // The only reader of the device's sync state for the flow, so updates stay in order.
        scope.launch {
            for (request in bridge.stateRequests) {
                runCatching { device.syncState() }.onSuccess { state.value = it }
            }
        }
    }

    // ------------------------------------------------------------------ session

    /** Signs in (another expert than before starts from an empty store); returns the expert's id. */
    suspend fun signIn(email: String, password: String): String = change { signIn(email, password) }

    /** The signed-in expert's id, or null when the app should show the sign-in screen. */
    suspend fun signedInExpert(): String? = call { signedInExpert() }

    /** Signs out and stops syncing; the data stays for the same expert's next sign-in. */
    suspend fun signOut() = change { signOut() }

    /** Starts background sync; it reconnects by itself whenever the network returns. */
    suspend fun startSync() = change { startSync() }

    /** Stops background sync; everything keeps working offline. */
    suspend fun stopSync() = change { stopSync() }

    /** The current sync state, read now ([syncStates] follows). */
    suspend fun syncState(): SyncState = call { syncState() }.also { bridge.stateRequests.trySend(Unit) }

    /**
     * Waits until connected with nothing pending, up to [timeout]; returns whether it got
     * there. Cancellable: the device is asked in short slices, so other calls are not held
     * up behind one long wait.
     */
    suspend fun awaitSynced(timeout: Duration): Boolean {
        val start = TimeSource.Monotonic.markNow()
        while (true) {
            val slice = (timeout - start.elapsedNow()).coerceIn(Duration.ZERO, WAIT_SLICE)
            if (call { waitSynced(slice.inWholeMilliseconds.toULong()) }) {
                syncState()
                return true
            }
            if (start.elapsedNow() >= timeout) return false
        }
    }

    // ------------------------------------------------------------------ tickets

    /** The expert's tickets, open work first. */
    suspend fun tickets(): List<Ticket> = call { tickets() }

    /** One ticket. */
    suspend fun ticket(id: String): Ticket = call { ticket(id) }

    /** The ticket list now and after every change. */
    fun ticketList(): Flow<List<Ticket>> = watch(Change.TICKETS) { tickets() }

    /** One ticket now and after every change. */
    fun ticketUpdates(id: String): Flow<Ticket> = watch(Change.TICKETS) { ticket(id) }

    /** Accepts a ticket. */
    suspend fun accept(ticketId: String) = change { accept(ticketId) }

    /** Declines a ticket, saying why. */
    suspend fun decline(ticketId: String, reason: String) = change { decline(ticketId, reason) }

    /** On the way. */
    suspend fun enRoute(ticketId: String) = change { enRoute(ticketId) }

    /** Arrived at the customer. */
    suspend fun arrived(ticketId: String) = change { arrived(ticketId) }

    /** Replaces the work notes. */
    suspend fun setNotes(ticketId: String, notes: String) = change { setNotes(ticketId, notes) }

    /** Records a part used. */
    suspend fun addPart(ticketId: String, name: String, quantity: Double) = change { addPart(ticketId, name, quantity) }

    /** Completes a ticket with its resolution, stamped with this device's clock. */
    suspend fun complete(ticketId: String, resolution: String) = change { complete(ticketId, resolution) }

    // ------------------------------------------------------------------ the expert

    /** The availability the expert last set (here or on another device), or null if never set. */
    suspend fun available(): Boolean? = call { available() }

    /** Sets availability for new work. */
    suspend fun setAvailable(available: Boolean) = change { setAvailable(available) }

    /** Reports the current position now, whatever the location policy says. */
    suspend fun setLocation(lat: Double, lon: Double) = change { setLocation(lat, lon) }

    /**
     * A fix from the phone's location service (feed it every one): the device sends it to
     * the dispatcher on start (the first fix after [startSync] or after [setAvailable]
     * `true`), then on a move of [LocationPolicy.minMoveM] metres at most once per
     * [LocationPolicy.minIntervalS] seconds, and never while the expert is unavailable.
     * Returns whether this fix was sent (it reaches the server with the next sync).
     */
    suspend fun reportLocation(lat: Double, lon: Double): Boolean = change { reportLocation(lat, lon) }

    /** Sets how large a move is worth reporting and how often at most (default 250 m, 5 minutes). */
    suspend fun setLocationPolicy(minMoveMetres: Double = 250.0, minInterval: Duration = 5.minutes) {
        require(minMoveMetres >= 0.0 && !minInterval.isNegative()) { "a distance and an interval of 0 or more" }
        call { setLocationPolicy(LocationPolicy(minMoveMetres, minInterval.inWholeSeconds.toULong())) }
    }

    /** The location policy in force. */
    suspend fun locationPolicy(): LocationPolicy = call { locationPolicy() }

    /** Registers this phone's push token (sent now if online, else on the next connection). */
    suspend fun registerPushToken(token: String, platform: String = "android") =
        change { registerPushToken(platform, token) }

    // ------------------------------------------------------------------ knowledge base

    /** Ranked offline search with snippets; [limit] is 1 to 100. */
    suspend fun searchKb(query: String, limit: Int = 20): List<KbHit> {
        require(limit in 1..100) { "limit must be 1 to 100, not $limit" }
        return call { searchKb(query, limit.toUInt()) }
    }

    /**
     * Search as you type: results for the latest of [queries] once typing pauses for
     * [debounce], and again whenever the knowledge base changes. A blank query lists the
     * most recent articles.
     */
    @OptIn(FlowPreview::class, ExperimentalCoroutinesApi::class)
    fun searchAsYouType(
        queries: Flow<String>,
        limit: Int = 20,
        debounce: Duration = 250.milliseconds,
    ): Flow<List<KbHit>> =
        queries.map { it.trim() }.debounce(debounce).distinctUntilChanged().flatMapLatest { q ->
            watch(Change.KB) { searchKb(q, limit) }
        }

    /** One article, offline. */
    suspend fun article(id: String): Article = call { article(id) }

    /** Writes an article (offline); it goes to review on the next sync. Returns its id. */
    suspend fun writeArticle(title: String, body: String, tags: List<String> = emptyList()): String =
        change { writeArticle(title, body, tags) }

    // ------------------------------------------------------------------ plumbing

    /**
     * [read] now and again after every [topic] change, skipping repeats. Collect it in a
     * scope that ends before [close].
     */
    fun <T> watch(topic: Change, read: suspend SysopsClient.() -> T): Flow<T> =
        bridge.changes
            .onSubscription { emit(topic) }
            .filter { it == topic }
            .conflate()
            .map { read() }
            .distinctUntilChanged()

    /**
     * Stops syncing, closes the store and frees the native object. Blocks for up to a few
     * seconds: call it off the main thread. Later calls throw [SysopsException.Storage].
     */
    override fun close() {
        if (!closed.compareAndSet(false, true)) return
        scope.cancel()
        try {
            runCatching { device.setListener(null) }
            device.closeStore()
        } finally {
            device.destroy()
        }
    }

    private suspend fun <T> call(block: SysopsDevice.() -> T): T {
        if (closed.get()) throw SysopsException.Storage("the device was closed")
        return withContext(io) {
            try {
                device.block()
            } catch (e: DeviceException) {
                throw e.toSysops()
            }
        }
    }

    /** A call that may change the sync state (pending changes, connection). */
    private suspend fun <T> change(block: SysopsDevice.() -> T): T =
        call(block).also { bridge.stateRequests.trySend(Unit) }

    companion object {
        private val WAIT_SLICE = 250.milliseconds

        /**
         * Opens (or creates) the store at [path] for the server at [serverUrl], keeping the
         * tokens in [tokens]. A damaged store is set aside and rebuilt from the server.
         *
         * `https://` needs no platform set-up: the library bundles Mozilla's root
         * certificates. A private deployment whose certificate comes from its own CA passes
         * that CA as PEM in [extraCaPem] (for example from a raw resource); it is trusted
         * besides the bundled roots.
         */
        suspend fun open(
            path: String,
            serverUrl: String,
            tokens: TokenStore,
            io: CoroutineDispatcher = Dispatchers.IO,
            extraCaPem: String? = null,
        ): SysopsClient = withContext(io) {
            val device = try {
                SysopsDevice.openWithConfig(path, DeviceConfig(serverUrl, extraCaPem), KeyStoreAdapter(tokens))
            } catch (e: DeviceException) {
                throw e.toSysops()
            }
            try {
                val bridge = ListenerBridge()
                device.setListener(bridge)
                SysopsClient(device, io, bridge, device.syncState())
            } catch (e: Throwable) {
                runCatching { device.closeStore() }
                device.destroy()
                throw e
            }
        }
    }
}
