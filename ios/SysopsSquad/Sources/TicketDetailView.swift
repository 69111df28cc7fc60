// One ticket: the customer, the address (opens Apple Maps), the problem and the
// dispatcher's notes; the next step (accept or decline, en route, arrived); the work
// notes; and, on site, the parts used and the resolution that complete it. Everything
// works offline and syncs later.

import SwiftUI
import SysopsKit

@MainActor
struct TicketDetailView: View {
    let ticketId: String
    @EnvironmentObject private var model: AppModel
    @Environment(\.dismiss) private var dismiss
    @State private var notes: String?
    @State private var resolution = ""
    @State private var partName = ""
    @State private var partQuantity = 1.0
    @State private var partsAdded: [String] = []
    @State private var declining = false
    @State private var declineReason = ""
    @State private var error: String?
    @State private var busy = false

    private var ticket: Ticket? { model.tickets.first { $0.id == ticketId } }

    var body: some View {
        Group {
            if let ticket {
                form(ticket)
            } else {
                Text("This ticket is no longer on your phone.").foregroundStyle(.secondary)
            }
        }
        .navigationTitle(ticket?.title ?? "Ticket")
        .navigationBarTitleDisplayMode(.inline)
        .alert("Decline this ticket?", isPresented: $declining) {
            TextField("Reason", text: $declineReason)
            Button("Decline", role: .destructive) {
                let reason = declineReason
                act({ try await $0.decline(ticketId: ticketId, reason: reason) }, then: { dismiss() })
            }
            Button("Cancel", role: .cancel) {}
        }
    }

    private func form(_ ticket: Ticket) -> some View {
        Form {
            if let error {
                Section { Text(error).foregroundStyle(.red) }
            }
            Section("Customer") {
                LabeledContent("Name", value: ticket.customerName)
                if let phone = ticket.phoneURL {
                    Link(destination: phone) { Label(ticket.customerPhone, systemImage: "phone") }
                }
                Link(destination: ticket.appleMapsURL) { Label(ticket.address, systemImage: "map") }
            }
            Section("Problem") {
                LabeledContent("Category", value: ticket.category)
                Text(ticket.description)
            }
            if !ticket.dispatcherNotes.isEmpty {
                Section("Dispatcher notes") { Text(ticket.dispatcherNotes) }
            }
            Section("Progress") { progress(ticket) }
            Section("Notes") {
                TextEditor(text: Binding(get: { notes ?? ticket.notes }, set: { notes = $0 }))
                    .frame(minHeight: 100)
                Button("Save notes") {
                    let text = notes ?? ticket.notes
                    act { try await $0.setNotes(ticketId: ticketId, notes: text) }
                }
                .disabled(notes == nil || notes == ticket.notes)
            }
            if ticket.stage == .onSite {
                completeSection
            }
            if let done = ticket.resolution {
                Section("Resolution") { Text(done) }
            }
        }
        .disabled(busy)
    }

    @ViewBuilder private func progress(_ ticket: Ticket) -> some View {
        LabeledContent("Stage", value: ticket.stage.label())
        switch ticket.stage {
        case .assigned:
            Button("Accept") { act { try await $0.accept(ticketId: ticketId) } }
            Button("Decline", role: .destructive) { declining = true }
        case .accepted:
            Button("On my way") { act { try await $0.enRoute(ticketId: ticketId) } }
        case .enRoute:
            Button("Arrived") { act { try await $0.arrived(ticketId: ticketId) } }
        case .onSite, .completed, .declined, .withdrawn:
            EmptyView()
        }
    }

    private var completeSection: some View {
        Section("Complete") {
            ForEach(partsAdded, id: \.self) { Text($0) }
            HStack {
                TextField("Part used", text: $partName)
                TextField("Qty", value: $partQuantity, format: .number)
                    .keyboardType(.decimalPad)
                    .frame(width: 50)
                Button("Add") {
                    let name = partName.trimmingCharacters(in: .whitespaces)
                    let quantity = partQuantity
                    act({ try await $0.addPart(ticketId: ticketId, name: name, quantity: quantity) }, then: {
                        partsAdded.append("\(name) × \(quantity.formatted())")
                        partName = ""
                        partQuantity = 1
                    })
                }
                .buttonStyle(.borderless)
                .disabled(partName.trimmingCharacters(in: .whitespaces).isEmpty || partQuantity <= 0)
            }
            TextField("Resolution", text: $resolution, axis: .vertical)
                .lineLimit(3...8)
            Button("Complete ticket") {
                let text = resolution
                act { try await $0.complete(ticketId: ticketId, resolution: text) }
            }
            .disabled(resolution.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        }
    }

    /// Runs a device action, shows its error, and on success runs `then`.
    private func act(
        _ action: @escaping (SysopsClient) async throws -> Void, then: (() -> Void)? = nil
    ) {
        busy = true
        Task {
            error = await model.run(action)
            busy = false
            if error == nil { then?() }
        }
    }
}
