// The device's tokens on the phone: sealed with a non-exportable AES key in the Android
// Keystore (SealedTokenStore, shared with the desktop module) and kept in private
// SharedPreferences.
package com.sysops.squad.app

import android.content.Context
import android.content.SharedPreferences
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import com.sysops.squad.SealedTokenStore
import com.sysops.squad.StringStorage
import com.sysops.squad.TokenStore
import java.security.KeyStore
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

/** Builds the app's [TokenStore]. */
object KeystoreTokenStore {
    private const val KEY_ALIAS = "sysops-device-tokens"
    private const val PREFS = "sysops-tokens"

    private val key: SecretKey by lazy { loadOrCreateKey() }

    /** Tokens sealed under the Keystore key, stored in private preferences. */
    fun create(context: Context): TokenStore =
        SealedTokenStore({ key }, PrefsStorage(context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)))

    private fun loadOrCreateKey(): SecretKey {
        val keyStore = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }
        (keyStore.getKey(KEY_ALIAS, null) as? SecretKey)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore")
        generator.init(
            KeyGenParameterSpec.Builder(KEY_ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    /** The device expects a token to be stored when `put` returns: commit, not apply. */
    private class PrefsStorage(private val prefs: SharedPreferences) : StringStorage {
        override fun read(key: String): String? = prefs.getString(key, null)

        override fun write(key: String, value: String) {
            prefs.edit().putString(key, value).commit()
        }

        override fun delete(key: String) {
            prefs.edit().remove(key).commit()
        }
    }
}
