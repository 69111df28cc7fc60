// SysopsClient: the app's way into the Rust device core. The generated `SysopsDevice`
// blocks (SQLite, and the network for sign-in); every function here runs its call on
// one serial queue, off the main actor, in the order the app made the calls. Sync state
// and change notices arrive as an AsyncStream built on `DeviceListener`.

import Foundation

/// Something the device core reported; see ``SysopsClient/events()``.
public enum DeviceEvent {
    /// The sync state changed (connection, pending changes, last synced).
    case syncState(SyncState)
    /// Data on the device changed: `"tickets"` or `"kb"` (from the server or from this phone).
    case changed(String)
}

/// The expert's device, with async functions for SwiftUI.
public final class SysopsClient: @unchecked Sendable {
    /// The generated object, for anything this wrapper does not cover. Its calls block.
    public let device: SysopsDevice
    private let queue = DispatchQueue(label: "com.penultimate.sysops.device", qos: .userInitiated)
    private let fanout = EventFanout()

    private init(device: SysopsDevice) throws {
        self.device = device
        try device.setListener(listener: fanout)
    }

    /// Opens (or creates) the store file at `path` for the server at `serverURL`. A
    /// damaged store is set aside and rebuilt from the server (``recoveredFromDamage``).
    /// `https://` needs no set-up (the Rust core bundles Mozilla's roots); a private
    /// deployment passes its own CA as PEM in `extraCAPEM`.
    public static func open(
        path: URL, serverURL: String, extraCAPEM: String? = nil, keys: KeyStore = KeychainKeyStore()
    ) async throws -> SysopsClient {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result<SysopsClient, Error> {
                    let config = DeviceConfig(serverUrl: serverURL, extraCaPem: extraCAPEM)
                    let device = try SysopsDevice.openWithConfig(path: path.path, config: config, keys: keys)
                    return try SysopsClient(device: device)
                })
            }
        }
    }

    /// Whether opening found a damaged store and started afresh.
    public var recoveredFromDamage: Bool { device.recoveredFromDamage() }

    /// Sync state changes and change notices, for as long as the stream is iterated.
    /// Each call makes a new stream; all of them receive every event. Start with
    /// ``syncState()`` for the current state.
    public func events() -> AsyncStream<DeviceEvent> {
        AsyncStream(bufferingPolicy: .bufferingNewest(64)) { continuation in
            let id = fanout.add(continuation)
            continuation.onTermination = { [fanout] _ in fanout.remove(id) }
        }
    }

    // MARK: Session and sync

    /// Signs in; returns the expert's id. A different expert than before starts from an
    /// empty store. Needs the network.
    public func signIn(email: String, password: String) async throws -> String {
        try await run { try $0.signIn(email: email, password: password) }
    }

    /// The signed-in expert's id, or nil when the app should show the sign-in screen.
    public func signedInExpert() async throws -> String? {
        try await run { try $0.signedInExpert() }
    }

    /// The availability the expert last set, or nil if never set.
    public func available() async throws -> Bool? {
        try await run { try $0.available() }
    }

    /// Signs out (stops syncing and forgets the tokens).
    public func signOut() async throws {
        try await run { try $0.signOut() }
    }

    /// Starts background sync; throws `DeviceError.NotSignedIn` when nobody is signed in.
    public func startSync() async throws {
        try await run { try $0.startSync() }
    }

    /// Stops background sync.
    public func stopSync() async throws {
        try await run { try $0.stopSync() }
    }

    /// Waits up to `timeout` seconds until connected with nothing pending; returns
    /// whether it got there. Every other call waits behind it, so keep it for moments
    /// without UI (going to the background).
    public func waitSynced(timeout: TimeInterval) async throws -> Bool {
        let ms = UInt64(max(0, timeout) * 1000)
        return try await run { try $0.waitSynced(timeoutMs: ms) }
    }

    /// Connection and sync state now.
    public func syncState() async throws -> SyncState {
        try await run { try $0.syncState() }
    }

    // MARK: Tickets

    /// The expert's tickets, open work first.
    public func tickets() async throws -> [Ticket] {
        try await run { try $0.tickets() }
    }

    /// One ticket.
    public func ticket(id: String) async throws -> Ticket {
        try await run { try $0.ticket(id: id) }
    }

    /// Accepts a ticket (works offline, like every action below).
    public func accept(ticketId: String) async throws {
        try await run { try $0.accept(ticketId: ticketId) }
    }

    /// Declines a ticket with a reason.
    public func decline(ticketId: String, reason: String) async throws {
        try await run { try $0.decline(ticketId: ticketId, reason: reason) }
    }

    /// The expert set off.
    public func enRoute(ticketId: String) async throws {
        try await run { try $0.enRoute(ticketId: ticketId) }
    }

    /// The expert arrived.
    public func arrived(ticketId: String) async throws {
        try await run { try $0.arrived(ticketId: ticketId) }
    }

    /// Replaces the work notes.
    public func setNotes(ticketId: String, notes: String) async throws {
        try await run { try $0.setNotes(ticketId: ticketId, notes: notes) }
    }

    /// Records a part used.
    public func addPart(ticketId: String, name: String, quantity: Double) async throws {
        try await run { try $0.addPart(ticketId: ticketId, name: name, quantity: quantity) }
    }

    /// Completes a ticket with its resolution.
    public func complete(ticketId: String, resolution: String) async throws {
        try await run { try $0.complete(ticketId: ticketId, resolution: resolution) }
    }

    // MARK: The expert

    /// Sets whether the expert takes new work.
    public func setAvailable(_ available: Bool) async throws {
        try await run { try $0.setAvailable(available: available) }
    }

    /// Reports the current position.
    public func setLocation(lat: Double, lon: Double) async throws {
        try await run { try $0.setLocation(lat: lat, lon: lon) }
    }

    /// Registers the FCM registration token Firebase Messaging gives the app
    /// (`MessagingDelegate.messaging(_:didReceiveRegistrationToken:)`); it reaches the
    /// server on the next sync. The server pushes through FCM, which refuses a raw APNs
    /// device token: hand that to `Messaging.messaging().apnsToken` instead (ADR 19).
    public func registerPushToken(fcmToken: String) async throws {
        try await run { try $0.registerPushToken(platform: "ios", token: fcmToken) }
    }

    // MARK: Knowledge base

    /// Searches the knowledge base offline (ranked; the last word matches as a prefix,
    /// so it suits search-as-you-type). An empty query lists recent articles.
    public func searchKb(query: String, limit: Int = 25) async throws -> [KbHit] {
        let limit = UInt32(clamping: max(0, limit))
        return try await run { try $0.searchKb(query: query, limit: limit) }
    }

    /// Reads an article offline.
    public func article(id: String) async throws -> Article {
        try await run { try $0.article(id: id) }
    }

    /// Writes an article offline; it goes to review on the next sync. Returns its id.
    public func writeArticle(title: String, body: String, tags: [String]) async throws -> String {
        try await run { try $0.writeArticle(title: title, body: body, tags: tags) }
    }

    /// Stops syncing and closes the store; the client is unusable afterwards and every
    /// stream from ``events()`` finishes.
    public func close() async throws {
        try await run { (device: SysopsDevice) -> Void in
            try device.setListener(listener: nil)
            try device.close()
        }
        fanout.finishAll()
    }

    private func run<T>(_ body: @escaping @Sendable (SysopsDevice) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [device] in
                continuation.resume(with: Result { try body(device) })
            }
        }
    }
}

/// The one `DeviceListener` a client registers: hands each event to every open stream.
/// Rust calls it on a background thread; it only buffers, never calls back into the
/// device (which could wait behind a call holding the device).
final class EventFanout: DeviceListener, @unchecked Sendable {
    private let lock = NSLock()
    private var streams: [UUID: AsyncStream<DeviceEvent>.Continuation] = [:]

    func add(_ continuation: AsyncStream<DeviceEvent>.Continuation) -> UUID {
        let id = UUID()
        lock.lock()
        defer { lock.unlock() }
        streams[id] = continuation
        return id
    }

    func remove(_ id: UUID) {
        lock.lock()
        defer { lock.unlock() }
        streams[id] = nil
    }

    func finishAll() {
        for stream in takeAll() { stream.finish() }
    }

    func onChange(what: String) {
        send(.changed(what))
    }

    func onSyncState(state: SyncState) {
        send(.syncState(state))
    }

    private func send(_ event: DeviceEvent) {
        lock.lock()
        let targets = Array(streams.values)
        lock.unlock()
        for stream in targets { stream.yield(event) }
    }

    private func takeAll() -> [AsyncStream<DeviceEvent>.Continuation] {
        lock.lock()
        defer { lock.unlock() }
        let all = Array(streams.values)
        streams = [:]
        return all
    }
}
