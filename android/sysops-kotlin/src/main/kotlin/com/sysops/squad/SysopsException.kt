// The device's errors as the app sees them: one sealed class with a readable message.
// The generated DeviceException cannot be matched through a typealias (nested classes),
// and its `message` is empty for variants without fields, so the client converts it here.
package com.sysops.squad

import uniffi.sysops_core.DeviceException

/** What went wrong in the device, in terms the app can act on. */
sealed class SysopsException(message: String, cause: Throwable?) : Exception(message, cause) {
    /** Sign in first. */
    class NotSignedIn(cause: Throwable? = null) : SysopsException("Please sign in.", cause)

    /** Wrong e-mail or password. */
    class BadCredentials(cause: Throwable? = null) : SysopsException("Wrong e-mail or password.", cause)

    /** The server cannot be reached now, and the action needs it. */
    class Offline(val reason: String, cause: Throwable? = null) :
        SysopsException("No connection to the server: $reason", cause)

    /** No such ticket or article on this device. */
    class NotFound(val what: String, cause: Throwable? = null) : SysopsException("Not on this device: $what", cause)

    /** The input is not acceptable (or the step is not allowed now). */
    class Invalid(val reason: String, cause: Throwable? = null) : SysopsException("Not accepted: $reason", cause)

    /** The local database failed (full disk, damaged file), or the client was closed. */
    class Storage(val reason: String, cause: Throwable? = null) :
        SysopsException("The device's storage failed: $reason", cause)

    /** The server refused. */
    class Server(val reason: String, cause: Throwable? = null) : SysopsException("The server refused: $reason", cause)
}

/** The app's face of a device error. */
internal fun DeviceException.toSysops(): SysopsException = when (this) {
    is DeviceException.NotSignedIn -> SysopsException.NotSignedIn(this)
    is DeviceException.BadCredentials -> SysopsException.BadCredentials(this)
    is DeviceException.Offline -> SysopsException.Offline(reason, this)
    is DeviceException.NotFound -> SysopsException.NotFound(what, this)
    is DeviceException.Invalid -> SysopsException.Invalid(reason, this)
    is DeviceException.Storage -> SysopsException.Storage(reason, this)
    is DeviceException.Server -> SysopsException.Server(reason, this)
}
