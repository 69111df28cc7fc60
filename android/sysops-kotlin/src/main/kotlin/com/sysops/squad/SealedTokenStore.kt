// A TokenStore that keeps only ciphertext in its backing storage: AES-256-GCM with a key
// the platform guards (on Android a non-exportable key in the Android Keystore; the app
// passes it in). Plain JVM code, so it compiles and is tested off the phone.
package com.sysops.squad

import java.util.Base64
import javax.crypto.Cipher
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/** Where sealed values live (SharedPreferences on Android). */
interface StringStorage {
    /** The stored string, or null. */
    fun read(key: String): String?

    /** Stores a string. */
    fun write(key: String, value: String)

    /** Forgets a string. */
    fun delete(key: String)
}

/**
 * Seals each value with AES/GCM under [key]: the cipher draws a fresh nonce per value (the
 * Android Keystore insists on choosing it), and the entry's name is authenticated with
 * it, so values cannot be swapped between entries. A value that no longer opens (the key
 * was lost, say after a backup restore) reads as absent: the expert signs in again.
 */
class SealedTokenStore(
    private val key: () -> SecretKey,
    private val storage: StringStorage,
) : TokenStore {

    override fun get(key: String): String? = synchronized(this) {
        val sealed = storage.read(key) ?: return null
        return runCatching { open(key, sealed) }.getOrNull()
    }

    override fun put(key: String, value: String) = synchronized(this) {
        storage.write(key, seal(key, value))
    }

    override fun remove(key: String) = synchronized(this) {
        storage.delete(key)
    }

    private fun seal(name: String, value: String): String {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, key())
        val nonce = cipher.iv
        check(nonce.size == NONCE_BYTES) { "unexpected GCM nonce size ${nonce.size}" }
        cipher.updateAAD(name.toByteArray(Charsets.UTF_8))
        val sealed = cipher.doFinal(value.toByteArray(Charsets.UTF_8))
        return Base64.getEncoder().encodeToString(nonce + sealed)
    }

    private fun open(name: String, stored: String): String {
        val bytes = Base64.getDecoder().decode(stored)
        require(bytes.size > NONCE_BYTES) { "too short" }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(TAG_BITS, bytes, 0, NONCE_BYTES))
        cipher.updateAAD(name.toByteArray(Charsets.UTF_8))
        return String(cipher.doFinal(bytes, NONCE_BYTES, bytes.size - NONCE_BYTES), Charsets.UTF_8)
    }

    private companion object {
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val NONCE_BYTES = 12
        const val TAG_BITS = 128
    }
}
