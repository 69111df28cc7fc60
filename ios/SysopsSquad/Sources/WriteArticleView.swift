// Write a knowledge-base article on the phone; it is saved at once and goes to review
// with the next sync.

import SwiftUI
import SysopsKit

@MainActor
struct WriteArticleView: View {
    @EnvironmentObject private var model: AppModel
    @Environment(\.dismiss) private var dismiss
    @State private var title = ""
    @State private var articleBody = ""
    @State private var tags = ""
    @State private var error: String?
    @State private var busy = false

    var body: some View {
        NavigationStack {
            Form {
                if let error {
                    Section { Text(error).foregroundStyle(.red) }
                }
                Section("Title") { TextField("What it solves", text: $title) }
                Section("Article") { TextEditor(text: $articleBody).frame(minHeight: 240) }
                Section {
                    TextField("printer, firmware", text: $tags)
                        .textInputAutocapitalization(.never)
                } header: {
                    Text("Tags")
                } footer: {
                    Text("Separate tags with commas.")
                }
            }
            .disabled(busy)
            .navigationTitle("New article")
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .cancellationAction) { Button("Cancel") { dismiss() } }
                ToolbarItem(placement: .confirmationAction) {
                    Button("Save", action: save).disabled(busy || title.isEmpty || articleBody.isEmpty)
                }
            }
        }
    }

    private func save() {
        let (newTitle, newBody) = (title, articleBody)
        let tagList = tags.split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        busy = true
        Task {
            error = await model.run { _ = try await $0.writeArticle(title: newTitle, body: newBody, tags: tagList) }
            busy = false
            if error == nil { dismiss() }
        }
    }
}
