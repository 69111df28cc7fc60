// KeychainKeyStore: where the device core keeps its tokens on iOS (generic-password
// items of one Keychain service), implementing the generated `KeyStore` protocol.

import Foundation
import os
import Security

private let keychainLog = Logger(subsystem: "com.penultimate.sysops", category: "keychain")

/// A ``KeyStore`` in the Keychain. Items are readable after the first unlock (background
/// sync works while the phone is locked) and never leave this phone (no backups).
public final class KeychainKeyStore: KeyStore {
    private let service: String

    /// A store for the items of `service`.
    public init(service: String = "com.penultimate.sysops.device") {
        self.service = service
    }

    /// The stored value, or nil when there is none (or the Keychain cannot be read).
    public func get(key: String) -> String? {
        var query = baseQuery(key)
        query[kSecReturnData as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        guard status == errSecSuccess, let data = item as? Data else {
            if status != errSecItemNotFound { keychainLog.error("reading \(key, privacy: .public): \(status)") }
            return nil
        }
        return String(data: data, encoding: .utf8)
    }

    /// Stores a value, replacing the old one. Failures can only be logged: the
    /// protocol has no way to report them.
    public func put(key: String, value: String) {
        let data = Data(value.utf8)
        var status = SecItemUpdate(baseQuery(key) as CFDictionary, [kSecValueData as String: data] as CFDictionary)
        if status == errSecItemNotFound {
            var item = baseQuery(key)
            item[kSecValueData as String] = data
            item[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
            status = SecItemAdd(item as CFDictionary, nil)
        }
        if status != errSecSuccess { keychainLog.error("storing \(key, privacy: .public): \(status)") }
    }

    /// Forgets a value.
    public func remove(key: String) {
        let status = SecItemDelete(baseQuery(key) as CFDictionary)
        if status != errSecSuccess && status != errSecItemNotFound {
            keychainLog.error("removing \(key, privacy: .public): \(status)")
        }
    }

    private func baseQuery(_ key: String) -> [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: key,
        ]
    }
}
