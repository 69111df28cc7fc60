// Secure storage for the device's tokens: the app implements TokenStore (on Android with
// EncryptedSharedPreferences or the Android Keystore); the device reaches it through the
// uniffi KeyStore callback interface.
package com.sysops.squad

import java.util.concurrent.ConcurrentHashMap
import uniffi.sysops_core.KeyStore

/**
 * Where the device keeps its access and refresh tokens. Called from the device's own
 * threads, sometimes while it holds its lock: implementations must be thread-safe,
 * quick, must not throw, and must never call back into [SysopsClient].
 */
interface TokenStore {
    /** The stored value, or null. */
    fun get(key: String): String?

    /** Stores a value. */
    fun put(key: String, value: String)

    /** Forgets a value. */
    fun remove(key: String)
}

/** Keeps tokens in memory only: for tests and desktop tools, never for a phone. */
class InMemoryTokenStore : TokenStore {
    private val values = ConcurrentHashMap<String, String>()

    override fun get(key: String): String? = values[key]

    override fun put(key: String, value: String) {
        values[key] = value
    }

    override fun remove(key: String) {
        values.remove(key)
    }
}

/** The FFI face of a [TokenStore]. */
internal class KeyStoreAdapter(private val tokens: TokenStore) : KeyStore {
    override fun get(key: String): String? = tokens.get(key)

    override fun put(key: String, value: String) = tokens.put(key, value)

    override fun remove(key: String) = tokens.remove(key)
}
