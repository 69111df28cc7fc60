// The expert's tickets, open work first, under the sync status bar.
package com.sysops.squad.app.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.ListItem
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.sysops.squad.SyncState
import com.sysops.squad.Ticket
import com.sysops.squad.app.R
import com.sysops.squad.app.SysopsApp

/** The ticket list and the sync state, live. */
class TicketsViewModel(app: SysopsApp) : DeviceViewModel(app) {
    /** The tickets, refreshed on every change. */
    val tickets = deviceState(emptyList<Ticket>()) { ticketList() }

    /** The sync state; null until the device is open. */
    val sync = deviceState<SyncState?>(null) { syncStates }
}

/** The list screen. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun TicketListScreen(onOpen: (String) -> Unit, onKb: () -> Unit, onSettings: () -> Unit) {
    val vm = deviceViewModel { app, _ -> TicketsViewModel(app) }
    val tickets by vm.tickets.collectAsStateWithLifecycle()
    val sync by vm.sync.collectAsStateWithLifecycle()
    val error by vm.error.collectAsStateWithLifecycle()

    Scaffold(
        topBar = {
            TopAppBar(
                title = { Text(stringResource(R.string.tickets)) },
                actions = {
                    TextButton(onClick = onKb) { Text(stringResource(R.string.kb)) }
                    TextButton(onClick = onSettings) { Text(stringResource(R.string.settings)) }
                },
            )
        },
    ) { padding ->
        Column(Modifier.fillMaxSize().padding(padding)) {
            sync?.let { SyncStatusBar(it) }
            ErrorBanner(error, vm::dismissError)
            if (tickets.isEmpty()) {
                Text(stringResource(R.string.no_tickets), modifier = Modifier.padding(24.dp))
            }
            LazyColumn {
                items(tickets, key = { it.id }) { ticket ->
                    TicketRow(ticket, onClick = { onOpen(ticket.id) })
                    HorizontalDivider()
                }
            }
        }
    }
}

@Composable
private fun TicketRow(ticket: Ticket, onClick: () -> Unit) {
    ListItem(
        headlineContent = { Text(ticket.title) },
        supportingContent = { Text("${ticket.customerName} · ${ticket.address}") },
        trailingContent = { Text(stageLabel(ticket.stage)) },
        modifier = Modifier.clickable(onClick = onClick),
    )
}
