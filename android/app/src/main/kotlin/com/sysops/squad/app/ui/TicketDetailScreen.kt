// One ticket: who and where (with a map link), what is wrong, the dispatcher's notes, the
// field steps, the work notes and the completion form. Everything works offline.
package com.sysops.squad.app.ui

import android.content.ActivityNotFoundException
import android.content.Context
import android.content.Intent
import android.net.Uri
import android.widget.Toast
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.SavedStateHandle
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.sysops.squad.FieldStep
import com.sysops.squad.Ticket
import com.sysops.squad.app.R
import com.sysops.squad.app.SysopsApp
import com.sysops.squad.nextSteps

/** One ticket, live, and the expert's actions on it. */
class TicketDetailViewModel(app: SysopsApp, args: SavedStateHandle) : DeviceViewModel(app) {
    private val id: String = checkNotNull(args["id"]) { "no ticket id" }

    /** The ticket; null until read. */
    val ticket = deviceState<Ticket?>(null) { ticketUpdates(id) }

    fun accept() = act { accept(id) }

    fun decline(reason: String) = act { decline(id, reason) }

    fun enRoute() = act { enRoute(id) }

    fun arrived() = act { arrived(id) }

    fun saveNotes(notes: String) = act { setNotes(id, notes) }

    fun complete(resolution: String) = act { complete(id, resolution) }
}

/** The detail screen. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun TicketDetailScreen(onBack: () -> Unit) {
    val vm = deviceViewModel { app, args -> TicketDetailViewModel(app, args) }
    val ticket by vm.ticket.collectAsStateWithLifecycle()
    val busy by vm.busy.collectAsStateWithLifecycle()
    val error by vm.error.collectAsStateWithLifecycle()

    Scaffold(
        topBar = {
            TopAppBar(
                title = { Text(ticket?.title ?: "") },
                navigationIcon = { TextButton(onClick = onBack) { Text(stringResource(R.string.back)) } },
            )
        },
    ) { padding ->
        Column(
            modifier = Modifier.fillMaxSize().padding(padding).verticalScroll(rememberScrollState()),
        ) {
            ErrorBanner(error, vm::dismissError)
            ticket?.let { TicketDetail(it, busy, vm) }
        }
    }
}

@OptIn(androidx.compose.foundation.layout.ExperimentalLayoutApi::class)
@Composable
private fun TicketDetail(ticket: Ticket, busy: Boolean, vm: TicketDetailViewModel) {
    val context = LocalContext.current
    val steps = ticket.nextSteps()
    var declining by rememberSaveable { mutableStateOf(false) }
    var notes by rememberSaveable(ticket.id) { mutableStateOf(ticket.notes) }
    var resolution by rememberSaveable(ticket.id) { mutableStateOf("") }

    Column(modifier = Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text("${ticket.category} · ${stageLabel(ticket.stage)}", style = MaterialTheme.typography.labelLarge)

        Section(stringResource(R.string.customer)) {
            Text(ticket.customerName)
            TextButton(onClick = { context.open(Uri.parse("tel:${ticket.customerPhone}"), Intent.ACTION_DIAL) }) {
                Text("${stringResource(R.string.call)} ${ticket.customerPhone}")
            }
        }
        Section(stringResource(R.string.address)) {
            Text(ticket.address)
            TextButton(onClick = { context.open(Uri.parse(ticket.mapUrl)) }) { Text(stringResource(R.string.open_map)) }
        }
        Section(stringResource(R.string.problem)) { Text(ticket.description) }
        if (ticket.dispatcherNotes.isNotBlank()) {
            Section(stringResource(R.string.dispatcher_notes)) { Text(ticket.dispatcherNotes) }
        }

        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            if (FieldStep.ACCEPT in steps) Button(onClick = vm::accept, enabled = !busy) { Text(stringResource(R.string.accept)) }
            if (FieldStep.DECLINE in steps) {
                OutlinedButton(onClick = { declining = true }, enabled = !busy) { Text(stringResource(R.string.decline)) }
            }
            if (FieldStep.EN_ROUTE in steps) Button(onClick = vm::enRoute, enabled = !busy) { Text(stringResource(R.string.en_route)) }
            if (FieldStep.ARRIVED in steps) Button(onClick = vm::arrived, enabled = !busy) { Text(stringResource(R.string.arrived)) }
        }

        Section(stringResource(R.string.notes)) {
            OutlinedTextField(value = notes, onValueChange = { notes = it }, minLines = 3, modifier = Modifier.fillMaxWidth())
            OutlinedButton(onClick = { vm.saveNotes(notes) }, enabled = !busy && notes != ticket.notes) {
                Text(stringResource(R.string.save_notes))
            }
        }

        val completedAt = localTime(ticket.completedAt)
        if (completedAt != null) {
            Section(stringResource(R.string.completed_at, completedAt)) { Text(ticket.resolution.orEmpty()) }
        } else if (FieldStep.COMPLETE in steps) {
            Section(stringResource(R.string.complete)) {
                OutlinedTextField(
                    value = resolution,
                    onValueChange = { resolution = it },
                    label = { Text(stringResource(R.string.resolution)) },
                    minLines = 2,
                    modifier = Modifier.fillMaxWidth(),
                )
                Button(onClick = { vm.complete(resolution.trim()) }, enabled = !busy && resolution.isNotBlank()) {
                    Text(stringResource(R.string.complete))
                }
            }
        }
    }

    if (declining) {
        DeclineDialog(onDecline = { reason -> declining = false; vm.decline(reason) }, onCancel = { declining = false })
    }
}

@Composable
private fun DeclineDialog(onDecline: (String) -> Unit, onCancel: () -> Unit) {
    var reason by rememberSaveable { mutableStateOf("") }
    AlertDialog(
        onDismissRequest = onCancel,
        title = { Text(stringResource(R.string.decline)) },
        text = {
            OutlinedTextField(value = reason, onValueChange = { reason = it }, label = { Text(stringResource(R.string.decline_reason)) })
        },
        confirmButton = {
            TextButton(onClick = { onDecline(reason.trim()) }, enabled = reason.isNotBlank()) { Text(stringResource(R.string.decline)) }
        },
        dismissButton = { TextButton(onClick = onCancel) { Text(stringResource(R.string.cancel)) } },
    )
}

@Composable
private fun Section(title: String, content: @Composable () -> Unit) {
    Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
        Text(title, style = MaterialTheme.typography.titleSmall)
        content()
    }
}

/** Opens [uri] in another app (the maps app for a geo: link, the dialer for tel:). */
private fun Context.open(uri: Uri, action: String = Intent.ACTION_VIEW) {
    try {
        startActivity(Intent(action, uri))
    } catch (e: ActivityNotFoundException) {
        Toast.makeText(this, R.string.no_maps_app, Toast.LENGTH_SHORT).show()
    }
}
