package dev.livemig.qemu;

import dev.livemig.transport.tls.TestPki;

import java.nio.file.Path;

/**
 * Writes a fresh test PKI for the TLS benchmarks and prints the directory that holds both endpoints' files (QEMU's
 * names), which livemig's {@code bench precopy --tls-dir} and {@link QemuPrecopyBench} ({@code -Dlivemig.tls.dir})
 * both take. The keys are made for this run only.
 *
 * <pre>java -cp livemig-core/target/classes:livemig-core/target/test-classes:… dev.livemig.qemu.BenchPki DIR</pre>
 */
public final class BenchPki {
    private BenchPki() {
    }

    public static void main(String[] args) {
        System.out.println(TestPki.create(Path.of(args[0])).combinedDir());
    }
}
