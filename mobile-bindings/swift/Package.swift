// swift-tools-version:5.9
// The Duet Swift package. `scripts/build-xcframework.sh` (macOS + Xcode) produces
// DuetFFI.xcframework (the Rust static library and its C header, for iOS devices, the iOS
// simulator and macOS) and Sources/Duet/{Duet,DuetCore}.swift (the generated uniffi bindings).
// Not built in this project's CI: there is no Swift toolchain there.
import PackageDescription

let package = Package(
    name: "Duet",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Duet", targets: ["Duet"]),
    ],
    targets: [
        .binaryTarget(name: "DuetFFI", path: "DuetFFI.xcframework"),
        .target(
            name: "Duet",
            dependencies: ["DuetFFI"],
            path: "Sources/Duet",
            exclude: ["README.md"]
        ),
    ]
)
