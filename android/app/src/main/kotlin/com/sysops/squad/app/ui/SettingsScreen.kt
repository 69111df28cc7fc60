// Settings: the server, availability, push token registration and signing out.
package com.sysops.squad.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewModelScope
import com.sysops.squad.app.BuildConfig
import com.sysops.squad.app.R
import com.sysops.squad.app.SysopsApp
import com.sysops.squad.app.push.PushProvider
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.launch

/** Availability, the push token, signing out. */
class SettingsViewModel(app: SysopsApp) : DeviceViewModel(app) {
    private val registeredState = MutableStateFlow(false)
    private val tokenState = MutableStateFlow("")

    /** The last registration went through (to the device; the server gets it on sync). */
    val registered: StateFlow<Boolean> = registeredState

    /** The token in the field. */
    val token: StateFlow<String> = tokenState

    fun onToken(value: String) {
        tokenState.value = value
        registeredState.value = false
    }

    /** Fills in this phone's Firebase token (fcm builds). */
    fun fetchToken() {
        viewModelScope.launch { PushProvider.currentToken()?.let(::onToken) }
    }

    fun register() = act(onDone = { registeredState.value = true }) { registerPushToken(tokenState.value.trim()) }

    /** The device does not report availability back, so the switch shows what was last set here. */
    fun changeAvailability(available: Boolean) = act { setAvailable(available) }

    fun signOut(onDone: () -> Unit) = act(onDone) { signOut() }
}

/** The settings screen. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun SettingsScreen(onSignedOut: () -> Unit, onBack: () -> Unit) {
    val vm = deviceViewModel { app, _ -> SettingsViewModel(app) }
    val busy by vm.busy.collectAsStateWithLifecycle()
    val error by vm.error.collectAsStateWithLifecycle()
    val token by vm.token.collectAsStateWithLifecycle()
    val registered by vm.registered.collectAsStateWithLifecycle()
    var available by rememberSaveable { mutableStateOf(true) }

    Scaffold(
        topBar = {
            TopAppBar(
                title = { Text(stringResource(R.string.settings)) },
                navigationIcon = { TextButton(onClick = onBack) { Text(stringResource(R.string.back)) } },
            )
        },
    ) { padding ->
        Column(
            modifier = Modifier.fillMaxSize().padding(padding).padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(16.dp),
        ) {
            ErrorBanner(error, vm::dismissError)
            Text(stringResource(R.string.server), style = MaterialTheme.typography.titleSmall)
            Text(BuildConfig.SERVER_URL)

            Row(verticalAlignment = Alignment.CenterVertically) {
                Text(stringResource(R.string.available), modifier = Modifier.weight(1f))
                Switch(checked = available, onCheckedChange = {
                    available = it
                    vm.changeAvailability(it)
                })
            }

            Text(stringResource(R.string.push_token), style = MaterialTheme.typography.titleSmall)
            OutlinedTextField(value = token, onValueChange = vm::onToken, singleLine = true, modifier = Modifier.fillMaxWidth())
            if (PushProvider.AVAILABLE) {
                OutlinedButton(onClick = vm::fetchToken) { Text(stringResource(R.string.fetch_push)) }
            }
            Button(onClick = vm::register, enabled = !busy && token.isNotBlank()) { Text(stringResource(R.string.register_push)) }
            if (registered) Text(stringResource(R.string.push_registered), style = MaterialTheme.typography.bodySmall)

            OutlinedButton(onClick = { vm.signOut(onSignedOut) }, enabled = !busy) { Text(stringResource(R.string.sign_out)) }
        }
    }
}
