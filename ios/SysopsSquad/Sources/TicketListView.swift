// The expert's tickets, open work first, under a bar that says whether the phone is
// connected, how many changes wait to be sent and when it last had everything.

import SwiftUI
import SysopsKit

struct TicketListView: View {
    @EnvironmentObject private var model: AppModel

    var body: some View {
        NavigationStack {
            List(model.tickets) { ticket in
                NavigationLink(value: ticket.id) { TicketRow(ticket: ticket) }
            }
            .overlay {
                if model.tickets.isEmpty {
                    Text("No tickets yet").foregroundStyle(.secondary)
                }
            }
            .navigationTitle("Tickets")
            .navigationDestination(for: String.self) { TicketDetailView(ticketId: $0) }
            .refreshable { await model.refresh() }
            .safeAreaInset(edge: .top, spacing: 0) { SyncStatusBar(state: model.syncState) }
        }
    }
}

struct TicketRow: View {
    let ticket: Ticket

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            HStack {
                Text(ticket.title).font(.headline)
                Spacer()
                Text(ticket.stage.label())
                    .font(.caption)
                    .padding(.horizontal, 8)
                    .padding(.vertical, 2)
                    .background(.tint.opacity(0.15), in: Capsule())
            }
            Text(ticket.address).font(.subheadline).foregroundStyle(.secondary)
            Text(ticket.category).font(.caption).foregroundStyle(.secondary)
        }
    }
}

struct SyncStatusBar: View {
    let state: SyncState?

    var body: some View {
        let connected = state?.connected == true
        HStack(spacing: 6) {
            Circle().fill(connected ? Color.green : Color.orange).frame(width: 8, height: 8)
            Text(connected ? "Connected" : "Offline")
            if let pending = state?.pendingChanges, pending > 0 {
                Text("· \(pending) pending")
            }
            Spacer()
            if let last = state?.lastSynced {
                Text("Synced \(last, style: .relative) ago")
            } else {
                Text("Never synced")
            }
        }
        .font(.footnote)
        .foregroundStyle(.secondary)
        .padding(.horizontal)
        .padding(.vertical, 6)
        .frame(maxWidth: .infinity)
        .background(.bar)
    }
}
