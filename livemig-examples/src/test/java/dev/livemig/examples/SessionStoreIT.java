package dev.livemig.examples;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The example as an application ships it: the packaged jars of livemig-core and of the example on a module
 * path, dev.livemig.examples run as a named module in two JVMs, a serving store moved live from one to the
 * other. Both print the state's fingerprint (devices and a checksum of the off-heap table); they must agree.
 */
class SessionStoreIT {
    @Test
    void aServingStoreMovesLiveToASecondProcessRunFromTheModulePath() throws Exception {
        Path example = Files.list(Path.of("target"))
                .filter(p -> p.getFileName().toString().matches("livemig-examples-.*\\.jar") && !p.toString().contains("tests"))
                .findFirst().orElseThrow(() -> new AssertionError("the example's jar is packaged before this test; run with mvn verify"));
        // livemig-core and what it requires (zstd-jni; BouncyCastle's tls, pkix, util, provider for TLS) as Maven
        // resolved them for this module: jars, not class directories
        List<String> modules = new ArrayList<>(List.of(example.toString()));
        List<String> required = List.of("livemig-core", "zstd-jni", "bctls-", "bcpkix-", "bcutil-", "bcprov-");
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            String name = Path.of(entry).getFileName().toString();
            if (required.stream().anyMatch(name::startsWith)) {
                assertTrue(name.endsWith(".jar"), "a packaged jar, not " + entry);
                modules.add(entry);
            }
        }
        assertEquals(1 + required.size(), modules.size(), "the example and " + required + ": " + modules);

        Process receiver = start(modules, "receive", "tcp:127.0.0.1:0");
        try {
            var fromReceiver = new BufferedReader(new InputStreamReader(receiver.getInputStream(), StandardCharsets.UTF_8));
            String listening = fromReceiver.readLine();
            assertNotNull(listening, "the receiver printed nothing");
            assertTrue(listening.startsWith("listening tcp:"), listening);
            Process sender = start(modules, "send", listening.substring("listening ".length()));
            String sent = new String(sender.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            assertTrue(sender.waitFor(2, TimeUnit.MINUTES));
            String received = fromReceiver.readLine();
            assertTrue(receiver.waitFor(1, TimeUnit.MINUTES));
            assertEquals(0, sender.exitValue(), sent);
            assertTrue(sent.startsWith("sent requests="), sent);
            assertFalse(sent.startsWith("sent requests=0 "), "the store served requests: " + sent);
            assertEquals(sent.replace("sent ", "received "), received, "the destination holds exactly the source's state");
        } finally {
            receiver.destroyForcibly();
        }
    }

    private static Process start(List<String> modulePath, String... args) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=dev.livemig.core",
                "--module-path", String.join(File.pathSeparator, modulePath),
                "--module", "dev.livemig.examples/dev.livemig.examples.SessionStore"));
        cmd.addAll(Arrays.asList(args));
        return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }
}
