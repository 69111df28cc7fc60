// The single activity: Compose all the way down.
package com.sysops.squad.app

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import com.sysops.squad.app.ui.SysopsNavHost
import com.sysops.squad.app.ui.SysopsTheme

/** Hosts the app's screens. */
class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        setContent {
            SysopsTheme {
                SysopsNavHost()
            }
        }
    }
}
