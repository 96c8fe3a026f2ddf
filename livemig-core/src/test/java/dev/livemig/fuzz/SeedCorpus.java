package dev.livemig.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committed corpus of one fuzz test: the directory Jazzer's regression mode replays,
 * {@code <package>/<TestClass>Inputs/<method>/} among the test resources, holding seed files (named
 * {@code seed-NAME}, made by the test class from real streams) and minimised findings ({@code crash-*}, kept
 * as regression inputs). {@link #check} is what makes a replay non-vacuous: it fails when the directory is
 * not where Jazzer looks or a seed is missing or stale. Run once with {@code -Dlivemig.fuzz.writeSeeds=true}
 * (scripts/fuzz.sh seeds) to (re)write the seed files into src/test/resources after a format change.
 */
public final class SeedCorpus {
    public static final String WRITE_PROPERTY = "livemig.fuzz.writeSeeds";

    private SeedCorpus() {
    }

    /** Asserts that {@code testClass}'s corpus for {@code method} holds every seed as given (writing them first when asked). */
    public static void check(Class<?> testClass, String method, Map<String, byte[]> seeds) throws IOException {
        String relative = testClass.getPackageName().replace('.', '/') + "/" + testClass.getSimpleName() + "Inputs/" + method;
        if (Boolean.getBoolean(WRITE_PROPERTY)) {
            Path source = Path.of("src/test/resources").resolve(relative);
            Files.createDirectories(source);
            for (var seed : seeds.entrySet()) {
                Files.write(source.resolve("seed-" + seed.getKey()), seed.getValue());
            }
            return;
        }
        URL url = testClass.getResource(testClass.getSimpleName() + "Inputs/" + method);
        assertNotNull(url, () -> "no corpus where Jazzer's regression mode looks: resource=" + relative);
        Path dir;
        try {
            dir = Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException("corpus URL is not a path: url=" + url, e);
        }
        for (var seed : seeds.entrySet()) {
            Path file = dir.resolve("seed-" + seed.getKey());
            assertTrue(Files.isRegularFile(file), () -> "seed missing from the corpus: file=" + file
                    + " (write the seeds with -D" + WRITE_PROPERTY + "=true)");
            assertArrayEquals(seed.getValue(), Files.readAllBytes(file), () -> "seed is stale: file=" + file
                    + " (the format changed? rewrite the seeds with -D" + WRITE_PROPERTY + "=true)");
        }
    }

    /** The first {@code n} bytes of a gzipped test resource (a QEMU stream too large to keep whole). */
    public static byte[] gzippedResourceHead(String resource, int n) {
        try (var in = SeedCorpus.class.getResourceAsStream(resource)) {
            assertNotNull(in, () -> "no test resource " + resource);
            try (var gz = new java.util.zip.GZIPInputStream(in)) {
                return gz.readNBytes(n);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The whole of a gzipped test resource. */
    public static byte[] gzippedResource(String resource) {
        return gzippedResourceHead(resource, Integer.MAX_VALUE);
    }

    /** {@code a} then {@code b}. */
    public static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
