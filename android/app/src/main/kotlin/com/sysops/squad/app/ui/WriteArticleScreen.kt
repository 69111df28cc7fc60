// Writing a KB article in the field: saved on the device at once, in review on the server
// after the next sync.
package com.sysops.squad.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
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
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.sysops.squad.app.R
import com.sysops.squad.app.SysopsApp

/** Saves a new article. */
class WriteArticleViewModel(app: SysopsApp) : DeviceViewModel(app) {
    /** Saves it; [onSaved] gets its id. */
    fun save(title: String, body: String, tags: String, onSaved: (String) -> Unit) {
        var id = ""
        act(onDone = { onSaved(id) }) {
            id = writeArticle(title.trim(), body.trim(), tags.split(',').map { it.trim() }.filter { it.isNotEmpty() })
        }
    }
}

/** The article form. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun WriteArticleScreen(onSaved: (String) -> Unit, onBack: () -> Unit) {
    val vm = deviceViewModel { app, _ -> WriteArticleViewModel(app) }
    val busy by vm.busy.collectAsStateWithLifecycle()
    val error by vm.error.collectAsStateWithLifecycle()
    var title by rememberSaveable { mutableStateOf("") }
    var body by rememberSaveable { mutableStateOf("") }
    var tags by rememberSaveable { mutableStateOf("") }

    Scaffold(
        topBar = {
            TopAppBar(
                title = { Text(stringResource(R.string.write_article)) },
                navigationIcon = { TextButton(onClick = onBack) { Text(stringResource(R.string.back)) } },
            )
        },
    ) { padding ->
        Column(
            modifier = Modifier.fillMaxSize().padding(padding).verticalScroll(rememberScrollState()).padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(12.dp),
        ) {
            ErrorBanner(error, vm::dismissError)
            OutlinedTextField(
                value = title,
                onValueChange = { title = it },
                label = { Text(stringResource(R.string.title)) },
                singleLine = true,
                modifier = Modifier.fillMaxWidth(),
            )
            OutlinedTextField(
                value = body,
                onValueChange = { body = it },
                label = { Text(stringResource(R.string.body)) },
                minLines = 8,
                modifier = Modifier.fillMaxWidth(),
            )
            OutlinedTextField(
                value = tags,
                onValueChange = { tags = it },
                label = { Text(stringResource(R.string.tags)) },
                singleLine = true,
                modifier = Modifier.fillMaxWidth(),
            )
            Button(
                onClick = { vm.save(title, body, tags, onSaved) },
                enabled = !busy && title.isNotBlank() && body.isNotBlank(),
            ) { Text(stringResource(R.string.save)) }
        }
    }
}
