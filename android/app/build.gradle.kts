// The expert's app: Jetpack Compose screens over SysopsClient. The wrapper's sources come
// from ../sysops-kotlin (one copy, also compiled and tested on the desktop JVM), the uniffi
// bindings are generated at build time from the packaged library, and the native
// libmobile_ffi.so for each ABI comes from src/main/jniLibs (built with cargo-ndk).
import javax.inject.Inject
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

val sysopsKotlin: File = rootProject.file("sysops-kotlin")
val serverUrl: String = providers.gradleProperty("sysops.serverUrl").getOrElse("http://10.0.2.2:8080")

/** Runs sysops-kotlin/generate-bindings.sh: Kotlin bindings from the library's uniffi metadata. */
abstract class GenerateUniffiBindings : DefaultTask() {
    @get:InputFile
    abstract val library: RegularFileProperty

    @get:InputFile
    abstract val script: RegularFileProperty

    @get:InputFile
    abstract val config: RegularFileProperty

    @get:OutputDirectory
    abstract val outputDir: DirectoryProperty

    @get:Inject
    abstract val exec: ExecOperations

    @TaskAction
    fun generate() {
        exec.exec {
            commandLine(
                "bash",
                script.get().asFile.path,
                library.get().asFile.parentFile.path,
                outputDir.get().asFile.path,
            )
        }
    }
}

val generateUniffiBindings = tasks.register<GenerateUniffiBindings>("generateUniffiBindings") {
    description = "Generates the uniffi Kotlin bindings for mobile-ffi."
    val libDir = providers.gradleProperty("sysops.bindingsLibDir").getOrElse("app/src/main/jniLibs/arm64-v8a")
    library.set(rootProject.file("$libDir/libmobile_ffi.so"))
    script.set(sysopsKotlin.resolve("generate-bindings.sh"))
    config.set(sysopsKotlin.resolve("uniffi.toml"))
    outputDir.set(layout.buildDirectory.dir("generated/source/uniffi"))
}

android {
    namespace = "com.sysops.squad.app"
    compileSdk = 36

    defaultConfig {
        applicationId = "com.sysops.squad"
        minSdk = 26
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
        buildConfigField("String", "SERVER_URL", "\"$serverUrl\"")
        ndk {
            // The ABIs the README's cargo-ndk command builds.
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    // Push notifications: `plain` needs nothing; `fcm` adds Firebase Cloud Messaging and
    // needs app/google-services.json (see README.md).
    flavorDimensions += "push"
    productFlavors {
        create("plain") { dimension = "push" }
        create("fcm") { dimension = "push" }
    }

    sourceSets {
        // The SysopsClient wrapper, shared with the desktop JVM module.
        getByName("main").java.srcDir(sysopsKotlin.resolve("src/main/kotlin"))
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    buildFeatures {
        compose = true
        buildConfig = true
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

androidComponents {
    onVariants { variant ->
        variant.sources.kotlin?.addGeneratedSourceDirectory(generateUniffiBindings, GenerateUniffiBindings::outputDir)
    }
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

// Firebase only when its configuration is there, so the plain build needs no Google project.
if (file("google-services.json").exists()) {
    apply(plugin = "com.google.gms.google-services")
}

dependencies {
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(libs.androidx.navigation.compose)
    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.ui.tooling.preview)
    implementation(libs.compose.material3)
    debugImplementation(libs.compose.ui.tooling)

    implementation(libs.kotlinx.coroutines.android)
    // The Android build of JNA (an AAR with libjnidispatch.so for each ABI).
    implementation(libs.jna) { artifact { type = "aar" } }

    "fcmImplementation"(platform(libs.firebase.bom))
    "fcmImplementation"(libs.firebase.messaging)
}
