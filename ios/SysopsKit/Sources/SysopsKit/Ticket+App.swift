// What the generated records lack for SwiftUI and iOS: identity, an Apple Maps link
// (the record's `mapUrl` is a `geo:` URI that only Android opens), dates from the
// RFC 3339 strings and sentences for errors. A ticket's status and stage (`TicketStatus`,
// `TicketStage` with `label()` and `isFinished()`) come typed from the Rust core.

import Foundation

extension Ticket: Identifiable {}
extension KbHit: Identifiable {}
extension Article: Identifiable {}

public extension Ticket {
    /// Opens Apple Maps at the ticket's coordinates, labelled with its address.
    var appleMapsURL: URL {
        var url = URLComponents(string: "https://maps.apple.com/")!
        url.queryItems = [
            URLQueryItem(name: "ll", value: String(format: "%.6f,%.6f", lat, lon)),
            URLQueryItem(name: "q", value: address.isEmpty ? title : address),
        ]
        return url.url!
    }

    /// Calls the customer, when the phone number is usable.
    var phoneURL: URL? {
        let digits = customerPhone.filter { $0.isNumber || $0 == "+" }
        return digits.isEmpty ? nil : URL(string: "tel:\(digits)")
    }
}

public extension SyncState {
    /// When the device last had everything.
    var lastSynced: Date? { Timestamp.date(lastSyncedAt) }
}

/// The RFC 3339 strings of the FFI records as dates.
public enum Timestamp {
    private static let withFraction: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
    private static let whole = ISO8601DateFormatter()

    /// The date, or nil for nil or an unreadable string.
    public static func date(_ rfc3339: String?) -> Date? {
        guard let s = rfc3339 else { return nil }
        return withFraction.date(from: s) ?? whole.date(from: s)
    }
}

public extension DeviceError {
    /// A sentence for the expert (the generated `localizedDescription` is a debug dump).
    var userMessage: String {
        switch self {
        case .NotSignedIn: return "Please sign in again."
        case .BadCredentials: return "Wrong e-mail or password."
        case .Offline: return "The server cannot be reached. Try again when you have a connection."
        case .NotFound: return "This is no longer on your phone."
        case .Invalid(let message): return message.prefix(1).uppercased() + String(message.dropFirst())
        case .Storage(let message): return "Your phone's storage failed (\(message))."
        case .Server(let message): return "The server refused (\(message))."
        }
    }
}

/// A sentence for any error a ``SysopsClient`` call throws.
public func userMessage(for error: Error) -> String {
    (error as? DeviceError)?.userMessage ?? error.localizedDescription
}
