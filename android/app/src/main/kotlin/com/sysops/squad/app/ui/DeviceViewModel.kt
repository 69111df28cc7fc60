// What every screen's ViewModel shares: the device (awaited from the Application), its
// flows as Compose state, and actions that show progress and errors.
package com.sysops.squad.app.ui

import androidx.compose.runtime.Composable
import androidx.lifecycle.SavedStateHandle
import androidx.lifecycle.ViewModel
import androidx.lifecycle.ViewModelProvider.AndroidViewModelFactory.Companion.APPLICATION_KEY
import androidx.lifecycle.createSavedStateHandle
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.compose.viewModel
import androidx.lifecycle.viewmodel.initializer
import androidx.lifecycle.viewmodel.viewModelFactory
import com.sysops.squad.SysopsClient
import com.sysops.squad.SysopsException
import com.sysops.squad.app.SysopsApp
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.flow.emitAll
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch

/** A ViewModel over the device. */
abstract class DeviceViewModel(protected val app: SysopsApp) : ViewModel() {
    private val errorState = MutableStateFlow<String?>(null)
    private val busyState = MutableStateFlow(false)

    /** The last action's error, for a banner. */
    val error: StateFlow<String?> = errorState.asStateFlow()

    /** An action is running. */
    val busy: StateFlow<Boolean> = busyState.asStateFlow()

    /** The device, once open. */
    protected suspend fun client(): SysopsClient = app.device.await()

    /** A device flow as state for Compose, collected while the screen shows. */
    protected fun <T> deviceState(initial: T, source: SysopsClient.() -> Flow<T>): StateFlow<T> =
        flow { emitAll(client().source()) }
            .catch { e -> if (e is SysopsException) errorState.value = e.message else throw e }
            .stateIn(viewModelScope, SharingStarted.WhileSubscribed(5_000), initial)

    /** Runs [block] on the device; [onDone] runs on the main thread if it succeeded. */
    protected fun act(onDone: () -> Unit = {}, block: suspend SysopsClient.() -> Unit) {
        viewModelScope.launch {
            busyState.value = true
            errorState.value = null
            try {
                client().block()
                onDone()
            } catch (e: SysopsException) {
                errorState.value = e.message
            } finally {
                busyState.value = false
            }
        }
    }

    /** Hides the error banner. */
    fun dismissError() {
        errorState.value = null
    }
}

/** A screen's ViewModel, built with the Application and the screen's navigation arguments. */
@Composable
inline fun <reified VM : ViewModel> deviceViewModel(crossinline create: (SysopsApp, SavedStateHandle) -> VM): VM =
    viewModel(
        factory = viewModelFactory {
            initializer { create(this[APPLICATION_KEY] as SysopsApp, createSavedStateHandle()) }
        },
    )
