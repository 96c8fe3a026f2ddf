package dev.livemig.cli;

import dev.livemig.json.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.*;

/** The packaged `livemig analyze` reading a QEMU 7.2 stream from stdin (`-f -`). */
class AnalyzeIT {
    @TempDir
    Path dir;

    @Test
    void aStreamOnStdinIsDumpedLikeAFile() throws Exception {
        Path stream = dir.resolve("pc.snap");
        try (InputStream in = AnalyzeIT.class.getResourceAsStream("/analyze/pc.snap.gz")) {
            assertNotNull(in);
            Files.write(stream, new GZIPInputStream(in).readAllBytes());
        }
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-jar", "target/livemig.jar",
                "analyze", "-f", "-").redirectInput(stream.toFile()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue());
        byte[] golden;
        try (InputStream in = AnalyzeIT.class.getResourceAsStream("/analyze/pc.state.json.gz")) {
            golden = new GZIPInputStream(in).readAllBytes();
        }
        assertEquals(JsonParser.parse(new String(golden)), JsonParser.parse(new String(out)));
    }
}
