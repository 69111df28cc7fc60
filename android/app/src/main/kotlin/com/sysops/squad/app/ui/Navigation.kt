// The app's screens and how they lead to one another. The start screen resumes the last
// session (sync starts straight away) or asks the expert to sign in.
package com.sysops.squad.app.ui

import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewModelScope
import androidx.navigation.NavHostController
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.rememberNavController
import com.sysops.squad.SysopsException
import com.sysops.squad.app.SysopsApp
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.launch

/** Route names. */
object Routes {
    const val START = "start"
    const val SIGN_IN = "sign-in"
    const val TICKETS = "tickets"
    const val TICKET = "ticket/{id}"
    const val KB = "kb"
    const val ARTICLE = "article/{id}"
    const val WRITE = "write"
    const val SETTINGS = "settings"

    fun ticket(id: String) = "ticket/$id"

    fun article(id: String) = "article/$id"
}

/** Resumes the last session: a signed-in expert goes straight to work, syncing. */
class SessionViewModel(app: SysopsApp) : DeviceViewModel(app) {
    private val signedInState = MutableStateFlow<Boolean?>(null)

    /** Null while finding out. */
    val signedIn: StateFlow<Boolean?> = signedInState

    init {
        viewModelScope.launch {
            signedInState.value = try {
                val c = client()
                c.signedInExpert()?.let { c.startSync() } != null
            } catch (e: SysopsException) {
                false
            }
        }
    }
}

/** All screens. */
@Composable
fun SysopsNavHost(nav: NavHostController = rememberNavController()) {
    NavHost(navController = nav, startDestination = Routes.START) {
        composable(Routes.START) {
            val vm = deviceViewModel { app, _ -> SessionViewModel(app) }
            val signedIn by vm.signedIn.collectAsStateWithLifecycle()
            LaunchedEffect(signedIn) {
                val next = when (signedIn) {
                    true -> Routes.TICKETS
                    false -> Routes.SIGN_IN
                    null -> return@LaunchedEffect
                }
                nav.navigate(next) { popUpTo(Routes.START) { inclusive = true } }
            }
            Box(Modifier.fillMaxSize(), contentAlignment = Alignment.Center) { CircularProgressIndicator() }
        }
        composable(Routes.SIGN_IN) {
            SignInScreen(onSignedIn = { nav.replaceAll(Routes.TICKETS) })
        }
        composable(Routes.TICKETS) {
            TicketListScreen(
                onOpen = { nav.navigate(Routes.ticket(it)) },
                onKb = { nav.navigate(Routes.KB) },
                onSettings = { nav.navigate(Routes.SETTINGS) },
            )
        }
        composable(Routes.TICKET) {
            TicketDetailScreen(onBack = { nav.popBackStack() })
        }
        composable(Routes.KB) {
            KbSearchScreen(
                onOpen = { nav.navigate(Routes.article(it)) },
                onWrite = { nav.navigate(Routes.WRITE) },
                onBack = { nav.popBackStack() },
            )
        }
        composable(Routes.ARTICLE) {
            ArticleScreen(onBack = { nav.popBackStack() })
        }
        composable(Routes.WRITE) {
            WriteArticleScreen(onSaved = { id -> nav.navigate(Routes.article(id)) { popUpTo(Routes.KB) } }, onBack = { nav.popBackStack() })
        }
        composable(Routes.SETTINGS) {
            SettingsScreen(onSignedOut = { nav.replaceAll(Routes.SIGN_IN) }, onBack = { nav.popBackStack() })
        }
    }
}

/** Goes to [route] with nothing to go back to. */
private fun NavHostController.replaceAll(route: String) {
    navigate(route) { popUpTo(graph.id) { inclusive = true } }
}
