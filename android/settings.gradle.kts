// The Sysops Squad Android app. The device core is Rust (mobile-ffi, built per ABI with
// cargo-ndk into app/src/main/jniLibs); its Kotlin face is shared with the desktop JVM
// module in sysops-kotlin/ (see README.md).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "sysops-squad-android"
include(":app")
