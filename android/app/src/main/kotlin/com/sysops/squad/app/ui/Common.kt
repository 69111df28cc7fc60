// Small pieces several screens use: the error banner, the sync status bar, times.
package com.sysops.squad.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.pluralStringResource
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import com.sysops.squad.SyncState
import com.sysops.squad.TicketStage
import com.sysops.squad.app.R
import com.sysops.squad.pending
import java.time.OffsetDateTime
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import java.time.format.FormatStyle

/** The label of a ticket's stage, from the app's (translatable) strings. */
@Composable
fun stageLabel(stage: TicketStage): String = stringResource(
    when (stage) {
        TicketStage.ASSIGNED -> R.string.stage_assigned
        TicketStage.ACCEPTED -> R.string.stage_accepted
        TicketStage.EN_ROUTE -> R.string.stage_en_route
        TicketStage.ON_SITE -> R.string.stage_on_site
        TicketStage.COMPLETED -> R.string.stage_completed
        TicketStage.DECLINED -> R.string.stage_declined
        TicketStage.WITHDRAWN -> R.string.stage_withdrawn
    },
)

/** An RFC 3339 time from the device, in the phone's zone and locale; null if absent. */
fun localTime(rfc3339: String?): String? = rfc3339?.let {
    runCatching {
        OffsetDateTime.parse(it).atZoneSameInstant(ZoneId.systemDefault())
            .format(DateTimeFormatter.ofLocalizedDateTime(FormatStyle.SHORT))
    }.getOrNull()
}

/** Connected or offline, pending changes, last synced. */
@Composable
fun SyncStatusBar(state: SyncState, modifier: Modifier = Modifier) {
    val colors = MaterialTheme.colorScheme
    Surface(
        color = if (state.connected) colors.secondaryContainer else colors.errorContainer,
        modifier = modifier.fillMaxWidth(),
    ) {
        Row(
            modifier = Modifier.padding(horizontal = 16.dp, vertical = 6.dp),
            horizontalArrangement = Arrangement.spacedBy(12.dp),
        ) {
            Text(
                stringResource(if (state.connected) R.string.connected else R.string.offline),
                style = MaterialTheme.typography.labelLarge,
            )
            if (state.pending > 0) {
                Text(
                    pluralStringResource(R.plurals.pending_changes, state.pending, state.pending),
                    style = MaterialTheme.typography.labelLarge,
                )
            }
            Text(
                stringResource(R.string.last_synced, localTime(state.lastSyncedAt) ?: stringResource(R.string.never)),
                style = MaterialTheme.typography.labelLarge,
            )
        }
    }
}

/** The last action's error, until dismissed. */
@Composable
fun ErrorBanner(message: String?, onDismiss: () -> Unit) {
    if (message == null) return
    Surface(color = MaterialTheme.colorScheme.errorContainer, modifier = Modifier.fillMaxWidth()) {
        Row(modifier = Modifier.padding(start = 16.dp), verticalAlignment = Alignment.CenterVertically) {
            Text(message, modifier = Modifier.weight(1f), style = MaterialTheme.typography.bodyMedium)
            TextButton(onClick = onDismiss) { Text(stringResource(R.string.dismiss)) }
        }
    }
}
