// The knowledge base, offline: search as you type (ranked hits with snippets), read an
// article, or write one for review.

import SwiftUI
import SysopsKit

@MainActor
struct KnowledgeBaseView: View {
    @EnvironmentObject private var model: AppModel
    @State private var query = ""
    @State private var hits: [KbHit] = []
    @State private var writing = false

    var body: some View {
        NavigationStack {
            List(hits) { hit in
                NavigationLink(value: hit.id) {
                    VStack(alignment: .leading, spacing: 4) {
                        Text(hit.title).font(.headline)
                        Text(hit.snippet).font(.subheadline).foregroundStyle(.secondary).lineLimit(3)
                    }
                }
            }
            .overlay {
                if hits.isEmpty {
                    Text(query.isEmpty ? "No articles yet" : "No matches").foregroundStyle(.secondary)
                }
            }
            .navigationTitle("Knowledge base")
            .navigationDestination(for: String.self) { ArticleView(articleId: $0) }
            .searchable(text: $query, prompt: "Search articles")
            // Runs again on every keystroke (the previous run is cancelled) and whenever
            // the knowledge base changes.
            .task(id: "\(model.kbRevision)/\(query)") {
                try? await Task.sleep(for: .milliseconds(150))
                guard !Task.isCancelled else { return }
                hits = await model.search(query)
            }
            .toolbar {
                Button { writing = true } label: { Label("Write article", systemImage: "square.and.pencil") }
            }
            .sheet(isPresented: $writing) { WriteArticleView().environmentObject(model) }
        }
    }
}

@MainActor
struct ArticleView: View {
    let articleId: String
    @EnvironmentObject private var model: AppModel
    @State private var article: Article?
    @State private var error: String?

    var body: some View {
        ScrollView {
            VStack(alignment: .leading, spacing: 12) {
                if let article {
                    Text(article.title).font(.title2.bold())
                    if article.draft {
                        Label("Draft: goes to review with the next sync", systemImage: "clock")
                            .font(.footnote).foregroundStyle(.orange)
                    }
                    if !article.tags.isEmpty {
                        Text(article.tags.map { "#\($0)" }.joined(separator: " "))
                            .font(.footnote).foregroundStyle(.secondary)
                    }
                    Text(article.body).textSelection(.enabled)
                } else if let error {
                    Text(error).foregroundStyle(.red)
                } else {
                    ProgressView()
                }
            }
            .frame(maxWidth: .infinity, alignment: .leading)
            .padding()
        }
        .navigationBarTitleDisplayMode(.inline)
        .task(id: model.kbRevision) {
            do {
                article = try await model.article(id: articleId)
            } catch {
                self.error = userMessage(for: error)
            }
        }
    }
}
