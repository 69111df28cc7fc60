// swift-tools-version:5.10
// SysopsKit: the Rust device core (SysopsFFI.xcframework, built by
// ios/scripts/build-xcframework.sh) with its generated Swift bindings and a thin
// async/await wrapper. Swift 5.10 (Xcode 15.3) is the floor because the generated
// bindings use `nonisolated(unsafe)`.
import PackageDescription

let package = Package(
    name: "SysopsKit",
    platforms: [.iOS(.v16)],
    products: [
        .library(name: "SysopsKit", targets: ["SysopsKit"]),
    ],
    targets: [
        // Static libraries for iPhone and simulators plus the `mobile_ffiFFI` Clang module
        // (Headers/mobile_ffiFFI/). Not committed: run ios/scripts/build-xcframework.sh.
        .binaryTarget(name: "SysopsFFI", path: "SysopsFFI.xcframework"),
        .target(
            name: "SysopsKit",
            dependencies: ["SysopsFFI"],
            path: "Sources/SysopsKit",
            linkerSettings: [
                // The Rust core trusts its bundled Mozilla roots; the HTTP crate's platform
                // verifier is compiled in (unused) and references these.
                .linkedFramework("Security"),
                .linkedFramework("CoreFoundation"),
            ]
        ),
    ]
)
