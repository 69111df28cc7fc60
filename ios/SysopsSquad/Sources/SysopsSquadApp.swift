// The app's entry point. The app delegate owns the one AppModel so that the APNs
// callbacks reach it; SwiftUI gets it through the environment.

import SwiftUI
import UIKit
import UserNotifications

@main
struct SysopsSquadApp: App {
    @UIApplicationDelegateAdaptor(AppDelegate.self) private var delegate
    @Environment(\.scenePhase) private var scenePhase

    var body: some Scene {
        WindowGroup {
            RootView()
                .environmentObject(delegate.model)
        }
        .onChange(of: scenePhase) { phase in
            delegate.model.scenePhaseChanged(phase)
        }
    }
}

/// Receives the APNs token and shows notifications that arrive while the app is open.
@MainActor
final class AppDelegate: NSObject, UIApplicationDelegate, UNUserNotificationCenterDelegate {
    let model = AppModel()

    func application(
        _ application: UIApplication,
        didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]?
    ) -> Bool {
        UNUserNotificationCenter.current().delegate = self
        return true
    }

    func application(_ application: UIApplication, didRegisterForRemoteNotificationsWithDeviceToken deviceToken: Data) {
        model.pushTokenReceived(deviceToken)
    }

    func application(_ application: UIApplication, didFailToRegisterForRemoteNotificationsWithError error: Error) {
        model.pushRegistrationFailed(error)
    }

    nonisolated func userNotificationCenter(
        _ center: UNUserNotificationCenter, willPresent notification: UNNotification
    ) async -> UNNotificationPresentationOptions {
        [.banner, .list, .sound]
    }
}

/// Chooses between opening, signing in and the app itself.
struct RootView: View {
    @EnvironmentObject private var model: AppModel

    var body: some View {
        Group {
            switch model.phase {
            case .starting:
                ProgressView("Opening…")
            case .signedOut:
                SignInView()
            case .signedIn:
                MainTabs()
            case .failed(let message):
                VStack(spacing: 16) {
                    Image(systemName: "exclamationmark.triangle").font(.largeTitle)
                    Text(message).multilineTextAlignment(.center)
                    Button("Try again") { Task { await model.start() } }
                }
                .padding()
            }
        }
        .task { await model.start() }
    }
}

/// The signed-in app: tickets, knowledge base, settings.
struct MainTabs: View {
    var body: some View {
        TabView {
            TicketListView()
                .tabItem { Label("Tickets", systemImage: "wrench.and.screwdriver") }
            KnowledgeBaseView()
                .tabItem { Label("Knowledge", systemImage: "book") }
            SettingsView()
                .tabItem { Label("Settings", systemImage: "gear") }
        }
    }
}
