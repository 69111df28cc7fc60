// The knowledge base, offline: search as you type (ranked, with snippets) and reading.
package com.sysops.squad.app.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.ExtendedFloatingActionButton
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.SavedStateHandle
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.sysops.squad.Article
import com.sysops.squad.KbHit
import com.sysops.squad.app.R
import com.sysops.squad.app.SysopsApp
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow

/** The query and its results (recent articles for an empty query). */
class KbSearchViewModel(app: SysopsApp, args: SavedStateHandle) : DeviceViewModel(app) {
    private val queryState = MutableStateFlow(args.get<String>("q") ?: "")

    /** What the expert typed. */
    val query: StateFlow<String> = queryState

    /** Results for the query, updated as the expert types and as the KB changes. */
    val hits = deviceState(emptyList<KbHit>()) { searchAsYouType(queryState) }

    fun onQuery(q: String) {
        queryState.value = q
    }
}

/** The search screen. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun KbSearchScreen(onOpen: (String) -> Unit, onWrite: () -> Unit, onBack: () -> Unit) {
    val vm = deviceViewModel { app, args -> KbSearchViewModel(app, args) }
    val query by vm.query.collectAsStateWithLifecycle()
    val hits by vm.hits.collectAsStateWithLifecycle()
    val error by vm.error.collectAsStateWithLifecycle()

    Scaffold(
        topBar = {
            TopAppBar(
                title = { Text(stringResource(R.string.kb)) },
                navigationIcon = { TextButton(onClick = onBack) { Text(stringResource(R.string.back)) } },
            )
        },
        floatingActionButton = {
            ExtendedFloatingActionButton(onClick = onWrite) { Text(stringResource(R.string.write_article)) }
        },
    ) { padding ->
        Column(Modifier.fillMaxSize().padding(padding)) {
            ErrorBanner(error, vm::dismissError)
            OutlinedTextField(
                value = query,
                onValueChange = vm::onQuery,
                label = { Text(stringResource(R.string.search_kb)) },
                singleLine = true,
                modifier = Modifier.fillMaxWidth().padding(16.dp),
            )
            if (hits.isEmpty() && query.isNotBlank()) {
                Text(stringResource(R.string.no_hits), modifier = Modifier.padding(horizontal = 16.dp))
            }
            LazyColumn {
                items(hits, key = { it.id }) { hit ->
                    ListItem(
                        headlineContent = { Text(hit.title) },
                        supportingContent = { Text(hit.snippet, maxLines = 3) },
                        modifier = Modifier.clickable { onOpen(hit.id) },
                    )
                    HorizontalDivider()
                }
            }
        }
    }
}

/** One article, read from the device. */
class ArticleViewModel(app: SysopsApp, args: SavedStateHandle) : DeviceViewModel(app) {
    private val id: String = checkNotNull(args["id"]) { "no article id" }

    /** The article (re-read when the KB changes, e.g. a draft got published). */
    val article = deviceState<Article?>(null) { watch(com.sysops.squad.Change.KB) { article(id) } }
}

/** The article screen. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun ArticleScreen(onBack: () -> Unit) {
    val vm = deviceViewModel { app, args -> ArticleViewModel(app, args) }
    val article by vm.article.collectAsStateWithLifecycle()
    val error by vm.error.collectAsStateWithLifecycle()

    Scaffold(
        topBar = {
            TopAppBar(
                title = { Text(article?.title ?: "") },
                navigationIcon = { TextButton(onClick = onBack) { Text(stringResource(R.string.back)) } },
            )
        },
    ) { padding ->
        Column(
            modifier = Modifier.fillMaxSize().padding(padding).verticalScroll(rememberScrollState()).padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(12.dp),
        ) {
            ErrorBanner(error, vm::dismissError)
            article?.let { a ->
                if (a.draft) Text(stringResource(R.string.draft), style = MaterialTheme.typography.labelLarge)
                if (a.tags.isNotEmpty()) Text(a.tags.joinToString(" · "), style = MaterialTheme.typography.labelMedium)
                Text(a.body, style = MaterialTheme.typography.bodyLarge)
            }
        }
    }
}
