package app.duet

import java.io.BufferedReader
import java.io.File
import java.io.InputStreamReader
import java.nio.file.Files
import java.util.concurrent.TimeUnit

/** A real `duet-relay` process on 127.0.0.1 with a free port and a temporary data dir. */
class Relay private constructor(private val process: Process, val url: String) : AutoCloseable {
    companion object {
        fun start(): Relay {
            val root = File(System.getProperty("duet.workspace") ?: "../..").canonicalFile
            val bin = System.getenv("DUET_RELAY_BIN")?.let(::File)
                ?: listOf("target/debug/duet-relay", "target/release/duet-relay")
                    .map { File(root, it) }
                    .firstOrNull { it.canExecute() }
                ?: error("duet-relay not built; run mobile-bindings/scripts/test.sh")
            val data = Files.createTempDirectory("duet-relay").toFile()
            val p = ProcessBuilder(
                bin.path, "--listen", "127.0.0.1:0", "--data-dir", data.path,
            ).redirectError(ProcessBuilder.Redirect.DISCARD).start()
            val out = BufferedReader(InputStreamReader(p.inputStream))
            val prefix = "duet-relay listening on "
            while (true) {
                val line = out.readLine() ?: run {
                    p.destroyForcibly()
                    error("duet-relay exited before listening")
                }
                if (line.startsWith(prefix)) return Relay(p, line.removePrefix(prefix).trim())
            }
        }
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
    }
}
