// The token store the Android app builds on the Keystore, with a software AES key: values
// round-trip, only ciphertext is stored, and a value moved to another entry does not open.
package com.sysops.squad

import javax.crypto.KeyGenerator
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNull
import org.junit.jupiter.api.Test

class SealedTokenStoreTest {
    private val key = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()
    private val backing = HashMap<String, String>()
    private val storage = object : StringStorage {
        override fun read(key: String) = backing[key]
        override fun write(key: String, value: String) {
            backing[key] = value
        }
        override fun delete(key: String) {
            backing.remove(key)
        }
    }
    private val tokens = SealedTokenStore({ key }, storage)

    @Test
    fun `a stored token reads back and only ciphertext is kept`() {
        tokens.put("access_token", "secret-access")
        assertEquals("secret-access", tokens.get("access_token"))
        assertFalse(backing.getValue("access_token").contains("secret-access"))
    }

    @Test
    fun `a removed or moved token reads as absent`() {
        tokens.put("access_token", "a")
        tokens.put("refresh_token", "r")
        backing["access_token"] = backing.getValue("refresh_token")
        assertNull(tokens.get("access_token"))
        tokens.remove("refresh_token")
        assertNull(tokens.get("refresh_token"))
    }
}
