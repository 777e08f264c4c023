// The Duet Android library (AAR): generated Kotlin bindings in src/main/kotlin and the Rust
// library per ABI in src/main/jniLibs/<abi>/libduet_mobile.so, both produced by
// ../scripts/build-android.sh. Not built in this project's CI (no Android SDK/NDK there).
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.21"
}

android {
    namespace = "app.duet"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].jniLibs.srcDirs("src/main/jniLibs")

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // uniffi's Kotlin calls the library through JNA (the AAR carries JNA's own .so files).
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
    // The Android flavour of the bindings (uniffi-android.toml) uses @RequiresApi.
    implementation("androidx.annotation:annotation:1.9.1")
}
