// Standalone build of the Duet Android library module (it can also be included in an
// app's build as a module). Run ../scripts/build-android.sh first. Not built in this
// project's CI (no Android SDK/NDK there).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "duet-android"
