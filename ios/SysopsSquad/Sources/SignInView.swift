// Sign in: e-mail, password and the server (prefilled; change it for another server).

import SwiftUI
import SysopsKit

@MainActor
struct SignInView: View {
    @EnvironmentObject private var model: AppModel
    @State private var email = ""
    @State private var password = ""
    @State private var server = ""
    @State private var error: String?
    @State private var busy = false

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    TextField("E-mail", text: $email)
                        .textContentType(.username)
                        .keyboardType(.emailAddress)
                        .textInputAutocapitalization(.never)
                        .autocorrectionDisabled()
                    SecureField("Password", text: $password)
                        .textContentType(.password)
                }
                Section("Server") {
                    TextField("https://sysops.example.com", text: $server)
                        .keyboardType(.URL)
                        .textInputAutocapitalization(.never)
                        .autocorrectionDisabled()
                }
                if let error {
                    Section { Text(error).foregroundStyle(.red) }
                }
                Section {
                    Button(action: signIn) {
                        if busy { ProgressView() } else { Text("Sign in") }
                    }
                    .disabled(busy || email.isEmpty || password.isEmpty || server.isEmpty)
                }
            }
            .navigationTitle("Sysops Squad")
            .onAppear { if server.isEmpty { server = model.serverURL } }
        }
    }

    private func signIn() {
        busy = true
        error = nil
        Task {
            do {
                try await model.signIn(server: server, email: email, password: password)
            } catch {
                self.error = userMessage(for: error)
            }
            busy = false
        }
    }
}
