// Settings: the account and server, availability for new work, push notifications
// (permission, APNs registration handed to Firebase Messaging, then the FCM token to the
// device core; ADR 19) and sign out.

import SwiftUI
import SysopsKit

@MainActor
struct SettingsView: View {
    @EnvironmentObject private var model: AppModel
    @AppStorage("available") private var available = true
    @State private var error: String?

    var body: some View {
        NavigationStack {
            Form {
                if let error {
                    Section { Text(error).foregroundStyle(.red) }
                }
                Section("Work") {
                    Toggle("Available for new tickets", isOn: $available)
                }
                Section {
                    LabeledContent("Status", value: model.pushStatus)
                    Button("Enable push notifications") { Task { await model.enablePush() } }
                } header: {
                    Text("Notifications")
                } footer: {
                    Text("New tickets are announced with a push notification.")
                }
                if model.recoveredFromDamage {
                    Section("Storage") {
                        Text("The data on this phone was damaged and has been rebuilt from the server.")
                    }
                }
                Section("Account") {
                    LabeledContent("Server", value: model.serverURL)
                    Button("Sign out", role: .destructive) { Task { await model.signOut() } }
                }
            }
            .navigationTitle("Settings")
            .onChange(of: available) { value in
                Task { error = await model.run { try await $0.setAvailable(value) } }
            }
        }
    }
}
