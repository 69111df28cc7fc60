// The app's entry point. The app delegate owns the one AppModel so that the push
// callbacks reach it; SwiftUI gets it through the environment. Push goes through
// Firebase Cloud Messaging like Android's (ADR 19): the APNs token goes to Firebase
// Messaging, and the FCM token it gives back goes to the server.

import FirebaseCore
import FirebaseMessaging
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

/// Hands the APNs token to Firebase Messaging, passes the FCM token it returns to the
/// model, and shows notifications that arrive while the app is open.
@MainActor
final class AppDelegate: NSObject, UIApplicationDelegate, UNUserNotificationCenterDelegate, MessagingDelegate {
    let model = AppModel()

    func application(
        _ application: UIApplication,
        didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]?
    ) -> Bool {
        // Reads GoogleService-Info.plist (from the Firebase console; not committed).
        FirebaseApp.configure()
        Messaging.messaging().delegate = self
        UNUserNotificationCenter.current().delegate = self
        return true
    }

    func application(_ application: UIApplication, didRegisterForRemoteNotificationsWithDeviceToken deviceToken: Data) {
        // Swizzling is off (FirebaseAppDelegateProxyEnabled = NO), so Firebase hears of
        // the APNs token from us; it answers with an FCM token in the delegate below.
        Messaging.messaging().apnsToken = deviceToken
    }

    nonisolated func messaging(_ messaging: Messaging, didReceiveRegistrationToken fcmToken: String?) {
        guard let fcmToken else { return }
        Task { @MainActor in self.model.pushTokenReceived(fcmToken: fcmToken) }
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
