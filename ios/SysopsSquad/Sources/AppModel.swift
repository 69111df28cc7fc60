// AppModel: the app's state on the main actor (session, tickets, sync state, push
// registration), kept current by SysopsClient's events. Views call the device through
// `run`, which turns failures into sentences.

import SwiftUI
import SysopsKit
import UIKit
import UserNotifications

@MainActor
final class AppModel: ObservableObject {
    enum Phase: Equatable {
        case starting, signedOut, signedIn
        case failed(String)
    }

    @Published private(set) var phase = Phase.starting
    @Published private(set) var tickets: [Ticket] = []
    @Published private(set) var syncState: SyncState?
    /// Bumped when the knowledge base changes, so open searches run again.
    @Published private(set) var kbRevision = 0
    @Published private(set) var pushStatus = "Not registered"
    @Published private(set) var recoveredFromDamage = false

    private var client: SysopsClient?
    private var events: Task<Void, Never>?
    private var opening = false
    private var reloading = false
    private var reloadAgain = false

    /// The server the device talks to: the last one signed in to, else the Info.plist default.
    var serverURL: String {
        UserDefaults.standard.string(forKey: "serverURL")
            ?? Bundle.main.object(forInfoDictionaryKey: "SysopsServerURL") as? String
            ?? "http://127.0.0.1:8080"
    }

    private static var storeURL: URL {
        URL.applicationSupportDirectory.appending(path: "Sysops/device.db")
    }

    /// Opens the store and resumes the last session, if there is one.
    func start() async {
        guard client == nil, !opening else { return }
        opening = true
        defer { opening = false }
        phase = .starting
        do {
            let client = try await open(server: serverURL)
            if try await client.signedInExpert() == nil {
                phase = .signedOut
            } else {
                do {
                    try await client.startSync()
                    phase = .signedIn
                    registerForPushIfAllowed()
                } catch DeviceError.NotSignedIn {
                    phase = .signedOut
                }
            }
        } catch {
            phase = .failed(userMessage(for: error))
        }
    }

    /// Signs in (reopening the store first when the server changed) and starts syncing.
    func signIn(server: String, email: String, password: String) async throws {
        let server = server.trimmingCharacters(in: .whitespacesAndNewlines)
        let client: SysopsClient
        if let current = self.client, server == serverURL {
            client = current
        } else {
            client = try await open(server: server)
        }
        _ = try await client.signIn(email: email, password: password)
        try await client.startSync()
        phase = .signedIn
        await reloadTickets()
        registerForPushIfAllowed()
    }

    /// Signs out; the tickets stay on the phone until another expert signs in.
    func signOut() async {
        try? await client?.signOut()
        phase = .signedOut
    }

    /// Runs an action on the device; returns a sentence for the expert when it fails.
    func run(_ action: (SysopsClient) async throws -> Void) async -> String? {
        guard let client else { return "Please sign in again." }
        do {
            try await action(client)
            await reloadTickets()
            return nil
        } catch {
            return userMessage(for: error)
        }
    }

    /// Searches the knowledge base on the phone.
    func search(_ query: String) async -> [KbHit] {
        (try? await client?.searchKb(query: query)) ?? []
    }

    /// Reads an article on the phone.
    func article(id: String) async throws -> Article {
        guard let client else { throw DeviceError.NotSignedIn }
        return try await client.article(id: id)
    }

    /// Pull to refresh: reconnects now when offline, then reloads.
    func refresh() async {
        if syncState?.connected != true { try? await client?.startSync() }
        await reloadTickets()
    }

    /// Syncs in the foreground; in the background gives pending changes a few seconds
    /// to reach the server, then stops.
    func scenePhaseChanged(_ scene: ScenePhase) {
        guard phase == .signedIn, let client else { return }
        switch scene {
        case .active:
            Task {
                try? await client.startSync()
                await reloadTickets()
            }
        case .background:
            let task = UIApplication.shared.beginBackgroundTask(withName: "sync", expirationHandler: nil)
            Task {
                _ = try? await client.waitSynced(timeout: 10)
                try? await client.stopSync()
                UIApplication.shared.endBackgroundTask(task)
            }
        default:
            break
        }
    }

    // MARK: Push notifications

    /// Asks for permission, then registers with APNs; AppDelegate hands the APNs token to
    /// Firebase Messaging, whose FCM token comes back here (ADR 19).
    func enablePush() async {
        do {
            let granted = try await UNUserNotificationCenter.current()
                .requestAuthorization(options: [.alert, .badge, .sound])
            guard granted else {
                pushStatus = "Notifications are turned off in Settings"
                return
            }
            pushStatus = "Registering…"
            UIApplication.shared.registerForRemoteNotifications()
        } catch {
            pushStatus = error.localizedDescription
        }
    }

    /// APNs tokens can change: register again at every start when allowed before.
    private func registerForPushIfAllowed() {
        Task {
            let settings = await UNUserNotificationCenter.current().notificationSettings()
            if settings.authorizationStatus == .authorized {
                UIApplication.shared.registerForRemoteNotifications()
            }
        }
    }

    /// The FCM registration token from Firebase Messaging (new at install, and whenever
    /// Firebase rotates it).
    func pushTokenReceived(fcmToken token: String) {
        guard let client else { return }
        Task {
            do {
                try await client.registerPushToken(fcmToken: token)
                pushStatus = "Registered (sent with the next sync)"
            } catch {
                pushStatus = userMessage(for: error)
            }
        }
    }

    func pushRegistrationFailed(_ error: Error) {
        pushStatus = "APNs refused: \(error.localizedDescription)"
    }

    // MARK: The device

    private func open(server: String) async throws -> SysopsClient {
        events?.cancel()
        if let old = client {
            client = nil
            try? await old.close()
        }
        let client = try await SysopsClient.open(path: Self.storeURL, serverURL: server)
        self.client = client
        UserDefaults.standard.set(server, forKey: "serverURL")
        recoveredFromDamage = client.recoveredFromDamage
        events = Task { [weak self] in
            for await event in client.events() {
                self?.handle(event)
            }
        }
        syncState = try? await client.syncState()
        await reloadTickets()
        return client
    }

    private func handle(_ event: DeviceEvent) {
        switch event {
        case .syncState(let state):
            syncState = state
        case .changed("kb"):
            kbRevision += 1
        case .changed:
            Task { await reloadTickets() }
        }
    }

    /// Reloads the list; calls while a reload runs fold into one more reload.
    private func reloadTickets() async {
        guard let client else { return }
        if reloading {
            reloadAgain = true
            return
        }
        reloading = true
        defer { reloading = false }
        repeat {
            reloadAgain = false
            if let list = try? await client.tickets() { tickets = list }
        } while reloadAgain
    }
}
